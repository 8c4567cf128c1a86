# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp

# getsockopt(TCP_INFO) captured on Linux 6.18 after sending 100000 bytes on a connection whose
# peer sits behind a 1400-byte link (TCP_MAXSEG was 1348).
TCP_INFO = bytes.fromhex(
    "010000000007aa00e01c03000000000044050000180200000000000000000000000000000000000000000000c8000000"
    "00000000cc000000c8000000dc05000058fa00003d00000012000000ffffff7f55000000a80500000300000000000000"
    "90380000000000003a617a5100000000ffffffffffffffffa18601000000000000000000000000004d00000021000000"
    "0000000008000000000000004b0000008068511b00000000000000000000000000000000000000000000000000000000"
    "4c00000000000000a086010000000000000000000000000000000000000000000000000000ec0100")


def test_tcp_info_of_a_captured_connection():
    info = tp.parse_tcp_info(TCP_INFO)
    assert len(TCP_INFO) == 232
    assert info["state"] == 1  # ESTABLISHED
    assert (info["snd_mss"], info["rcv_mss"], info["advmss"], info["pmtu"]) == (1348, 536, 1448, 1500)
    assert info["bytes_acked"] == 100001  # the SYN counts as one
    assert info["unacked"] == 0 and info["total_retrans"] == 0
    assert info["rto_us"] == 204000


def test_tcp_info_from_an_older_kernel_is_partial():
    info = tp.parse_tcp_info(TCP_INFO[:104])
    assert "bytes_acked" not in info and info["total_retrans"] == 0
    assert tp.parse_tcp_info(b"") == {}


def test_request_round_trip():
    digest = tp.digest("abcdefgh1234")
    data = tp.encode_request(tp.OP_EXCHANGE, digest, 1000000)
    assert len(data) == tp.REQUEST.size == 24
    assert tp.decode_request(data, digest) == (tp.OP_EXCHANGE, 1000000)
    assert tp.decode_request(data, tp.digest("otherrun99")) is None
    assert tp.decode_request(data[:23], digest) is None
    assert tp.decode_request(b"HTTP" + data[4:], digest) is None
    assert tp.decode_request(data[:5] + b"\x07" + data[6:], digest) is None
    assert digest != tp.token_digest("abcdefgh1234")  # not interchangeable with ptb_check's


def test_reply_round_trip_and_size():
    seen = {"maxseg": 1368, "snd_mss": 1368, "rcv_mss": 1368, "pmtu": 1420, "advmss": 1380}
    data = tp.encode_reply(1000, seen, 0.25)
    assert len(data) == tp.REPLY.size == 48
    # The responder never sends more than it received: a request with the smallest payload is bigger.
    assert tp.REPLY.size < tp.REQUEST.size + tp.MIN_SIZE
    decoded = tp.decode_reply(data)
    assert decoded == {"status": 0, "received": 1000, **seen, "elapsed": 0.25}
    assert tp.decode_reply(tp.encode_reply(5, {}, 0))["maxseg"] is None
    assert tp.decode_reply(data[:47]) is None
    assert tp.decode_reply(b"XXXX" + data[4:]) is None


@pytest.mark.parametrize("small,large,errors", [
    (1000, 1000000, []),
    (63, 1000000, ["small_size 63"]),
    (1000, 2 << 30, ["large_size 2147483648"]),
    (5000, 5000, ["must be smaller than large_size"]),
])
def test_validate_sizes(small, large, errors):
    got = tp.validate_sizes(small, large)
    assert len(got) == len(errors) and all(e in g for e, g in zip(errors, got))


def test_throughput():
    assert tp.throughput_bps(1000000, 0.5) == 16000000
    assert tp.throughput_bps(0, 1.0) is None
    assert tp.throughput_bps(10, 0) is None


def test_classify():
    small_ok = {"ok": True}
    large_ok = {"ok": True, "size": 1000000, "elapsed": 0.5}
    large_stalled = {"ok": False, "size": 1000000, "timeout": 5.0, "bytes_acked": 26880, "error": None,
                     "local": {"snd_mss": 1368, "pmtu": 1420, "total_retrans": 9}}
    assert tp.classify(small_ok, large_ok)[0] == "ok"
    status, reason = tp.classify(small_ok, large_stalled)
    assert status == "stalled"
    assert "26880 of 1000000 bytes acknowledged, sender MSS 1368, sender path MTU 1420, 9 retransmissions" in reason
    assert "black-hole" in reason
    status, reason = tp.classify({"ok": False, "error": "cannot connect: ECONNREFUSED"}, None)
    assert status == "failed" and "ECONNREFUSED" in reason
    assert tp.classify(small_ok, None)[0] == "ok"
