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
                        "ptb_check": [<ptb_check mode=both's checks: {name, peer, family, status, ...}>]}},
     "inventory": {"gw-b": ["198.18.2.2", "fd00:198:18:2::2"]},  # host -> addresses (names hops)
     # optional, for the report's grouping by site only: netpath_mtu_audit_site and group_names
     "sites": {"gw-b": "berlin"}, "groups": {"gw-b": ["gateways", "site_b"]}}

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

import shlex
from typing import Any, Callable, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.audit import attribution, catalog
from ansible_collections.netpath.mtu.plugins.module_utils.links import overhead
from ansible_collections.netpath.mtu.plugins.module_utils.links.addresses import address_index, parse_ip

# Finding types in report order, with their severity: the catalog's table.
SEVERITIES = catalog.SEVERITIES
TYPES = catalog.SEVERITY
STATUSES = ("black_hole", "unreachable", "filtered", "ptb", "ok", "not_probed")
MEASURED = ("ok", "ptb", "black_hole")  # statuses whose path_mtu is a measurement
# Optional per-host sections that later checks fill; unknown keys are rejected to catch typos.
SECTIONS = ("mss_clamp", "icmp_policy", "ptb_check", "transfer")
HOST_KEYS = ("facts", "targets", "probes", "error", "groups", "deps") + SECTIONS
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
    return {"hosts": hosts, "inventory": inventory, "sites": _sites(data)}


def _sites(data: dict) -> dict[str, str]:
    """Host -> site (report.html groups its matrix by it): ``sites`` (netpath_mtu_audit_site) where set,
    else the first, alphabetically, of the host's inventory groups (``groups``, its group_names) other than
    all and ungrouped."""
    out: dict[str, str] = {}
    for key in ("groups", "sites"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ValueError(f"audit data '{key}' must be a dict of host name -> {'groups' if key == 'groups' else 'site'}")
    for name, names in (data.get("groups") or {}).items():
        names = [names] if isinstance(names, str) else list(names or [])
        first = min((str(g) for g in names if g and str(g) not in ("all", "ungrouped")), default=None)
        if first:
            out[str(name)] = first
    for name, site in (data.get("sites") or {}).items():
        if site not in (None, ""):
            out[str(name)] = str(site)
    return out


class Audit:
    """Paths and tunnels of one audit, joined and named, from which findings and the report are built."""

    def __init__(self, data: Any):
        checked = check_data(data)
        self.hosts: dict[str, dict] = checked["hosts"]
        self.inventory: dict[str, list[str]] = checked["inventory"]
        self.sites: dict[str, str] = checked["sites"]
        self.facts = {name: host["facts"] for name, host in self.hosts.items() if host["facts"] is not None}
        self.index = address_index(self.facts, self.inventory)
        self.paths = self._paths()
        # Indexes, so that findings and the report stay linear in paths on large fleets.
        self.path_by_id = {p["id"]: p for p in self.paths}
        self._by_source: dict[str, list[dict]] = {}
        for path in self.paths:
            self._by_source.setdefault(path["source"], []).append(path)
        self.tunnels = self._tunnels()
        self.tunnels_by_host: dict[str, list[dict]] = {}
        for tunnel in self.tunnels:
            self.tunnels_by_host.setdefault(tunnel["host"], []).append(tunnel)
        self._fragment_drops: dict[str, list[dict]] = {}
        self.limiting_cache: dict[tuple, str | None] = {}  # attribution.black_hole_blame's
        self._droppers: dict[tuple, list[str]] = {}

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
            "source_address": result.get("source"),
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
            # Which probe answered: icmp, udp, or tcp (to port) where icmp met a firewall (probe_method auto).
            "method": result.get("method") if result else None,
            "port": result.get("port") if result else None,
            "black_hole": bool(result.get("black_hole")),
            "ptb_seen": bool(result.get("ptb_seen")),
            "ptb_mtu": result.get("ptb_mtu"),
            "ptb_source": result.get("ptb_source"),
            "ptb_source_host": self.host_of(result.get("ptb_source")),
            "ptb_mismatch": bool(result.get("ptb_mismatch")),
            "hop": hop if isinstance(hop, dict) else None,
            "exact": bool(result.get("exact")),
            "fragments_lost": result.get("fragments_lost") or None,
            "reason": result.get("reason") or ("not probed" if not result else ""),
        }

    def paths_from(self, source: str) -> list[dict]:
        return self._by_source.get(source, [])

    # -- what icmp_policy says about fragments, per host, read once (every black hole asks of every host) --

    def fragment_drops(self, name: str) -> list[dict]:
        """Where icmp_policy says the host drops non-first fragments (forward only where it forwards)."""
        if name not in self._fragment_drops:
            section = self.hosts.get(name, {}).get("icmp_policy")
            drops = section.get("fragment_drops") if isinstance(section, dict) else None
            self._fragment_drops[name] = [
                d for d in drops or [] if isinstance(d, dict) and d.get("verdict") == "dropped"
                and (d.get("hook") == "input" or attribution.forwards(self.facts.get(name), d.get("family")))]
        return self._fragment_drops[name]

    def fragment_droppers(self, family: Any, hook: str) -> list[str]:
        """Audited hosts, sorted, that drop the family's non-first fragments on ``hook``."""
        key = (family, hook)
        if key not in self._droppers:
            self._droppers[key] = [h for h in sorted(self.facts)
                                   if any(d["family"] == family and d["hook"] == hook for d in self.fragment_drops(h))]
        return self._droppers[key]

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


# --- findings -------------------------------------------------------------------------------

def _finding(ftype: str, host: str, subject: str, message: str, evidence: dict, fix: dict,
             path: dict | None = None, related: Iterable[str] = (), severity: str | None = None) -> dict:
    return {
        "id": f"{ftype}/{host}/{subject}",
        "type": ftype,
        "severity": severity or TYPES[ftype],
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
    return {"host": host, "module": catalog.module("link_mtu"), "args": {"name": name, "mtu": mtu},
            "command": f"ip link set dev {name} mtu {mtu}", "note": note}


def _printed_commands(host: dict, check: str = "icmp_policy") -> list[str]:
    """The by-hand commands a check's module generated from its plan on the host (its ``fix``)."""
    section = host.get(check)
    fix = section.get("fix") if isinstance(section, dict) else None
    commands = fix.get("commands") if isinstance(fix, dict) else None
    return [str(c) for c in commands] if isinstance(commands, list) else []


def icmp_fix(audit: Audit, host: str | None, outside: Iterable[str] = ()) -> dict:
    """Let frag-needed / packet-too-big through where the evidence says it is dropped."""
    if host is None:
        where = ", ".join(outside) or "the router that drops it"
        return {"host": None, "module": None, "args": {}, "command": None,
                "note": (f"{where}: not an inventory host; ask its operator to pass ICMP fragmentation-needed "
                         "(type 3 code 4) and ICMPv6 packet-too-big (type 2); meanwhile clamp the TCP MSS on the "
                         "gateway in front of it")}
    commands = _printed_commands(audit.hosts.get(host) or {})
    note = (f"icmp_policy inserts an accept right before the deciding rule on {host}, in the table and chain "
            "where it lives (an accept in another table would not override it)")
    if not commands:
        note += "; run it with --check --diff to see the change"
    return {"host": host, "module": catalog.module("icmp_policy"), "args": {"state": "present"},
            "command": " && ".join(commands) or None, "note": note}


def mss_clamp_fix(audit: Audit, host: str) -> dict:
    """mss_clamp's own plan for the host, as it printed it in check mode (its ``fix``); none is made up."""
    commands = _printed_commands(audit.hosts.get(host) or {}, "mss_clamp")
    note = ("clamp to the path MTU in FORWARD, IPv4 and IPv6, so TCP through the tunnel never depends on "
            "PMTUD; it is only right once the tunnel MTU is right")
    if commands:
        note += "; the commands change the live ruleset, mss_clamp also persists the clamp"
    else:
        note += f"; mss_clamp did not check {host}: run it with --check --diff to see the change"
    return {"host": host, "module": catalog.module("mss_clamp"), "args": {"state": "present"},
            "command": " && ".join(commands) or None, "note": note}


def sysctl_fix(host: str, name: str, value: int) -> dict:
    return {"host": host, "module": catalog.module("sysctl"),
            "args": {"name": name, "value": str(value), "sysctl_set": True, "state": "present"},
            "command": f"sysctl -w {name}={value}", "note": f"persist it in /etc/sysctl.d/ ({name} = {value})"}


def tunnel_findings(audit: Audit) -> list[dict]:
    out = []
    for tunnel in audit.tunnels:
        if tunnel["status"] != "too_large":
            continue
        limiting = next((e for e in tunnel["endpoints"] if e["address"] == tunnel["limiting_endpoint"]), None)
        path = audit.path_by_id.get(limiting["path_id"]) if limiting and limiting["path_id"] else None
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


def _tunnel_cause(audit: Audit, path: dict) -> tuple[str, str] | None:
    """The tunnel whose MTU explains a black-holed path: the source's own tunnel the path leaves through,
    the inventory tunnel whose MTU the ICMP that did arrive announced, or a too-large tunnel of the hop
    right after which large packets die (its outer packets fragment or need an error that never comes)."""
    source_tunnels = (audit.facts.get(path["source"]) or {}).get("tunnels") or {}
    if path["interface"] in source_tunnels:
        return path["source"], path["interface"]
    ptb_host = path["ptb_source_host"]
    if path["ptb_seen"] and ptb_host in audit.facts:
        matches = sorted(name for name, t in ((audit.facts[ptb_host].get("tunnels") or {}).items())
                         if t.get("mtu") == path["ptb_mtu"])
        if matches:
            return ptb_host, matches[0]
    hop = path["hop"] or {}
    if hop.get("host") and hop.get("located"):
        too_large = [t for t in audit.tunnels_by_host.get(hop["host"], []) if t["status"] == "too_large"]
        if len(too_large) == 1:
            return hop["host"], too_large[0]["name"]
    return None


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


def blame_of(audit: Audit, path: dict) -> attribution.Blame:
    return attribution.black_hole_blame(audit.facts, audit.hosts, audit.host_of, path, audit.limiting_cache)


def _black_hole_fix(audit: Audit, path: dict, tunnel_ids: dict[tuple[str, str], dict]) -> tuple[dict, list[str], str]:
    """(fix, related finding ids, cause) of one black-holed path, from the evidence only."""
    if path["fragments_lost"] and (path["hop"] or {}).get("method") == "fragments":
        return _fragments_fix(audit, path)
    tunnel = _tunnel_cause(audit, path)
    if tunnel in tunnel_ids:
        return (dict(tunnel_ids[tunnel]["fix"]), [tunnel_ids[tunnel]["id"]],
                f"tunnel {tunnel[1]} on {tunnel[0]} is larger than its underlay carries")
    blame = blame_of(audit, path)
    if blame.kind == "firewall":
        culprit = blame.culprits[0]["host"]
        return (icmp_fix(audit, culprit), [f"icmp_blocked/{h}/firewall" for h in blame.hosts()],
                f"the ICMP error is dropped: {blame.text}")
    if blame.kind == "outside":
        return icmp_fix(audit, None, blame.outside), [], f"the ICMP error is lost outside the inventory: {blame.text}"
    if blame.kind == "unevaluated":
        fix = icmp_fix(audit, blame.limiting)
        fix["note"] = f"{blame.text}: icmp_policy evaluates it and inserts the accept where it is dropped"
        return fix, [], f"probably {blame.limiting}: {blame.text}"
    if tunnel is not None:
        note = f"the path crosses tunnel {tunnel[1]} on {tunnel[0]}, whose MTU fits what is known of its underlay; {blame.text}"
    elif (path["hop"] or {}).get("located") or blame.kind == "clean":
        note = blame.text
    else:
        note = "the hop was not located; run netpath.mtu.path_mtu_info with locate_hop towards the target"
    return {"host": None, "module": None, "args": {}, "command": None, "note": note}, [], f"unknown: {blame.text}"


def _fragments_fix(audit: Audit, path: dict) -> tuple[dict, list[str], str]:
    """A path whose requests arrive and whose replies come back as first fragments only: something on the
    way back drops non-first fragments. The sender's own INPUT drop is evidence; forwarders that drop
    them are suspects (the way back is not traced)."""
    lost = path["fragments_lost"] or {}
    cause = (f"replies of {lost.get('smallest')} bytes and more arrive only as first fragments: non-first fragments "
             "are dropped on the way back")
    family, source = path["family"], path["source"]
    if any(d["family"] == family and d["hook"] == "input" for d in audit.fragment_drops(source)):
        return ({"host": source, "module": None, "args": {}, "command": None,
                 "note": f"{source} drops them itself (its fragments_dropped finding): narrow its rule"},
                [f"fragments_dropped/{source}/fragments"], f"{cause}, by {source} itself")
    suspects = [h for h in audit.fragment_droppers(family, "forward") if h != source]
    note = (f"inventory routers that drop forwarded fragments, if the way back crosses them: {', '.join(suspects)}"
            if suspects else "no inventory host drops them by its ruleset: the drop is outside the inventory")
    return ({"host": None, "module": None, "args": {}, "command": None, "note": note},
            [f"fragments_dropped/{h}/fragments" for h in suspects], cause)


def black_hole_findings(audit: Audit, tunnel_ids: dict[tuple[str, str], dict]) -> list[dict]:
    out = []
    for path in audit.paths:
        if path["status"] != "black_hole":
            continue
        fix, related, cause = _black_hole_fix(audit, path, tunnel_ids)
        size = path["path_mtu"]
        message = (f"{path['source']} -> {_named(path['target'], path['peer'])} ({path['family']}): packets above "
                   f"{size} bytes vanish without an ICMP error (interface MTU {path['interface_mtu']}); "
                   f"{_hop_text(path)}")
        evidence = {
            "path_mtu": size, "interface": path["interface"], "interface_mtu": path["interface_mtu"],
            "exact": path["exact"], "hop": path["hop"], "ptb_seen": path["ptb_seen"], "ptb_mtu": path["ptb_mtu"],
            "ptb_source": path["ptb_source"], "ptb_source_host": path["ptb_source_host"],
            "reason": path["reason"], "cause": cause, "fragments_lost": path["fragments_lost"],
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
    return [family for family in ("ipv4", "ipv6") if attribution.forwards(facts, family)]


def _icmp_drops(host: dict, facts: dict) -> list[dict]:
    """Where icmp_policy says this host drops frag-needed / packet-too-big (FORWARD only if it forwards)."""
    drops = []
    for result in attribution.evaluation(host) or []:
        if result.get("verdict") != "dropped":
            continue
        if result.get("hook") == "forward" and not attribution.forwards(facts, result.get("family")):
            continue
        drops.append({"family": result.get("family"), "hook": result.get("hook"), "reason": result.get("reason"),
                      "conditional": bool(result.get("conditional"))})
    return drops


def ptb_results(host: dict) -> list[dict]:
    """The host's ptb_check results (mode=both's ``checks``): peer host, address, family, status and reason."""
    section = host.get("ptb_check")
    checks = [c for c in section if isinstance(c, dict)] if isinstance(section, list) else []
    return [{"peer": c.get("name"), "address": c.get("peer"), "family": c.get("family"), "status": c.get("status"),
             "reason": c.get("reason")} for c in checks]


def _ptb_drops(audit: Audit, name: str) -> tuple[list[dict], list[dict]]:
    """ptb_check runs where a real PTB from a peer was not accepted: (from a peer on one of this host's
    links, evidence about this host; from a peer behind routers, evidence about the path)."""
    facts = audit.facts.get(name)
    near, far = [], []
    for check in ptb_results(audit.hosts[name]):
        if check["status"] != "dropped":
            continue
        entry = {key: check[key] for key in ("peer", "address", "family", "reason")}
        (near if attribution.adjacent(facts, check["address"]) else far).append(entry)
    return near, far


def icmp_findings(audit: Audit, holes: list[dict]) -> list[dict]:
    """Hosts whose firewall drops frag-needed / packet-too-big (icmp_policy), or that did not accept a real one
    from a peer on the same link (ptb_check). Each is linked both ways to the black holes it explains."""
    out = []
    for name, facts in sorted(audit.facts.items()):
        host = audit.hosts[name]
        drops = _icmp_drops(host, facts)
        refused, far = _ptb_drops(audit, name)
        if not drops and not refused:
            continue
        where = [f"{d['family']} {d['hook']}{' (for some packets)' if d['conditional'] else ''}: {d['reason']}"
                 for d in drops]
        where += [f"a packet-too-big from {_named(r['address'], r['peer'])} ({r['family']}), on the same link, was not "
                  f"accepted: {r['reason']}" for r in refused]
        message = (f"{name} drops ICMP fragmentation-needed / packet-too-big, so path MTU discovery fails through or "
                   f"towards it - {'; '.join(where)}")
        fix = icmp_fix(audit, name)
        if refused and not drops:
            fix["note"] += ("; its firewall rules accept the messages, so look at conntrack (untracked ICMP is INVALID: "
                            "icmp_policy fix_untracked) and at rp_filter")
        explained = [h for h in holes if f"icmp_blocked/{name}/firewall" in h["related"]]
        # A check across routers that its own INPUT drop explains corroborates; it is not the path's fault.
        corroborating = [r for r in far if any(d["hook"] == "input" and d["family"] == r["family"] for d in drops)]
        finding = _finding("icmp_blocked", name, "firewall", message,
                           {"dropped": drops, "ptb_check": refused + corroborating}, fix,
                           related=[h["id"] for h in explained])
        out.append(finding)
    return out


def _hosts_between(audit: Audit, name: str, check: dict) -> set[str]:
    """Inventory hosts on a traced route between the checked host and its peer (either direction)."""
    peer_addresses = {str(parse_ip(a)) for a in audit.inventory.get(check["peer"] or "", [])} | {str(check["address"])}
    own = {str(parse_ip(a)) for a in audit.inventory.get(name, [])}
    found = set()
    for path in audit.paths_from(name) + audit.paths_from(check["peer"] or ""):
        if (path["source"] == name and str(path["address"]) in peer_addresses) or \
                (path["source"] == check["peer"] and str(path["address"]) in own):
            found |= {audit.host_of(h.get("address")) for h in (path["hop"] or {}).get("route") or []}
    return found - {None, name, check["peer"]}


def transit_findings(audit: Audit, blocked: dict[str, dict]) -> list[dict]:
    """PTB checks across routers whose packet-too-big never arrived, while the checked host's own ruleset
    does not drop it: the error is lost on the way, a fault of the path, not of the checked host."""
    out = []
    # Which blocked hosts drop it in FORWARD depends on the family alone: decided once, not per check.
    dropping: dict[Any, list[str]] = {}
    for name in sorted(audit.facts):
        dummy, far = _ptb_drops(audit, name)
        for check in far:
            if attribution.icmp_drop(audit.hosts[name], check["family"], "input"):
                continue  # its own INPUT drop explains it (icmp_blocked on this host)
            if check["family"] not in dropping:
                dropping[check["family"]] = [h for h in sorted(blocked)
                                             if attribution.icmp_drop(audit.hosts[h], check["family"], "forward")
                                             and attribution.forwards(audit.facts.get(h), check["family"])]
            forwarders = [h for h in dropping[check["family"]] if h not in (name, check["peer"])]
            between = _hosts_between(audit, name, check)
            on_way = [h for h in forwarders if h in between]
            own = attribution.icmp_verdict(audit.hosts[name], check["family"], "input")
            message = (f"a packet-too-big from {_named(check['address'], check['peer'])} to {name} ({check['family']}) "
                       f"was lost on the way: they are not on one link, and {name}'s own ruleset "
                       f"{'accepts it' if own == 'accepted' else 'was not evaluated' if own is None else 'is ' + str(own)}")
            if on_way:
                message += f"; inventory routers on the way that drop it in FORWARD: {', '.join(on_way)}"
                fix = icmp_fix(audit, on_way[0])
            else:
                if forwarders:
                    message += (f"; inventory routers that drop it in FORWARD, if the way crosses them: {', '.join(forwarders)} "
                                "(no probe traced the way)")
                else:
                    message += "; no inventory router drops it by its ruleset, so the drop is outside the inventory"
                fix = icmp_fix(audit, None, [f"a router between {check['peer']} and {name}"])
            evidence = {"peer": check["peer"], "address": check["address"], "family": check["family"],
                        "reason": check["reason"], "own_input": own, "forwarders": forwarders, "on_the_way": on_way}
            out.append(_finding("ptb_lost_in_transit", name, f"{check['address']}/{check['family']}", message,
                                evidence, fix, related=[blocked[h]["id"] for h in on_way]))
    return out


def _outer_packets_cross(audit: Audit, name: str, family: str, hook: str) -> list[dict]:
    """Too-large tunnels whose outer packets (family ``family``) arrive at ``name`` (INPUT: it is the far
    endpoint) or cross it (FORWARD: it is a hop on the underlay path between the endpoints)."""
    found = []
    for tunnel in audit.tunnels:
        if tunnel["status"] != "too_large" or tunnel["outer_family"] != family:
            continue
        for endpoint in tunnel["endpoints"]:
            path = audit.path_by_id.get(endpoint["path_id"] or "")
            route = [audit.host_of(h.get("address")) for h in ((path or {}).get("hop") or {}).get("route") or []]
            if (hook == "input" and endpoint["peer"] == name) or (hook == "forward" and name in route):
                # Where the outer packets come from: the address the tunnel host probed its endpoint from.
                source = (path or {}).get("source_address")
                found.append(dict(tunnel, sources=[source] if parse_ip(source) else []))
                break
    return found


def _fragment_command(drop: dict, tunnels: list[dict]) -> str | None:
    """nft commands that accept the tunnels' fragments right before the rule that drops them."""
    rule = drop.get("rule") or {}
    sources = sorted({a for t in tunnels for a in t["sources"]})
    if rule.get("framework") != "nftables" or not sources:
        return None
    match = "ip frag-off & 0x1fff != 0" if drop["family"] == "ipv4" else "exthdr frag exists"
    prefix = "ip" if drop["family"] == "ipv4" else "ip6"
    where = f"{rule['family']} {rule['table']} {rule['chain']}"
    position = "add rule " + where if "policy" in rule else f"insert rule {where} handle {rule.get('handle')}"
    # The rule is one quoted word: nft joins its arguments, and '&' means something to the shell.
    return " && ".join(f"nft {position} {shlex.quote(f'{prefix} saddr {address} {match} accept')}" for address in sources)


def fragment_findings(audit: Audit, holes: list[dict]) -> list[dict]:
    """Hosts that drop non-first IP fragments (icmp_policy's fragment_drops): every tunnel whose outer packets
    get fragmented towards them is a black hole. Critical when such a tunnel or a black hole crosses them."""
    out = []
    for name in sorted(audit.facts):
        drops = audit.fragment_drops(name)
        if not drops:
            continue
        crossing = {id(d): _outer_packets_cross(audit, name, d["family"], d["hook"]) for d in drops}
        tunnels = {t["id"]: t for found in crossing.values() for t in found}
        # The black holes through such a tunnel, or through this host's own end of it (replies cross both).
        tunnel_ids = {f"tunnel_mtu_too_large/{t['host']}/{t['name']}" for t in tunnels.values()}
        tunnel_ids |= {f"tunnel_mtu_too_large/{t['host']}/{t['name']}" for t in audit.tunnels_by_host.get(name, [])
                       if t["status"] == "too_large" and any(o["host"] in t["peers"] for o in tunnels.values())}
        through = [h["id"] for h in holes if set(h["related"]) & (tunnel_ids | {f"fragments_dropped/{name}/fragments"})]
        where = "; ".join(f"{d['family']} {d['hook']}: {d['reason']}" for d in drops)
        message = f"{name} drops non-first IP fragments - {where}"
        if tunnels:
            message += (f"; the outer packets of {', '.join(sorted(tunnels))} are larger than their underlay carries, "
                        "get fragmented on the way and lose their tails here: the tunnel is a black hole")
        else:
            message += "; any tunnel whose outer packets get fragmented on the way here will black-hole"
        commands: list[str] = []
        for drop in drops:
            command = _fragment_command(drop, crossing[id(drop)])
            if command and command not in commands:  # INPUT and FORWARD often share the deciding rule
                commands.append(command)
        fix = {"host": name, "module": None, "args": {}, "command": " && ".join(commands) or None,
               "note": ("fix the tunnel MTU so its outer packets need no fragmenting (the related tunnel findings), "
                        "and narrow the rule: accept fragments from the tunnel endpoints before it")}
        evidence = {"dropped": drops, "tunnels": sorted(tunnels), "black_holes": through}
        out.append(_finding("fragments_dropped", name, "fragments", message, evidence, fix,
                            related=sorted(tunnel_ids) + through, severity=None if tunnels or through else "warning"))
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
        related = [f"tunnel_mtu_too_large/{name}/{t['name']}" for t in audit.tunnels_by_host.get(name, []) if t["status"] == "too_large"]
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
    blocked = icmp_findings(audit, holes)
    found = (tunnel + holes + blocked + transit_findings(audit, {f["host"]: f for f in blocked})
             + fragment_findings(audit, holes))
    _link_both_ways(found, found)
    advice = [f for producer in PRODUCERS for f in producer(audit)]
    # A tunnel finding also lists the advice that concerns it (the MSS clamp of its gateway).
    _link_both_ways(advice, tunnel)
    return sorted(found + advice, key=_sort_key)


def _link_both_ways(findings_: list[dict], targets: list[dict]) -> None:
    """Each of ``targets`` that a finding names as related names it back (a cause lists what it explains);
    related ids that name no finding (a check that did not run) are dropped."""
    ids = {f["id"] for f in findings_} | {f["id"] for f in targets}
    back: dict[str, set] = {}
    for finding in findings_:
        finding["related"] = sorted(r for r in set(finding["related"]) if r in ids and r != finding["id"])
        for rel in finding["related"]:
            back.setdefault(rel, set()).add(finding["id"])
    for finding in targets:
        finding["related"] = sorted(set(finding["related"]) | back.get(finding["id"], set()))


# Independent producers: each reads the Audit (and optionally its own host data section).
PRODUCERS: tuple[Callable[[Audit], list[dict]], ...] = (mismatch_findings, mss_clamp_findings, sysctl_findings)


def findings(data: Any) -> list[dict]:
    """All findings of an audit, sorted by severity, type, host and id."""
    return from_audit(Audit(data))
