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
    mistaken for a black hole. A round ends as soon as waiting longer cannot change the answer -
    at once when the answers decide it (a clean path, a PTB), else once a control probe of every
    path is back, a margin after the last answer (twice the smoothed round-trip time of that
    path's answers plus four times its variation, at least 0.1 s). O(timeout) is only the ceiling.
    A black-holed LAN path costs two such margins, about 0.2 s, a path where ICMP works or nothing
    is limited a few round-trip times; only paths where nothing answers wait for O(timeout).
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
      - Each address (given or resolved) must be unicast with global or unique-local scope; link-local,
        loopback, multicast, unspecified and broadcast addresses fail the task.
      - With O(method=tcp) a target may name its own port, as C(host:port) or C([IPv6 address]:port); an
        IPv6 address without brackets names no port. Targets without one use O(port).
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
      - V(tcp) sends TCP SYNs to O(port) (or the port a target names), padded with payload to the probe
        size, IPv4 DF set. A SYN-ACK (open port) or a RST (closed port) from the target means the size got
        through, so V(tcp) measures paths where a firewall drops ICMP echo but lets a TCP port in. After a
        SYN-ACK this host's kernel answers with a RST (no socket owns the probe's port) and the module sends
        one too, so no half-open connection stays on the target. Each probe of a round leaves from its own
        source port above Linux's default ephemeral range (61000-65535), and its initial sequence number
        names the probe in the target's answer and in quoted ICMP errors.
      - With V(tcp), SYNs that meet silence at every size, the small ones included, make the path
        C(filtered) (a firewall drops the port), never C(black_hole).
    type: str
    choices: [icmp, udp, tcp]
    default: icmp
  port:
    description:
      - Destination port for O(method=udp) (default 33434; pick a closed port, or one whose service answers)
        and O(method=tcp) (default 443; any port the target answers, open or closed, will do).
      - Setting it with O(method=icmp) is an error.
    type: int
  timeout:
    description:
      - Loss timeout in seconds - the longest a round waits for answers after its last probe. It is a
        ceiling - a round ends earlier, a margin derived from the round-trip times observed in it
        after the last answer, once a control probe of every path is back (see the description).
        Rounds in which a path gets no answer at all last this long. Choose it above the worst
        round-trip time of the paths; replies slower than it count as lost.
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
    description:
      - Source address of the probes, an address of this host. Default is the one the kernel picks for
        each target.
    type: str
  interface:
    description:
      - Send the probes out of this interface only (C(SO_BINDTODEVICE)). It must exist.
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
      - Most rounds of probes per path. A round costs a few round-trip times, and one O(timeout) when
        a path gets no answer in it.
      - Default 5 for O(method=icmp), 12 for O(method=udp), whose rounds are smaller.
    type: int
  recheck:
    description:
      - Probe once more, right after the first run, the paths without a clear answer - C(unreachable),
        C(filtered), or C(black_hole) whose boundary was not confirmed (RV(results[].exact) false). The
        second answer replaces the first and RV(results[].rechecked) says so.
      - A WireGuard tunnel without a session drops packets while it handshakes, and a loaded router can
        drop the small control probes. The second run costs up to one more loss timeout, and only when a
        path needs it. Paths without a local route are not probed again.
    type: bool
    default: false
  ports:
    description:
      - The TCP port of each target that names none itself, keyed by the target as given in O(targets),
        for O(method=tcp) and for O(fallback=tcp). A target without one uses O(port) with O(method=tcp).
      - An audit knows a port each host listens on (its SSH port) and gives all of them in one call.
    type: dict
  fallback:
    description:
      - With O(method=icmp), V(tcp) probes once more, in the same call and with O(method=tcp), the paths
        icmp got no answer on (C(unreachable) or C(filtered), after O(recheck)) whose target has a port in
        O(ports). A firewall that drops ICMP echo but lets that port in then still gives the path MTU.
      - The tcp answer replaces the icmp one, RV(results[].method) says V(tcp) and
        RV(results[].fallback_from) keeps what icmp said. When tcp gets no answer either, the icmp result
        stays and its reason says what tcp found.
    type: str
    choices: [tcp]
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

- name: Probe web servers that drop ICMP echo, with TCP SYNs to their HTTPS port (and one SSH port)
  netpath.mtu.path_mtu_info:
    targets:
      - 198.18.2.2
      - "[fd00:198:18:2::2]:22"
      - web.internal:8443
    method: tcp
    port: 443
  become: true
  register: tcp_pmtu

- name: Ping the peers, and where a firewall drops echo, SYN their SSH port instead (one call)
  netpath.mtu.path_mtu_info:
    targets: [198.18.2.2, 198.18.2.3]
    fallback: tcp
    ports:
      198.18.2.2: 22
      198.18.2.3: 2222
  become: true
  register: either_pmtu

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
    method:
      description: The probe method, O(method).
      type: str
      sample: tcp
    port:
      description: Destination port of the probes (O(method=tcp) or O(method=udp)), C(null) for O(method=icmp).
      type: int
      sample: 443
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
      description:
        - V(ok), V(ptb), V(black_hole), V(unreachable), V(filtered), or V(unresolved) (O(unresolved=report)).
        - With O(method=tcp), V(filtered) also means that no size, not even the smallest, got any answer.
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
    ptb_bogus:
      description:
        - PTBs announcing an MTU that cannot be true - at least the size of the packet they refused, or below
          the family's minimum (68, IPv6 1280); C(size), C(mtu) and C(source) of each. They still show that
          the packet was refused, but never give the path MTU (the probes do); a host's kernel ignores them,
          so such a router black-holes TCP much like a dropped PTB.
      type: list
      elements: dict
      sample: []
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
      description:
        - The path MTU is confirmed to the byte (the next size failed every try). On a path that loses probes (a
          size went unanswered that is no larger than one that passed) the next size needs more silent tries -
          enough that loss alone would explain them less than once in 10,000 times, at most three times
          (O(retries) + 1) - and where the round limit comes first the answer is C(false), with the bracket
          in RV(results[].reason), rather than a confident number one size too low.
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
    fallback_from:
      description:
        - With O(fallback=tcp), when the tcp answer replaced icmp's - C(method), C(status) and C(reason) of the
          icmp result. C(null) otherwise.
      type: dict
      sample: {"method": "icmp", "status": "unreachable", "reason": "no answer to 15 small probes"}
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import path_mtu_info_backend as backend

ARGUMENT_SPEC = {
    "targets": {"type": "list", "elements": "str", "required": True},
    "family": {"type": "str", "default": "any", "choices": ["any", "ipv4", "ipv6", "both"]},
    "method": {"type": "str", "default": "icmp", "choices": ["icmp", "udp", "tcp"]},
    "port": {"type": "int"},
    "timeout": {"type": "float", "default": 1.0},
    "retries": {"type": "int", "default": 2},
    "min_size": {"type": "int"},
    "max_size": {"type": "int"},
    "source": {"type": "str"},
    "interface": {"type": "str"},
    "locate_hop": {"type": "bool", "default": True},
    "max_hops": {"type": "int", "default": 30},
    "rate_limit": {"type": "int", "default": 10000},
    "max_rounds": {"type": "int"},
    "unresolved": {"type": "str", "default": "fail", "choices": ["fail", "report"]},
    "recheck": {"type": "bool", "default": False},
    "ports": {"type": "dict"},
    "fallback": {"type": "str", "choices": ["tcp"]},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = backend.Params.from_module(module.params)
    module.params["max_rounds"] = params.max_rounds  # the result's invocation shows the rounds used
    seams = backend.host_seams()
    finish(module, lambda: backend.run(params, seams))


if __name__ == "__main__":
    main()
