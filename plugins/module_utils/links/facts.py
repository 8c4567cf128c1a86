# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure parsing and derivation behind ``mtu_facts``: no netlink, no commands, no files.

Inputs are the plain data the ``system`` seam returns (links, addresses and routes as dicts,
command output and file contents as text); outputs are the facts. Everything here is unit-tested
with tables.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.links.overhead import encap_overhead

IFF_UP = 0x1
# ARPHRD_* for links without IFLA_LINKINFO (physical NICs, loopback, legacy tunnels).
ARPHRD_KINDS = {
    1: "ethernet", 32: "infiniband", 512: "ppp", 768: "ipip", 769: "ip6tnl", 772: "loopback",
    776: "sit", 778: "gre", 823: "ip6gre", 65534: "none",
}
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
TUNNEL_KINDS = ("wireguard", "vxlan", "geneve", "gre", "gretap", "ip6gre", "ip6gretap", "ipip", "sit", "ip6tnl")

# GRE flag bits as pyroute2 decodes them (host order of the on-wire __be16).
GRE_CSUM, GRE_KEY, GRE_SEQ = 0x8000, 0x2000, 0x1000
IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1
TUNNEL_ENCAP = {0: "none", 1: "fou", 2: "gue"}  # TUNNEL_ENCAP_MPLS (3) has no fixed size

SYSCTLS = {
    "ipv4_forwarding": "net/ipv4/ip_forward",
    "ipv6_forwarding": "net/ipv6/conf/all/forwarding",
    "tcp_mtu_probing": "net/ipv4/tcp_mtu_probing",
    "tcp_base_mss": "net/ipv4/tcp_base_mss",
    "tcp_mtu_probe_floor": "net/ipv4/tcp_mtu_probe_floor",
    "ip_no_pmtu_disc": "net/ipv4/ip_no_pmtu_disc",
    "ip_forward_use_pmtu": "net/ipv4/ip_forward_use_pmtu",
    "min_pmtu": "net/ipv4/route/min_pmtu",
    "ipv4_mtu_expires": "net/ipv4/route/mtu_expires",
    "ipv6_mtu_expires": "net/ipv6/route/mtu_expires",
}

MANAGERS = ("netplan", "wg-quick", "systemd-networkd", "NetworkManager", "ifupdown", "ifcfg")
# Where each manager keeps its configuration; the module reads these (and only these) files.
MANAGER_DIRS = {
    "netplan": ("/etc/netplan", "/run/netplan", "/lib/netplan"),
    "wg-quick": ("/etc/wireguard",),
    "systemd-networkd": ("/etc/systemd/network",),
    "NetworkManager": ("/etc/NetworkManager/system-connections",),
    "ifupdown": ("/etc/network/interfaces.d",),
    "ifcfg": ("/etc/sysconfig/network-scripts",),
}
MANAGER_FILES = ("/etc/network/interfaces",)

XTABLES_FAMILIES = frozenset({"ip", "ip6", "arp", "bridge"})
XTABLES_NAMES = frozenset({"filter", "nat", "mangle", "raw", "security", "broute"})


# --- addresses and WireGuard -------------------------------------------------------------------

def address_family(address: str) -> str | None:
    try:
        return "ipv6" if ipaddress.ip_address(address.split("%", 1)[0]).version == 6 else "ipv4"
    except ValueError:
        return None


def parse_endpoint(text: str | None) -> dict[str, Any] | None:
    """'198.18.0.2:51820' or '[fd00::2]:51820' (as wg prints them) -> address, port, family."""
    if not text or text == "(none)":
        return None
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<p6>\d+)|(?P<v4>[^:\[\]]+):(?P<p4>\d+)", text.strip())
    if not match:
        return None
    address = match.group("v6") or match.group("v4")
    family = address_family(address)
    if family is None:
        return None
    return {"address": address, "port": int(match.group("p6") or match.group("p4")), "family": family}


def _int_or_none(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def parse_wg_interfaces(text: str) -> list[str]:
    """Output of ``wg show interfaces``: names separated by blanks (kernel and userspace alike)."""
    return text.split()


def parse_wg_dump(text: str) -> dict[str, Any]:
    """Output of ``wg show IF dump``. Keys are never returned except public ones."""
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    if not lines or len(lines[0]) < 4:
        raise ValueError("unexpected 'wg show dump' output: no interface line")
    head = lines[0]
    result: dict[str, Any] = {
        "public_key": None if head[1] == "(none)" else head[1],
        "listen_port": _int_or_none(head[2]) or None,
        "fwmark": None if head[3] == "off" else _int_or_none(head[3]),
        "peers": [],
    }
    for fields in lines[1:]:
        if len(fields) < 8:
            continue
        allowed = [] if fields[3] in ("(none)", "") else fields[3].split(",")
        keepalive = _int_or_none(fields[7])
        result["peers"].append({
            "public_key": fields[0],
            "preshared_key": fields[1] != "(none)",
            "endpoint": parse_endpoint(fields[2]),
            "allowed_ips": allowed,
            "latest_handshake": _int_or_none(fields[4]) or 0,
            "rx_bytes": _int_or_none(fields[5]) or 0,
            "tx_bytes": _int_or_none(fields[6]) or 0,
            "persistent_keepalive": keepalive or None,
        })
    return result


# --- interfaces ------------------------------------------------------------------------------

def interface_kind(link: dict[str, Any], wireguard_names: Iterable[str] = ()) -> str:
    """Logical kind: WireGuard even when wireguard-go shows up as a plain tun device."""
    if link["name"] in set(wireguard_names) or link.get("kind") == "wireguard":
        return "wireguard"
    if link.get("kind"):
        return link["kind"]
    return ARPHRD_KINDS.get(link.get("ifi_type"), "other")


def interface_facts(links: list[dict[str, Any]], addresses: list[dict[str, Any]],
                    wireguard_names: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    wg = set(wireguard_names)
    names = {link["index"]: link["name"] for link in links}
    result = {}
    for link in sorted(links, key=lambda item: item["index"]):
        addrs = [
            {
                "address": a["address"],
                "prefixlen": a["prefixlen"],
                "family": a["family"],
                "scope": SCOPES.get(a.get("scope"), str(a.get("scope"))),
            }
            for a in addresses if a["index"] == link["index"]
        ]
        # A parent in another namespace (veth peer) has an index that means nothing here.
        parent = names.get(link.get("link")) if link.get("link_netnsid") is None else None
        result[link["name"]] = {
            "name": link["name"],
            "index": link["index"],
            "kind": interface_kind(link, wg),
            "link_kind": link.get("kind"),
            "mtu": link["mtu"],
            "min_mtu": link.get("min_mtu") or None,
            "max_mtu": link.get("max_mtu") or None,
            "state": (link.get("operstate") or "unknown").lower(),
            "up": bool(link.get("flags", 0) & IFF_UP),
            "mac": link.get("address"),
            "parent": parent,
            "master": names.get(link.get("master")),
            "addresses": addrs,
            "ipv6": any(a["family"] == "ipv6" for a in addrs),
        }
    return result


# --- tunnels ---------------------------------------------------------------------------------

def _endpoint(address: str | None, port: int | None = None) -> dict[str, Any] | None:
    family = address_family(address) if address else None
    if family is None or ipaddress.ip_address(address.split("%", 1)[0]).is_unspecified:
        return None
    return {"address": address, "port": port, "family": family}


def _encap(data: dict[str, Any]) -> str:
    return TUNNEL_ENCAP.get(data.get("encap_type") or 0, "none")


def tunnel_plan(link: dict[str, Any], kind: str, wg: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What to look up for a tunnel: endpoints (for route lookups), explicit underlay, overhead options."""
    data = link.get("data") or {}
    plan: dict[str, Any] = {
        "kind": kind, "family": "ipv4", "endpoints": [], "local": None, "link": data.get("link") or None,
        "mark": None, "options": {}, "details": {},
    }
    if kind == "wireguard":
        wg = wg or {}
        plan["family"] = None  # decided per peer
        plan["mark"] = wg.get("fwmark")
        plan["details"] = {
            "implementation": "kernel" if link.get("kind") == "wireguard" else "userspace",
            "public_key": wg.get("public_key"),
            "listen_port": wg.get("listen_port"),
            "fwmark": wg.get("fwmark"),
            "peers": wg.get("peers"),
        }
        for peer in wg.get("peers") or []:
            if peer.get("endpoint"):
                plan["endpoints"].append(dict(peer["endpoint"], peer=peer["public_key"]))
    elif kind in ("vxlan", "geneve"):
        remote = data.get("group6") or data.get("remote6") or data.get("group") or data.get("remote")
        local = data.get("local6") or data.get("local")
        plan["family"] = "ipv6" if (data.get("group6") or data.get("remote6") or data.get("local6")) else "ipv4"
        plan["local"] = local
        endpoint = _endpoint(remote, data.get("port"))
        plan["endpoints"] = [endpoint] if endpoint else []
        plan["details"] = {"vni": data.get("id"), "port": data.get("port")}
        if kind == "geneve" and data.get("inner_proto_inherit"):
            plan["options"]["inner_ethernet"] = False
    elif kind in ("gre", "gretap", "ip6gre", "ip6gretap", "ipip", "sit", "ip6tnl"):
        plan["family"] = "ipv6" if kind.startswith("ip6") else "ipv4"
        plan["local"] = data.get("local")
        endpoint = _endpoint(data.get("remote"))
        plan["endpoints"] = [endpoint] if endpoint else []
        plan["options"]["udp_encap"] = _encap(data)
        if "gre" in kind:
            oflags = data.get("oflags") or 0
            plan["options"].update(key=bool(oflags & GRE_KEY), seq=bool(oflags & GRE_SEQ), csum=bool(oflags & GRE_CSUM))
            plan["details"] = {"okey": data.get("okey"), "ikey": data.get("ikey")}
        if kind.startswith("ip6"):
            plan["options"]["encap_limit"] = not (data.get("flags") or 0) & IP6_TNL_F_IGN_ENCAP_LIMIT
    else:
        return None
    return plan


def route_lookups(plans: dict[str, dict[str, Any]]) -> list[tuple[str, int | None]]:
    """(destination, fwmark) pairs to resolve with a route lookup, deduplicated, in order."""
    seen: list[tuple[str, int | None]] = []
    for plan in plans.values():
        for endpoint in plan["endpoints"]:
            key = (endpoint["address"], plan["mark"])
            if key not in seen:
                seen.append(key)
    return seen


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v]
    return min(present) if present else None


def build_tunnel(name: str, plan: dict[str, Any], links_by_index: dict[int, dict[str, Any]],
                 routes: dict[tuple[str, int | None], dict[str, Any] | None], mtu: int) -> dict[str, Any]:
    """Underlay, overhead and the tunnel MTU the underlay allows, per endpoint and overall.

    The underlay MTU of an endpoint is the smaller of the outgoing device's MTU and the route's
    MTU (a route metric or a cached PMTU exception, which ``ip route get`` reports).
    """
    kind = plan["kind"]
    explicit = links_by_index.get(plan["link"]) if plan["link"] else None
    endpoints = []
    for endpoint in plan["endpoints"]:
        route = routes.get((endpoint["address"], plan["mark"])) or {}
        device = explicit or links_by_index.get(route.get("oif"))
        device_mtu = device["mtu"] if device else None
        underlay_mtu = _min(device_mtu, route.get("mtu"))
        overhead = encap_overhead(kind, endpoint["family"], **plan["options"])
        endpoints.append(dict(
            endpoint,
            underlay_device=device["name"] if device else None,
            underlay_device_mtu=device_mtu,
            route_mtu=route.get("mtu"),
            gateway=route.get("gateway"),
            underlay_mtu=underlay_mtu,
            overhead=overhead,
            max_tunnel_mtu=underlay_mtu - overhead if underlay_mtu else None,
        ))
    families = sorted({e["family"] for e in endpoints})
    family = plan["family"] or (families[0] if len(families) == 1 else None)
    if endpoints:
        overhead = max(e["overhead"] for e in endpoints)
    else:
        # Unknown outer family (e.g. a WireGuard responder): assume the larger IPv6 header.
        overhead = encap_overhead(kind, family or "ipv6", **plan["options"])
    limited = [e for e in endpoints if e["max_tunnel_mtu"] is not None]
    limiting = min(limited, key=lambda e: e["max_tunnel_mtu"]) if limited else None
    if limiting is None and explicit is not None:
        underlay = {"underlay_device": explicit["name"], "underlay_mtu": explicit["mtu"],
                    "max_tunnel_mtu": explicit["mtu"] - overhead}
    elif limiting is not None:
        underlay = {key: limiting[key] for key in ("underlay_device", "underlay_mtu", "max_tunnel_mtu")}
    else:
        underlay = {"underlay_device": None, "underlay_mtu": None, "max_tunnel_mtu": None}
    fits = None if underlay["max_tunnel_mtu"] is None else mtu <= underlay["max_tunnel_mtu"]
    result = {
        "name": name,
        "kind": kind,
        "mtu": mtu,
        "outer_family": family if family else ("mixed" if len(families) > 1 else None),
        "local": plan["local"],
        "endpoints": endpoints,
        "overhead": overhead,
        "overhead_options": dict(plan["options"]),
        **underlay,
        "mtu_fits_underlay": fits,
    }
    result.update(plan["details"])
    return result


# --- route cache (PMTU exceptions) -----------------------------------------------------------

def _exception(dst: str | None, family: str, mtu: Any, dev: Any, gateway: Any, expires: Any) -> dict[str, Any] | None:
    if not dst or not mtu:
        return None  # redirect-only exceptions carry no MTU
    return {"dst": dst, "family": family, "mtu": int(mtu), "dev": dev, "gateway": gateway,
            "expires": int(expires) if expires is not None else None}


def parse_route_cache_json(text: str, family: str) -> list[dict[str, Any]]:
    """``ip -j -4|-6 route show cache``."""
    result = []
    for entry in json.loads(text or "[]"):
        mtu = None
        for metric in entry.get("metrics") or []:
            if isinstance(metric, dict) and "mtu" in metric:
                mtu = metric["mtu"]
        item = _exception(entry.get("dst"), family, mtu, entry.get("dev"), entry.get("gateway"), entry.get("expires"))
        if item:
            result.append(item)
    return result


def parse_route_cache_text(text: str, family: str) -> list[dict[str, Any]]:
    """``ip -4|-6 route show cache`` for iproute2 without JSON (continuation lines are indented)."""
    entries: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and entries:
            entries[-1].extend(line.split())
        else:
            entries.append(line.split())
    result = []
    for tokens in entries:
        values: dict[str, str] = {}
        for i, token in enumerate(tokens[1:-1], start=1):
            if token in ("via", "dev", "expires") and token not in values:
                values[token] = tokens[i + 1]
            elif token == "mtu" and "mtu" not in values:
                nxt = tokens[i + 1]
                values["mtu"] = tokens[i + 2] if nxt == "lock" and i + 2 < len(tokens) else nxt
        expires = values.get("expires", "").rstrip("sec")
        item = _exception(tokens[0], family, values.get("mtu"), values.get("dev"), values.get("via"),
                          expires if expires.isdigit() else None)
        if item:
            result.append(item)
    return result


# --- sysctls ---------------------------------------------------------------------------------

def sysctl_facts(raw: dict[str, str | None]) -> dict[str, int | None]:
    """``raw`` maps the keys of SYSCTLS to the text of the /proc/sys file, or None if absent."""
    result: dict[str, int | None] = {}
    for key in SYSCTLS:
        text = (raw.get(key) or "").strip()
        result[key] = int(text) if text.lstrip("-").isdigit() else None
    return result


# --- firewall --------------------------------------------------------------------------------

def parse_nft_tables(text: str | None) -> list[tuple[str, str]]:
    """``nft list tables`` -> [(family, name)]."""
    tables = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table":
            tables.append((parts[1], parts[2]))
    return tables


def parse_iptables_variant(text: str | None) -> str | None:
    """``iptables -V``: 'iptables v1.8.9 (nf_tables)' -> 'nf_tables'; old releases print no suffix."""
    if not text or "iptables" not in text:
        return None
    if "nf_tables" in text:
        return "nf_tables"
    return "legacy"


def count_iptables_rules(save_text: str | None) -> int:
    """Rules plus non-ACCEPT built-in policies in ``iptables-save`` output (both change behaviour)."""
    count = 0
    for line in (save_text or "").splitlines():
        if line.startswith("-A "):
            count += 1
        elif line.startswith(":") and len(line.split()) >= 2 and line.split()[1] not in ("ACCEPT", "-"):
            count += 1
    return count


def firewall_facts(*, firewalld_state: str | None, nft_tables: str | None, iptables_version: str | None,
                   legacy_save: str | None) -> dict[str, Any]:
    """Which framework holds the rules. Precedence: firewalld, native nftables, iptables-nft, legacy.

    iptables-nft keeps its rules in nftables tables named like the xtables ones (``ip filter``,
    ``ip6 mangle``, ...); anything else in nftables is native. firewalld's own table is firewalld's.
    """
    tables = parse_nft_tables(nft_tables)
    firewalld = (firewalld_state or "").strip() == "running" or any(table[1] == "firewalld" for table in tables)
    xtables = [t for t in tables if t[0] in XTABLES_FAMILIES and t[1] in XTABLES_NAMES]
    native = [t for t in tables if t not in xtables and t[1] != "firewalld"]
    legacy_rules = count_iptables_rules(legacy_save)
    frameworks = [name for name, used in (
        ("firewalld", firewalld), ("nftables", bool(native)), ("iptables-nft", bool(xtables)),
        ("iptables-legacy", legacy_rules > 0),
    ) if used]
    return {
        "framework": frameworks[0] if frameworks else "none",
        "frameworks": frameworks,
        "firewalld": firewalld,
        "nft_tables": [f"{family} {name}" for family, name in tables],
        "iptables_variant": parse_iptables_variant(iptables_version),
        "iptables_legacy_rules": legacy_rules,
    }


# --- network managers ------------------------------------------------------------------------

def parse_nmcli_devices(text: str | None) -> dict[str, dict[str, str]]:
    """``nmcli -t -f DEVICE,STATE,CONNECTION device``; terse mode escapes ':' as '\\:'."""
    devices = {}
    for line in (text or "").splitlines():
        fields = [f.replace("\\:", ":").replace("\\\\", "\\") for f in re.split(r"(?<!\\):", line)]
        if len(fields) >= 3 and fields[0]:
            devices[fields[0]] = {"state": fields[1], "connection": fields[2]}
    return devices


def _ini_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Just enough of the systemd unit syntax: sections, repeated keys, comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            values = current.setdefault(key.strip(), [])
            if value.strip():
                values.extend(value.split())
            else:
                values.clear()  # an empty assignment resets a list in systemd
    return sections


def _networkd_matches(name: str, path: str, text: str) -> bool:
    sections = _ini_sections(text)
    if path.endswith(".netdev"):
        return name in sections.get("NetDev", {}).get("Name", [])
    if path.endswith(".network"):
        patterns = sections.get("Match", {}).get("Name", [])
        if not patterns:
            return False  # matched on other keys (MAC, driver, ...) that we cannot evaluate here
        invert = patterns[0].startswith("!")
        hit = any(fnmatch.fnmatchcase(name, p.lstrip("!")) for p in patterns)
        return hit != invert
    return False


def _netplan_matches(name: str, text: str) -> bool:
    key = re.compile(r"^\s+([\"']?)" + re.escape(name) + r"\1\s*:\s*(#.*)?$", re.M)
    set_name = re.compile(r"^\s+set-name\s*:\s*([\"']?)" + re.escape(name) + r"\1\s*(#.*)?$", re.M)
    return bool(key.search(text) or set_name.search(text))


def _ifupdown_matches(name: str, text: str) -> bool:
    return bool(re.search(r"^\s*iface\s+" + re.escape(name) + r"\s", text, re.M))


def _ifcfg_matches(name: str, path: str, text: str) -> bool:
    if os.path.basename(path) == f"ifcfg-{name}":
        return True
    return bool(re.search(r"^\s*DEVICE\s*=\s*([\"']?)" + re.escape(name) + r"\1\s*$", text, re.M))


def _nm_keyfile_matches(name: str, text: str) -> bool:
    return bool(re.search(r"^\s*interface-name\s*=\s*" + re.escape(name) + r"\s*$", text, re.M))


def _manager_of_file(path: str) -> str | None:
    if path in MANAGER_FILES:
        return "ifupdown"
    for manager, dirs in MANAGER_DIRS.items():
        if any(path.startswith(d.rstrip("/") + "/") for d in dirs):
            return manager
    return None


def network_managers(names: Iterable[str], files: dict[str, str],
                     nm_devices: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, Any]]:
    """Who configures each interface, judged from configuration files and NetworkManager's view.

    Precedence when several claim one: netplan (it generates networkd/NM config), wg-quick,
    systemd-networkd, NetworkManager, ifupdown, ifcfg. ``files`` maps paths to their text.
    """
    result = {}
    for name in names:
        claims: dict[str, list[str]] = {}
        for path in sorted(files):
            text = files[path]
            manager = _manager_of_file(path)
            hit = False
            if manager == "netplan":
                hit = path.endswith(".yaml") and _netplan_matches(name, text)
            elif manager == "wg-quick":
                hit = path == f"/etc/wireguard/{name}.conf"
            elif manager == "systemd-networkd":
                hit = _networkd_matches(name, path, text)
            elif manager == "NetworkManager":
                hit = _nm_keyfile_matches(name, text)
            elif manager == "ifupdown":
                hit = _ifupdown_matches(name, text)
            elif manager == "ifcfg":
                hit = os.path.basename(path).startswith("ifcfg-") and _ifcfg_matches(name, path, text)
            if hit:
                claims.setdefault(manager, []).append(path)
        device = (nm_devices or {}).get(name)
        if device and device["connection"] and device["state"] != "unmanaged" and "external" not in device["state"]:
            claims.setdefault("NetworkManager", [])
        managers = [m for m in MANAGERS if m in claims]
        manager = managers[0] if managers else "none"
        result[name] = {
            "manager": manager,
            "manager_files": claims.get(manager, []),
            "managers": managers,
        }
    return result
