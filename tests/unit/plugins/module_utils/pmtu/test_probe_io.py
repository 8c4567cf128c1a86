# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parsing fragmented answers: only a reply whose every fragment arrived is an answer."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import ECHO, PARTIAL, Probe
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.probe_io import (
    SNAPLEN,
    TOKEN,
    FragmentTracker,
    PathKey,
    Prober,
    fragment_of,
    parse,
)

RUN_ID, SEQ = 0x1234, 77
V4 = ("198.18.3.2", "198.18.0.2")
V6 = ("fd00:198:18:3::2", "fd00:198:18::2")


# -- packets built with struct, the way the wire has them ---------------------------------------------

def echo_reply(family: int, size: int, proto: str = "icmp") -> bytes:
    """The L4 part (ICMP echo reply or UDP reply, with the probe token) of a ``size``-byte IP packet."""
    body = TOKEN.pack(probe_io.MAGIC, RUN_ID, SEQ)
    l4_len = size - (20 if family == 4 else 40)
    if proto == "udp":
        head = struct.pack("!HHHH", 33434, 45000, l4_len, 0)
    else:
        head = struct.pack("!BBHHH", 0 if family == 4 else 129, 0, 0, RUN_ID, SEQ)
    return (head + body).ljust(l4_len, b"\0")


def ip4(payload: bytes, offset: int = 0, more: bool = False, proto: int = 1, ident: int = 4242) -> bytes:
    flags = (0x2000 if more else 0) | (offset // 8)
    src, dst = (socket.inet_pton(socket.AF_INET, a) for a in V4)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 61, proto, 0, src, dst) + payload


def ip6(payload: bytes, offset: int | None = None, more: bool = False, nh: int = 58, ident: int = 0xABCDEF) -> bytes:
    src, dst = (socket.inet_pton(socket.AF_INET6, a) for a in V6)
    if offset is None:
        return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 61, src, dst) + payload
    frag = struct.pack("!BBHI", nh, 0, offset | int(more), ident)
    return struct.pack("!IHBB16s16s", 0x60000000, 8 + len(payload), 44, 61, src, dst) + frag + payload


def fragments(family: int, payload: bytes, mtu: int, proto: int = 1) -> list[bytes]:
    """Split a datagram's payload as a sender with link MTU ``mtu`` would (offsets in 8-byte units)."""
    chunk = (mtu - (20 if family == 4 else 48)) // 8 * 8
    out = []
    for start in range(0, len(payload), chunk):
        part = payload[start:start + chunk]
        more = start + chunk < len(payload)
        out.append(ip4(part, start, more, proto) if family == 4 else ip6(part, start, more, 58 if proto == 1 else 17))
    return out


def whole(family: int, size: int, proto: str = "icmp") -> bytes:
    payload = echo_reply(family, size, proto)
    return ip4(payload, proto=1 if proto == "icmp" else 17) if family == 4 else ip6(payload, nh=58 if proto == "icmp" else 17)


def split(family: int, size: int, mtu: int = 1400, proto: str = "icmp") -> list[bytes]:
    return fragments(family, echo_reply(family, size, proto), mtu, 1 if proto == "icmp" else 17)


def feed(frags: list[bytes], method: str = "icmp", tracker: FragmentTracker | None = None):
    """What the capture loop does with each packet; returns the whole answers, in arrival order."""
    tracker = FragmentTracker() if tracker is None else tracker
    done = []
    for pkt in frags:
        pkt = pkt[:SNAPLEN]  # the capture keeps only the first SNAPLEN bytes
        frag = fragment_of(pkt)
        assert frag is not None
        got = tracker.add(frag, parse(pkt, method))
        if got is not None:
            done.append(got)
    return done


# -- parser and tracker -------------------------------------------------------------------------

@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["icmp", "udp"])
def test_whole_reply_is_an_echo(family, method):
    pkt = whole(family, 1500, method)
    assert fragment_of(pkt) is None
    p = parse(pkt[:SNAPLEN], method)
    assert (p.seq, p.run_id, p.answer.kind) == (SEQ, RUN_ID, ECHO)


@pytest.mark.parametrize("family", [4, 6])
def test_first_fragment_alone_is_partial(family):
    first = split(family, 1500)[0]
    p = parse(first, "icmp")
    assert (p.seq, p.answer.kind, p.answer.source) == (SEQ, PARTIAL, V4[0] if family == 4 else V6[0])
    tracker = FragmentTracker()
    assert feed([first], tracker=tracker) == []
    assert len(tracker) == 1


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["icmp", "udp"])
@pytest.mark.parametrize("order", ["in_order", "reversed", "last_first", "duplicated"])
def test_complete_fragments_make_an_echo(family, method, order):
    frags = split(family, 4000, 1400, method)  # three fragments
    assert len(frags) == 3
    arrival = {"in_order": frags, "reversed": frags[::-1], "last_first": [frags[2], frags[0], frags[1]],
               "duplicated": [frags[0], frags[0], frags[2], frags[1]]}[order]
    tracker = FragmentTracker()
    done = feed(arrival, method, tracker)
    assert [(p.seq, p.run_id, p.answer.kind) for p in done] == [(SEQ, RUN_ID, ECHO)]
    assert len(tracker) == 0


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("keep", [(0, 2), (0, 1), (1, 2)])
def test_a_missing_fragment_means_no_answer(family, keep):
    frags = split(family, 4000, 1400)
    assert feed([frags[i] for i in keep]) == []


def test_non_first_fragments_parse_to_nothing():
    for pkt in split(4, 4000)[1:] + split(6, 4000)[1:]:
        assert parse(pkt, "icmp") is None
        assert fragment_of(pkt).offset > 0


def test_fragment_header_fields():
    f4 = fragment_of(split(4, 1500, 1400)[1])
    assert (f4.offset, f4.more, f4.length, f4.key[0], f4.key[2]) == (1376, False, 1480 - 1376, 4, 1)
    f6 = fragment_of(split(6, 1500, 1400)[0])
    assert (f6.offset, f6.more, f6.length, f6.key[0]) == (0, True, 1352, 6)


def test_tracker_is_bounded():
    tracker = FragmentTracker(limit=4)
    for ident in range(10):
        tracker.add(fragment_of(ip4(b"\0" * 16, 8, True, ident=ident)))
    assert len(tracker) == 4
    # The datagrams still held are the newest; their completion still works.
    first = ip4(echo_reply(4, 28)[:8], 0, True, ident=9)
    last = ip4(b"\0" * 16, 24, False, ident=9)
    tracker.add(fragment_of(last))
    assert tracker.add(fragment_of(first), parse(first, "icmp")).answer.kind == ECHO


# -- the capture loop -----------------------------------------------------------------------------

class FakeCapture:
    def __init__(self, packets: list[bytes]) -> None:
        self.packets = list(packets)

    def recv(self, size: int) -> bytes:
        if not self.packets:
            raise BlockingIOError
        return self.packets.pop(0)[:size]


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["icmp", "udp"])
@pytest.mark.parametrize("arrived, kinds, answered", [
    ("first", [PARTIAL], set()),
    ("all", [ECHO], {SEQ}),
    ("whole", [ECHO], {SEQ}),
    ("rest", [], set()),
])
def test_drain_files_only_complete_replies(family, method, arrived, kinds, answered):
    frags = split(family, 3000, 1400, method)
    packets = {"first": frags[:1], "all": frags, "whole": [whole(family, 3000, method)], "rest": frags[1:]}[arrived]
    prober = Prober(method=method)
    prober.run_id = RUN_ID
    prober.sport = 33434 if method == "udp" else prober.sport
    prober._cap = FakeCapture(packets)  # pylint: disable=protected-access
    target = V4[0] if family == 4 else V6[0]
    answers: list = []
    seen: set = set()
    prober._drain({(SEQ, target): answers}, seen)  # pylint: disable=protected-access
    assert [a.kind for a in answers] == kinds
    assert seen == answered


def test_outcomes_carry_partial_answers_to_the_search():
    """The search sees PARTIAL (a lost try), never ECHO, for a reply whose rest never came."""
    key = PathKey(V4[0], 4, V4[1])
    answers: list = []
    prober = Prober()
    prober.run_id = RUN_ID
    prober._cap = FakeCapture(split(4, 1450, 1400)[:1])  # pylint: disable=protected-access
    prober._drain({(SEQ, key.target): answers}, set())  # pylint: disable=protected-access
    outcome = (Probe(1450), answers)
    assert [a.kind for a in outcome[1]] == [PARTIAL]


def test_answers_carry_arrival_and_round_trip_time():
    """The search decides when a round may end from these stamps; the prober only supplies them."""
    target = V4[0]
    prober = Prober()
    prober.run_id = RUN_ID
    prober._cap = FakeCapture([whole(4, 1400)])  # pylint: disable=protected-access
    prober._sent_at = {(SEQ, target): time.monotonic() - 0.05}  # pylint: disable=protected-access
    answers: list = []
    fresh: list = []
    prober._drain({(SEQ, target): answers}, set(), fresh)  # pylint: disable=protected-access
    assert [a.kind for a in answers] == [ECHO]
    assert answers[0].rtt >= 0.05 and answers[0].at <= time.monotonic()
    assert fresh == [(SEQ, target)]
