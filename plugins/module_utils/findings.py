# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit findings as a pure function of facts and probe results. No system access.

Input (``data``), one entry per audited host, as the ``audit`` role collects it::

    {"hosts": {"gw-a": {"facts": <netpath_mtu_facts>,            # mtu_facts, or null when it failed
                        "targets": [<probe_plan entries>],         # what was probed and why
                        "probes": [<path_mtu_info results>],       # what the probes found
                        "error": null,                             # why the host is not audited
                        # optional sections, one per later check (see SECTIONS):
                        "mss_clamp": <mss_clamp state=present result, check mode>,
                        "icmp_policy": <icmp_policy result (its "results")>,
                        "ptb_check": [<ptb_check result, with "item": {peer, address, family}>]}},
     "inventory": {"gw-b": ["198.18.2.2", "fd00:198:18:2::2"]}}  # host -> addresses (names hops)

Output: findings, each a dict with the stable keys ``id`` (``type/host/subject``), ``type``,
``severity``, ``host``, ``subject``, ``path`` (null for host-wide findings), ``message``,
``evidence``, ``fix`` (``host``, ``module``, ``args``, ``command``, ``note``) and ``related`` (ids).

A finding is something to fix. Paths whose MTU is below the interface MTU while PMTUD works (the
router's ICMP arrives and tells the truth) are not findings: they are what every tunnel does,
and they are in the report's ``paths`` with status ``ptb``.

Each kind of finding is one producer in ``PRODUCERS``; a later check (icmp_policy, ptb_check,
transfer) adds its own producer and reads its own optional section of the host data.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils import overhead
from ansible_collections.netpath.mtu.plugins.module_utils.probe_plan import address_index, parse_ip

SEVERITIES = ("critical", "warning", "info")
# Finding types in report order, with their severity.
TYPES = {
    "tunnel_mtu_too_large": "critical",
    "pmtud_black_hole": "critical",
    "icmp_blocked": "warning",
    "path_mtu_below_interface": "warning",
    "mss_clamp_missing": "warning",
    "pmtud_disabled": "warning",
    "tcp_mtu_probing_off": "info",
}
STATUSES = ("black_hole", "unreachable", "filtered", "ptb", "ok", "not_probed")
MEASURED = ("ok", "ptb", "black_hole")  # statuses whose path_mtu is a measurement
# Optional per-host sections that later checks fill; unknown keys are rejected to catch typos.
SECTIONS = ("mss_clamp", "icmp_policy", "ptb_check", "transfer")
HOST_KEYS = ("facts", "targets", "probes", "error", "groups", "deps") + SECTIONS
IPTABLES = {"iptables-nft": ("iptables", "ip6tables"), "iptables-legacy": ("iptables-legacy", "ip6tables-legacy")}
# TCPMSS needs the mangle table (iptables) or a table of its own (nftables, as mss_clamp does).
CLAMP_TABLES = ("ip mangle", "ip6 mangle", "inet mangle", "inet netpath_mtu")


# --- input --------------------------------------------------------------------------------------

def check_data(data: Any) -> dict[str, Any]:
    """Validate the shape of the audit data; return it with defaults filled in."""
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise ValueError("audit data must be a dict with 'hosts' (host name -> facts, targets, probes, error)")
    hosts: dict[str, dict] = {}
    for name, host in sorted(data["hosts"].items()):
        if not isinstance(host, dict):
            raise ValueError(f"host {name!r}: expected a dict with facts, targets and probes, got {type(host).__name__}")
        unknown = sorted(set(host) - set(HOST_KEYS))
        if unknown:
            raise ValueError(f"host {name!r}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(HOST_KEYS)}")
        facts = host.get("facts")
        if facts is not None and (not isinstance(facts, dict) or not isinstance(facts.get("interfaces"), dict)):
            raise ValueError(f"host {name!r}: 'facts' must be netpath_mtu_facts (from netpath.mtu.mtu_facts) or null")
        for key in ("targets", "probes"):
            value = host.get(key)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
                raise ValueError(f"host {name!r}: '{key}' must be a list of dicts")
        hosts[str(name)] = dict(host, facts=facts, targets=list(host.get("targets") or []),
                                probes=list(host.get("probes") or []), error=host.get("error") or None)
    inventory = {} if data.get("inventory") is None else data["inventory"]
    if not isinstance(inventory, dict):
        raise ValueError("audit data 'inventory' must be a dict of host name -> list of addresses")
    inventory = {str(k): ([v] if isinstance(v, str) else [str(a) for a in (v or [])]) for k, v in inventory.items()}
    return {"hosts": hosts, "inventory": inventory}


class Audit:
    """Paths and tunnels of one audit, joined and named, from which findings and the report are built."""

    def __init__(self, data: Any):
        checked = check_data(data)
        self.hosts: dict[str, dict] = checked["hosts"]
        self.inventory: dict[str, list[str]] = checked["inventory"]
        self.facts = {name: host["facts"] for name, host in self.hosts.items() if host["facts"] is not None}
        self.index = address_index(self.facts, self.inventory)
        self.paths = self._paths()
        self.tunnels = self._tunnels()

    def host_of(self, address: Any) -> str | None:
        ip = parse_ip(address)
        if ip is None:
            return self.index.get(str(address).lower()) if address else None
        return self.index.get(str(ip))

    # -- paths --

    def _paths(self) -> list[dict]:
        paths = []
        for source, host in self.hosts.items():
            planned = {str(t.get("target")): t for t in host["targets"]}
            seen = set()
            for result in host["probes"]:
                target = str(result.get("target"))
                seen.add(target)
                paths.append(self._path(source, planned.get(target), result))
            for target, entry in planned.items():
                if target not in seen:
                    paths.append(self._path(source, entry, None))
        paths.sort(key=lambda p: (p["source"], p["peer"] or "~", p["family"] or "", p["target"]))
        return paths

    def _path(self, source: str, entry: dict | None, result: dict | None) -> dict:
        entry = entry or {}
        result = result or {}
        target = str(result.get("target") or entry.get("target"))
        address = result.get("address") or (target if parse_ip(target) else None)
        peer = entry.get("peer") or self.host_of(address) or self.host_of(target)
        hop = result.get("hop")
        if isinstance(hop, dict):
            hop = dict(hop, host=self.host_of(hop.get("address")))
        family = result.get("family") or entry.get("family")
        return {
            "id": f"{source}/{target}/{family or 'any'}",
            "source": source,
            "target": target,
            "address": address,
            "family": family,
            "peer": peer,
            "roles": list(entry.get("roles") or []),
            "tunnels": list(entry.get("tunnels") or []),
            "interface": result.get("interface"),
            "interface_mtu": result.get("interface_mtu"),
            "path_mtu": result.get("path_mtu"),
            "mss": result.get("mss"),
            # path_mtu_info's "unresolved" (a name the host could not resolve) has no path to speak of.
            "status": result.get("status") if result.get("status") in STATUSES else "not_probed",
            "black_hole": bool(result.get("black_hole")),
            "ptb_seen": bool(result.get("ptb_seen")),
            "ptb_mtu": result.get("ptb_mtu"),
            "ptb_source": result.get("ptb_source"),
            "ptb_source_host": self.host_of(result.get("ptb_source")),
            "ptb_mismatch": bool(result.get("ptb_mismatch")),
            "hop": hop if isinstance(hop, dict) else None,
            "exact": bool(result.get("exact")),
            "reason": result.get("reason") or ("not probed" if not result else ""),
        }

    def paths_from(self, source: str) -> list[dict]:
        return [p for p in self.paths if p["source"] == source]

    # -- tunnels --

    def _tunnels(self) -> list[dict]:
        out = []
        for host, facts in sorted(self.facts.items()):
            interfaces = facts.get("interfaces") or {}
            for name, tunnel in sorted((facts.get("tunnels") or {}).items()):
                out.append(self._tunnel(host, name, tunnel, interfaces.get(name) or {}))
        return out

    def _tunnel(self, host: str, name: str, tunnel: dict, iface: dict) -> dict:
        underlay_paths = {p["address"]: p for p in self.paths_from(host)
                          if "underlay" in p["roles"] and name in p["tunnels"]}
        endpoints = []
        for endpoint in tunnel.get("endpoints") or []:
            address = endpoint.get("address")
            path = underlay_paths.get(str(parse_ip(address))) if parse_ip(address) else None
            measured = path["path_mtu"] if path and path["status"] in MEASURED else None
            limits = [v for v in (endpoint.get("underlay_mtu"), measured) if isinstance(v, int) and v > 0]
            fits, error = None, None
            if limits:
                try:
                    fits = overhead.tunnel_mtu(min(limits), tunnel.get("kind"), endpoint.get("family"),
                                               **(tunnel.get("overhead_options") or {}))
                except ValueError as exc:
                    error = str(exc)
            endpoints.append({
                "address": address,
                "family": endpoint.get("family"),
                "peer": self.host_of(address),
                "underlay_mtu": endpoint.get("underlay_mtu"),
                "path_id": path["id"] if path else None,
                "path_status": path["status"] if path else "not_probed",
                "path_mtu": measured,
                "hop": path["hop"] if path else None,
                "max_tunnel_mtu": fits,
                "error": error,
            })
        known = [e for e in endpoints if e["max_tunnel_mtu"] is not None]
        limiting = min(known, key=lambda e: e["max_tunnel_mtu"]) if known else None
        if limiting is not None:
            best, basis = limiting["max_tunnel_mtu"], ("probe" if limiting["path_mtu"] is not None else "facts")
        else:
            best, basis = tunnel.get("max_tunnel_mtu"), ("facts" if tunnel.get("max_tunnel_mtu") else None)
        mtu = tunnel.get("mtu")
        status = "unknown" if best is None or mtu is None else ("too_large" if mtu > best else "ok")
        peers = sorted({e["peer"] for e in endpoints if e["peer"]})
        measured = [e["path_mtu"] for e in endpoints if e["path_mtu"] is not None]
        return {
            "id": f"{host}/{name}",
            "host": host,
            "name": name,
            "kind": tunnel.get("kind"),
            "mtu": mtu,
            "outer_family": tunnel.get("outer_family"),
            "overhead": tunnel.get("overhead"),
            "ipv6_inside": bool(iface.get("ipv6")),
            "manager": iface.get("manager"),
            "manager_files": list(iface.get("manager_files") or []),
            "peers": peers,
            "endpoints": endpoints,
            "underlay_mtu": tunnel.get("underlay_mtu"),
            "underlay_path_mtu": min(measured) if measured else None,
            "limiting_endpoint": limiting["address"] if limiting else None,
            "max_tunnel_mtu": best,
            "basis": basis,
            "status": status,
            "errors": [e["error"] for e in endpoints if e["error"]],
        }

    def tunnel(self, host: str | None, name: str | None) -> dict | None:
        return next((t for t in self.tunnels if t["host"] == host and t["name"] == name), None)


# --- findings -------------------------------------------------------------------------------

def _finding(ftype: str, host: str, subject: str, message: str, evidence: dict, fix: dict,
             path: dict | None = None, related: Iterable[str] = ()) -> dict:
    return {
        "id": f"{ftype}/{host}/{subject}",
        "type": ftype,
        "severity": TYPES[ftype],
        "host": host,
        "subject": subject,
        "path": _path_ref(path) if path else None,
        "message": message,
        "evidence": evidence,
        "fix": {"host": fix.get("host"), "module": fix.get("module"), "args": fix.get("args") or {},
                "command": fix.get("command"), "note": fix.get("note")},
        "related": sorted(set(related)),
    }


def _path_ref(path: dict) -> dict:
    keys = ("id", "source", "target", "address", "family", "peer", "roles", "tunnels", "interface")
    return {key: path[key] for key in keys}


def _named(address: Any, host: str | None) -> str:
    return f"{address} ({host})" if host and address else str(address or host)


def _framework(audit: Audit, host: str | None) -> str | None:
    facts = audit.facts.get(host or "") or {}
    return (facts.get("firewall") or {}).get("framework")


def link_mtu_fix(host: str, tunnel: dict, mtu: int) -> dict:
    name = tunnel["name"]
    persist = {
        "wg-quick": f"MTU = {mtu} in [Interface] of /etc/wireguard/{name}.conf",
        "systemd-networkd": f"MTUBytes={mtu} in its .netdev/.network files",
        "NetworkManager": f"nmcli connection modify <profile> mtu {mtu}",
        "netplan": f"mtu: {mtu} in its netplan definition",
        "ifupdown": f"mtu {mtu} in its iface stanza",
        "ifcfg": f"MTU={mtu} in its ifcfg file",
    }.get(tunnel.get("manager") or "", "")
    note = "link_mtu sets it now and persists it where the interface is configured"
    if persist:
        note += f" ({persist})"
    return {"host": host, "module": "netpath.mtu.link_mtu", "args": {"name": name, "mtu": mtu},
            "command": f"ip link set dev {name} mtu {mtu}", "note": note}


def _icmp_command(framework: str | None) -> str:
    if framework in IPTABLES:
        v4, v6 = IPTABLES[framework]
        return (f"{v4} -I OUTPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT && "
                f"{v6} -I OUTPUT -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT")
    if framework == "firewalld":
        return "firewall-cmd --remove-icmp-block=fragmentation-needed --remove-icmp-block=packet-too-big"
    return ("nft insert rule inet filter output icmp type destination-unreachable icmp code frag-needed accept && "
            "nft insert rule inet filter output icmpv6 type packet-too-big accept")


def icmp_fix(audit: Audit, host: str | None, hop_address: Any) -> dict:
    """Let frag-needed / packet-too-big out of the router where large packets die."""
    if host is None:
        return {"host": None, "module": None, "args": {},
                "command": None,
                "note": (f"{hop_address or 'the hop'} is not an inventory host: ask its operator to pass ICMP "
                         "fragmentation-needed (type 3 code 4) and ICMPv6 packet-too-big (type 2); "
                         "meanwhile clamp the TCP MSS on the gateway in front of it")}
    firewall = (audit.facts.get(host) or {}).get("firewall") or {}
    # Every framework that holds rules can be the one that drops: a drop in any base chain wins.
    frameworks = [f for f in firewall.get("frameworks") or [firewall.get("framework")] if f and f != "none"]
    command = " && ".join(_icmp_command(f) for f in frameworks or [None])
    return {"host": host, "module": "netpath.mtu.icmp_policy", "args": {"state": "present"}, "command": command,
            "note": (f"the router that cannot forward large packets must send the ICMP error; icmp_policy finds the "
                     f"rule that drops it ({', '.join(frameworks) or 'no firewall framework'} on {host}). If {host} does "
                     "not drop it, look on the way back: FORWARD on routers, INPUT on the sender")}


def mss_clamp_fix(audit: Audit, host: str) -> dict:
    framework = _framework(audit, host)
    rule = "-p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"
    if framework in IPTABLES:
        v4, v6 = IPTABLES[framework]
        command = f"{v4} -t mangle -A FORWARD {rule} && {v6} -t mangle -A FORWARD {rule}"
    elif framework == "firewalld":
        command = "firewall-cmd --permanent --policy=<policy of the tunnel zone> --add-rich-rule='rule tcp-mss-clamp value=\"pmtu\"'"
    else:
        command = ("nft add table inet netpath_mtu && nft add chain inet netpath_mtu forward "
                   "'{ type filter hook forward priority mangle; }' && "
                   "nft add rule inet netpath_mtu forward tcp flags syn tcp option maxseg size set rt mtu")
    return {"host": host, "module": "netpath.mtu.mss_clamp", "args": {"state": "present"}, "command": command,
            "note": ("clamp to the path MTU in FORWARD, IPv4 and IPv6, so TCP through the tunnel never depends on "
                     "PMTUD; it is only right once the tunnel MTU is right")}


def sysctl_fix(host: str, name: str, value: int) -> dict:
    return {"host": host, "module": "ansible.posix.sysctl",
            "args": {"name": name, "value": str(value), "sysctl_set": True, "state": "present"},
            "command": f"sysctl -w {name}={value}", "note": f"persist it in /etc/sysctl.d/ ({name} = {value})"}


def tunnel_findings(audit: Audit) -> list[dict]:
    out = []
    for tunnel in audit.tunnels:
        if tunnel["status"] != "too_large":
            continue
        limiting = next((e for e in tunnel["endpoints"] if e["address"] == tunnel["limiting_endpoint"]), None)
        path = next((p for p in audit.paths if limiting and p["id"] == limiting["path_id"]), None)
        where = (f"the underlay path to {_named(limiting['address'], limiting['peer'])} carries "
                 f"{min(v for v in (limiting['path_mtu'], limiting['underlay_mtu']) if v)} bytes") if limiting else \
            f"its underlay carries {tunnel['underlay_mtu']} bytes"
        message = (f"{tunnel['kind']} tunnel {tunnel['name']} has MTU {tunnel['mtu']} but {where}: "
                   f"{tunnel['max_tunnel_mtu']} fits ({tunnel['overhead']} bytes of {tunnel['outer_family'] or 'outer'} overhead)")
        evidence = {
            "tunnel": tunnel["name"], "kind": tunnel["kind"], "mtu": tunnel["mtu"],
            "outer_family": tunnel["outer_family"], "overhead": tunnel["overhead"],
            "underlay_mtu": tunnel["underlay_mtu"], "underlay_path_mtu": tunnel["underlay_path_mtu"],
            "underlay_path_status": limiting["path_status"] if limiting else None,
            "endpoint": tunnel["limiting_endpoint"], "peer": limiting["peer"] if limiting else None,
            "max_tunnel_mtu": tunnel["max_tunnel_mtu"], "basis": tunnel["basis"],
            "ipv6_inside": tunnel["ipv6_inside"],
        }
        fix = link_mtu_fix(tunnel["host"], tunnel, tunnel["max_tunnel_mtu"])
        if tunnel["ipv6_inside"] and tunnel["max_tunnel_mtu"] < overhead.IPV6_MIN_MTU:
            need = overhead.IPV6_MIN_MTU + (tunnel["overhead"] or 0)
            message += f", below the {overhead.IPV6_MIN_MTU} bytes IPv6 inside the tunnel needs"
            fix = {"host": tunnel["host"], "module": None, "args": {}, "command": None,
                   "note": (f"{tunnel['name']} carries IPv6, which needs an MTU of at least {overhead.IPV6_MIN_MTU}: "
                            f"raise the underlay path to at least {need} bytes, or stop carrying IPv6 in it")}
        out.append(_finding("tunnel_mtu_too_large", tunnel["host"], tunnel["name"], message, evidence, fix, path))
    return out


def _cause(audit: Audit, path: dict) -> tuple[str, Any]:
    """Why large packets vanish on a black-holed path: ('tunnel', (host, name)), ('hop', (host, address)) or ('unknown', None)."""
    source_tunnels = (audit.facts.get(path["source"]) or {}).get("tunnels") or {}
    if path["interface"] in source_tunnels:
        return "tunnel", (path["source"], path["interface"])
    ptb_host = path["ptb_source_host"]
    if path["ptb_seen"] and ptb_host in audit.facts:
        matches = sorted(name for name, t in ((audit.facts[ptb_host].get("tunnels") or {}).items())
                         if t.get("mtu") == path["ptb_mtu"])
        if matches:
            return "tunnel", (ptb_host, matches[0])
    hop = path["hop"] or {}
    if hop.get("address"):
        return "hop", (hop.get("host"), hop["address"])
    return "unknown", None


def _hop_text(path: dict) -> str:
    hop = path["hop"] or {}
    if hop.get("address"):
        located = "" if hop.get("located", True) else " (not pinned down: they die somewhere after it)"
        ttl = f", hop {hop['ttl']}" if hop.get("ttl") is not None else ""
        return f"large packets die after {_named(hop['address'], hop.get('host'))}{ttl}{located}"
    if hop.get("ttl") == 0 and hop.get("located"):
        # The first hop answered small TTL-limited probes and not large ones: they die on the way to it.
        return f"large packets die before the first hop, on {path['interface']} (its link, or a tunnel's underlay)"
    if hop.get("method") == "fragments":
        return "the requests arrive; the replies' non-first fragments are lost on the way back"
    if path["ptb_seen"]:
        return (f"{_named(path['ptb_source'], path['ptb_source_host'])} announced MTU {path['ptb_mtu']}, "
                "but smaller packets still vanish beyond it")
    return "the hop was not located"


def black_hole_findings(audit: Audit, tunnel_ids: dict[tuple[str, str], dict]) -> list[dict]:
    out = []
    for path in audit.paths:
        if path["status"] != "black_hole":
            continue
        kind, what = _cause(audit, path)
        related: list[str] = []
        fix: dict
        if kind == "tunnel" and what in tunnel_ids:
            fix = dict(tunnel_ids[what]["fix"])
            related.append(tunnel_ids[what]["id"])
            cause = f"tunnel {what[1]} on {what[0]} is larger than its underlay carries"
        elif kind == "tunnel":
            tunnel = audit.tunnel(*what) or {}
            hop = next((e["hop"] for e in tunnel.get("endpoints", []) if e["path_status"] == "black_hole" and e["hop"]), None)
            fix = icmp_fix(audit, (hop or {}).get("host"), (hop or {}).get("address")) if hop else \
                {"note": f"probe the underlay of tunnel {what[1]} on {what[0]}: its MTU fits what is known of it"}
            cause = f"the path crosses tunnel {what[1]} on {what[0]}"
        elif kind == "hop":
            fix = icmp_fix(audit, what[0], what[1])
            cause = f"the ICMP error from {_named(what[1], what[0])} never arrives"
        else:
            fix = {"note": "the hop was not located; run netpath.mtu.path_mtu_info with locate_hop towards the target"}
            cause = "unknown"
        size = path["path_mtu"]
        message = (f"{path['source']} -> {_named(path['target'], path['peer'])} ({path['family']}): packets above "
                   f"{size} bytes vanish without an ICMP error (interface MTU {path['interface_mtu']}); "
                   f"{_hop_text(path)}")
        evidence = {
            "path_mtu": size, "interface": path["interface"], "interface_mtu": path["interface_mtu"],
            "exact": path["exact"], "hop": path["hop"], "ptb_seen": path["ptb_seen"], "ptb_mtu": path["ptb_mtu"],
            "ptb_source": path["ptb_source"], "ptb_source_host": path["ptb_source_host"],
            "reason": path["reason"], "cause": cause,
        }
        out.append(_finding("pmtud_black_hole", path["source"], f"{path['target']}/{path['family']}", message,
                            evidence, fix, path, related))
    return out


def mismatch_findings(audit: Audit) -> list[dict]:
    """Host-to-host paths below the interface MTU where the ICMP that says so does not tell the truth."""
    out = []
    for path in audit.paths:
        if path["status"] != "ptb" or not path["ptb_mismatch"]:
            continue
        if path["path_mtu"] is None or path["interface_mtu"] is None or path["path_mtu"] >= path["interface_mtu"]:
            continue
        router = _named(path["ptb_source"], path["ptb_source_host"])
        message = (f"{path['source']} -> {_named(path['target'], path['peer'])} ({path['family']}): path MTU "
                   f"{path['path_mtu']} is below the interface MTU {path['interface_mtu']}, and {router} announces "
                   f"{path['ptb_mtu']}, which is wrong: senders that trust it lose packets")
        evidence = {"path_mtu": path["path_mtu"], "interface": path["interface"], "interface_mtu": path["interface_mtu"],
                    "ptb_mtu": path["ptb_mtu"], "ptb_source": path["ptb_source"],
                    "ptb_source_host": path["ptb_source_host"], "reason": path["reason"]}
        fix = {"host": path["ptb_source_host"], "module": None, "args": {},
               "command": f"ip -d link show  # on {router}: an interface or route MTU there disagrees with its links",
               "note": f"until it is fixed, clamp the TCP MSS on this path to {overhead.mss(path['path_mtu'], path['family'] or 'ipv4')}"}
        out.append(_finding("path_mtu_below_interface", path["source"], f"{path['target']}/{path['family']}", message,
                            evidence, fix, path))
    return out


def _forwarding(facts: dict) -> list[str]:
    sysctls = facts.get("sysctls") or {}
    return [fam for fam, key in (("ipv4", "ipv4_forwarding"), ("ipv6", "ipv6_forwarding")) if sysctls.get(key)]


def _icmp_drops(host: dict, facts: dict) -> list[dict]:
    """Where icmp_policy says this host drops frag-needed / packet-too-big (FORWARD only if it forwards)."""
    section = host.get("icmp_policy")
    results = section.get("results") if isinstance(section, dict) else None
    forwarding = _forwarding(facts)
    drops = []
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict) or result.get("verdict") != "dropped":
            continue
        if result.get("hook") == "forward" and result.get("family") not in forwarding:
            continue
        drops.append({"family": result.get("family"), "hook": result.get("hook"), "reason": result.get("reason"),
                      "conditional": bool(result.get("conditional"))})
    return drops


def ptb_results(host: dict) -> list[dict]:
    """The host's ptb_check runs: peer, address, family (from the loop item), status and reason."""
    section = host.get("ptb_check")
    checks = [c for c in section if isinstance(c, dict)] if isinstance(section, list) else []
    return [dict({key: (c.get("item") or {}).get(key) for key in ("peer", "address", "family")},
                 status=c.get("status"), reason=c.get("reason")) for c in checks]


def _ptb_drops(host: dict) -> list[dict]:
    """ptb_check runs where a real PTB from a peer was not accepted."""
    return [{key: r[key] for key in ("peer", "address", "family", "reason")}
            for r in ptb_results(host) if r["status"] == "dropped"]


def icmp_findings(audit: Audit, holes: list[dict]) -> list[dict]:
    """Hosts whose firewall drops frag-needed / packet-too-big (icmp_policy), or that did not accept a real one
    (ptb_check). Each is linked both ways to the black holes whose fix is that host's icmp_policy."""
    out = []
    for name, facts in sorted(audit.facts.items()):
        host = audit.hosts[name]
        drops, refused = _icmp_drops(host, facts), _ptb_drops(host)
        if not drops and not refused:
            continue
        where = [f"{d['family']} {d['hook']}{' (for some packets)' if d['conditional'] else ''}: {d['reason']}"
                 for d in drops]
        where += [f"a packet-too-big from {_named(r['address'], r['peer'])} ({r['family']}) was not accepted: {r['reason']}"
                  for r in refused]
        message = (f"{name} drops ICMP fragmentation-needed / packet-too-big, so path MTU discovery fails through or "
                   f"towards it - {'; '.join(where)}")
        fix = icmp_fix(audit, name, None)
        if refused and not drops:
            fix["note"] += ("; its firewall rules accept the messages, so look at conntrack (untracked ICMP is INVALID: "
                            "icmp_policy fix_untracked) and at rp_filter")
        explained = [h for h in holes if h["fix"]["host"] == name and h["fix"]["module"] == "netpath.mtu.icmp_policy"]
        finding = _finding("icmp_blocked", name, "firewall", message, {"dropped": drops, "ptb_check": refused}, fix,
                           related=[h["id"] for h in explained])
        for hole in explained:
            hole["related"] = sorted(set(hole["related"]) | {finding["id"]})
        out.append(finding)
    return out


def clamp_state(host: dict, facts: dict) -> tuple[str, str]:
    """('present' | 'absent' | 'unknown', why) for TCP MSS clamping on a host."""
    section = host.get("mss_clamp")
    if isinstance(section, dict) and isinstance(section.get("report"), dict):
        # mss_clamp state=present in check mode: what it would add is missing, unless some clamp is there.
        report = section["report"]
        if report.get("present") or not report.get("added"):
            return "present", f"mss_clamp (check mode): {'; '.join(report.get('present') or []) or 'clamp present'}"
        return "absent", f"mss_clamp (check mode) would add: {'; '.join(report['added'])}"
    firewall = facts.get("firewall")
    if not isinstance(firewall, dict):
        return "unknown", "no firewall facts"
    if firewall.get("firewalld"):
        return "unknown", "firewalld runs; its policies are not in the facts"
    tables = [t for t in firewall.get("nft_tables") or [] if t in CLAMP_TABLES or "mangle" in t.split(" ")[-1]]
    if tables:
        return "unknown", f"table(s) {', '.join(tables)} may hold a clamp"
    if firewall.get("iptables_legacy_rules"):
        return "unknown", "iptables-legacy rules may hold a clamp"
    have = ", ".join(firewall.get("nft_tables") or []) or "no nftables tables"
    return "absent", f"no mangle table and no clamp table in any firewall framework ({have})"


def mss_clamp_findings(audit: Audit) -> list[dict]:
    out = []
    for name, facts in sorted(audit.facts.items()):
        tunnels = sorted((facts.get("tunnels") or {}))
        forwarding = _forwarding(facts)
        if not tunnels or not forwarding:
            continue
        state, why = clamp_state(audit.hosts[name], facts)
        if state != "absent":
            continue
        related = [f"tunnel_mtu_too_large/{name}/{t['name']}" for t in audit.tunnels if t["host"] == name and t["status"] == "too_large"]
        message = (f"{name} forwards ({', '.join(forwarding)}) into {', '.join(tunnels)} without TCP MSS clamping: "
                   "TCP through the tunnel depends on PMTUD")
        evidence = {"forwarding": forwarding, "tunnels": tunnels,
                    "firewall": (facts.get("firewall") or {}).get("framework"), "clamp": state, "basis": why}
        out.append(_finding("mss_clamp_missing", name, "forward", message, evidence, mss_clamp_fix(audit, name),
                            related=related))
    return out


def sysctl_findings(audit: Audit) -> list[dict]:
    out = []
    for name, facts in sorted(audit.facts.items()):
        sysctls = facts.get("sysctls") or {}
        value = sysctls.get("ip_no_pmtu_disc")
        if isinstance(value, int) and value != 0:
            message = (f"{name} has net.ipv4.ip_no_pmtu_disc = {value}: IPv4 path MTU discovery is off, so it sends "
                       "without DF and ignores what routers report")
            out.append(_finding("pmtud_disabled", name, "net.ipv4.ip_no_pmtu_disc", message,
                                {"ip_no_pmtu_disc": value}, sysctl_fix(name, "net.ipv4.ip_no_pmtu_disc", 0)))
        holes = [p for p in audit.paths_from(name) if p["status"] == "black_hole"]
        if holes and sysctls.get("tcp_mtu_probing") == 0:
            targets = [f"{_named(p['target'], p['peer'])} {p['family']}" for p in holes]
            message = (f"{name} has black-holed paths ({len(holes)}) and net.ipv4.tcp_mtu_probing = 0: with 1, TCP "
                       "recovers from a black hole by probing smaller segments (advice; fix the path first)")
            evidence = {"tcp_mtu_probing": 0, "black_holes": len(holes), "targets": targets[:10]}
            out.append(_finding("tcp_mtu_probing_off", name, "net.ipv4.tcp_mtu_probing", message, evidence,
                                sysctl_fix(name, "net.ipv4.tcp_mtu_probing", 1),
                                related=[f"pmtud_black_hole/{name}/{p['target']}/{p['family']}" for p in holes]))
    return out


def _sort_key(finding: dict) -> tuple:
    return (SEVERITIES.index(finding["severity"]), list(TYPES).index(finding["type"]), finding["host"], finding["id"])


def from_audit(audit: Audit) -> list[dict]:
    tunnel = tunnel_findings(audit)
    by_tunnel = {(f["host"], f["subject"]): f for f in tunnel}
    holes = black_hole_findings(audit, by_tunnel)
    found = tunnel + holes + icmp_findings(audit, holes)
    for producer in PRODUCERS:
        found += producer(audit)
    # A tunnel finding lists the black holes it explains.
    explained: dict[str, list[str]] = {}
    for finding in found:
        for rel in finding["related"]:
            explained.setdefault(rel, []).append(finding["id"])
    for finding in tunnel:
        finding["related"] = sorted(set(finding["related"]) | set(explained.get(finding["id"], [])))
    return sorted(found, key=_sort_key)


# Independent producers: each reads the Audit (and optionally its own host data section).
PRODUCERS: tuple[Callable[[Audit], list[dict]], ...] = (mismatch_findings, mss_clamp_findings, sysctl_findings)


def findings(data: Any) -> list[dict]:
    """All findings of an audit, sorted by severity, type, host and id."""
    return from_audit(Audit(data))
