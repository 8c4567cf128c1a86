# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who is to blame, and how we know it. Pure: reads facts, check results and probe results.

A finding names a host only on evidence about that host (docs/audit.md, "Attribution"):

- its own ruleset evaluation (``icmp_policy``: the deciding rule drops the ICMP error on a hook the
  packet takes there: INPUT on the sender, FORWARD on a router it crosses, OUTPUT on the router that
  must send it);
- its own interfaces (a router with a link of exactly the measured path MTU is the one that cannot
  forward larger packets, so it is the one that must send the error);
- a wire test whose other end is adjacent to it (same link: no router between them).

Where the probes place a path (the hops that answered TTL-limited probes) comes from
``path_mtu_info``; an answering hop that maps to no inventory host is a router outside the inventory,
and saying so, with its address, is a result. Silence after crossing routers is evidence about the
path, never about the receiver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.links.addresses import networks_by_interface, parse_ip


# --- facts ------------------------------------------------------------------------------------

def networks(facts: dict | None) -> list[tuple[str, Any]]:
    """(interface, network) of every global address of the host."""
    return [(name, net) for name, nets in sorted(networks_by_interface(facts).items()) for net in nets]


def on_link(facts: dict | None, address: Any) -> str | None:
    """The host's interface whose network holds ``address`` (no router between them), or None."""
    ip = parse_ip(address)
    if ip is None:
        return None
    for ifname, net in networks(facts):
        if net.version == ip.version and ip in net and net.num_addresses > 1:
            return ifname
    return None


def forwards(facts: dict | None, family: str | None) -> bool:
    sysctls = (facts or {}).get("sysctls") or {}
    return bool(sysctls.get("ipv6_forwarding" if family == "ipv6" else "ipv4_forwarding"))


def links_of_mtu(facts: dict | None, mtu: Any) -> list[str]:
    """Interfaces whose MTU is exactly ``mtu`` (the link that stops larger packets)."""
    if not isinstance(mtu, int):
        return []
    return sorted(name for name, iface in ((facts or {}).get("interfaces") or {}).items()
                  if iface.get("kind") != "loopback" and iface.get("mtu") == mtu)


# --- icmp_policy evaluations --------------------------------------------------------------------

def evaluation(host: dict | None) -> list[dict] | None:
    """The host's icmp_policy results, or None when its ruleset was not evaluated."""
    section = (host or {}).get("icmp_policy")
    results = section.get("results") if isinstance(section, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else None


def icmp_drop(host: dict | None, family: str | None, hook: str) -> dict | None:
    """The evaluation entry saying the host drops the family's ICMP error on ``hook``, or None."""
    for result in evaluation(host) or []:
        if result.get("family") == family and result.get("hook") == hook and result.get("verdict") == "dropped":
            return result
    return None


def icmp_verdict(host: dict | None, family: str | None, hook: str) -> str | None:
    """accepted / dropped / unknown as evaluated, or None when not evaluated."""
    for result in evaluation(host) or []:
        if result.get("family") == family and result.get("hook") == hook:
            return result.get("verdict")
    return None


# --- blame ------------------------------------------------------------------------------------

@dataclass
class Blame:
    """Who drops the ICMP error on one path, as far as the evidence goes."""

    kind: str = "unknown"  # firewall | outside | unevaluated | clean | unknown
    culprits: list = field(default_factory=list)  # {host, family, hook, role, reason}
    outside: list = field(default_factory=list)  # addresses of answering hops outside the inventory
    limiting: str | None = None  # the inventory router whose link stops the large packets
    crossed: list = field(default_factory=list)  # inventory hosts the error crosses, sender first
    text: str = ""

    def hosts(self) -> list[str]:
        return sorted({c["host"] for c in self.culprits})


def _route(path: dict) -> list[dict]:
    """The hops that answered the path's TTL-limited probes, up to its last hop, in TTL order."""
    hop = path.get("hop") or {}
    route = [h for h in hop.get("route") or [] if isinstance(h, dict) and h.get("ttl") is not None]
    if hop.get("address") and hop.get("ttl") and not any(h.get("ttl") == hop["ttl"] for h in route):
        route.append({"ttl": hop["ttl"], "address": hop["address"]})
    return sorted(route, key=lambda h: h["ttl"])


def limiting_router(facts: dict[str, dict], path: dict, last: str | None) -> str | None:
    """The inventory router that cannot forward the path's large packets, by its interfaces.

    The last answering hop itself when it has a link of exactly the path MTU, else its one neighbour
    (an inventory host on a link with it) that forwards and has such a link."""
    size, family = path.get("path_mtu"), path.get("family")
    if last in facts and links_of_mtu(facts[last], size) and forwards(facts[last], family):
        return last
    if last not in facts:
        return None
    near = {str(net) for dummy, net in networks(facts[last])}
    found = [name for name, other in sorted(facts.items()) if name not in (last, path.get("source"))
             and forwards(other, family) and links_of_mtu(other, size)
             and near & {str(net) for dummy, net in networks(other)}]
    return found[0] if len(found) == 1 else None


def black_hole_blame(facts: dict[str, dict], hosts: dict[str, dict], host_of: Callable[[Any], str | None],
                     path: dict, limiting_cache: dict | None = None) -> Blame:
    """Who drops the ICMP error that should have told the sender of a black-holed path.

    ``limiting_cache`` (a dict the caller keeps for one audit) remembers the limiting router per last
    hop, size, family and sender: a fleet's many black holes share few of them."""
    family, source = path.get("family"), path.get("source")
    route = _route(path)
    last = (path.get("hop") or {}).get("host") or (host_of(route[-1]["address"]) if route else None)
    cache = {} if limiting_cache is None else limiting_cache
    key = (last, path.get("path_mtu"), family, source)
    if key not in cache:
        cache[key] = limiting_router(facts, path, last)
    blame = Blame(limiting=cache[key])
    candidates = [(source, "input", "the sender")]
    for hop in route:
        host = host_of(hop["address"])
        if host is None:
            blame.outside.append(str(hop["address"]))
        elif host != blame.limiting:
            candidates.append((host, "forward", f"a router on the way back (hop {hop['ttl']})"))
            blame.crossed.append(host)
    if blame.limiting:
        candidates.append((blame.limiting, "output", "the router whose link is too small for the large packets"))
    for host, hook, role in candidates:
        drop = icmp_drop(hosts.get(host), family, hook)
        if drop and (hook != "forward" or forwards(facts.get(host), family)):
            blame.culprits.append({"host": host, "family": family, "hook": hook, "role": role,
                                   "reason": drop.get("reason")})
    if blame.culprits:
        blame.kind = "firewall"
        blame.text = "; ".join(f"{c['host']} drops it in {c['hook'].upper()} ({c['role']})" for c in blame.culprits)
    elif blame.outside:
        blame.kind = "outside"
        blame.text = (f"the way crosses {', '.join(blame.outside)}, not inventory host(s); the inventory hosts on it "
                      "accept the ICMP error, so it is lost outside the inventory")
    elif blame.limiting and evaluation(hosts.get(blame.limiting)) is None:
        blame.kind = "unevaluated"
        blame.text = (f"{blame.limiting} has the link that stops them ({', '.join(links_of_mtu(facts[blame.limiting], path.get('path_mtu')))}, "
                      f"MTU {path.get('path_mtu')}) and must send the ICMP error; its ruleset was not evaluated")
    elif blame.limiting and all(icmp_verdict(hosts.get(h), family, k) == "accepted" for h, k, dummy in candidates):
        blame.kind = "clean"
        blame.text = (f"{blame.limiting} has the small link and its ruleset lets the ICMP error out, and every inventory host "
                      "on the way accepts it: look at conntrack (untracked errors are INVALID), rp_filter, or an unlisted hop")
    else:
        blame.text = "no evaluated ruleset on the way names the drop"
    return blame


def adjacent(facts: dict | None, address: Any) -> bool:
    """A wire test with ``address`` is evidence about this host: they share a link."""
    return on_link(facts, address) is not None
