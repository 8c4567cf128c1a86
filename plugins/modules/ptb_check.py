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
      - V(both) runs a host's whole share of a fleet's checks in one process - a responder on each
        entry of O(responders) and a check of each entry of O(checks), all at once. Start it on every
        host with C(async) and C(poll=0), then collect the results with M(ansible.builtin.async_status) -
        two tasks for the fleet however many pairs. It returns when its checks are done and its
        responders have exited.
    type: str
    choices: [check, responder, both]
    default: check
  peer:
    description:
      - O(mode=check) - the responder's address (IPv4 or IPv6, a unicast address with global or
        unique-local scope); its family is the family tested. It must be the O(address) the responder listens on.
    type: str
  address:
    description:
      - O(mode=responder) - the one local address to listen on and to send the ICMP errors from.
    type: str
  source:
    description:
      - O(mode=check) - source address of the probe flow, an address of this host. Default is the one the
        kernel picks.
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
        check). Default V(10). While the peer's only answer is port unreachable (the responder is still
        starting, for example as an C(async) task on a loaded host) the check waits up to 15 seconds for it,
        even beyond this.
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
  checks:
    description:
      - O(mode=both) - the checks this host runs, all at once, each a dictionary - C(peer) (required, the
        responder's address, as O(peer)), C(source) (as O(source)) and C(name) (a label returned with the
        check's result, for example the peer's inventory name). O(probe_size), O(announce_mtu), O(timeout)
        and O(port) apply to all.
    type: list
    elements: raw
  responders:
    description:
      - O(mode=both) - the responders this host runs for its peers, all at once, each a dictionary -
        C(address) (required, the one local address to listen on, as O(address)) and C(clients) (default
        V(1), as O(clients)). O(max_replies), O(rate) and O(port) apply to each.
    type: list
    elements: raw
  lifetime:
    description:
      - O(mode=both) - the responders' lifetime in seconds (at most V(600)). Default V(30). A responder whose
        clients never come (their host failed before its check) exits then. Give the task an C(async) value
        above it plus O(timeout) and the 15 seconds the checks may wait for a responder still starting.
    type: float
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

# A fleet: every host checks its peer and answers its peers' checks, in one process per host.
- name: Start this host's share of the checks (a responder for each peer that checks with it)
  netpath.mtu.ptb_check:
    mode: both
    token: "{{ hostvars['localhost'].ptb_token }}"
    timeout: 3
    lifetime: 30
    checks:
      - {peer: 198.51.100.7, name: gw-a}
    responders:
      - {address: "{{ ansible_default_ipv4.address }}", clients: 2}
  async: 60
  poll: 0
  become: true
  register: ptb_job

- name: Collect every host's checks
  ansible.builtin.async_status:
    jid: "{{ ptb_job.ansible_job_id }}"
  become: true
  register: ptb_both
  until: ptb_both.finished
  retries: 60
  delay: 1

- name: Fail where PTBs are dropped
  ansible.builtin.assert:
    that: ptb_both.checks | selectattr('status', 'defined') | selectattr('status', 'eq', 'dropped') | length == 0
"""

RETURN = r"""
checks:
  description:
    - O(mode=both) - one result per entry of O(checks), in order - its C(name), and the keys O(mode=check)
      returns (C(status), C(reason), C(peer), ...), or C(failed) and C(msg) when that check could not run.
  returned: mode is both
  type: list
  elements: dict
  sample: [{name: gw-a, peer: 198.51.100.7, status: accepted, family: ipv4}]
responders:
  description:
    - O(mode=both) - one account per entry of O(responders), in order - the keys O(mode=responder) returns
      (C(address), C(exit_reason), C(clients_seen), ...), or C(failed) and C(msg) when it could not run.
  returned: mode is both
  type: list
  elements: dict
  sample: [{address: 198.51.100.9, exit_reason: clients, clients_seen: [198.51.100.7]}]
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_check_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.ptb.ptb_io import PtbIO
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink

ARGUMENT_SPEC = {
    "mode": {"type": "str", "choices": ["check", "responder", "both"], "default": "check"},
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
    "checks": {"type": "list", "elements": "raw"},
    "responders": {"type": "list", "elements": "raw"},
    "lifetime": {"type": "float"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = backend.PtbParams.from_params(module.params)

    def run() -> dict:
        params.ensure_valid(netlink.is_local)  # source and address must be this host's
        return backend.run(params, PtbIO, module.warn)

    finish(module, run)


if __name__ == "__main__":
    main()
