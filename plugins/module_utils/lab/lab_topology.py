# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Lab topology: validation, address plan, routes and firewall rules, as pure functions.

A topology is plain data (hosts, links, tunnels). ``plan_lab()`` validates it and returns the
complete, normalised lab: every namespace, interface, address, route, tunnel and firewall rule,
with no system access, so the whole plan is unit-testable and a bad topology fails before
anything is created.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import posixpath
import re
from collections import deque
from typing import Any

ROLES = ("host", "gateway", "router")
FIREWALLS = ("nftables", "iptables-nft", "iptables-legacy")
HOOKS = ("input", "forward", "output")
# Directories under /etc a host may have its own copy of (for modules that persist configuration
# there); ssh, wireguard, systemd/network, nftables.conf and hostname are always per host.
ETC_DIRS = ("iptables", "sysconfig", "nftables.d", "firewalld", "network", "NetworkManager", "netplan")
TUNNEL_TYPES = ("wireguard", "vxlan")
DEFAULT_TUNNEL_MTU = {"wireguard": 1420, "vxlan": 1450}
VXLAN_PORT = 4789
WIREGUARD_PORT = 51820

# Used with fullmatch: "$" would also match before a trailing newline ("rel\n").
LAB_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,7}")
HOST_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")  # hosts, and the links and tunnels named explicitly
GROUP_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
MGMT_PREFIXES = (16, 29)  # a /29 holds the bridge and 5 hosts; beyond a /16 it would swallow real networks
SHOWN_NAMES = 5  # unknown keys quoted in a message; thousands of them would drown it
# Directories a lab's workdir must never be: absent removes the workdir.
SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
               "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log",
               "/var/tmp", "/var/run", "/usr/local", "/var/lib/netpath-mtu-lab")
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib64")
MAX_LINKS = 250
MAX_TUNNELS = 120

# Lab addresses come from the benchmarking ranges (RFC 2544 / RFC 4193), never from a real network.
UNDERLAY4 = "198.18.{index}.0/24"
UNDERLAY6 = "fd00:198:18:{index:x}::/64"
TUNNEL4 = "198.19.{index}.0/24"
TUNNEL6 = "fd00:198:19:{index:x}::/64"
DEFAULT_MGMT_SUBNET = "198.19.200.0/24"


class TopologyError(ValueError):
    """The topology cannot be built; the message says what to change."""


# ---------------------------------------------------------------------------------------------
# validation and normalisation


def _fail(msg: str) -> None:
    raise TopologyError(msg)


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(f"{what} must be a list, got {type(value).__name__}")
    return value


def _some(names: list[str]) -> str:
    """The first few names (each cut to 40 characters) and how many more there are."""
    shown = ", ".join(name[:40] for name in names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _check_keys(item: dict, allowed: set[str], what: str) -> None:
    unknown = sorted(str(key) for key in set(item) - allowed)
    if unknown:
        _fail(f"{what}: unknown key(s) {_some(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _check_name(name: Any, what: str) -> str:
    """An explicit link or tunnel name: it ends up in state files and messages, so the host-name rules."""
    if not isinstance(name, str) or not HOST_NAME_RE.fullmatch(name):
        _fail(f"{what}: name {name!r} must match {HOST_NAME_RE.pattern} (lowercase letters, digits and '-', "
              "starting with a letter)")
    return name


def _int_in(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            _fail(f"{what} must be an integer, got {value!r}")
    if not low <= value <= high:
        _fail(f"{what} is {value}; it must be between {low} and {high}")
    return value


def _normalise_host(raw: Any, index: int) -> dict:
    if not isinstance(raw, dict):
        _fail(f"hosts[{index}] must be a mapping with at least a name")
    _check_keys(raw, {"name", "role", "forward", "groups", "firewall", "drop_icmp_ptb",
                      "drop_fragments", "loss_percent", "nftables_extra", "etc_dirs", "inventory"}, f"hosts[{index}]")
    name = raw.get("name")
    if not isinstance(name, str) or not HOST_NAME_RE.fullmatch(name):
        _fail(f"hosts[{index}]: name {name!r} must match {HOST_NAME_RE.pattern}")
    role = raw.get("role", "host")
    if role not in ROLES:
        _fail(f"host {name}: role {role!r} must be one of {', '.join(ROLES)}")
    firewall = raw.get("firewall", "nftables")
    if firewall not in FIREWALLS:
        _fail(f"host {name}: firewall {firewall!r} must be one of {', '.join(FIREWALLS)}")
    hooks = _as_list(raw.get("drop_icmp_ptb"), f"host {name}: drop_icmp_ptb")
    for hook in hooks:
        if hook not in HOOKS:
            _fail(f"host {name}: drop_icmp_ptb hook {hook!r} must be one of {', '.join(HOOKS)}")
    groups = _as_list(raw.get("groups"), f"host {name}: groups")
    for group in groups:
        if not isinstance(group, str) or not GROUP_NAME_RE.fullmatch(group):
            _fail(f"host {name}: group {group!r} must be a valid inventory group name")
    etc_dirs = _as_list(raw.get("etc_dirs"), f"host {name}: etc_dirs")
    for entry in etc_dirs:
        if entry not in ETC_DIRS:
            _fail(f"host {name}: etc_dirs entry {entry!r} must be one of {', '.join(ETC_DIRS)}")
    host = {
        "name": name,
        "role": role,
        "forward": bool(raw.get("forward", role != "host")),
        "groups": groups,
        "firewall": firewall,
        "drop_icmp_ptb": sorted(set(hooks), key=HOOKS.index),
        "drop_fragments": bool(raw.get("drop_fragments", False)),
        "loss_percent": _int_in(raw.get("loss_percent", 0), 0, 100, f"host {name}: loss_percent"),
        "nftables_extra": str(raw.get("nftables_extra") or ""),
    }
    if etc_dirs:
        # Only when asked for, so the plans (and fingerprints) of existing topologies stay the same.
        host["etc_dirs"] = sorted(set(etc_dirs), key=ETC_DIRS.index)
    if not raw.get("inventory", True):
        # A router someone else runs: built and routed through, but not in the inventory (not audited).
        host["inventory"] = False
    return host


def _normalise_link(raw: Any, index: int, hosts: dict[str, dict]) -> dict:
    if not isinstance(raw, dict):
        _fail(f"links[{index}] must be a mapping with keys a and b")
    _check_keys(raw, {"name", "a", "b", "mtu", "ipv4", "ipv6"}, f"links[{index}]")
    ends = [raw.get("a"), raw.get("b")]
    for end in ends:
        if end not in hosts:
            _fail(f"links[{index}]: unknown host {end!r}; define it under hosts first")
    if ends[0] == ends[1]:
        _fail(f"links[{index}]: a link joins two different hosts, both ends are {ends[0]!r}")
    name = _check_name(raw["name"], f"links[{index}]") if raw.get("name") is not None else f"{ends[0]}--{ends[1]}"
    link = {
        "name": str(name),
        "index": index,
        "a": ends[0],
        "b": ends[1],
        "mtu": _int_in(raw.get("mtu", 1500), 1280, 65535, f"link {name}: mtu"),
        "ipv6": bool(raw.get("ipv6", True)),
    }
    if not raw.get("ipv4", True):
        # An IPv6-only segment; only when asked for, so existing plans keep their fingerprints.
        if not link["ipv6"]:
            _fail(f"link {name}: a link needs IPv4 or IPv6")
        link["ipv4"] = False
    return link


def _normalise_tunnel(raw: Any, index: int, hosts: dict[str, dict], links: dict[str, dict]) -> dict:
    if not isinstance(raw, dict):
        _fail(f"tunnels[{index}] must be a mapping with keys type, a and b")
    _check_keys(raw, {"name", "type", "a", "b", "mtu", "outer_family", "networks_a", "networks_b",
                      "endpoint_a", "endpoint_b"}, f"tunnels[{index}]")
    kind = raw.get("type", "wireguard")
    if kind not in TUNNEL_TYPES:
        _fail(f"tunnels[{index}]: type {kind!r} must be one of {', '.join(TUNNEL_TYPES)}")
    ends = [raw.get("a"), raw.get("b")]
    for end in ends:
        if end not in hosts:
            _fail(f"tunnels[{index}]: unknown host {end!r}; define it under hosts first")
    if ends[0] == ends[1]:
        _fail(f"tunnels[{index}]: a tunnel joins two different hosts, both ends are {ends[0]!r}")
    name = (_check_name(raw["name"], f"tunnels[{index}]") if raw.get("name") is not None
            else f"{kind}-{ends[0]}--{ends[1]}")
    family = raw.get("outer_family", "ipv4")
    if family not in ("ipv4", "ipv6"):
        _fail(f"tunnel {name}: outer_family {family!r} must be ipv4 or ipv6")
    tunnel = {
        "name": name,
        "index": index,
        "type": kind,
        "a": ends[0],
        "b": ends[1],
        "mtu": _int_in(raw.get("mtu", DEFAULT_TUNNEL_MTU[kind]), 1280, 65535, f"tunnel {name}: mtu"),
        "outer_family": family,
    }
    for side, host in (("a", ends[0]), ("b", ends[1])):
        networks = _as_list(raw.get(f"networks_{side}"), f"tunnel {name}: networks_{side}")
        for net in networks:
            if net not in links or host not in (links[net]["a"], links[net]["b"]):
                _fail(f"tunnel {name}: networks_{side} entry {net!r} must name a link of host {host}")
        tunnel[f"networks_{side}"] = list(networks)
        endpoint = raw.get(f"endpoint_{side}")
        if endpoint is None:
            candidates = [lk["name"] for lk in links.values()
                          if host in (lk["a"], lk["b"]) and lk["name"] not in networks]
            if not candidates:
                _fail(f"tunnel {name}: host {host} has no underlay link outside networks_{side} to carry it")
            endpoint = candidates[0]
        elif endpoint not in links or host not in (links[endpoint]["a"], links[endpoint]["b"]):
            _fail(f"tunnel {name}: endpoint_{side} {endpoint!r} must name a link of host {host}")
        if family == "ipv6" and not links[endpoint]["ipv6"]:
            _fail(f"tunnel {name}: outer_family ipv6 needs IPv6 on link {endpoint}")
        if family == "ipv4" and links[endpoint].get("ipv4") is False:
            _fail(f"tunnel {name}: outer_family ipv4 needs IPv4 on link {endpoint}")
        tunnel[f"endpoint_{side}"] = endpoint
    return tunnel


def _unique(items: list[dict], key: str, what: str) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for item in items:
        if item[key] in seen:
            _fail(f"duplicate {what} {item[key]!r}: {what} names must be unique")
        seen[item[key]] = item
    return seen


def validate_topology(topology: Any) -> dict:
    """Check a topology and return it normalised (defaults filled in). Raises TopologyError."""
    if not isinstance(topology, dict):
        _fail("the topology must be a mapping with hosts, links and optional tunnels")
    _check_keys(topology, {"hosts", "links", "tunnels"}, "topology")
    raw_hosts = _as_list(topology.get("hosts"), "hosts")
    if not raw_hosts:
        _fail("the topology has no hosts")
    hosts = _unique([_normalise_host(h, i) for i, h in enumerate(raw_hosts)], "name", "host")
    raw_links = _as_list(topology.get("links"), "links")
    if len(raw_links) > MAX_LINKS:
        _fail(f"the topology has {len(raw_links)} links; a lab holds at most {MAX_LINKS}")
    links = _unique([_normalise_link(lk, i, hosts) for i, lk in enumerate(raw_links)], "name", "link")
    raw_tunnels = _as_list(topology.get("tunnels"), "tunnels")
    if len(raw_tunnels) > MAX_TUNNELS:
        _fail(f"the topology has {len(raw_tunnels)} tunnels; a lab holds at most {MAX_TUNNELS}")
    tunnels = _unique([_normalise_tunnel(t, i, hosts, links) for i, t in enumerate(raw_tunnels)],
                      "name", "tunnel")
    return {"hosts": list(hosts.values()), "links": list(links.values()), "tunnels": list(tunnels.values())}


def validate_lab_name(name: Any) -> str:
    if not isinstance(name, str) or not LAB_NAME_RE.fullmatch(name):
        _fail(f"lab name {name!r} must be 1-8 lowercase letters or digits starting with a letter "
              "(it prefixes interface names, which Linux limits to 15 characters)")
    return name


def validate_mgmt_subnet(subnet: Any) -> ipaddress.IPv4Network:
    """The lab's management network: an IPv4 network (no host bits) of a /16 to /29 prefix."""
    try:
        net = ipaddress.IPv4Network(subnet if isinstance(subnet, str) else "")
    except ValueError as exc:
        raise TopologyError(f"mgmt_subnet {subnet!r} is not an IPv4 network such as 198.19.200.0/24: {exc}") from exc
    low, high = MGMT_PREFIXES
    if not low <= net.prefixlen <= high:
        _fail(f"mgmt_subnet {net}: use a /{low} to /{high} prefix")
    return net


def mgmt_overlap(subnet: Any, used: dict[str, str]) -> str | None:
    """The first of ``used`` (owner -> network or address/prefix) that overlaps ``subnet``, else None."""
    net = validate_mgmt_subnet(subnet)
    for owner, network in used.items():
        try:
            other = ipaddress.IPv4Interface(network).network
        except ValueError:
            continue
        if other.overlaps(net):
            return owner
    return None


def _mgmt_network(subnet: str, host_count: int) -> ipaddress.IPv4Network:
    net = validate_mgmt_subnet(subnet)
    if net.num_addresses - 3 < host_count:
        _fail(f"mgmt_subnet {subnet} is too small for {host_count} hosts; use a larger prefix")
    return net


def validate_workdir(path: Any) -> str:
    """A lab's own directory (state=absent removes it): absolute, clean, never a system directory.

    Whether it exists as a directory is the caller's check (it needs the file system).
    """
    if not isinstance(path, str) or not path:
        _fail(f"workdir {path!r} must be an absolute directory path")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        _fail(f"workdir {path!r} contains control characters; give a plain absolute path")
    if not path.startswith("/"):
        _fail(f"workdir {path!r} must be an absolute path (for example /var/lib/netpath-mtu-lab/NAME)")
    clean = posixpath.normpath(path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if clean in SYSTEM_DIRS or any(clean.startswith(tree + "/") for tree in SYSTEM_TREES):
        _fail(f"workdir {path} is a system directory; give a directory of the lab's own "
              "(state=absent removes it), for example /var/lib/netpath-mtu-lab/NAME")
    return clean


# ---------------------------------------------------------------------------------------------
# the plan


def _link_addresses(link: dict) -> dict:
    out: dict = {}
    if link.get("ipv4", True):
        net4 = ipaddress.IPv4Network(UNDERLAY4.format(index=link["index"]))
        out.update({"net4": str(net4), "a4": str(net4[1]), "b4": str(net4[2])})
    if link["ipv6"]:
        net6 = ipaddress.IPv6Network(UNDERLAY6.format(index=link["index"]))
        out.update({"net6": str(net6), "a6": str(net6[1]), "b6": str(net6[2])})
    return out


def _interfaces(topology: dict) -> dict[str, list[dict]]:
    """Per host, its underlay interfaces (eth0, eth1, ... in link order)."""
    per_host: dict[str, list[dict]] = {h["name"]: [] for h in topology["hosts"]}
    for link in topology["links"]:
        addrs = _link_addresses(link)
        for side, other in (("a", "b"), ("b", "a")):
            host = link[side]
            per_host[host].append({
                "name": f"eth{len(per_host[host])}",
                "link": link["name"],
                "peer": link[other],
                "mtu": link["mtu"],
                "ipv4": addrs.get(f"{side}4"),
                "ipv6": addrs.get(f"{side}6"),
                "net4": addrs.get("net4"),
                "net6": addrs.get("net6"),
                "peer_ipv4": addrs.get(f"{other}4"),
                "peer_ipv6": addrs.get(f"{other}6"),
            })
    return per_host


def _shortest_first_hops(topology: dict, interfaces: dict[str, list[dict]], source: str) -> dict[str, dict]:
    """BFS from source; for every reachable host, the interface of source that leads there.

    Only forwarding hosts carry transit traffic. Ties break by link order, so plans are stable.
    """
    forwarding = {h["name"] for h in topology["hosts"] if h["forward"]}
    first_hop: dict[str, dict] = {}
    queue: deque[str] = deque()
    for iface in interfaces[source]:
        if iface["peer"] not in first_hop and iface["peer"] != source:
            first_hop[iface["peer"]] = iface
            queue.append(iface["peer"])
    while queue:
        host = queue.popleft()
        if host not in forwarding:
            continue
        for iface in interfaces[host]:
            nxt = iface["peer"]
            if nxt != source and nxt not in first_hop:
                first_hop[nxt] = first_hop[host]
                queue.append(nxt)
    return first_hop


def _tunnel_plan(lab: str, tunnel: dict, interfaces: dict[str, list[dict]], links: dict[str, dict]) -> dict:
    t4 = ipaddress.IPv4Network(TUNNEL4.format(index=tunnel["index"]))
    t6 = ipaddress.IPv6Network(TUNNEL6.format(index=tunnel["index"]))
    ends = {}
    for n, side in enumerate(("a", "b")):
        host = tunnel[side]
        underlay = next(i for i in interfaces[host] if i["link"] == tunnel[f"endpoint_{side}"])
        family_key = "ipv6" if tunnel["outer_family"] == "ipv6" else "ipv4"
        ends[side] = {
            "host": host,
            "namespace": f"{lab}-{host}",
            # WireGuard sockets live in /var/run/wireguard/IFNAME.sock: names unique lab-wide.
            "interface": f"{lab}-{'wg' if tunnel['type'] == 'wireguard' else 'vx'}{tunnel['index']}{side}",
            "ipv4": str(t4[n + 1]),
            "ipv6": str(t6[n + 1]),
            "underlay_interface": underlay["name"],
            "endpoint": underlay[family_key],
            "networks": [links[name] for name in tunnel[f"networks_{side}"]],
        }
    return {
        "name": tunnel["name"],
        "type": tunnel["type"],
        "index": tunnel["index"],
        "mtu": tunnel["mtu"],
        "outer_family": tunnel["outer_family"],
        "net4": str(t4),
        "net6": str(t6),
        "vni": 100 + tunnel["index"],
        "port": WIREGUARD_PORT + tunnel["index"] if tunnel["type"] == "wireguard" else VXLAN_PORT,
        "a": ends["a"],
        "b": ends["b"],
    }


def _networks(link: dict) -> list[str]:
    addrs = _link_addresses(link)
    return [addrs[key] for key in ("net4", "net6") if key in addrs]


def _tunnel_routes(host: str, tunnels: list[dict]) -> dict[str, dict | None]:
    """Networks behind the far end of each tunnel that ends on host, and the route to them.

    wg-quick installs the routes of a WireGuard peer's AllowedIPs itself (None here); VXLAN is
    an Ethernet segment, so its networks go via the peer's tunnel address.
    """
    routes: dict[str, dict | None] = {}
    for tunnel in tunnels:
        for near, far in (("a", "b"), ("b", "a")):
            if tunnel[near]["host"] != host:
                continue
            for link in tunnel[far]["networks"]:
                for net in _networks(link):
                    if tunnel["type"] == "wireguard":
                        routes[net] = None
                    else:
                        via = tunnel[far]["ipv6" if ":" in net else "ipv4"]
                        routes[net] = {"to": net, "via": via, "dev": tunnel[near]["interface"]}
    return routes


def _routes(topology: dict, interfaces: dict[str, list[dict]], tunnels: list[dict]) -> dict[str, list[dict]]:
    """Static routes per host: shortest underlay path, except networks that a tunnel carries."""
    routes: dict[str, list[dict]] = {}
    for host in (h["name"] for h in topology["hosts"]):
        via_tunnel = _tunnel_routes(host, tunnels)
        hops = _shortest_first_hops(topology, interfaces, host)
        own = {i["link"] for i in interfaces[host]}
        host_routes = []
        for link in topology["links"]:
            if link["name"] in own:
                continue
            nets = _networks(link)
            target = next((hops[end] for end in (link["a"], link["b"]) if end in hops), None)
            for net in nets:
                if net in via_tunnel:
                    if via_tunnel[net] is not None:
                        host_routes.append(via_tunnel[net])
                elif target is not None:
                    is6 = ":" in net
                    gateway = target["peer_ipv6"] if is6 else target["peer_ipv4"]
                    if gateway:
                        host_routes.append({"to": net, "via": gateway, "dev": target["name"]})
        routes[host] = host_routes
    return routes


def nftables_ruleset(host: dict) -> str:
    """The host's /etc/nftables.conf: Debian's default shape plus the lab's faults."""
    drops = {
        hook: [
            "icmp type destination-unreachable icmp code frag-needed drop",
            "icmpv6 type packet-too-big drop",
        ] if hook in host["drop_icmp_ptb"] and host["firewall"] == "nftables" else []
        for hook in HOOKS
    }
    if host["loss_percent"]:
        drops["forward"].insert(0, f"numgen random mod 100 < {host['loss_percent']} drop")
    lines = ["#!/usr/sbin/nft -f", "", "flush ruleset", "", "table inet filter {"]
    if host["drop_fragments"]:
        # Before conntrack's defragmentation (priority -400), so fragments are still visible.
        lines += [
            "\tchain prerouting {",
            "\t\ttype filter hook prerouting priority -450; policy accept;",
            "\t\tip frag-off & 0x1fff != 0 drop",
            "\t\texthdr frag exists drop",
            "\t}",
        ]
    for hook in HOOKS:
        lines += [f"\tchain {hook} {{", f"\t\ttype filter hook {hook} priority filter; policy accept;"]
        lines += [f"\t\t{rule}" for rule in drops[hook]]
        lines.append("\t}")
    lines.append("}")
    if host["nftables_extra"]:
        lines += ["", host["nftables_extra"].rstrip()]
    return "\n".join(lines) + "\n"


def iptables_commands(host: dict) -> list[list[str]]:
    """argv lists that install the host's ICMP drops with iptables (-nft or -legacy)."""
    if host["firewall"] == "nftables":
        return []
    suffix = host["firewall"].split("-", 1)[1]
    commands = []
    for hook in host["drop_icmp_ptb"]:
        chain = hook.upper()
        commands.append([f"iptables-{suffix}", "-w", "-A", chain, "-p", "icmp",
                         "--icmp-type", "fragmentation-needed", "-j", "DROP"])
        commands.append([f"ip6tables-{suffix}", "-w", "-A", chain, "-p", "ipv6-icmp",
                         "--icmpv6-type", "packet-too-big", "-j", "DROP"])
    return commands


def wg_quick_config(end: dict, peer: dict, tunnel: dict, private_key: str, peer_public_key: str) -> str:
    """wg-quick configuration, so the tunnel is defined where a real host would define it."""
    allowed = [f"{peer['ipv4']}/32", f"{peer['ipv6']}/128"]
    for link in peer["networks"]:
        allowed += _networks(link)
    endpoint = peer["endpoint"]
    if ":" in endpoint:
        endpoint = f"[{endpoint}]"
    return "\n".join([
        "[Interface]",
        f"PrivateKey = {private_key}",
        f"Address = {end['ipv4']}/24, {end['ipv6']}/64",
        f"ListenPort = {tunnel['port']}",
        f"MTU = {tunnel['mtu']}",
        "",
        "[Peer]",
        f"PublicKey = {peer_public_key}",
        f"Endpoint = {endpoint}:{tunnel['port']}",
        f"AllowedIPs = {', '.join(allowed)}",
        "",
    ])


def networkd_vxlan_files(end: dict, peer: dict, tunnel: dict) -> dict[str, str]:
    """systemd-networkd files describing the VXLAN (the lab creates it with ip; these persist it)."""
    name = end["interface"]
    netdev = "\n".join([
        "[NetDev]", f"Name={name}", "Kind=vxlan", f"MTUBytes={tunnel['mtu']}", "",
        "[VXLAN]", f"VNI={tunnel['vni']}", f"Remote={peer['endpoint']}", f"Local={end['endpoint']}",
        f"DestinationPort={tunnel['port']}", "",
    ])
    network = "\n".join([
        "[Match]", f"Name={name}", "",
        "[Network]", f"Address={end['ipv4']}/24", f"Address={end['ipv6']}/64", "",
        "[Link]", f"MTUBytes={tunnel['mtu']}", "",
    ])
    return {f"30-{name}.netdev": netdev, f"30-{name}.network": network}


def plan_lab(name: str, topology: Any, mgmt_subnet: str = DEFAULT_MGMT_SUBNET) -> dict:
    """Everything needed to build the lab, computed from the topology alone."""
    lab = validate_lab_name(name)
    topo = validate_topology(topology)
    mgmt = _mgmt_network(mgmt_subnet, len(topo["hosts"]))
    interfaces = _interfaces(topo)
    links = {lk["name"]: lk for lk in topo["links"]}
    tunnels = [_tunnel_plan(lab, t, interfaces, links) for t in topo["tunnels"]]
    routes = _routes(topo, interfaces, tunnels)
    hosts = []
    for index, host in enumerate(topo["hosts"]):
        hosts.append({
            **host,
            "namespace": f"{lab}-{host['name']}",
            "mgmt_veth": f"{lab}-m{index}",
            "mgmt_address": str(mgmt[index + 2]),
            "interfaces": interfaces[host["name"]],
            "routes": routes[host["name"]],
            "nftables_conf": nftables_ruleset(host),
            "iptables_commands": iptables_commands(host),
        })
    plan = {
        "name": lab,
        "mgmt_bridge": f"{lab}-mgmt",
        "mgmt_subnet": str(mgmt),
        "mgmt_gateway": str(mgmt[1]),
        "hosts": hosts,
        "links": topo["links"],
        "tunnels": tunnels,
    }
    plan["fingerprint"] = fingerprint(plan)
    return plan


def fingerprint(plan: dict) -> str:
    """Stable digest of a plan: an unchanged plan means an unchanged lab (idempotence)."""
    data = json.dumps({k: v for k, v in plan.items() if k != "fingerprint"}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def inventory(plan: dict, key_file: str, python: str) -> dict:
    """Ansible YAML inventory for the lab: hosts grouped by role, tunnel and address variables."""
    groups: dict[str, dict] = {}
    hostvars: dict[str, dict] = {}
    for host in plan["hosts"]:
        if host.get("inventory") is False:
            continue
        tunnels = []
        for tunnel in plan["tunnels"]:
            for near, far in (("a", "b"), ("b", "a")):
                if tunnel[near]["host"] == host["name"]:
                    tunnels.append({
                        "name": tunnel["name"],
                        "type": tunnel["type"],
                        "interface": tunnel[near]["interface"],
                        "mtu": tunnel["mtu"],
                        "peer": tunnel[far]["host"],
                        "address4": tunnel[near]["ipv4"],
                        "address6": tunnel[near]["ipv6"],
                        "peer_address4": tunnel[far]["ipv4"],
                        "peer_address6": tunnel[far]["ipv6"],
                        "endpoint": tunnel[near]["endpoint"],
                        "peer_endpoint": tunnel[far]["endpoint"],
                        "underlay_interface": tunnel[near]["underlay_interface"],
                    })
        first = host["interfaces"][0] if host["interfaces"] else {}
        hostvars[host["name"]] = {
            "ansible_host": host["mgmt_address"],
            "netpath_mtu_lab_namespace": host["namespace"],
            "netpath_mtu_lab_role": host["role"],
            "netpath_mtu_lab_address4": first.get("ipv4"),
            "netpath_mtu_lab_address6": first.get("ipv6"),
            "netpath_mtu_lab_interfaces": [
                {k: i[k] for k in ("name", "link", "peer", "mtu", "ipv4", "ipv6")} for i in host["interfaces"]
            ],
            "netpath_mtu_lab_tunnels": tunnels,
        }
        for group in [f"{host['role']}s"] + host["groups"]:
            groups.setdefault(group, {"hosts": {}})["hosts"][host["name"]] = {}
    all_vars = {
        "ansible_user": "root",
        "ansible_python_interpreter": python,
        "ansible_ssh_private_key_file": key_file,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   "-o ControlMaster=auto -o ControlPersist=30s",
        "netpath_mtu_lab_name": plan["name"],
    }
    return {"all": {"vars": all_vars, "hosts": hostvars, "children": groups}}
