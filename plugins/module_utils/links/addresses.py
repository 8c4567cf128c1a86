# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host addresses and networks as mtu_facts lists them. Pure: no system access.

Shared by the audit's plans (probe_plan, ptb_plan), attribution and findings: an address parsed once
(``parse_ip`` keeps a fleet's few addresses), a host's usable addresses, its networks per interface, and
which host an address names.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import scope_problem


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
    """Unicast addresses that can name another host on a routed path (the probers' own rule)."""
    return scope_problem(ip) is None


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
