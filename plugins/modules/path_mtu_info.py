#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: path_mtu_info
short_description: Probe the path MTU to many targets at once and find PMTUD black holes
version_added: 0.1.0
description:
  - Sends don't-fragment probes (IPv4 DF set, IPv6 never fragmented) of many sizes to all O(targets)
    in parallel and reports, for each path, the byte-exact path MTU (the largest IP packet, header
    included, that gets through) and what kind of path it is.
  - C(ok) - nothing on the path is smaller than the local interface MTU (or O(max_size)).
  - C(ptb) - a smaller link exists and the network says so - ICMP fragmentation-needed or ICMPv6
    packet-too-big arrived; the announced MTU and the router that sent it are reported, and
    RV(results[].ptb_mismatch) flags an announced MTU that disagrees with what the probes show.
  - C(black_hole) - large probes vanish without any ICMP error while small ones pass - path MTU
    discovery is broken on this path. With O(locate_hop), TTL-limited large probes locate the last
    hop that large packets reach.
  - C(unreachable) / C(filtered) - even small probes get no answer, or a router or the target says
    the destination is unreachable or administratively prohibited.
  - C(unresolved) - only with O(unresolved=report), a name that does not resolve on the managed host.
  - A reply counts only when it arrives whole - a fragmented reply only when all its fragments do
    (RV(results[].fragments_lost) reports the sizes whose replies came back as first fragments only).
  - All sizes of a round and all targets are in flight together; a size counts as too big only when
    it fails every try while a small control probe of the same round passes, so random loss is not
    mistaken for a black hole. A black-holed path costs about two loss timeouts (O(timeout)), a path
    where ICMP works or nothing is limited a few round-trip times.
  - Probes are raw packets with their own IP header, so the host's cached PMTU exceptions do not
    change the answer. They do pass through this host's netfilter OUTPUT hook.
  - The module leaves no PMTU exception of its own behind - IPv6 echo probes make the kernel cache
    the announced MTU of each packet-too-big, and those exceptions are removed again; exceptions that
    existed before the run are left alone.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.INFO_MODULE
  - netpath.mtu.attributes.LINUX
options:
  targets:
    description:
      - Addresses or host names to probe. A name is resolved on the managed host; with O(family=any)
        the first address the resolver returns is probed.
    type: list
    elements: str
    required: true
  family:
    description:
      - Which address family to probe for names. V(any) takes the first address, V(both) probes the
        IPv4 and the IPv6 path of a name that has both.
      - Literal addresses are always probed in their own family; a literal of the other family than
        V(ipv4) or V(ipv6) asks for is an error.
    type: str
    choices: [any, ipv4, ipv6, both]
    default: any
  unresolved:
    description:
      - What to do when a name in O(targets) does not resolve on the managed host, or has no address of
        the O(family) asked for.
      - V(fail) fails the module and probes nothing.
      - V(report) probes the other targets and returns the name with RV(results[].status) V(unresolved)
        and the resolver's message in RV(results[].reason). Useful when the targets come from an
        inventory that the managed host's resolver does not fully know.
    type: str
    choices: [fail, report]
    default: fail
  method:
    description:
      - V(icmp) sends echo requests; the target's echo replies are as large as the probes, so with
        IPv6 a broken return path also limits the answer.
      - V(udp) sends UDP datagrams to O(port); the target answers with a small port-unreachable (or a
        reply, if something listens), so only the forward path is measured. Linux targets
        rate-limit port-unreachable messages per peer, which makes V(udp) slower than V(icmp).
    type: str
    choices: [icmp, udp]
    default: icmp
  port:
    description: UDP destination port for O(method=udp). Pick a closed port, or one whose service answers.
    type: int
    default: 33434
  timeout:
    description:
      - Loss timeout in seconds - how long after the last probe of a round to wait for answers.
        Silence counts only after this. Choose it above the worst round-trip time of the paths.
    type: float
    default: 1.0
  retries:
    description:
      - Extra tries of each deciding size. A size is too big only when all O(retries)+1 tries fail
        while the control probe of the same round passes.
    type: int
    default: 2
  min_size:
    description:
      - Smallest IP packet size (bytes, header included) the search considers.
        Defaults to 68 for IPv4 and 1280 for IPv6, the protocol minimums.
    type: int
  max_size:
    description:
      - Largest IP packet size (bytes, header included) to probe. Defaults to the MTU of the egress
        interface towards each target, and is capped by it.
    type: int
  source:
    description: Source address of the probes. Default is the one the kernel picks for each target.
    type: str
  interface:
    description: Send the probes out of this interface only (C(SO_BINDTODEVICE)).
    type: str
  locate_hop:
    description:
      - On black-holed paths, send TTL-limited large and small probes (in the same round as the final
        refinement, so it costs no extra time) to find the last hop that large packets reach.
      - On C(ptb) paths the router that sent the ICMP is the hop.
    type: bool
    default: true
  max_hops:
    description: Largest TTL / hop limit used by O(locate_hop).
    type: int
    default: 30
  rate_limit:
    description:
      - Most probe packets per second this run sends (in bursts of up to 256), so probing a fleet does
        not flood a link. V(0) means no limit.
    type: int
    default: 10000
  max_rounds:
    description:
      - Most rounds of probes per path. Each round that meets silence costs one O(timeout).
      - Default 5 for O(method=icmp), 12 for O(method=udp), whose rounds are smaller.
    type: int
  recheck:
    description:
      - Probe once more, right after the first run, the paths without a clear answer - C(unreachable),
        C(filtered), or C(black_hole) whose boundary was not confirmed (RV(results[].exact) false). The
        second answer replaces the first and RV(results[].rechecked) says so.
      - A WireGuard tunnel without a session drops packets while it handshakes, and a loaded router can
        drop the small control probes. The second run costs about one more loss timeout, and only when a
        path needs it. Paths without a local route are not probed again.
    type: bool
    default: false
notes:
  - Needs root or C(CAP_NET_RAW) on the managed host (raw IP sockets and a packet socket). Use C(become).
  - Probes are built and parsed in plain Python; scapy is not needed by this module.
  - Probing inside a tunnel makes the tunnel's own underlay traffic meet the small link, so the kernel may
    learn a PMTU exception for the tunnel endpoint (from the tunnel's packets, not from the probes). That
    is what any large packet through the tunnel would cause, and it is left alone.
  - Routers rate-limit ICMP time-exceeded per peer; when many black-holed targets share a router, some
    hops may stay unlocated (C(located) false in RV(results[].hop)) rather than be guessed. Targets in one
    /24 (/64) with the same path MTU and distance share one hop search for that reason.
seealso:
  - name: RFC 8899 - Packetization Layer Path MTU Discovery for Datagram Transports
    description: Probing with padded probes instead of trusting ICMP.
    link: https://www.rfc-editor.org/rfc/rfc8899
  - name: RFC 4890 - Recommendations for Filtering ICMPv6 Messages in Firewalls
    description: Why packet-too-big must never be dropped.
    link: https://www.rfc-editor.org/rfc/rfc4890
"""

EXAMPLES = r"""
- name: Probe the path MTU to two peers
  netpath.mtu.path_mtu_info:
    targets:
      - 198.18.2.2
      - backend.internal
  become: true
  register: pmtu

- name: Fail on PMTUD black holes
  ansible.builtin.assert:
    that: pmtu.results | selectattr('black_hole') | list | length == 0
    fail_msg: "{{ pmtu.results | selectattr('black_hole') | map(attribute='target') | list }} black-hole large packets"

- name: Probe inside a WireGuard tunnel, IPv6 only, forward path only
  netpath.mtu.path_mtu_info:
    targets: "{{ groups['peers'] | map('extract', hostvars, 'tunnel_address') | list }}"
    family: ipv6
    method: udp
    interface: wg0
    timeout: 0.5
  become: true
  register: tunnel_pmtu

- name: The MSS that fits each path
  ansible.builtin.debug:
    msg: "{{ item.target }}: path MTU {{ item.path_mtu }} ({{ item.status }}), MSS {{ item.mss }}"
  loop: "{{ pmtu.results }}"
"""

RETURN = r"""
results:
  description: One entry per probed path (target and family).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The target as given in O(targets).
      type: str
      sample: backend.internal
    address:
      description: The address probed.
      type: str
      sample: 198.18.2.2
    family:
      description: Address family of the path.
      type: str
      sample: ipv4
    source:
      description: Source address of the probes.
      type: str
      sample: 198.18.1.2
    interface:
      description: Egress interface towards the target.
      type: str
      sample: eth0
    interface_mtu:
      description: MTU of the egress interface.
      type: int
      sample: 1500
    path_mtu:
      description:
        - Largest IP packet (bytes, header included) that reaches the target with DF set. C(null) when
          nothing got through, or when not even O(min_size) does (for IPv6, a path below 1280).
      type: int
      sample: 1400
    mss:
      description: TCP MSS that fits the path (RV(results[].path_mtu) minus 40 for IPv4, 60 for IPv6).
      type: int
      sample: 1360
    status:
      description: V(ok), V(ptb), V(black_hole), V(unreachable), V(filtered), or V(unresolved) (O(unresolved=report)).
      type: str
      sample: black_hole
    black_hole:
      description: Large packets vanish without an ICMP error while small ones pass.
      type: bool
      sample: true
    ptb_seen:
      description: An ICMP fragmentation-needed / packet-too-big answered some probe.
      type: bool
      sample: false
    ptb_mtu:
      description: The MTU the (smallest) fragmentation-needed / packet-too-big announced.
      type: int
      sample: 1400
    ptb_source:
      description: The router that sent that ICMP.
      type: str
      sample: 198.18.4.2
    ptb_mismatch:
      description: The announced MTU differs from the path MTU the probes show.
      type: bool
      sample: false
    hop:
      description:
        - Where large packets die. C(null) on paths without a limit.
        - C(ttl) - hop number of the last hop that large packets are known to reach, C(null) when no hop
          answered a large probe and for a PTB source. V(0) only with C(located) true - the first hop
          answered the small TTL-limited probes but not the large ones, so they die before it (on the
          local link, or in a tunnel's underlay).
        - C(address) - that hop's address, as it answered.
        - C(located) - whether the probes pinned it down - hop C(ttl) answered large probes and hop
          C(ttl)+1 only small ones. When false, large packets are known to reach hop C(ttl) (if set) and
          die somewhere after it; routers that rate-limit time-exceeded (or never send it) hid the rest.
          TTLs that stay silent are probed again in up to two later rounds, at least a second apart.
        - C(method) - V(ttl), V(ptb), or V(fragments) - the large requests reach the target (its replies
          came back as first fragments, see RV(results[].fragments_lost)); TTL-limited probes cannot see
          where the way back loses the rest, so C(located) is false.
        - C(last_answered) - (V(ttl), V(fragments)) the farthest hop before the point where large packets die that
          answered any TTL-limited probe, as C(ttl) and C(address), or C(null).
        - C(silent_ttls) - (V(ttl), V(fragments)) hop numbers up to that point that answered nothing, even when probed again.
        - C(route) - (V(ttl)) every hop up to that point that answered a TTL-limited probe, nearest first, as
          C(ttl) and C(address) - the routers an ICMP error on its way back crosses (the audit maps them to
          inventory hosts).
        - C(shared) - present and true when the hop was located by probes to another target of the
          same /24 (/64) with the same path MTU and distance, to stay under routers' ICMP rate limits.
      type: dict
      sample: {"ttl": 2, "address": "198.18.4.2", "located": true, "method": "ttl",
               "last_answered": {"ttl": 2, "address": "198.18.4.2"}, "silent_ttls": [],
               "route": [{"ttl": 1, "address": "198.18.0.2"}, {"ttl": 2, "address": "198.18.4.2"}]}
    hops:
      description: Hops to the target, guessed from the TTL of its replies (initial TTL 64, 128 or 255); C(null) without a reply.
      type: int
      sample: 3
    fragments_lost:
      description:
        - Probe sizes whose replies arrived only in part - the first fragment (it names who answered)
          without the others - and never whole. Such a size counts as lost, like a silent one. It means
          the requests reach the target, the replies are larger than a link on the way back, get
          fragmented (Linux sends echo replies without DF), and something on the way back drops
          non-first fragments. C(null) when every reply arrived whole or not at all.
        - C(sizes) - the sizes, C(smallest) - the smallest of them, C(from) - the address that answered.
      type: dict
      sample: {"sizes": [1420, 1450, 1500], "smallest": 1420, "from": "198.18.3.2"}
    exact:
      description: The path MTU is confirmed to the byte (the next size failed every try).
      type: bool
      sample: true
    reason:
      description: One sentence explaining the status.
      type: str
      sample: "1401-byte packets vanish without an ICMP error while 1400-byte packets pass: PMTUD is broken on this path"
    rechecked:
      description: The path was probed a second time (O(recheck)) and this is the second answer.
      type: bool
      sample: false
    rounds:
      description: Rounds of probes this path needed.
      type: int
      sample: 2
    probes_sent:
      description: Probe packets sent for this path.
      type: int
      sample: 68
    duration_s:
      description: Seconds from the first probe until this path was decided (including the first run, when rechecked).
      type: float
      sample: 2.04
pmtu_exceptions_removed:
  description: IPv6 destinations whose PMTU exception, created by this run's probes, was removed again.
  returned: always
  type: list
  elements: str
  sample: ["fd00:3:2::2"]
"""

import ipaddress
import socket
import time
from functools import partial

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import (
    HEADER_LEN,
    MIN_MTU,
    PathSearch,
    run_search,
    unclear,
)

FAMILIES = {"ipv4": 4, "ipv6": 6}


def literal(target: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when the target is one (a zone index is ignored), else None."""
    try:
        return ipaddress.ip_address(target.split("%")[0])
    except ValueError:
        return None


def resolve(target: str, family: str) -> list[tuple[str, int]]:
    """(address, family) pairs to probe for one target; raises ValueError with a user-facing message."""
    ip = literal(target)
    if ip is not None:
        if family in FAMILIES and FAMILIES[family] != ip.version:
            raise ValueError(f"{target} is an IPv{ip.version} address but family is {family}")
        return [(str(ip), ip.version)]
    af = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(family, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(target, None, af, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ValueError(f"target {target!r} does not resolve: {exc.strerror}") from exc
    found: list[tuple[str, int]] = []
    for info in infos:
        fam = 4 if info[0] == socket.AF_INET else 6
        addr = str(info[4][0])
        if (addr, fam) not in found:
            found.append((addr, fam))
    if family == "both":
        picked = []
        for fam in (4, 6):
            first = next((f for f in found if f[1] == fam), None)
            if first:
                picked.append(first)
        return picked
    return found[:1]


def check_params(p: dict) -> list[str]:
    errors = []
    if not p["targets"]:
        errors.append("targets must name at least one address or host")
    if not 0 < p["timeout"] <= 60:
        errors.append(f"timeout must be between 0 and 60 seconds, got {p['timeout']}")
    if not 0 <= p["retries"] <= 10:
        errors.append(f"retries must be between 0 and 10, got {p['retries']}")
    if not 1 <= p["max_hops"] <= 64:
        errors.append(f"max_hops must be between 1 and 64, got {p['max_hops']}")
    if p["rate_limit"] < 0:
        errors.append("rate_limit must be 0 (no limit) or a positive number of packets per second")
    if not 1 <= p["max_rounds"] <= 20:
        errors.append(f"max_rounds must be between 1 and 20, got {p['max_rounds']}")
    if not 1 <= p["port"] <= 65535:
        errors.append(f"port must be between 1 and 65535, got {p['port']}")
    for opt in ("min_size", "max_size"):
        if p[opt] is not None and not 68 <= p[opt] <= 65535:
            errors.append(f"{opt} must be between 68 and 65535, got {p[opt]}")
    if p["min_size"] and p["max_size"] and p["min_size"] > p["max_size"]:
        errors.append(f"min_size {p['min_size']} is larger than max_size {p['max_size']}")
    if p["source"]:
        try:
            ipaddress.ip_address(p["source"])
        except ValueError:
            errors.append(f"source must be an IP address, got {p['source']!r}")
    return errors


def base_result(target: str, address: str | None, family: int | None) -> dict:
    return {
        "target": target, "address": address, "family": f"ipv{family}" if family else None, "source": None,
        "interface": None, "interface_mtu": None, "path_mtu": None, "mss": None,
        "status": "unreachable", "black_hole": False, "ptb_seen": False, "ptb_mtu": None,
        "ptb_source": None, "ptb_mismatch": False, "hop": None, "fragments_lost": None, "hops": None, "exact": False,
        "reason": "",
        "rechecked": False, "rounds": 0, "probes_sent": 0, "duration_s": 0.0,
    }


def resolve_or_report(module: AnsibleModule, p: dict, target: str) -> tuple[list[tuple[str, int]], str | None]:
    """The target's (address, family) pairs, or none and why, when unresolved=report; fails otherwise."""
    try:
        pairs = resolve(target, p["family"])
        why = None if pairs else f"target {target!r} has no {p['family']} address"
    except ValueError as exc:
        pairs, why = [], str(exc)
    # A literal of the wrong family is a mistake in the task, not something the resolver did not know.
    if why and (p["unresolved"] == "fail" or literal(target) is not None):
        module.fail_json(msg=why)
    return pairs, why


def plan_paths(module: AnsibleModule, p: dict) -> tuple[list[dict], dict, dict]:
    """Resolve targets and routes; return result stubs and, keyed by path, its search and a factory
    for a fresh one (a recheck starts over)."""
    results: list[dict] = []
    searches: dict = {}
    factories: dict = {}
    for target in p["targets"]:
        pairs, why = resolve_or_report(module, p, target)
        if why:
            results.append(dict(base_result(target, None, FAMILIES.get(p["family"])), status="unresolved", reason=why))
        for address, fam in pairs:
            res = base_result(target, address, fam)
            results.append(res)
            if p["source"] and ipaddress.ip_address(p["source"]).version != fam:
                module.fail_json(msg=f"source {p['source']} and target {target} ({address}) differ in family")
            try:
                route = netlink.route_get(fam, address, p["source"], iface_index(module, p["interface"]))
                source = p["source"] or probe_io.source_for(fam, address, p["interface"])
            except (netlink.NoRoute, OSError) as exc:
                res["reason"] = f"no local route: {exc}"
                continue
            res.update(source=source, interface=route.interface, interface_mtu=route.device_mtu)
            top = min(x for x in (p["max_size"], route.device_mtu, 65535) if x)
            low = p["min_size"] or MIN_MTU[fam]
            if low > top:
                module.fail_json(msg=f"min_size {low} is larger than the {top}-byte limit towards {address}")
            key = probe_io.PathKey(address, fam, source)
            if key not in factories:
                factories[key] = partial(
                    PathSearch, family=fam, min_size=max(low, MIN_MTU[fam]), max_size=top, tries=p["retries"] + 1,
                    locate_hop=p["locate_hop"], max_hops=p["max_hops"], max_rounds=p["max_rounds"],
                    # Linux answers 6 port unreachables in a burst, then 1 per second, per peer.
                    answer_budget=6 if p["method"] == "udp" else None,
                )
                try:
                    searches[key] = factories[key]()  # fails on impossible sizes before anything is sent
                except ValueError as exc:
                    module.fail_json(msg=f"{target}: {exc}")
            res["_key"] = key
    return results, searches, factories


def iface_index(module: AnsibleModule, name: str | None) -> int | None:
    if not name:
        return None
    try:
        return socket.if_nametoindex(name)
    except OSError:
        module.fail_json(msg=f"interface {name!r} does not exist on this host")
    return None


def network_of(key) -> tuple:
    """Paths into one /24 (IPv4) or /64 (IPv6) from one source share a hop search."""
    prefix = 24 if key.family == 4 else 64
    return key.source, str(ipaddress.ip_network(f"{key.target}/{prefix}", strict=False))


def probe(module: AnsibleModule, p: dict, searches: dict) -> tuple[dict, list[str], float]:
    """Run the rounds; return when (seconds from the start) each path was decided, removed exceptions, and
    the run's duration."""
    decided: dict = {}
    if not searches:
        return decided, [], 0.0
    prober = probe_io.Prober(method=p["method"], port=p["port"], interface=p["interface"], rate=p["rate_limit"])
    guard = probe_io.PmtuCacheGuard(list(searches)) if p["method"] == "icmp" else None
    try:
        prober.open({key.family for key in searches})
    except probe_io.ProbeError as exc:
        module.fail_json(msg=str(exc))
    start = time.monotonic()

    def send_round(batch, settled):
        keys = {key for key, _probe in batch}
        settled_at: dict = {}

        def timed(partial):
            # A path is decided when its own answers settle it, even if the round goes on for others.
            now = time.monotonic() - start
            for key in keys - settled_at.keys():
                if searches[key].settled(partial.get(key, [])):
                    settled_at[key] = now
            return settled(partial)

        outcomes = prober.send_round(batch, timed, p["timeout"])
        end = time.monotonic() - start
        for key in keys:
            decided[key] = settled_at.get(key, end)
        return outcomes

    try:
        run_search(searches, send_round, clock=time.monotonic, sleep=time.sleep, group_of=network_of)
    finally:
        prober.close()
        removed = guard.cleanup() if guard else []
    return decided, removed, time.monotonic() - start


def probe_with_recheck(module: AnsibleModule, p: dict, searches: dict, factories: dict) -> tuple[dict, list[str], set]:
    """Run the searches (and, with recheck, fresh ones for the unclear paths; ``searches`` then holds
    those): when each path was decided, the removed PMTU exceptions, and the rechecked paths."""
    decided, removed, elapsed = probe(module, p, searches)
    again: set = set()
    if p["recheck"]:
        again = {key for key, search in searches.items() if unclear(search.result())}
    if again:
        second = {key: factories[key]() for key in again}
        decided_again, removed_again, _elapsed = probe(module, p, second)
        searches.update(second)
        decided.update({key: elapsed + at for key, at in decided_again.items()})
        removed += [addr for addr in removed_again if addr not in removed]
    return decided, removed, again


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="str", required=True),
            family=dict(type="str", default="any", choices=["any", "ipv4", "ipv6", "both"]),
            method=dict(type="str", default="icmp", choices=["icmp", "udp"]),
            port=dict(type="int", default=33434),
            timeout=dict(type="float", default=1.0),
            retries=dict(type="int", default=2),
            min_size=dict(type="int"),
            max_size=dict(type="int"),
            source=dict(type="str"),
            interface=dict(type="str"),
            locate_hop=dict(type="bool", default=True),
            max_hops=dict(type="int", default=30),
            rate_limit=dict(type="int", default=10000),
            max_rounds=dict(type="int"),
            unresolved=dict(type="str", default="fail", choices=["fail", "report"]),
            recheck=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["max_rounds"] is None:
        p["max_rounds"] = 12 if p["method"] == "udp" else 5
    errors = check_params(p)
    if errors:
        module.fail_json(msg="; ".join(errors))

    results, searches, factories = plan_paths(module, p)
    decided, removed, rechecked = probe_with_recheck(module, p, searches, factories)

    for res in results:
        key = res.pop("_key", None)
        if key is None:
            continue
        search = searches[key]
        verdict = search.result()
        res.update({k: v for k, v in verdict.items() if k in res})
        if res["path_mtu"] is not None:
            res["mss"] = res["path_mtu"] - HEADER_LEN[key.family] - 20
        res["rechecked"] = key in rechecked
        res["duration_s"] = round(decided.get(key, 0.0), 3)
    module.exit_json(changed=False, results=results, pmtu_exceptions_removed=removed)


if __name__ == "__main__":
    main()
