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
    description: O(mode=check) - the address the responder listens on (IPv4 or IPv6).
    type: str
  address:
    description: O(mode=responder) - the one local address to listen on.
    type: str
  source:
    description: O(mode=check) - local address to connect from (for example this host's tunnel address).
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
notes:
  - No special privileges are needed unless O(port) is below 1024.
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

import errno
import ipaddress

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp
from ansible_collections.netpath.mtu.plugins.module_utils.ptb.ptb_packets import RateLimiter, validate_token
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.transfer_io import TransferIO

DEFAULT_TIMEOUT = {"check": 10.0, "responder": 60.0}
MAX_RESPONDER_TIMEOUT = 600.0
CONNECT_RETRY = 0.2
CHUNK = 64 * 1024
ZEROS = bytes(CHUNK)
BURST = 5
MAX_CONCURRENT = 8
IDLE = 30.0
LOCAL_KEYS = ("snd_mss", "rcv_mss", "advmss", "pmtu", "rtt_us", "snd_cwnd", "unacked", "lost", "retrans",
              "total_retrans", "retransmits", "backoff", "bytes_acked", "bytes_received")


def _err(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__
    return f"{name} ({exc.strerror or exc})"


def validate(p: dict) -> list[str]:
    errors = []
    try:
        validate_token(p["token"])
    except ValueError as exc:
        errors.append(str(exc))
    if not 1 <= p["port"] <= 65535:
        errors.append(f"port {p['port']} must be between 1 and 65535")
    if p["timeout"] is not None and not 0 < p["timeout"] <= MAX_RESPONDER_TIMEOUT:
        errors.append(f"timeout {p['timeout']:g} must be above 0 and at most {MAX_RESPONDER_TIMEOUT:g} seconds")
    keys = ("peer", "source") if p["mode"] == "check" else ("address",)
    for key in keys:
        if p[key]:
            try:
                ipaddress.ip_address(p[key])
            except ValueError:
                errors.append(f"{key} {p[key]!r} is not an IP address")
    if p["mode"] == "check":
        if not p["peer"]:
            errors.append("mode=check needs peer: the address the responder listens on")
        elif p["source"] and (":" in p["peer"]) != (":" in p["source"]):
            errors.append(f"source {p['source']} and peer {p['peer']} are of different address families")
        errors += tp.validate_sizes(p["small_size"], p["large_size"])
        if p["address"]:
            errors.append("address is for mode=responder; use source to choose the local address")
    else:
        if not p["address"]:
            errors.append("mode=responder needs address: the one local address to listen on")
        if p["peer"] or p["source"]:
            errors.append("peer and source are for mode=check")
        if p["clients"] < 1:
            errors.append(f"clients {p['clients']} must be at least 1")
        if not tp.MIN_SIZE <= p["max_bytes"] <= tp.MAX_SIZE:
            errors.append(f"max_bytes {p['max_bytes']} must be between {tp.MIN_SIZE} and {tp.MAX_SIZE}")
        if not 1 <= p["max_exchanges"] <= 10000:
            errors.append(f"max_exchanges {p['max_exchanges']} must be between 1 and 10000")
        if not 0 < p["rate"] <= 1000:
            errors.append(f"rate {p['rate']:g} must be above 0 and at most 1000 per second")
    return errors


def _local_view(io, handle: int) -> dict:
    info = tp.parse_tcp_info(io.tcp_info(handle))
    view = {"maxseg": io.maxseg(handle)}
    view.update({k: info.get(k) for k in LOCAL_KEYS})
    return view


def exchange(io, p: dict, size: int, run_digest: bytes) -> dict:
    """Send one request and ``size`` payload bytes, read the reply; all within p["timeout"]."""
    timeout = p["timeout"] or DEFAULT_TIMEOUT["check"]
    start = io.now()
    deadline = start + timeout
    result = {"ok": False, "size": size, "timeout": timeout, "bytes_sent": 0, "bytes_acked": 0, "peer_received": None,
              "elapsed": None, "throughput_bps": None, "error": None, "local": {}, "peer": None}
    handle = None
    while handle is None:
        left = deadline - io.now()
        if left <= 0:
            result["elapsed"] = round(io.now() - start, 3)
            return result
        try:
            handle = io.connect(p["peer"], p["port"], p["source"], min(2.0, left))
        except OSError as exc:
            # The responder may still be starting: keep trying until the deadline.
            result["error"] = f"cannot connect to {p['peer']} port {p['port']}: {_err(exc)}"
            io.sleep(min(CONNECT_RETRY, deadline - io.now()))
    result["error"] = None
    header = tp.encode_request(tp.OP_EXCHANGE, run_digest, size)
    pending_header, pending = header, size
    reply = b""
    try:
        while pending_header or pending:
            left = deadline - io.now()
            if left <= 0:
                break
            # The request goes out in a segment of its own, so the responder learns of the exchange
            # even when every full-size segment after it vanishes.
            data = pending_header or ZEROS[:min(CHUNK, pending)]
            sent = io.send(handle, data, min(0.5, left))
            from_header = min(sent, len(pending_header))
            pending_header = pending_header[from_header:]
            pending -= sent - from_header
            result["bytes_sent"] += sent - from_header
        while not (pending_header or pending) and len(reply) < tp.REPLY.size:
            left = deadline - io.now()
            if left <= 0:
                break
            data = io.recv(handle, tp.REPLY.size - len(reply), min(0.5, left))
            if data == b"":
                result["error"] = "the responder closed the connection without a reply"
                break
            reply += data or b""
    except OSError as exc:
        result["error"] = f"connection failed: {_err(exc)}"
    elapsed = io.now() - start
    local = _local_view(io, handle)
    decoded = tp.decode_reply(reply)
    # bytes_acked counts the SYN and our request header too
    acked = local.get("bytes_acked")
    result["bytes_acked"] = max(0, min(size, acked - 1 - tp.REQUEST.size)) if acked else 0
    if decoded is not None:
        result["peer_received"] = decoded["received"]
        result["peer"] = {k: decoded[k] for k in tp.MSS_KEYS}
        result["ok"] = decoded["status"] == tp.STATUS_OK and decoded["received"] == size
        if result["ok"]:
            result["bytes_acked"] = size
        elif not result["error"]:
            result["error"] = f"the responder confirmed {decoded['received']} of {size} bytes"
    elif not result["error"]:
        result["error"] = ("stalled: the deadline passed with data still unacknowledged" if pending_header or pending
                           else "no reply from the responder before the deadline")
    io.close(handle, abort=not result["ok"])
    result["local"] = local
    result["elapsed"] = round(elapsed, 3)
    if result["ok"]:
        result["throughput_bps"] = tp.throughput_bps(size, elapsed)
    return result


def run_check(io, p: dict) -> dict:
    start = io.now()
    run_digest = tp.digest(p["token"])
    peer = str(ipaddress.ip_address(p["peer"]))
    p = dict(p, peer=peer)
    small = exchange(io, p, p["small_size"], run_digest)
    large = exchange(io, p, p["large_size"], run_digest) if small["ok"] else None
    try:
        handle = io.connect(peer, p["port"], p["source"], 2.0)
        io.send(handle, tp.encode_request(tp.OP_BYE, run_digest, 0), 1.0)
        io.close(handle)
    except OSError:
        pass  # the responder stops at its own deadline
    status, reason = tp.classify(small, large)
    last = large if large and large["peer"] else small
    return {
        "status": status, "reason": reason, "peer": peer, "family": "ipv6" if ":" in peer else "ipv4",
        "port": p["port"], "small_ok": small["ok"], "large_ok": bool(large and large["ok"]),
        "bytes_moved": small["bytes_acked"] + (large["bytes_acked"] if large else 0),
        "throughput_bps": large["throughput_bps"] if large else None,
        "mss": {"local": {k: last["local"].get(k) for k in tp.MSS_KEYS}, "peer": last["peer"]},
        "small": small, "large": large, "elapsed": round(io.now() - start, 3),
    }


def run_responder(io, p: dict) -> dict:
    address = str(ipaddress.ip_address(p["address"]))
    timeout = p["timeout"] or DEFAULT_TIMEOUT["responder"]
    run_digest = tp.digest(p["token"])
    start = io.now()
    deadline = start + timeout
    limiter = RateLimiter(p["rate"], BURST, start)
    conns: dict[int, dict] = {}
    exchanges: list[dict] = []
    byes: set = set()
    clients: list = []
    counts = {"refused": 0, "ignored": 0, "bytes_received": 0, "bytes_sent": 0}
    exit_reason = "timeout"

    def finish(handle: int, end: str, reply: bool = False) -> None:
        conn = conns.pop(handle)
        if conn["op"] == tp.OP_EXCHANGE:
            view = _local_view(io, handle)
            row = {"client": conn["client"], "size": conn["size"], "received": conn["got"],
                   "complete": conn["got"] == conn["size"], "end": end,
                   "elapsed": round(io.now() - conn["start"], 3), **{k: view.get(k) for k in tp.MSS_KEYS}}
            if reply:
                row["end"] = "unanswered"
                data = tp.encode_reply(conn["got"], view, io.now() - conn["start"])
                # Never more than received (a reply is shorter than a request with the smallest payload).
                if counts["bytes_sent"] + len(data) <= counts["bytes_received"] and io.reply(handle, data):
                    counts["bytes_sent"] += len(data)
                    row["end"] = "replied"
            exchanges.append(row)
            end = row["end"]
        io.close(handle, abort=end != "replied")

    try:
        io.listen(address, p["port"])
    except OSError as exc:
        raise ValueError(f"cannot listen on {address} port {p['port']}: {_err(exc)}") from exc
    try:
        while exit_reason == "timeout":
            now = io.now()
            if now >= deadline:
                break
            for handle in [h for h, c in conns.items() if now - c["last"] > IDLE]:
                finish(handle, "idle")
            for event in io.poll(min(1.0, deadline - now)):
                kind, handle = event[0], event[1]
                if kind == "accept":
                    if len(conns) >= MAX_CONCURRENT or not limiter.allow(io.now()):
                        counts["refused"] += 1
                        io.close(handle, abort=True)
                        continue
                    conns[handle] = {"client": event[2][0], "head": b"", "op": None, "size": 0, "got": 0,
                                     "start": io.now(), "last": io.now()}
                    continue
                conn = conns.get(handle)
                if conn is None:
                    continue
                if kind in ("eof", "reset"):
                    finish(handle, kind)
                    continue
                data = event[2]
                counts["bytes_received"] += len(data)
                conn["last"] = io.now()
                if conn["op"] is None:
                    need = tp.REQUEST.size - len(conn["head"])
                    conn["head"] += data[:need]
                    data = data[need:]
                    if len(conn["head"]) < tp.REQUEST.size:
                        continue
                    request = tp.decode_request(conn["head"], run_digest)
                    if request is None:
                        counts["ignored"] += 1
                        conns.pop(handle)
                        io.close(handle, abort=True)
                        continue
                    op, size = request
                    if op == tp.OP_BYE:
                        byes.add(conn["client"])
                        conns.pop(handle)
                        io.close(handle)
                        if len(byes) >= p["clients"]:
                            exit_reason = "clients"
                            break
                        continue
                    if not tp.MIN_SIZE <= size <= p["max_bytes"]:
                        counts["refused"] += 1
                        conns.pop(handle)
                        io.close(handle, abort=True)
                        continue
                    conn.update(op=op, size=size)
                    if conn["client"] not in clients:
                        clients.append(conn["client"])
                conn["got"] += len(data)
                if conn["got"] > conn["size"]:
                    finish(handle, "overrun")
                elif conn["got"] == conn["size"]:
                    finish(handle, "replied", reply=True)
                if len(exchanges) >= p["max_exchanges"]:
                    exit_reason = "max_exchanges"
                    break
    finally:
        for handle in list(conns):
            finish(handle, "shutdown")
        io.close_all()
    return {
        "address": address, "port": p["port"], "exit_reason": exit_reason, "exchanges": exchanges, **counts,
        "clients_seen": clients, "elapsed": round(io.now() - start, 3),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
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
        },
        supports_check_mode=True,
    )
    p = module.params
    errors = validate(p)
    if errors:
        module.fail_json(msg="; ".join(errors))
    io = TransferIO()
    try:
        result = run_responder(io, p) if p["mode"] == "responder" else run_check(io, p)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{p['mode']} failed: {exc.strerror or exc}")
    finally:
        io.close_all()
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
