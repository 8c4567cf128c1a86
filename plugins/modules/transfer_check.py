#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: transfer_check
short_description: Prove that small and large TCP transfers complete between two hosts
version_added: 0.1.0
description:
  - The seeds' symptom as a test - the handshake works, small requests work, large transfers hang.
  - Two hosts cooperate. The B(responder) (O(mode=responder), started in the background with C(async)
    and C(poll=0)) listens on one address. The B(checking) host (O(mode=check)) connects to it and sends
    a small payload (O(small_size)) and then, on a second connection, a large one (O(large_size), default
    1 MB), each within O(timeout) seconds. The responder confirms each complete payload with a short reply
    carrying the bytes it received and the MSS and path MTU its socket saw.
  - The result says whether each exchange completed (RV(small_ok), RV(large_ok)), how many bytes moved,
    the MSS each side saw (C(TCP_MAXSEG) and C(TCP_INFO)), the throughput, and for a stalled transfer how
    far it got and what the sender's TCP knew (its path MTU, retransmissions).
  - Data flows from the checking host to the responder. Paths are often asymmetric (a tunnel endpoint
    whose own link is the small one fragments and works, the other direction black-holes) - test the
    other direction by swapping the roles.
  - To test through a tunnel, give the responder's tunnel address (or an address routed through the
    tunnel) as O(peer) / O(address), and optionally the checking host's tunnel address as O(source).
  - The responder binds one address, serves only connections that present the run's O(token), never
    sends more bytes than it received (replies are shorter than the smallest payload), limits the
    connections it accepts per second and at once, and exits by itself - when O(clients) checking
    hosts said goodbye, after O(max_exchanges) exchanges, or after O(timeout) seconds even if the
    controller is gone. Its listening socket closes when it exits.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
    details:
      - The module changes no configuration; it transfers test data also in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Leaves no state behind; every run reports C(changed=false).
options:
  mode:
    description:
      - V(check) runs on the sending host and reports the result.
      - V(responder) runs on the receiving host, normally with C(async) and C(poll=0).
    type: str
    choices: [check, responder]
    default: check
  peer:
    description:
      - O(mode=check) - the address the responder listens on (IPv4 or IPv6, a unicast address with global
        or unique-local scope).
    type: str
  address:
    description:
      - O(mode=responder) - the one local address to listen on (a unicast address of this host with global
        or unique-local scope; not a wildcard).
    type: str
  source:
    description:
      - O(mode=check) - local address to connect from (for example this host's tunnel address); it must
        be an address of this host.
    type: str
  port:
    description: TCP port the responder listens on.
    type: int
    default: 33534
  token:
    description:
      - Shared secret of the run, the same on both hosts - 8 to 128 printable ASCII characters without
        spaces. Only a digest of it goes on the wire. Generate it once per run on the controller.
    type: str
    required: true
  timeout:
    description:
      - O(mode=check) - deadline in seconds of each exchange. The small one includes waiting for the
        responder to start listening. Default V(10).
      - O(mode=responder) - its lifetime in seconds (at most V(600)). Default V(60). Give the task an C(async)
        value above it.
    type: float
  small_size:
    description: O(mode=check) - bytes of the small exchange (at least 64).
    type: int
    default: 1000
  large_size:
    description: O(mode=check) - bytes of the large exchange (at most 1 GiB; the responder's O(max_bytes) caps it).
    type: int
    default: 1000000
  clients:
    description: O(mode=responder) - exit after this many checking hosts (by address) said goodbye.
    type: int
    default: 1
  max_bytes:
    description: O(mode=responder) - largest payload it accepts; larger requests are refused.
    type: int
    default: 67108864
  max_exchanges:
    description: O(mode=responder) - exit after this many exchanges.
    type: int
    default: 16
  rate:
    description: O(mode=responder) - most connections accepted per second (bursts of up to 5); others are reset.
    type: float
    default: 10.0
  capture:
    description:
      - Capture the exchange on this host while it runs (both modes) and write it as a pcap file
        (link type LINUX_SLL, 256 bytes of each packet, at most 20000 packets) - what the seed engineer
        did by hand with C(tcpdump) at both ends.
      - The capture keeps TCP on O(port) exchanged with the peer (O(mode=check)) or with O(address)
        (O(mode=responder)), IP fragments and ICMP to or from that address, and ICMP/ICMPv6 errors from
        anywhere (the routers on the way send those).
      - With capture on both ends, O(mode=check) asks the responder afterwards for what its capture saw
        and compares both sides (C(analysis) in RV(capture)). Needs C(CAP_NET_RAW) (C(become)).
    type: bool
    default: false
  capture_dir:
    description:
      - Directory on this host for the pcap file (created if missing); default a new private
        temporary directory per run. The result returns the file's path.
    type: path
notes:
  - No special privileges are needed unless O(port) is below 1024 or O(capture) is on.
  - With O(capture) the pcap file is written also in check mode (it is evidence, not configuration).
  - A stalled connection is closed with an RST on both sides, so nothing lingers.
seealso:
  - module: netpath.mtu.ptb_check
  - module: netpath.mtu.path_mtu_info
"""

EXAMPLES = r"""
- name: One token for the run, generated once on the controller
  ansible.builtin.set_fact:
    xfer_token: "{{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters', 'digits'], length=20) }}"
  run_once: true
  delegate_to: localhost
  delegate_facts: true

- name: Start the responder on server-b's address, in the background
  netpath.mtu.transfer_check:
    mode: responder
    address: 198.18.3.2
    token: "{{ hostvars['localhost'].xfer_token }}"
    timeout: 60
  async: 90
  poll: 0
  delegate_to: server-b
  register: responder

- name: Small and large transfer from client-a to server-b, through the tunnel
  netpath.mtu.transfer_check:
    peer: 198.18.3.2
    token: "{{ hostvars['localhost'].xfer_token }}"
    timeout: 8
  register: xfer

- name: Show it
  ansible.builtin.debug:
    msg: "{{ xfer.status }}: {{ xfer.reason }}"

- name: The same with both ends capturing - which segment left and never arrived
  netpath.mtu.transfer_check:
    peer: 198.18.3.2
    token: "{{ hostvars['localhost'].xfer_token }}"
    capture: true
  become: true
  register: xfer_captured

- name: Show what the captures say
  ansible.builtin.debug:
    msg: "{{ xfer_captured.capture.analysis.summary }} ({{ xfer_captured.capture.local }})"

- name: Wait for the responder to finish
  ansible.builtin.async_status:
    jid: "{{ responder.ansible_job_id }}"
  delegate_to: server-b
  register: responder_result
  until: responder_result.finished
  retries: 30
  delay: 1
"""

RETURN = r"""
status:
  description:
    - O(mode=check) - V(ok) (both exchanges completed), V(stalled) (the small one did, the large one not) or
      V(failed) (not even the small one).
  returned: mode is check
  type: str
  sample: stalled
reason:
  description: O(mode=check) - why, in one sentence.
  returned: mode is check
  type: str
  sample: >-
    the small exchange completed but the 1000000-byte one did not within 8 s (stalled; 26880 of 1000000 bytes
    acknowledged, sender MSS 1368, sender path MTU 1420, 9 retransmissions): small works, large hangs - the
    PMTUD black-hole signature
small_ok:
  description: O(mode=check) - whether the small exchange completed.
  returned: mode is check
  type: bool
  sample: true
large_ok:
  description: O(mode=check) - whether the large exchange completed (false when the small one failed).
  returned: mode is check
  type: bool
  sample: false
bytes_moved:
  description: O(mode=check) - payload bytes the responder's TCP acknowledged, over both exchanges.
  returned: mode is check
  type: int
  sample: 27880
throughput_bps:
  description: O(mode=check) - bits per second of the large exchange when it completed, else null.
  returned: mode is check
  type: int
  sample: 812000000
mss:
  description:
    - O(mode=check) - what each side's socket saw on the last exchange that got an answer - C(local) and
      C(peer), each with C(maxseg) (C(TCP_MAXSEG)), C(snd_mss), C(rcv_mss), C(advmss) and C(pmtu) (from
      C(TCP_INFO)); C(peer) is null when no exchange got an answer.
  returned: mode is check
  type: dict
  sample: {local: {maxseg: 1448, snd_mss: 1448, rcv_mss: 536, advmss: 1448, pmtu: 1500},
           peer: {maxseg: 1448, snd_mss: 1448, rcv_mss: 1448, advmss: 1448, pmtu: 1500}}
small:
  description:
    - O(mode=check) - the small exchange - C(ok), C(size), C(timeout), C(bytes_sent) (written to the socket),
      C(bytes_acked) (acknowledged by the peer's TCP), C(peer_received) (what the responder confirmed),
      C(elapsed), C(throughput_bps), C(error) (null when it completed), C(local) (C(TCP_MAXSEG) and C(TCP_INFO)
      fields - C(snd_mss), C(rcv_mss), C(advmss), C(pmtu), C(rtt_us), C(snd_cwnd), C(unacked), C(retrans),
      C(total_retrans), ...) and C(peer) (the responder's view, or null).
  returned: mode is check
  type: dict
large:
  description: O(mode=check) - the large exchange, like RV(small); null when the small one failed.
  returned: mode is check
  type: dict
capture:
  description:
    - With O(capture) - C(local) (the pcap file on this host), C(packets) (captured), C(truncated) (the
      packet cap was hit), C(kernel_drops) (packets the kernel could not queue).
    - O(mode=check) adds C(peer) (the responder's pcap path on its host, null without its summary),
      C(peer_error) (why there is no summary, else null) and C(analysis).
    - C(analysis) - C(verdict) (V(clean), V(segment_lost), V(fragments_lost) or V(no_data)), C(summary) (one
      sentence), C(data_segments_sent), C(lost_segments), C(first_lost) (the first data segment that left and
      never arrived - C(connection), C(seq), C(relative_seq), C(size) (TCP payload), C(ip_size), C(df),
      C(fragmented) (some of its fragments arrived), C(retransmissions), C(sent_at); null when none),
      C(icmp_received) (ICMP errors about the peer that reached this host - C(source), C(type), C(code),
      C(mtu), C(about)), C(icmp_missing) (errors the responder sent toward this host that never arrived),
      C(orphan_fragments) (fragment trains that arrived incomplete - C(ident), C(offsets), C(first), C(last),
      C(bytes), C(connection), C(seq)), C(sender_packets), C(receiver_packets).
  returned: O(capture) is true (null otherwise in mode check)
  type: dict
  sample: {local: /tmp/netpath-capture-x1/transfer-sender-198.18.3.2.pcap,
           peer: /tmp/netpath-capture-y2/transfer-receiver-198.18.3.2.pcap, packets: 61, truncated: false,
           kernel_drops: 0, peer_error: null,
           analysis: {verdict: segment_lost, data_segments_sent: 3, lost_segments: 1,
                      first_lost: {connection: 40012-33534, seq: 1821450093, relative_seq: 25, size: 1368,
                                   ip_size: 1420, df: true, fragmented: false, retransmissions: 5,
                                   sent_at: 0.0187},
                      icmp_received: [], icmp_missing: [], orphan_fragments: [], sender_packets: 58,
                      receiver_packets: 9,
                      summary: the data segment at relative sequence 25 ... left the sender and never arrived}}
peer:
  description: O(mode=check) - the responder's address.
  returned: mode is check
  type: str
  sample: 198.18.3.2
family:
  description: O(mode=check) - V(ipv4) or V(ipv6).
  returned: mode is check
  type: str
  sample: ipv4
port:
  description: The TCP port of the run.
  returned: always
  type: int
  sample: 33534
elapsed:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 8.41
address:
  description: O(mode=responder) - the address it listened on.
  returned: mode is responder
  type: str
  sample: 198.18.3.2
exit_reason:
  description: O(mode=responder) - V(clients), V(max_exchanges) or V(timeout).
  returned: mode is responder
  type: str
  sample: clients
exchanges:
  description:
    - O(mode=responder) - each exchange it served - C(client), C(size) (announced), C(received), C(complete),
      C(end) (V(replied), V(reset), V(eof), V(idle), V(shutdown)), C(elapsed) and its socket's C(maxseg),
      C(snd_mss), C(rcv_mss), C(advmss) and C(pmtu).
  returned: mode is responder
  type: list
  elements: dict
refused:
  description: O(mode=responder) - connections refused (over the rate or concurrency limit, or too large).
  returned: mode is responder
  type: int
  sample: 0
ignored:
  description: O(mode=responder) - connections without the run's token or with a malformed request.
  returned: mode is responder
  type: int
  sample: 0
bytes_received:
  description: O(mode=responder) - payload and request bytes received.
  returned: mode is responder
  type: int
  sample: 1001048
bytes_sent:
  description: O(mode=responder) - reply bytes sent; never above RV(bytes_received).
  returned: mode is responder
  type: int
  sample: 96
clients_seen:
  description: O(mode=responder) - addresses it served.
  returned: mode is responder
  type: list
  elements: str
  sample: [198.18.0.1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure, finish
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_check_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.capture_io import CaptureIO
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.transfer_io import TransferIO
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink

ARGUMENT_SPEC = {
    "mode": {"type": "str", "choices": ["check", "responder"], "default": "check"},
    "peer": {"type": "str"},
    "address": {"type": "str"},
    "source": {"type": "str"},
    "port": {"type": "int", "default": 33534},
    "token": {"type": "str", "required": True, "no_log": True},
    "timeout": {"type": "float"},
    "small_size": {"type": "int", "default": 1000},
    "large_size": {"type": "int", "default": 1000000},
    "clients": {"type": "int", "default": 1},
    "max_bytes": {"type": "int", "default": 64 * 1024 * 1024},
    "max_exchanges": {"type": "int", "default": 16},
    "rate": {"type": "float", "default": 10.0},
    "capture": {"type": "bool", "default": False},
    "capture_dir": {"type": "path"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = backend.TransferParams.from_params(module.params)

    def run() -> dict:
        params.ensure_valid(netlink.is_local)  # source and address must be this host's
        problem = CaptureIO.directory_problem(params.capture_dir) if params.capture and params.capture_dir else None
        if problem:
            raise ModuleFailure(problem)
        return backend.run(params, TransferIO(), CaptureIO())

    finish(module, run)


if __name__ == "__main__":
    main()
