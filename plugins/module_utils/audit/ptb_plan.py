# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who checks with whom that a real packet-too-big is accepted (``ptb_check`` pairs). Pure.

Reads the audit's plan and probe results per host (``probe_plan``, ``path_mtu_info``), the hosts' facts
and their ``icmp_policy`` evaluations; see ``ptb_plan`` for the pairing rules.
"""

from __future__ import annotations

from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.audit.attribution import icmp_drop
from ansible_collections.netpath.mtu.plugins.module_utils.audit.probe_plan import FAMILIES
from ansible_collections.netpath.mtu.plugins.module_utils.links.addresses import (
    family_of, interface_addresses, networks_by_interface, parse_ip)

# Paths the probes reached: a PTB check over them can get an answer.
REACHED = ("ok", "ptb", "black_hole")
PTB_ROLE_PREFERENCE = ("host", "underlay", "tunnel", "extra")


def _role_rank(target: dict) -> int:
    return min(PTB_ROLE_PREFERENCE.index(r) for r in target.get("roles") or ["extra"])


def drops_own_icmp(host: Any, family: str) -> bool:
    """Whether the host's icmp_policy section says its OUTPUT drops the family's ICMP error: a
    responder there could not send the packet-too-big, and would only prove its own drop."""
    return icmp_drop(host if isinstance(host, dict) else None, family, "output") is not None


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


def ptb_plan(hosts: Any, families: Iterable[str] = FAMILIES) -> dict[str, dict]:
    """Who checks with whom that a real packet-too-big is accepted (netpath.mtu.ptb_check).

    ``hosts``: host -> {"targets": [probe plan entries], "probes": [path_mtu_info results],
    "icmp_policy": <its result, optional>, "facts": <mtu_facts, optional>}, for the hosts of the play.
    Each host checks once per family, with the nearest peer of the play it reached on that family (one
    on its own link first, then fewest hops, then a host-to-host address), equals taken round the ring
    of host names so the responders' load spreads. A peer whose own
    OUTPUT drops that family's ICMP error is never chosen. Returns host -> {"checks": [{peer, name}],
    "responders": [{address, clients}]}, the entries of its ptb_check mode=both run: a check of the
    peer's address (``peer``; ``name`` is the peer host), and a responder per own address that peers
    chose, serving as many clients as chose it.
    """
    if not isinstance(hosts, dict):
        raise ValueError(f"hosts must be a dict of host name -> targets and probes, got {type(hosts).__name__}")
    names = sorted(str(name) for name in hosts)
    plan: dict[str, dict] = {name: {"checks": [], "responders": []} for name in names}
    clients: dict[tuple[str, str, str], int] = {}  # (peer, family, address): checking hosts
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
            plan[source]["checks"].append({"peer": chosen["target"], "name": chosen["peer"]})
            key = (chosen["peer"], family, chosen["target"])
            clients[key] = clients.get(key, 0) + 1
    for (peer, dummy, address), count in sorted(clients.items()):
        plan[peer]["responders"].append({"address": address, "clients": count})
    return plan
