# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The two-ended comparison on packets built by scapy: a black hole, lost fragments, a clean path."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6, IPv6ExtHdrFragment
from scapy.packet import Raw

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import capture_analysis as ca
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.pcap_format import Packet

ISN = 4294967000  # wraps past 2**32 during the transfer
SPORT, DPORT = 40000, 33534
FAMILIES = {4: ("198.18.0.1", "198.18.3.2", "198.18.1.1"), 6: ("2001:db8::1", "2001:db8:3::2", "2001:db8:1::1")}


def ip(family: int, src: str, dst: str, **kw):
    if family == 4:
        return IP(src=src, dst=dst, flags=kw.get("flags", "DF"), id=kw.get("ident", 1))
    return IPv6(src=src, dst=dst)


def segment(family: int, rel: int, size: int, outgoing: bool, ts: float, syn: bool = False, **kw) -> Packet:
    """A data segment (or the SYN) from the sender to the receiver, at relative sequence ``rel``."""
    src, dst, dummy = FAMILIES[family]
    seq = (ISN + rel) % 2**32 if not syn else ISN - 1
    pkt = ip(family, src, dst, **kw) / TCP(sport=SPORT, dport=DPORT, seq=seq, flags="S" if syn else "PA")
    if size:
        pkt = pkt / Raw(bytes(size))
    data = bytes(pkt)
    return Packet(ts, data, len(data), outgoing)


def fragments(rel: int, size: int, cut: int, ident: int, ts: float) -> list[Packet]:
    """An IPv4 TCP segment without DF as a router cut it: ``cut`` bytes of IP payload, then the rest."""
    src, dst, dummy = FAMILIES[4]
    tcp = TCP(sport=SPORT, dport=DPORT, seq=(ISN + rel) % 2**32, flags="PA")
    whole = IP(src=src, dst=dst, flags=0, id=ident) / tcp / Raw(bytes(size))
    parts = [bytes(p) for p in whole.fragment(cut)]
    return [Packet(ts, p, len(p), False) for p in parts]


def icmp_error(family: int, router: bool, outgoing: bool, ts: float, mtu: int) -> Packet:
    """A frag-needed / packet-too-big toward the sender, from a router or from the receiver."""
    src, dst, hop = FAMILIES[family]
    origin = hop if router else dst
    if family == 4:
        pkt = IP(src=origin, dst=src) / ICMP(type=3, code=4, nexthopmtu=mtu) / IPerror(src=src, dst=dst) / TCPerror()
    else:
        pkt = IPv6(src=origin, dst=src) / ICMPv6PacketTooBig(mtu=mtu) / IPv6(src=src, dst=dst) / TCP()
    data = bytes(pkt)
    return Packet(ts, data, len(data), outgoing)


def black_hole(family: int) -> tuple[list[Packet], list[Packet]]:
    """The seed: the request arrives, the first full-size segment and its retransmissions do not."""
    sender = [segment(family, 0, 0, True, 0.0, syn=True), segment(family, 1, 24, True, 0.01),
              icmp_error(family, True, False, 0.015, 1420)]
    sender += [segment(family, 25, 1368, True, 0.02 + i * 0.2) for i in range(4)]
    receiver = [segment(family, 0, 0, False, 0.0, syn=True), segment(family, 1, 24, False, 0.011)]
    return sender, receiver


def fragment_drop() -> tuple[list[Packet], list[Packet]]:
    """DF clear, a router fragments the 1500-byte packet; only the first fragment arrives."""
    sender = [segment(4, 0, 0, True, 0.0, syn=True), segment(4, 1, 24, True, 0.01, flags=0),
              segment(4, 25, 1448, True, 0.02, flags=0, ident=7), segment(4, 25, 1448, True, 0.3, flags=0, ident=8)]
    receiver = [segment(4, 0, 0, False, 0.0, syn=True), segment(4, 1, 24, False, 0.011, flags=0)]
    receiver += fragments(25, 1448, 1376, 7, 0.021)[:1] + fragments(25, 1448, 1376, 8, 0.31)[:1]
    return sender, receiver


def clean(family: int) -> tuple[list[Packet], list[Packet]]:
    """Every byte arrives; the sender's capture shows a GSO burst the receiver gets as two segments."""
    sender = [segment(family, 0, 0, True, 0.0, syn=True), segment(family, 1, 24, True, 0.01),
              segment(family, 25, 2896, True, 0.02), segment(family, 2921, 1448, True, 0.03)]
    receiver = [segment(family, 0, 0, False, 0.0, syn=True), segment(family, 1, 24, False, 0.011),
                segment(family, 25, 1448, False, 0.021), segment(family, 1473, 1448, False, 0.022),
                segment(family, 2921, 1448, False, 0.031)]
    return sender, receiver


def run(sender: list[Packet], receiver: list[Packet], family: int) -> dict:
    src, dst, dummy = FAMILIES[family]
    view = ca.receiver_view(receiver, src)
    # The view travels as JSON over the control channel: it must survive the trip unchanged.
    assert json.loads(json.dumps(view)) == view
    return ca.analyse(sender, dst, view)


@pytest.mark.parametrize("family, mtu_source", [(4, "198.18.1.1"), (6, "2001:db8:1::1")])
def test_black_hole_names_the_lost_segment(family, mtu_source):
    result = run(*black_hole(family), family)
    assert result["verdict"] == ca.SEGMENT_LOST
    lost = result["first_lost"]
    assert (lost["relative_seq"], lost["size"], lost["df"], lost["fragmented"], lost["retransmissions"]) == (
        25, 1368, True, False, 3)
    assert lost["ip_size"] == 1368 + 20 + (20 if family == 4 else 40)
    assert lost["seq"] == (ISN + 25) % 2**32 and lost["sent_at"] == 0.02
    assert result["lost_segments"] == 1 and result["orphan_fragments"] == [] and result["icmp_missing"] == []
    expected_type = (3, 4) if family == 4 else (2, 0)
    assert [(r["source"], r["type"], r["code"], r["mtu"], r["about"]) for r in result["icmp_received"]] == [
        (mtu_source, *expected_type, 1420, FAMILIES[family][1])]
    assert "relative sequence 25" in result["summary"] and "retransmitted 3 times" in result["summary"]


def test_icmp_errors_about_other_destinations_are_not_counted():
    sender, receiver = black_hole(4)
    src, dst, hop = FAMILIES[4]
    other = bytes(IP(src=hop, dst=src) / ICMP(type=3, code=4, nexthopmtu=1280) / IPerror(src=src, dst="192.0.2.9")
                  / TCPerror())
    result = run(sender + [Packet(0.5, other, len(other), False)], receiver, 4)
    assert [r["mtu"] for r in result["icmp_received"]] == [1420]


def test_black_hole_without_any_icmp_at_the_sender():
    sender, receiver = black_hole(4)
    sender = [p for p in sender if not p.data[9:10] == b"\x01"]
    result = run(sender, receiver, 4)
    assert result["icmp_received"] == [] and "received no ICMP error" in result["summary"]


def test_first_fragment_only_arrives():
    result = run(*fragment_drop(), 4)
    assert result["verdict"] == ca.FRAGMENTS_LOST
    lost = result["first_lost"]
    assert (lost["relative_seq"], lost["size"], lost["df"], lost["fragmented"], lost["retransmissions"]) == (
        25, 1448, False, True, 1)
    assert [(o["ident"], o["offsets"], o["first"], o["last"], o["seq"]) for o in result["orphan_fragments"]] == [
        (7, [0], True, False, (ISN + 25) % 2**32), (8, [0], True, False, (ISN + 25) % 2**32)]
    assert "first fragment only" in result["summary"]


def test_reassembled_fragments_count_as_arrived():
    sender, receiver = fragment_drop()
    receiver = receiver[:2] + fragments(25, 1448, 1376, 7, 0.021)
    result = run(sender, receiver, 4)
    assert result["verdict"] == ca.CLEAN and result["first_lost"] is None and result["orphan_fragments"] == []


@pytest.mark.parametrize("family", [4, 6])
def test_clean_path_misses_nothing(family):
    result = run(*clean(family), family)
    assert result["verdict"] == ca.CLEAN
    assert (result["first_lost"], result["lost_segments"], result["data_segments_sent"]) == (None, 0, 3)
    assert result["summary"].startswith("nothing missing: all 3 data segments arrived")


@pytest.mark.parametrize("family", [4, 6])
def test_icmp_sent_toward_the_sender_that_never_reached_it(family):
    sender, receiver = black_hole(family)
    sender = [p for p in sender if p.outgoing]
    receiver.append(icmp_error(family, False, True, 0.05, 1300))
    result = run(sender, receiver, family)
    assert result["icmp_received"] == []
    assert [(r["source"], r["mtu"]) for r in result["icmp_missing"]] == [(FAMILIES[family][1], 1300)]
    assert "1 ICMP errors sent toward the sender never reached it" in result["summary"]


def test_ipv6_fragment_header_is_walked():
    src, dst, dummy = FAMILIES[6]
    pkt = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=99, offset=0, m=1) / TCP(sport=1, dport=2, seq=5) / Raw(b"x" * 8)
    seen = ca.parse(Packet(1.0, bytes(pkt), len(bytes(pkt)), False))
    assert (seen.ident, seen.frag_offset, seen.more_fragments, seen.proto, seen.tcp[:3]) == (99, 0, True, 6, (1, 2, 5))
    view = ca.receiver_view([Packet(1.0, bytes(pkt), len(bytes(pkt)), False)], src)
    assert [(o["ident"], o["first"], o["last"], o["connection"]) for o in view["orphans"]] == [(99, True, False, "1-2")]


@pytest.mark.parametrize("data", [b"", b"\x45" * 10, b"\x60" * 30, b"\x00" * 40])
def test_short_or_unknown_packets_are_skipped(data):
    assert ca.parse(Packet(0.0, data, len(data), False)) is None


def test_no_receiver_view():
    sender, dummy = black_hole(4)
    result = ca.analyse(sender, FAMILIES[4][1], None)
    assert result["verdict"] == ca.NO_DATA and result["first_lost"] is None and result["data_segments_sent"] == 2
