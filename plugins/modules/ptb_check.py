#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ptb_check
short_description: Prove on the wire whether a host accepts ICMP fragmentation-needed / packet-too-big
version_added: 0.1.0
description:
  - Two hosts cooperate. The B(responder) (O(mode=responder), started in the background with C(async)
    and C(poll=0)) listens on one address. The B(checking) host (O(mode=check)) sends it a flow of UDP
    probes carrying the run's O(token). For each probe the responder sends back a genuine ICMP
    fragmentation-needed (IPv4, type 3 code 4) or ICMPv6 packet-too-big (type 2) that quotes the exact
    bytes of the probe as they arrived - so the checking host's conntrack sees it as RELATED to its own
    flow, exactly like a router's - and then a small acknowledgement on the same UDP flow.
  - The checking host reports V(accepted) when its kernel delivered the error to the probe socket (the
    socket's error queue reports C(EMSGSIZE) with the announced MTU from the responder), V(dropped)
    when the acknowledgements arrived but the errors never did (an INPUT firewall, a conntrack or
    INVALID rule, C(ip_no_pmtu_disc), or a filter on the way back drops them), and V(inconclusive)
    with the reason otherwise (no responder, port unreachable, the responder's own firewall refused to
    send the error, no harmless MTU to announce).
  - The announced MTU is harmless - just below the path MTU the checking host currently uses towards
    the responder, never below 552 (IPv4) or 1280 (IPv6) - and nothing is left behind. For IPv4 the
    probe socket is set not to learn path MTUs (C(IP_PMTUDISC_INTERFACE)), so no PMTU exception is
    created at all; for IPv6 the kernel only reports the error to a socket that learns, so the exception
    for the responder's address is created and removed again afterwards (only that one).
  - The responder binds one address, answers only probes with the run's token, never sends more bytes
    than it received, answers each probe at most once, rate-limits itself, and exits by itself - when
    O(clients) checking hosts have said goodbye, after O(max_replies) answers, or after O(timeout)
    seconds even if the controller is gone. Its sockets close when it exits; nothing keeps listening.
  - One run tests one pair and one address family; run it once per family (with a responder on the
    responder's IPv4 and one on its IPv6 address) and per pair. One responder serves many checking
    hosts that share the token (O(clients)).
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
    details:
      - The module changes no configuration; it sends test packets also in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Leaves no state behind; every run reports C(changed=false).
options:
  mode:
    description:
      - V(check) runs on the host under test (A) and reports whether it accepts the PTB.
      - V(responder) runs on the peer (B), normally with C(async) and C(poll=0) so the check can run
        meanwhile. Its result (collect it with M(ansible.builtin.async_status)) counts what it answered.
    type: str
    choices: [check, responder]
    default: check
  peer:
    description:
      - O(mode=check) - the responder's address (IPv4 or IPv6, not link-local); its family is the family
        tested. It must be the O(address) the responder listens on.
    type: str
  address:
    description:
      - O(mode=responder) - the one local address to listen on and to send the ICMP errors from.
    type: str
  source:
    description:
      - O(mode=check) - source address of the probe flow. Default is the one the kernel picks.
    type: str
  port:
    description: UDP port the responder listens on.
    type: int
    default: 33533
  token:
    description:
      - Shared secret of the run, the same on both hosts - 8 to 128 printable ASCII characters without
        spaces. The responder answers nothing else. Only a digest of it goes on the wire.
      - Generate it once per run on the controller (see the examples); do not reuse a lazily evaluated
        random expression, it would differ between the two tasks.
    type: str
    required: true
  timeout:
    description:
      - O(mode=check) - seconds to wait for the responder's answers (it may start a little later than the
        check). Default V(10).
      - O(mode=responder) - the responder's lifetime in seconds (at most V(600)); it exits then at the
        latest. Default V(30). Give the task an C(async) value above it.
    type: float
  probe_size:
    description:
      - O(mode=check) - size of each probe, IP header included. It is capped at the current path MTU
        towards the peer. It must reach the responder, so keep it below the real path MTU; a PTB from a
        router on the way (the path is smaller) also proves the host accepts PTBs.
    type: int
    default: 1280
  announce_mtu:
    description:
      - O(mode=check) - the MTU the responder announces. Default - 8 bytes below the path MTU this host
        currently uses towards the peer. It must be below that (the kernel only lowers a path MTU) and at
        least 552 (IPv4) / 1280 (IPv6).
    type: int
  clients:
    description:
      - O(mode=responder) - exit after this many checking hosts (by address) said goodbye.
    type: int
    default: 1
  max_replies:
    description:
      - O(mode=responder) - exit after answering this many probes.
    type: int
    default: 32
  rate:
    description:
      - O(mode=responder) - most probes answered per second (bursts of up to 5); others get no answer.
    type: float
    default: 10.0
requirements:
  - pyroute2 (Python library on the managed hosts)
notes:
  - Both sides need root or C(CAP_NET_RAW) (raw sockets, and on the responder a packet socket); the checking
    side needs C(CAP_NET_ADMIN) to remove the IPv6 exception. Use C(become).
  - The probes leave through a raw socket with the probe flow's addresses and ports, so they pass this
    host's OUTPUT firewall and conntrack like the flow's own packets, with DF set.
  - The quoted probe may be smaller than the announced MTU (a router would quote a larger packet); Linux
    and its netfilter do not compare the two.
  - For IPv6 a PMTU exception for the peer that existed before the run is replaced by the announced value
    and then removed; the kernel learns it again from the next real packet-too-big.
  - The responder captures probes before its own firewall; it answers only those its UDP socket also
    received, i.e. that its own INPUT rules accepted.
seealso:
  - module: netpath.mtu.transfer_check
  - module: netpath.mtu.path_mtu_info
  - name: RFC 4890 - Recommendations for Filtering ICMPv6 Messages in Firewalls
    description: Why packet-too-big must never be dropped.
    link: https://www.rfc-editor.org/rfc/rfc4890
"""

EXAMPLES = r"""
- name: One token for the run, generated once on the controller
  ansible.builtin.set_fact:
    ptb_token: "{{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters', 'digits'], length=20) }}"
  run_once: true
  delegate_to: localhost
  delegate_facts: true

- name: Start the responder on the peer, in the background
  netpath.mtu.ptb_check:
    mode: responder
    address: 198.51.100.7
    token: "{{ hostvars['localhost'].ptb_token }}"
    clients: "{{ groups['web'] | length }}"
    timeout: 60
  async: 90
  poll: 0
  become: true
  delegate_to: peer.example.net
  run_once: true
  register: responder

- name: Does each web server accept a PTB from the peer?
  netpath.mtu.ptb_check:
    peer: 198.51.100.7
    token: "{{ hostvars['localhost'].ptb_token }}"
  become: true
  register: ptb

- name: Fail where PTBs are dropped
  ansible.builtin.assert:
    that: ptb.status != 'dropped'
    fail_msg: "{{ inventory_hostname }}: {{ ptb.reason }}"

- name: Collect the responder's account
  ansible.builtin.async_status:
    jid: "{{ responder.ansible_job_id }}"
  delegate_to: peer.example.net
  run_once: true
  become: true
  register: responder_result
  until: responder_result.finished
  retries: 30
  delay: 2
"""

RETURN = r"""
status:
  description:
    - O(mode=check) - V(accepted), V(dropped) or V(inconclusive).
  returned: mode is check
  type: str
  sample: dropped
reason:
  description: O(mode=check) - why, in one sentence.
  returned: mode is check
  type: str
  sample: >-
    198.18.1.2 sent 2 PTB(s) (MTU 1492) quoting this host's probes and acknowledged each on the same flow;
    the acknowledgements arrived, no PTB did: something drops ICMP frag-needed / packet-too-big on the way
    here or on this host (INPUT firewall, conntrack, ip_no_pmtu_disc)
peer:
  description: O(mode=check) - the responder's address.
  returned: mode is check
  type: str
  sample: 198.18.1.2
family:
  description: O(mode=check) - V(ipv4) or V(ipv6).
  returned: mode is check
  type: str
  sample: ipv4
source:
  description: O(mode=check) - source address and port of the probe flow.
  returned: mode is check
  type: dict
  sample: {address: 198.18.2.1, port: 48211}
interface:
  description: O(mode=check) - egress interface towards the peer.
  returned: mode is check
  type: str
  sample: eth0
path_mtu:
  description: O(mode=check) - the path MTU this host used towards the peer before the run.
  returned: mode is check
  type: int
  sample: 1500
announced_mtu:
  description: O(mode=check) - the MTU the PTBs announced (null when none was harmless).
  returned: mode is check
  type: int
  sample: 1492
probe_size:
  description: O(mode=check) - size of each probe, IP header included.
  returned: mode is check
  type: int
  sample: 1280
probes_sent:
  description: O(mode=check) - probes sent.
  returned: mode is check
  type: int
  sample: 3
acks:
  description:
    - O(mode=check) - the responder's acknowledgements by what it did - V(ptb_sent), V(ptb_blocked) (its own
      host refused to send the error), V(limited), V(bad_mtu), V(not_quotable).
  returned: mode is check
  type: dict
  sample: {ptb_sent: 2}
icmp_errors:
  description:
    - O(mode=check) - ICMP errors the kernel queued on the probe socket, in order, each with C(offender),
      C(type), C(code), C(mtu) (the announced MTU for PTBs, else null) and C(errno) (V(EMSGSIZE),
      V(ECONNREFUSED), ...).
  returned: mode is check
  type: list
  elements: dict
  sample: [{offender: 198.18.1.2, type: 3, code: 4, mtu: 1492, errno: EMSGSIZE}]
pmtu_exception:
  description:
    - O(mode=check) - the cached path MTU for the peer - C(before) the run, C(after) it (before clean-up),
      whether this run C(removed) it, and what is C(left) (null - nothing).
  returned: mode is check
  type: dict
  sample: {before: null, after: 1412, removed: true, left: null}
elapsed:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 0.62
address:
  description: O(mode=responder) - the address it listened on.
  returned: mode is responder
  type: str
  sample: 198.18.1.2
port:
  description: The UDP port of the run.
  returned: always
  type: int
  sample: 33533
exit_reason:
  description:
    - O(mode=responder) - why it stopped - V(clients) (all said goodbye), V(max_replies) or V(timeout).
  returned: mode is responder
  type: str
  sample: clients
probes_received:
  description: O(mode=responder) - probes with the run's token that its socket received.
  returned: mode is responder
  type: int
  sample: 5
ptbs_sent:
  description: O(mode=responder) - ICMP errors it sent.
  returned: mode is responder
  type: int
  sample: 5
ptbs_blocked:
  description: O(mode=responder) - ICMP errors its own host refused to send (e.g. an OUTPUT firewall).
  returned: mode is responder
  type: int
  sample: 0
ignored:
  description: O(mode=responder) - datagrams without the run's token, duplicates, or over the rate limit.
  returned: mode is responder
  type: int
  sample: 0
bytes_received:
  description: O(mode=responder) - bytes of the probes it answered (IP packets).
  returned: mode is responder
  type: int
  sample: 6400
bytes_sent:
  description: O(mode=responder) - bytes it sent (ICMP errors and acknowledgements); never above RV(bytes_received).
  returned: mode is responder
  type: int
  sample: 3240
clients_seen:
  description: O(mode=responder) - addresses it answered.
  returned: mode is responder
  type: list
  elements: str
  sample: [198.18.2.1]
"""

import errno
import ipaddress
import random
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.host.deps import require_pyroute2
from ansible_collections.netpath.mtu.plugins.module_utils.ptb.ptb_io import PtbIO, PtbIOError

DEFAULT_TIMEOUT = {"check": 10.0, "responder": 30.0}
MAX_RESPONDER_TIMEOUT = 600.0
INTERVAL = 0.25  # seconds between probes while answers are missing
NEEDED = 2  # acknowledged PTBs that must all go missing to call it dropped
GRACE = 0.3  # seconds to wait for a PTB after its acknowledgement, plus twice the worst round trip
ACK_WAIT = 0.2  # seconds to wait for the acknowledgement of an accepted PTB (for the report)
MAX_PROBES = 64
BURST = 5
MAX_CAPTURED = 256  # probes remembered for quoting


def _family_name(family: int) -> str:
    return f"ipv{family}"


def _address(value: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not an IP address") from exc
    if addr.is_multicast or addr.is_unspecified or addr.is_link_local:
        raise ValueError(f"{what} {value} must be a unicast address with global or unique-local scope")
    return addr


def validate(p: dict) -> list[str]:
    """Every problem with the parameters, as messages that say what to do."""
    errors = []
    mode = p["mode"]
    try:
        pp.validate_token(p["token"])
    except ValueError as exc:
        errors.append(str(exc))
    if not 1 <= p["port"] <= 65535:
        errors.append(f"port {p['port']} must be between 1 and 65535")
    timeout = p["timeout"]
    if timeout is not None and not 0 < timeout <= MAX_RESPONDER_TIMEOUT:
        errors.append(f"timeout {timeout:g} must be above 0 and at most {MAX_RESPONDER_TIMEOUT:g} seconds")
    if mode == "check":
        if not p["peer"]:
            errors.append("mode=check needs peer: the address the responder listens on")
        for key in ("peer", "source"):
            if p[key]:
                try:
                    _address(p[key], key)
                except ValueError as exc:
                    errors.append(str(exc))
        if p["peer"] and p["source"] and (":" in p["peer"]) != (":" in p["source"]):
            errors.append(f"source {p['source']} and peer {p['peer']} are of different address families")
        if not 256 <= p["probe_size"] <= 65535:
            errors.append(f"probe_size {p['probe_size']} must be between 256 and 65535")
        if p["address"]:
            errors.append("address is for mode=responder; use source to choose the probe flow's address")
    else:
        if not p["address"]:
            errors.append("mode=responder needs address: the one local address to listen on")
        else:
            try:
                _address(p["address"], "address")
            except ValueError as exc:
                errors.append(str(exc))
        if p["clients"] < 1:
            errors.append(f"clients {p['clients']} must be at least 1")
        if not 1 <= p["max_replies"] <= 10000:
            errors.append(f"max_replies {p['max_replies']} must be between 1 and 10000")
        if not 0 < p["rate"] <= 1000:
            errors.append(f"rate {p['rate']:g} must be above 0 and at most 1000 per second")
        if p["peer"] or p["source"]:
            errors.append("peer and source are for mode=check")
    return errors


def error_rows(errors: list[dict]) -> list[dict]:
    """Queued ICMP errors for the result; repeats of the same error collapse into one row with a count."""
    rows: list[dict] = []
    for err in errors:
        code = err.get("errno")
        row = {
            "offender": err.get("offender"),
            "type": err.get("type"),
            "code": err.get("code"),
            "mtu": err.get("info") if pp.is_ptb(err) else None,
            "errno": errno.errorcode.get(code, str(code)),
        }
        same = next((r for r in rows if all(r[k] == row[k] for k in row)), None)
        if same is None:
            rows.append({**row, "count": 1})
        else:
            same["count"] += 1
    return rows


def run_check(io, p: dict, warn) -> dict:
    peer = str(ipaddress.ip_address(p["peer"]))
    family = 6 if ":" in peer else 4
    timeout = p["timeout"] or DEFAULT_TIMEOUT["check"]
    start = io.now()
    result = {
        "status": pp.INCONCLUSIVE, "reason": "", "peer": peer, "family": _family_name(family), "port": p["port"],
        "source": None, "interface": None, "path_mtu": None, "announced_mtu": None, "probe_size": None,
        "probes_sent": 0, "acks": {}, "icmp_errors": [],
        "pmtu_exception": {"before": None, "after": None, "removed": False, "left": None},
    }
    route = io.route(peer, p["source"])
    if route is None:
        raise PtbIOError(f"no route to {peer}")
    current = route["exception_mtu"] or route["route_mtu"] or route["device_mtu"]
    result.update(interface=route["interface"], path_mtu=current)
    result["pmtu_exception"]["before"] = route["exception_mtu"]
    try:
        announced = pp.announce_mtu(family, current, p["announce_mtu"])
    except ValueError as exc:
        if p["announce_mtu"] is not None:
            raise
        result.update(reason=str(exc), elapsed=round(io.now() - start, 3))
        return result
    size = min(p["probe_size"], current)
    result.update(announced_mtu=announced, probe_size=size)
    digest = pp.token_digest(p["token"])
    src, sport = io.open_checker(family, peer, p["port"], p["source"])
    result["source"] = {"address": src, "port": sport}
    obs = pp.Observation(peer=peer, port=p["port"], announced=announced, timeout=timeout)
    first_seq = random.randint(1, 1 << 30)
    seq = first_seq
    sent_at: dict[int, float] = {}
    deadline = start + timeout
    next_send = start
    last_ack = None
    accepted_at = None
    rtt = 0.0
    while True:
        now = io.now()
        statuses = list(obs.acks.values())
        if pp.ptb_from_peer(obs):
            accepted_at = accepted_at or now
            if obs.acks or now >= min(deadline, accepted_at + ACK_WAIT):
                break
            wake = min(deadline, accepted_at + ACK_WAIT)  # its acknowledgement follows the PTB
        else:
            settled = (statuses.count(pp.ACK_PTB_SENT) >= NEEDED
                       or statuses.count(pp.ACK_PTB_BLOCKED) >= NEEDED or pp.ACK_BAD_MTU in statuses)
            # Once settled, wait a little longer for a PTB overtaken by its acknowledgement.
            grace_end = (last_ack or now) + GRACE + 2 * rtt
            if now >= deadline or (settled and now >= grace_end):
                break
            if not settled and now >= next_send and seq - first_seq < MAX_PROBES:
                packet = pp.build_probe(src, peer, sport, p["port"], size, digest, seq, announced,
                                        ident=random.randint(1, 0xFFFF))
                err = io.send_raw(packet, peer)
                if err is None:
                    obs.probes_sent += 1
                    sent_at[seq] = now
                else:
                    obs.send_errors.append(err)
                seq += 1
                next_send = now + INTERVAL
            more = not settled and seq - first_seq < MAX_PROBES
            wake = min(deadline, grace_end if settled else (next_send if more else deadline))
        for event in io.wait_checker(max(0.0, wake - io.now())):
            if event[0] == "error":
                try:
                    obs.errors.append(pp.parse_extended_err(event[1]))
                except ValueError:
                    pass
                continue
            msg = pp.decode_message(event[1], digest)
            if msg is None or msg.kind != pp.KIND_ACK or msg.seq not in sent_at or msg.seq in obs.acks:
                continue
            obs.acks[msg.seq] = msg.status
            last_ack = io.now()
            rtt = max(rtt, last_ack - sent_at[msg.seq])
    # Tell the responder this client is done; it exits when all its clients are.
    bye = pp.encode_message(pp.KIND_BYE, digest, seq)
    for dummy in range(2):
        io.send_datagram(bye)
    after = io.route(peer, p["source"])
    obs.route_mtu_after = after["exception_mtu"] if after else None
    exc_state = result["pmtu_exception"]
    exc_state["after"] = obs.route_mtu_after
    exc_state["left"] = obs.route_mtu_after
    if obs.route_mtu_after is not None and obs.route_mtu_after == announced:
        if family == 6:
            try:
                io.delete_exception(peer, after.get("table"))
                exc_state["removed"] = True
            except Exception as exc:  # pylint: disable=broad-exception-caught
                warn(f"could not remove the PMTU exception for {peer}: {exc}; it expires by itself"
                     " (net.ipv6.route.mtu_expires)")
            left = io.route(peer, p["source"])
            exc_state["left"] = left["exception_mtu"] if left else None
        else:
            warn(f"the kernel cached path MTU {announced} for {peer} although the probe socket does not learn"
                 " path MTUs; Linux cannot remove one IPv4 exception alone. It is harmless and expires by"
                 " itself (net.ipv4.route.mtu_expires), or run 'ip route flush cache'")
    obs.elapsed = io.now() - start
    status, reason = pp.classify(obs, NEEDED)
    result.update(
        status=status, reason=reason, probes_sent=obs.probes_sent, acks=pp.ack_counts(obs.acks),
        icmp_errors=error_rows(obs.errors), elapsed=round(obs.elapsed, 3),
    )
    return result


def run_responder(io, p: dict) -> dict:
    address = str(ipaddress.ip_address(p["address"]))
    family = 6 if ":" in address else 4
    port = p["port"]
    timeout = p["timeout"] or DEFAULT_TIMEOUT["responder"]
    digest = pp.token_digest(p["token"])
    start = io.now()
    deadline = start + timeout
    limiter = pp.RateLimiter(p["rate"], BURST, start)
    budget = pp.ReplyBudget(p["max_replies"])
    captured: OrderedDict = OrderedDict()
    answered: set = set()
    byes: set = set()
    clients: list = []
    counts = {"probes_received": 0, "ptbs_sent": 0, "ptbs_blocked": 0, "ignored": 0}
    ack_len = pp.HEADER_LEN[family] + pp.UDP_HEADER_LEN + pp.MESSAGE.size
    exit_reason = "timeout"
    io.open_responder(address, port)
    try:
        while exit_reason == "timeout":
            now = io.now()
            if now >= deadline:
                break
            for event in io.wait_responder(deadline - now):
                if event[0] == "captured":
                    pkt = pp.parse_udp(event[1])
                    if pkt is None or pkt.dst != address or pkt.dport != port:
                        continue
                    msg = pp.decode_message(pkt.payload, digest)
                    if msg is not None and msg.kind == pp.KIND_PROBE:
                        captured[(pkt.src, pkt.sport, msg.seq)] = (event[1], pkt.length)
                        while len(captured) > MAX_CAPTURED:
                            captured.popitem(last=False)
                    continue
                data, (src, sport) = event[1], event[2]
                msg = pp.decode_message(data, digest)
                if msg is None or msg.kind == pp.KIND_ACK:
                    counts["ignored"] += 1
                    continue
                if msg.kind == pp.KIND_BYE:
                    byes.add(src)
                    if len(byes) >= p["clients"]:
                        exit_reason = "clients"
                        break
                    continue
                key = (src, sport, msg.seq)
                if key in answered:
                    counts["ignored"] += 1
                    continue
                if not limiter.allow(io.now()):
                    counts["ignored"] += 1
                    continue
                counts["probes_received"] += 1
                answered.add(key)
                packet, length = captured.pop(key, (None, None))
                budget.take_in(length or pp.HEADER_LEN[family] + pp.UDP_HEADER_LEN + len(data))
                status = pp.ACK_PTB_SENT
                if not pp.ANNOUNCE_FLOOR[family] <= msg.mtu <= pp.MAX_MTU:
                    status = pp.ACK_BAD_MTU
                elif packet is None:
                    status = pp.ACK_NOT_QUOTABLE
                else:
                    try:
                        ptb = pp.build_ptb(packet, address, msg.mtu, budget=budget.room() - ack_len,
                                           ident=random.randint(1, 0xFFFF))
                    except ValueError:
                        ptb = None
                        status = pp.ACK_LIMITED
                    if ptb is not None and len(ptb) <= budget.room():
                        if io.send_raw(ptb, src) is None:
                            budget.spend(len(ptb))
                            counts["ptbs_sent"] += 1
                        else:
                            status = pp.ACK_PTB_BLOCKED
                            counts["ptbs_blocked"] += 1
                if budget.spend(ack_len):
                    io.send_reply(pp.encode_message(pp.KIND_ACK, digest, msg.seq, msg.mtu, status), src, sport)
                budget.replies += 1
                if src not in clients:
                    clients.append(src)
                if budget.exhausted():
                    exit_reason = "max_replies"
                    break
    finally:
        io.close()
    return {
        "address": address, "port": port, "exit_reason": exit_reason, **counts,
        "bytes_received": budget.received, "bytes_sent": budget.sent, "clients_seen": clients,
        "elapsed": round(io.now() - start, 3),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "choices": ["check", "responder"], "default": "check"},
            "peer": {"type": "str"},
            "address": {"type": "str"},
            "source": {"type": "str"},
            "port": {"type": "int", "default": 33533},
            "token": {"type": "str", "required": True, "no_log": True},
            "timeout": {"type": "float"},
            "probe_size": {"type": "int", "default": 1280},
            "announce_mtu": {"type": "int"},
            "clients": {"type": "int", "default": 1},
            "max_replies": {"type": "int", "default": 32},
            "rate": {"type": "float", "default": 10.0},
        },
        supports_check_mode=True,
    )
    p = module.params
    errors = validate(p)
    if errors:
        module.fail_json(msg="; ".join(errors))
    if p["mode"] == "check":
        require_pyroute2(module)  # route lookups and the IPv6 exception's removal
    io = PtbIO()
    try:
        if p["mode"] == "responder":
            result = run_responder(io, p)
        else:
            result = run_check(io, p, module.warn)
    except (PtbIOError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:  # e.g. a source address this host does not have
        module.fail_json(msg=f"{p['mode']} failed: {exc.strerror or exc}")
    finally:
        io.close()
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
