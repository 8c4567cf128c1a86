# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""transfer_check without the sockets: the wire format, TCP_INFO decoding and the verdict.

The checking host opens a TCP connection to the responder and sends a 24-byte request (magic,
version, operation, the run's token digest, payload size) followed by the payload. When all of
it has arrived the responder answers with a 48-byte reply (bytes received, the MSS values and
path MTU its socket saw, its elapsed time) and closes. The responder never sends more than it
received: payloads are at least ``MIN_SIZE`` bytes, larger than the reply.

With capture on, the checking host asks afterwards, on a connection of its own (``OP_SUMMARY``),
for what the responder's capture saw of it: a 12-byte header (magic, version, status, length)
and that many bytes of JSON (capture_analysis.receiver_view plus the responder's pcap path).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

MAGIC = b"NPXF"
VERSION = 1
OP_EXCHANGE, OP_BYE, OP_SUMMARY = 1, 2, 3
REQUEST = struct.Struct("!4sBBH8sQ")  # magic, version, op, reserved, token digest, payload size
# magic, version, status, reserved, bytes received, TCP_MAXSEG, snd_mss, rcv_mss, pmtu, advmss,
# elapsed microseconds
REPLY = struct.Struct("!4sBBHQIIIIIxxxxQ")
STATUS_OK = 0
MIN_SIZE = 64
MAX_SIZE = 1 << 30


def digest(token: str) -> bytes:
    return token_digest(token, b"transfer")


def encode_request(op: int, run_digest: bytes, size: int) -> bytes:
    return REQUEST.pack(MAGIC, VERSION, op, 0, run_digest, size)


def decode_request(data: bytes, run_digest: bytes) -> tuple[int, int] | None:
    """(operation, payload size) of a request with this run's digest, else None."""
    if len(data) < REQUEST.size:
        return None
    magic, version, op, dummy, got, size = REQUEST.unpack_from(data)
    if magic != MAGIC or version != VERSION or got != run_digest or op not in (OP_EXCHANGE, OP_BYE, OP_SUMMARY):
        return None
    return op, size


def encode_reply(received: int, seen: dict[str, Any], elapsed: float, status: int = STATUS_OK) -> bytes:
    return REPLY.pack(MAGIC, VERSION, status, 0, received, *(int(seen.get(k) or 0) for k in MSS_KEYS),
                      int(elapsed * 1e6))


MSS_KEYS = ("maxseg", "snd_mss", "rcv_mss", "pmtu", "advmss")


def decode_reply(data: bytes) -> dict[str, Any] | None:
    if len(data) < REPLY.size:
        return None
    fields = REPLY.unpack_from(data)
    if fields[0] != MAGIC or fields[1] != VERSION:
        return None
    out: dict[str, Any] = {"status": fields[2], "received": fields[4]}
    out.update({k: v or None for k, v in zip(MSS_KEYS, fields[5:10])})
    out["elapsed"] = fields[10] / 1e6
    return out


SUMMARY = struct.Struct("!4sBBHI")  # magic, version, status, reserved, JSON length
SUMMARY_OK, SUMMARY_NO_CAPTURE, SUMMARY_TOO_LARGE = 0, 1, 2
SUMMARY_MSS = 536  # the summary travels in small segments: it must cross a path that black-holes large ones
MAX_SUMMARY = 256 * 1024


def encode_summary(status: int, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode() if body is not None else b""
    return SUMMARY.pack(MAGIC, VERSION, status, 0, len(data)) + data


def summary_length(header: bytes) -> tuple[int, int] | None:
    """(status, JSON length) of a summary header, or None."""
    if len(header) < SUMMARY.size:
        return None
    magic, version, status, dummy, length = SUMMARY.unpack_from(header)
    if magic != MAGIC or version != VERSION or length > MAX_SUMMARY:
        return None
    return status, length


def decode_summary_body(data: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(data.decode())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# struct tcp_info (linux/tcp.h): the fields worth reporting and their offsets.
TCP_INFO_FIELDS = (
    ("state", 0, "B"), ("retransmits", 2, "B"), ("probes", 3, "B"), ("backoff", 4, "B"),
    ("rto_us", 8, "I"), ("snd_mss", 16, "I"), ("rcv_mss", 20, "I"), ("unacked", 24, "I"),
    ("lost", 32, "I"), ("retrans", 36, "I"), ("pmtu", 60, "I"), ("rtt_us", 68, "I"),
    ("snd_cwnd", 80, "I"), ("advmss", 84, "I"), ("total_retrans", 100, "I"),
    ("bytes_acked", 120, "Q"), ("bytes_received", 128, "Q"),
)


def parse_tcp_info(data: bytes) -> dict[str, int]:
    """Decode the fields of ``getsockopt(TCP_INFO)`` that the kernel filled in (older kernels return less)."""
    out = {}
    for name, offset, fmt in TCP_INFO_FIELDS:
        size = struct.calcsize("=" + fmt)
        if len(data) >= offset + size:
            out[name] = struct.unpack_from("=" + fmt, data, offset)[0]
    return out


def throughput_bps(nbytes: int, seconds: float) -> int | None:
    return int(nbytes * 8 / seconds) if seconds > 0 and nbytes else None


def validate_sizes(small: int, large: int) -> list[str]:
    errors = []
    for name, value in (("small_size", small), ("large_size", large)):
        if not MIN_SIZE <= value <= MAX_SIZE:
            errors.append(f"{name} {value} must be between {MIN_SIZE} and {MAX_SIZE} bytes")
    if not errors and small >= large:
        errors.append(f"small_size {small} must be smaller than large_size {large}")
    return errors


OK, STALLED, FAILED = "ok", "stalled", "failed"


def classify(small: dict, large: dict | None) -> tuple[str, str]:
    """ok / stalled / failed and why, from the small and the large exchange."""
    if not small.get("ok"):
        return FAILED, f"even the small exchange failed: {small.get('error') or 'no reply'}"
    if large is None:
        return OK, "the small exchange completed"
    if large.get("ok"):
        return OK, f"both exchanges completed ({large['size']} bytes in {large['elapsed']:.2f} s)"
    local = large.get("local") or {}
    detail = [f"{large.get('bytes_acked') or 0} of {large['size']} bytes acknowledged"]
    if local.get("snd_mss"):
        detail.append(f"sender MSS {local['snd_mss']}")
    if local.get("pmtu"):
        detail.append(f"sender path MTU {local['pmtu']}")
    if local.get("total_retrans"):
        detail.append(f"{local['total_retrans']} retransmissions")
    return STALLED, (f"the small exchange completed but the {large['size']}-byte one did not within"
                     f" {large['timeout']:g} s ({large.get('error') or 'stalled'}; {', '.join(detail)}):"
                     " small works, large hangs - the PMTUD black-hole signature")
