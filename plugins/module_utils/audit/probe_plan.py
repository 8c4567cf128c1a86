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
- ``extra``: addresses listed for the source explicitly, each as ``host``, ``host:port`` or ``[v6]:port``.

Each target also carries a TCP port it is known to answer on, for ``path_mtu_info`` method ``tcp`` and
fallback ``tcp``: the port an extra target names, else the SSH port of the inventory host the address
belongs to (``ports``), else none. The target string itself never carries the port: it is what the probe
results are matched by (findings), whatever the method.

The result depends only on the arguments, and is sorted, so two runs plan the same probes. With
only part of the inventory (AWX job slicing), underlay and tunnel targets still come from each
host's own facts; host-to-host targets come from ``inventory``, which the role builds from variables
every slice can see.

Errors are ``ValueError`` with a message that says what to do; the filter turns them into
``AnsibleFilterError``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.links.addresses import (
    address_index, family_of, interface_addresses, own_addresses, parse_ip, usable)
from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import split_port

ROLES = ("underlay", "tunnel", "host", "extra")
FAMILIES = ("ipv4", "ipv6")
# Addresses that never name another host: probing them measures nothing (or this host).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


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


def _check_ports(ports: Any) -> dict[str, int]:
    if ports is None:
        return {}
    if not isinstance(ports, dict):
        raise ValueError("ports must be a dict of host name -> TCP port (its ansible_port)")
    out: dict[str, int] = {}
    for host, port in ports.items():
        if port is None or port == "":
            continue
        text = str(port).strip()
        if isinstance(port, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ValueError(f"the port of host {host!r} must be a number between 1 and 65535, got {port!r}")
        out[str(host)] = int(text)
    return out


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
         families: Iterable[str] = FAMILIES, extra_targets: Any = None, ports: Any = None) -> dict[str, list[dict]]:
    """Probe targets per source host.

    ``facts_by_host``: host -> ``netpath_mtu_facts`` (None for hosts whose facts are missing).
    ``inventory``: host -> addresses other hosts probe for host-to-host paths.
    ``sources``: hosts that probe (default: every host with facts).
    ``host_paths``: hosts between which host-to-host paths are probed, as sources and as targets
    (default: every host of ``inventory``); underlay and tunnel paths are planned for every source.
    ``tunnels_only``: plan underlay and tunnel paths only.
    ``families``: address families to probe (names given as targets are probed in any family).
    ``extra_targets``: host -> further addresses that host probes (``host:port`` names the TCP port).
    ``ports``: host -> the TCP port it listens on (its SSH port), for targets that belong to it.

    Each target is a dict with ``target`` (what path_mtu_info is given), ``family`` (null for a
    name), ``peer`` (the inventory host the address belongs to, or null), ``roles`` (why it is probed:
    underlay, tunnel, host, extra), ``tunnels`` (the source's tunnels it concerns) and ``port`` (a TCP
    port the target answers on, or null).
    """
    facts = _check_facts(facts_by_host)
    inv = _check_inventory(inventory)
    extra = _check_inventory(extra_targets)
    port_of = _check_ports(ports)
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
        found = _Targets(source, own_addresses(facts[source]), index, fams, port_of)
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
        for given in extra.get(source, []):
            try:
                address, port = split_port(given)
            except ValueError as exc:
                raise ValueError(f"extra targets of {source}: {str(exc).split(': ', 1)[-1]}") from exc
            found.add(address, "extra", port=port)
        result[source] = found.sorted()
    return result


class _Targets:
    """One source's targets, merged by address: an address probed for several reasons is probed once."""

    def __init__(self, source: str, own: set[str], index: dict[str, str], families: set[str],
                 ports: dict[str, int] | None = None):
        self.source = source
        self.ports = ports or {}
        self.named_ports: dict[str, int] = {}  # target -> the port an extra target names
        self.own = own
        self.index = index
        self.families = families
        self.entries: dict[str, dict] = {}

    def add(self, text: Any, role: str, peer: str | None = None, tunnel: str | None = None,
            owner: str | None = None, port: int | None = None) -> None:
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
        if port is not None:
            self.named_ports.setdefault(target, port)

    def sorted(self) -> list[dict]:
        for entry in self.entries.values():
            entry["roles"].sort(key=ROLES.index)
            entry["tunnels"].sort()
            # A port the user named beats the SSH port of the host the address belongs to.
            entry["port"] = self.named_ports.get(entry["target"], self.ports.get(entry["peer"] or ""))
        return sorted(self.entries.values(), key=_key)


def targets(entries: Iterable[dict]) -> list[str]:
    """The target strings of a host's plan, in order: what to give path_mtu_info."""
    return [entry["target"] for entry in entries]
