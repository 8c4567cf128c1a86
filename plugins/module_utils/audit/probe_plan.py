# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which paths an audit probes, from ``mtu_facts`` output and inventory data. Pure: no system access.

A path starts on a *source* host (one that gathered ``netpath_mtu_facts``) and goes to a *target*
address. Targets come from four places only, so the audit never sends a packet anywhere the
inventory does not already name:

- ``underlay``: each tunnel endpoint of the source (its own facts);
- ``tunnel``: each peer's address inside a tunnel - WireGuard ``allowed_ips`` host routes within the
  tunnel interface's own subnets, and the tunnel interface addresses of the peer host when that
  host's facts are known (the only way to find a VXLAN/GRE peer's inner address);
- ``host``: the addresses the inventory gives every other host (``inventory``, built by the role
  from the address variables, default ``ansible_host``, plus ``netpath_mtu_audit_peers``);
- ``extra``: addresses listed for the source explicitly.

The result depends only on the arguments, and is sorted, so two runs plan the same probes. With
only part of the inventory (AWX job slicing), underlay and tunnel targets still come from each
host's own facts; host-to-host targets come from ``inventory``, which the role builds from variables
every slice can see.

Errors are ``ValueError`` with a message that says what to do; the filter turns them into
``AnsibleFilterError``.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, Iterable

ROLES = ("underlay", "tunnel", "host", "extra")
FAMILIES = ("ipv4", "ipv6")
# Addresses that never name another host: probing them measures nothing (or this host).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def parse_ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address (no zone, no prefix) or None for anything else, such as a host name."""
    if not isinstance(text, str) or not text.strip():
        return None
    return _parse_ip(text)


# A fleet's few addresses are parsed over and over (every plan, path and finding names them); the
# addresses are immutable, so the parsed ones are kept.
@functools.lru_cache(maxsize=1 << 16)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None


def family_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
    if ip is None:
        return None
    return "ipv6" if ip.version == 6 else "ipv4"


def usable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Unicast addresses that can name another host on a routed path."""
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def _check_facts(facts_by_host: Any) -> dict[str, dict]:
    if not isinstance(facts_by_host, dict):
        raise ValueError("facts must be a dict of host name -> netpath_mtu_facts (the mtu_facts module's fact)")
    out = {}
    for host, facts in facts_by_host.items():
        if facts is None:
            continue
        if not isinstance(facts, dict) or not isinstance(facts.get("interfaces"), dict):
            raise ValueError(f"facts of host {host!r} are not netpath_mtu_facts: need a dict with 'interfaces' "
                             "(run netpath.mtu.mtu_facts on the host first)")
        out[str(host)] = facts
    return out


def _check_inventory(inventory: Any) -> dict[str, list[str]]:
    if inventory is None:
        return {}
    if not isinstance(inventory, dict):
        raise ValueError("inventory must be a dict of host name -> list of addresses (or one address)")
    out: dict[str, list[str]] = {}
    for host, addresses in inventory.items():
        if addresses is None or addresses == "":
            values: list = []
        elif isinstance(addresses, str):
            values = [addresses]
        elif isinstance(addresses, (list, tuple)):
            values = list(addresses)
        else:
            raise ValueError(f"inventory addresses of host {host!r} must be a string or a list of strings, got {addresses!r}")
        out[str(host)] = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return out


def interface_addresses(facts: dict, name: str | None = None) -> list[dict]:
    """Global addresses of one interface (or of all but loopback), as mtu_facts lists them."""
    result = []
    for ifname, iface in sorted((facts.get("interfaces") or {}).items()):
        if name is not None and ifname != name:
            continue
        if iface.get("kind") == "loopback":
            continue
        for addr in iface.get("addresses") or []:
            ip = parse_ip(addr.get("address"))
            if ip is not None and usable(ip):
                result.append(dict(addr, interface=ifname))
    return result


def own_addresses(facts: dict) -> set[str]:
    """Every address of the host, loopback included, normalised."""
    own = set()
    for iface in (facts.get("interfaces") or {}).values():
        for addr in iface.get("addresses") or []:
            ip = parse_ip(addr.get("address"))
            if ip is not None:
                own.add(str(ip))
    return own


def address_index(facts_by_host: dict[str, dict], inventory: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Address (or inventory name) -> host, from the hosts' facts and the inventory's addresses.

    An address that two hosts claim (anycast, overlapping private ranges behind NAT) names no one.
    """
    claims: dict[str, set[str]] = {}
    for host, facts in facts_by_host.items():
        for addr in interface_addresses(facts):
            claims.setdefault(str(parse_ip(addr["address"])), set()).add(host)
    for host, addresses in (inventory or {}).items():
        for text in addresses:
            ip = parse_ip(text)
            claims.setdefault(str(ip) if ip is not None else text.lower(), set()).add(host)
    return {key: next(iter(hosts)) for key, hosts in claims.items() if len(hosts) == 1}


def _networks(facts: dict, ifname: str) -> list:
    nets = []
    for addr in interface_addresses(facts, ifname):
        try:
            nets.append(ipaddress.ip_network(f"{parse_ip(addr['address'])}/{addr.get('prefixlen')}", strict=False))
        except (ValueError, TypeError):
            continue
    return nets


def _host_route(prefix: str):
    try:
        net = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None
    return net.network_address if net.num_addresses == 1 else None


def _tunnel_targets(source: str, facts: dict, name: str, tunnel: dict, facts_by_host: dict[str, dict],
                    index: dict[str, str]) -> list[tuple[str, str | None]]:
    """(peer address inside one tunnel, peer host or None): allowed-ips host routes, then the peer host's tunnel addresses."""
    nets = _networks(facts, name)
    found: list[tuple[str, str | None]] = []
    for peer in tunnel.get("peers") or []:
        routes = [ip for ip in (_host_route(p) for p in peer.get("allowed_ips") or []) if ip is not None and usable(ip)]
        inside = [ip for ip in routes if any(ip in net for net in nets)]
        # The host behind a WireGuard peer is the one that owns its endpoint.
        endpoint = parse_ip((peer.get("endpoint") or {}).get("address"))
        owner = index.get(str(endpoint)) if endpoint is not None else None
        # An unnumbered tunnel has no subnet to check against: any host route of the peer will do.
        found += [(str(ip), owner) for ip in (inside if nets else routes)]
    mine = own_addresses(facts)
    for endpoint in tunnel.get("endpoints") or []:
        ip = parse_ip(endpoint.get("address"))
        peer_host = index.get(str(ip)) if ip is not None else None
        if peer_host is None or peer_host == source or peer_host not in facts_by_host:
            continue
        peer_facts = facts_by_host[peer_host]
        for peer_name, peer_tunnel in sorted((peer_facts.get("tunnels") or {}).items()):
            if peer_tunnel.get("kind") != tunnel.get("kind"):
                continue
            ends = {str(parse_ip(e.get("address"))) for e in peer_tunnel.get("endpoints") or []}
            if not ends & mine:
                continue  # a tunnel of the peer host to somebody else
            for addr in interface_addresses(peer_facts, peer_name):
                aip = parse_ip(addr["address"])
                if not nets or any(aip in net for net in nets):
                    found.append((str(aip), peer_host))
    return found


def _key(entry: dict) -> tuple:
    ip = parse_ip(entry["target"])
    return (
        min(ROLES.index(r) for r in entry["roles"]),
        entry["peer"] is None, entry["peer"] or "",  # targets of unknown hosts last
        FAMILIES.index(entry["family"]) if entry["family"] in FAMILIES else 2,
        (ip.version, int(ip)) if ip is not None else (9, 0),
        entry["target"],
    )


def _normalise_target(text: Any) -> tuple[str, str | None] | None:
    """(target string, family) or None when the target must not be probed."""
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    ip = parse_ip(raw)
    if ip is None:
        if raw.lower() in _LOCAL_NAMES or any(c.isspace() for c in raw):
            return None
        return raw, None
    if not usable(ip):
        return None
    return str(ip), family_of(ip)


def plan(facts_by_host: Any, inventory: Any = None, *, sources: Iterable[str] | None = None,
         host_paths: Iterable[str] | None = None, tunnels_only: bool = False,
         families: Iterable[str] = FAMILIES, extra_targets: Any = None) -> dict[str, list[dict]]:
    """Probe targets per source host.

    ``facts_by_host``: host -> ``netpath_mtu_facts`` (None for hosts whose facts are missing).
    ``inventory``: host -> addresses other hosts probe for host-to-host paths.
    ``sources``: hosts that probe (default: every host with facts).
    ``host_paths``: hosts between which host-to-host paths are probed, as sources and as targets
    (default: every host of ``inventory``); underlay and tunnel paths are planned for every source.
    ``tunnels_only``: plan underlay and tunnel paths only.
    ``families``: address families to probe (names given as targets are probed in any family).
    ``extra_targets``: host -> further addresses that host probes.

    Each target is a dict with ``target`` (what path_mtu_info is given), ``family`` (null for a
    name), ``peer`` (the inventory host the address belongs to, or null), ``roles`` (why it is probed:
    underlay, tunnel, host, extra) and ``tunnels`` (the source's tunnels it concerns).
    """
    facts = _check_facts(facts_by_host)
    inv = _check_inventory(inventory)
    extra = _check_inventory(extra_targets)
    fams = set()
    for family in families or ():
        if family not in FAMILIES:
            raise ValueError(f"families must be a list of {', '.join(FAMILIES)}; got {family!r}")
        fams.add(family)
    if not fams:
        raise ValueError("families must name at least one of ipv4, ipv6")
    source_list = sorted(facts) if sources is None else sorted({str(s) for s in sources})
    unknown = [s for s in source_list if s not in facts]
    if unknown:
        raise ValueError(f"no facts for source host(s) {', '.join(unknown)}: run netpath.mtu.mtu_facts there first, "
                         "or leave them out of sources")
    between = set(inv) if host_paths is None else {str(h) for h in host_paths}
    index = address_index(facts, inv)

    result: dict[str, list[dict]] = {}
    for source in source_list:
        found = _Targets(source, own_addresses(facts[source]), index, fams)
        for name, tunnel in sorted((facts[source].get("tunnels") or {}).items()):
            for endpoint in tunnel.get("endpoints") or []:
                found.add(endpoint.get("address"), "underlay", tunnel=name)
            for address, owner in _tunnel_targets(source, facts[source], name, tunnel, facts, index):
                found.add(address, "tunnel", tunnel=name, owner=owner)
        if not tunnels_only and source in between:
            for host in sorted(between):
                if host != source:
                    for address in inv.get(host, []):
                        found.add(address, "host", peer=host)
        for address in extra.get(source, []):
            found.add(address, "extra")
        result[source] = found.sorted()
    return result


class _Targets:
    """One source's targets, merged by address: an address probed for several reasons is probed once."""

    def __init__(self, source: str, own: set[str], index: dict[str, str], families: set[str]):
        self.source = source
        self.own = own
        self.index = index
        self.families = families
        self.entries: dict[str, dict] = {}

    def add(self, text: Any, role: str, peer: str | None = None, tunnel: str | None = None,
            owner: str | None = None) -> None:
        """``peer`` names the target's host outright; ``owner`` only when the address itself names no one."""
        norm = _normalise_target(text)
        if norm is None:
            return
        target, family = norm
        if (family is not None and family not in self.families) or target in self.own:
            return
        peer = peer if peer is not None else (self.index.get(target if family else target.lower()) or owner)
        if peer == self.source:
            return
        entry = self.entries.setdefault(target, {"target": target, "family": family, "peer": peer,
                                                 "roles": [], "tunnels": []})
        if entry["peer"] is None:
            entry["peer"] = peer
        if role not in entry["roles"]:
            entry["roles"].append(role)
        if tunnel and tunnel not in entry["tunnels"]:
            entry["tunnels"].append(tunnel)

    def sorted(self) -> list[dict]:
        for entry in self.entries.values():
            entry["roles"].sort(key=ROLES.index)
            entry["tunnels"].sort()
        return sorted(self.entries.values(), key=_key)


def targets(entries: Iterable[dict]) -> list[str]:
    """The target strings of a host's plan, in order: what to give path_mtu_info."""
    return [entry["target"] for entry in entries]


# --- PTB checks -------------------------------------------------------------------------------

# Paths the probes reached: a PTB check over them can get an answer.
REACHED = ("ok", "ptb", "black_hole")
PTB_ROLE_PREFERENCE = ("host", "underlay", "tunnel", "extra")


def _role_rank(target: dict) -> int:
    return min(PTB_ROLE_PREFERENCE.index(r) for r in target.get("roles") or ["extra"])


def drops_own_icmp(host: Any, family: str) -> bool:
    """Whether the host's icmp_policy section says its OUTPUT drops the family's ICMP error: a
    responder there could not send the packet-too-big, and would only prove its own drop."""
    section = host.get("icmp_policy") if isinstance(host, dict) else None
    results = section.get("results") if isinstance(section, dict) else None
    return any(isinstance(r, dict) and r.get("family") == family and r.get("hook") == "output"
               and r.get("verdict") == "dropped" for r in results or [])


def networks_by_interface(facts: Any) -> dict[str, list]:
    """Interface -> its networks (as ``_networks`` gives them), in one pass over the host's addresses."""
    nets: dict[str, list] = {}
    if not isinstance(facts, dict):
        return nets
    for addr in interface_addresses(facts):
        try:
            net = ipaddress.ip_network(f"{parse_ip(addr['address'])}/{addr.get('prefixlen')}", strict=False)
        except (ValueError, TypeError):
            continue
        nets.setdefault(addr["interface"], []).append(net)
    return nets


class _Fleet:
    """What the PTB pairing reads of every host, parsed once: each source looks at every peer's addresses,
    so parsing them per source made the pairing grow with hosts squared."""

    def __init__(self, hosts: dict, names: list[str]):
        self.hosts = hosts
        self.nets = {name: networks_by_interface(self.host(name).get("facts")) for name in names}
        self.addresses: dict[str, list[tuple[str, Any]]] = {family: [] for family in FAMILIES}
        for name in names:
            facts = self.host(name).get("facts")
            for addr in interface_addresses(facts) if isinstance(facts, dict) else []:
                ip = parse_ip(addr["address"])
                if family_of(ip) in self.addresses:
                    self.addresses[family_of(ip)].append((name, ip))
        self._by_prefix: dict[tuple[str, int], dict[int, list[tuple[str, Any]]]] = {}

    def host(self, name: str) -> dict:
        return self.hosts[name] if isinstance(self.hosts[name], dict) else {}

    def on_link(self, name: str, address: Any) -> bool:
        """Whether ``address`` is on one of the host's own networks: no router between them."""
        ip = parse_ip(address)
        if ip is None:
            return False
        return any(ip.version == net.version and ip in net and net.num_addresses > 1
                   for nets in self.nets[name].values() for net in nets)

    def inside(self, family: str, net: Any) -> list[tuple[str, Any]]:
        """(host, address) of every host address of ``family`` inside ``net``, by a lookup per prefix length."""
        key = (family, net.prefixlen)
        if key not in self._by_prefix:
            shift = net.max_prefixlen - net.prefixlen
            index: dict[int, list[tuple[str, Any]]] = {}
            for name, ip in self.addresses.get(family, []):
                index.setdefault(int(ip) >> shift, []).append((name, ip))
            self._by_prefix[key] = index
        return self._by_prefix[key].get(int(net.network_address) >> (net.max_prefixlen - net.prefixlen), [])


def _link_candidates(source: str, fleet: _Fleet, family: str, peers: set[str]) -> list[tuple[tuple, dict]]:
    """Peers with an address on a network that this host's probed paths leave by: one link, no router
    between them (only the data paths' links: a management network shared by every host is not one)."""
    host = fleet.host(source)
    if not isinstance(host.get("facts"), dict):
        return []
    egress = sorted({str(p.get("interface")) for p in host.get("probes") or []
                     if isinstance(p, dict) and p.get("interface") and p.get("status") in REACHED})
    version = 6 if family == "ipv6" else 4
    nets = [net for name in egress for net in fleet.nets[source].get(name, []) if net.version == version]
    found = {}
    for net in nets:
        for peer, ip in fleet.inside(family, net):
            if peer != source and peer in peers:
                found[(peer, str(ip))] = ((False, 1, _role_rank({"roles": ["host"]})),
                                          {"peer": peer, "target": str(ip), "family": family, "roles": ["host"]})
    return list(found.values())


def _ptb_candidates(source: str, fleet: _Fleet, probes: dict[str, dict], family: str,
                    peers: set[str]) -> list[tuple[tuple, dict]]:
    """The targets of ``source`` on ``family`` that are play hosts it reached, nearest first: a peer on one
    of its links (then a PTB that does not arrive is evidence about this host, not about routers
    between them), then fewest hops (from the probes), then the most preferred role."""
    found = []
    for target in fleet.host(source).get("targets") or []:
        probe = probes.get(str(target.get("target")) if isinstance(target, dict) else "") or {}
        if not (target.get("family") == family and target.get("peer") in peers and target.get("peer") != source
                and probe.get("status") in REACHED):
            continue
        hops = probe.get("hops") if isinstance(probe.get("hops"), int) else 255
        near = fleet.on_link(source, probe.get("address") or target.get("target"))
        found.append(((not near, hops, _role_rank(target)), target))
    return found


def ptb_plan(hosts: Any, port: int = 33533, families: Iterable[str] = FAMILIES) -> dict[str, dict]:
    """Who checks with whom that a real packet-too-big is accepted (netpath.mtu.ptb_check).

    ``hosts``: host -> {"targets": [probe plan entries], "probes": [path_mtu_info results],
    "icmp_policy": <its result, optional>, "facts": <mtu_facts, optional>}, for the hosts of the play.
    Each host checks once per family, with the nearest peer of the play it reached on that family (one
    on its own link first, then fewest hops, then a host-to-host address), equals taken round the ring
    of host names so the responders' load spreads. A peer whose own
    OUTPUT drops that family's ICMP error is never chosen. Returns host -> {"checks": [{peer, address, family, port}],
    "responders": [{address, family, clients, port}]}: a responder per peer address, serving as
    many clients as chose it.
    """
    if not isinstance(hosts, dict):
        raise ValueError(f"hosts must be a dict of host name -> targets and probes, got {type(hosts).__name__}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer between 1 and 65535, got {port!r}")
    names = sorted(str(name) for name in hosts)
    plan: dict[str, dict] = {name: {"checks": [], "responders": []} for name in names}
    clients: dict[tuple[str, str, str], int] = {}
    fleet = _Fleet(hosts, names)
    order = {name: index for index, name in enumerate(names)}
    # Whether a peer's own OUTPUT drops the error depends on the peer alone: decided once per family.
    peers_of = {family: {name for name in names if not drops_own_icmp(hosts[name], family)} for family in families}
    for position, source in enumerate(names):
        probes = {str(p.get("target")): p for p in fleet.host(source).get("probes") or [] if isinstance(p, dict)}
        for family in families:
            peers = peers_of[family]
            candidates = (_ptb_candidates(source, fleet, probes, family, peers)
                          + _link_candidates(source, fleet, family, peers))
            if not candidates:
                continue
            # Nearest first; among equals, round the ring (the first peer after this host in name order,
            # wrapping around) so the responders' load spreads.
            dummy, chosen = min(candidates, key=lambda c: (c[0], (order[c[1]["peer"]] - position) % len(names),
                                                           str(c[1]["target"])))
            plan[source]["checks"].append({"peer": chosen["peer"], "address": chosen["target"], "family": family,
                                           "port": port})
            key = (chosen["peer"], chosen["target"], family)
            clients[key] = clients.get(key, 0) + 1
    for (peer, address, family), count in sorted(clients.items()):
        plan[peer]["responders"].append({"address": address, "family": family, "clients": count, "port": port})
    return plan
