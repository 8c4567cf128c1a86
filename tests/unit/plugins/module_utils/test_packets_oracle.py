# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""scapy as an independent oracle for the packets built and parsed with ``struct``.

Both directions: every packet our code builds dissects in scapy to the intended fields with
checksums scapy recomputes to the same value; every ICMP/ICMPv6 answer scapy builds (errors
with and without IP options, extension headers, RFC 792 and RFC 1812 quotes, fragments)
parses in ours to the same values. Only ``scapy.layers.inet`` / ``inet6`` are imported.
"""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import ECHO, PARTIAL, PROHIBITED, PTB, TTL_EXCEEDED, UNREACH
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.probe_io import (
    FragmentTracker,
    PathKey,
    build_probe,
    fragment_of,
    parse,
)
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")

IP, ICMP, UDP, IPOption = inet.IP, inet.ICMP, inet.UDP, inet.IPOption
IPv6 = inet6.IPv6

ME4, TARGET4, ROUTER4 = "198.18.3.2", "198.18.0.2", "198.18.1.1"
ME6, TARGET6, ROUTER6 = "fd00:198:18:3::2", "fd00:198:18::2", "fd00:198:18:1::1"
RUN_ID, SEQ, SPORT, DPORT = 0x1234, 0x0BEE, 45000, 33434
KEYS = {4: PathKey(TARGET4, 4, ME4), 6: PathKey(TARGET6, 6, ME6)}
ROUTER = {4: ROUTER4, 6: ROUTER6}
# Router Alert (RFC 2113) and a 4-byte NOP/NOP/NOP/EOL: both give a 24-byte header.
ROUTER_ALERT = [IPOption(b"\x94\x04\x00\x00")]
NOPS = [IPOption(b"\x01\x01\x01\x00")]


def recomputed(pkt, *layers):
    """The packet with the named checksums deleted, rebuilt by scapy, dissected again."""
    copy = pkt.copy()
    for layer in layers:
        delattr(copy[layer], csum_field(copy[layer]))
    return copy.__class__(bytes(copy))


def csum_field(layer):
    """scapy calls the checksum ``chksum`` in IPv4, ICMP and UDP, ``cksum`` in ICMPv6."""
    return "cksum" if hasattr(layer, "cksum") else "chksum"


def csum(layer):
    return getattr(layer, csum_field(layer))


def icmp6_layer(pkt):
    """The first ICMPv6 layer of a dissected IPv6 packet (scapy has one class per type)."""
    layer = pkt.payload
    while layer and not layer.__class__.__name__.startswith("ICMPv6"):
        layer = layer.payload
    return layer


# -- our packets, dissected by scapy -------------------------------------------------------------------

PROBE_CASES = [
    (family, method, size, ttl, seq)
    for family in (4, 6)
    for method in ("icmp", "udp")
    for size, ttl, seq in ((64 if family == 6 else 36, 1, 1), (1280, 64, SEQ), (1500, 255, 0xFFFF), (9000, 7, 0x10000))
]


@pytest.mark.parametrize("family,method,size,ttl,seq", PROBE_CASES)
def test_probe_dissects_to_the_intended_fields(family, method, size, ttl, seq):
    raw = build_probe(KEYS[family], size, ttl, method, seq, RUN_ID, SPORT, DPORT)
    assert len(raw) == size
    token = probe_io.TOKEN.pack(probe_io.MAGIC, RUN_ID, seq)
    if family == 4:
        pkt = IP(raw)
        assert (pkt.version, pkt.ihl, pkt.len, pkt.frag, pkt.ttl) == (4, 5, size, 0, ttl)
        assert pkt.flags.DF and not pkt.flags.MF
        assert (pkt.src, pkt.dst) == (ME4, TARGET4)
        assert pkt.id == ((seq & 0xFFFF) or 1)  # never 0: the kernel would pick its own
        assert pkt.chksum == 0  # IP_HDRINCL: the kernel always fills in the header checksum
        l4_len = size - 20
    else:
        pkt = IPv6(raw)
        assert (pkt.version, pkt.plen, pkt.hlim, pkt.src, pkt.dst) == (6, size - 40, ttl, ME6, TARGET6)
        assert (pkt.tc, pkt.fl) == (0, 0)
        l4_len = size - 40
    if method == "icmp":
        if family == 4:
            assert pkt.proto == 1
            l4, layer = pkt[ICMP], ICMP
            assert (l4.type, l4.code, l4.id, l4.seq) == (8, 0, RUN_ID, seq & 0xFFFF)
        else:
            assert pkt.nh == 58
            l4, layer = pkt[inet6.ICMPv6EchoRequest], inet6.ICMPv6EchoRequest
            assert (l4.type, l4.code, l4.id, l4.seq) == (128, 0, RUN_ID, seq & 0xFFFF)
        data = bytes(l4.payload) if family == 4 else l4.data
    else:
        assert (pkt.proto if family == 4 else pkt.nh) == 17
        l4, layer = pkt[UDP], UDP
        assert (l4.sport, l4.dport, l4.len) == (SPORT, DPORT, l4_len)
        assert l4.chksum != 0  # 0 would mean "no checksum", which IPv6 forbids
        data = bytes(l4.payload)
    assert len(data) == l4_len - 8
    assert data.startswith(token) and not data[len(token):].strip(b"\0")
    assert csum(recomputed(pkt, layer)[layer]) == csum(l4)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("size,ttl", [(pp.MESSAGE.size + 48, 1), (1500, 64)])
def test_ptb_check_probe_dissects_to_the_intended_fields(family, size, ttl):
    src, dst = (ME4, TARGET4) if family == 4 else (ME6, TARGET6)
    digest = token_digest("0123456789abcdef")
    raw = pp.build_probe(src, dst, SPORT, DPORT, size, digest, 0xDEADBEEF, 1400, ident=777, ttl=ttl)
    assert len(raw) == size
    if family == 4:
        pkt = IP(raw)
        assert (pkt.len, pkt.ttl, pkt.id, pkt.proto, pkt.frag, str(pkt.flags)) == (size, ttl, 777, 17, 0, "DF")
        assert recomputed(pkt, IP).chksum == pkt.chksum
    else:
        pkt = IPv6(raw)
        assert (pkt.plen, pkt.hlim, pkt.nh) == (size - 40, ttl, 17)
    udp = pkt[UDP]
    assert (udp.sport, udp.dport, udp.len) == (SPORT, DPORT, size - pp.HEADER_LEN[family])
    assert recomputed(pkt, UDP)[UDP].chksum == udp.chksum
    assert pp.decode_message(bytes(udp.payload), digest) == pp.Message(pp.KIND_PROBE, 0, 0xDEADBEEF, 1400)
    # and ptb_packets' own parser agrees with scapy about the probe
    got = pp.parse_udp(raw)
    assert (got.family, got.src, got.dst, got.sport, got.dport, got.length) == (family, src, dst, SPORT, DPORT, size)
    assert got.payload == bytes(udp.payload)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind,status", [(pp.KIND_ACK, pp.ACK_PTB_SENT), (pp.KIND_ACK, pp.ACK_NOT_QUOTABLE), (pp.KIND_BYE, 0)])
def test_ptb_check_messages_in_udp_dissect(family, kind, status):
    src, dst = (TARGET4, ME4) if family == 4 else (TARGET6, ME6)
    digest = token_digest("0123456789abcdef")
    raw = pp.build_udp(src, dst, DPORT, SPORT, pp.encode_message(kind, digest, 9, mtu=1392, status=status), df=False, tos=0x10)
    pkt = IP(raw) if family == 4 else IPv6(raw)
    if family == 4:
        assert (pkt.tos, str(pkt.flags)) == (0x10, "")
        assert recomputed(pkt, IP).chksum == pkt.chksum
    else:
        assert pkt.tc == 0x10
    assert recomputed(pkt, UDP)[UDP].chksum == pkt[UDP].chksum
    assert pp.decode_message(bytes(pkt[UDP].payload), digest) == pp.Message(kind, status, 9, 1392)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("size,budget", [(1500, None), (1500, 300), (200, None), (pp.MESSAGE.size + 48, None)])
def test_ptb_dissects_to_the_intended_fields(family, size, budget):
    src, dst = (ME4, TARGET4) if family == 4 else (ME6, TARGET6)
    probe = pp.build_probe(src, dst, SPORT, DPORT, size, token_digest("0123456789abcdef"), 5, 1400, ident=99)
    raw = pp.build_ptb(probe, ROUTER[family], 1400, budget=budget, ident=4321, ttl=63)
    quoted = pp.quote_length(family, size, budget)
    assert len(raw) == pp.HEADER_LEN[family] + 8 + quoted
    if family == 4:
        pkt = IP(raw)
        assert (pkt.src, pkt.dst, pkt.ttl, pkt.id, pkt.proto, str(pkt.flags), pkt.tos) == (ROUTER4, ME4, 63, 4321, 1, "", 0xC0)
        assert recomputed(pkt, IP).chksum == pkt.chksum
        icmp = pkt[ICMP]
        assert (icmp.type, icmp.code, icmp.nexthopmtu) == (3, 4, 1400)
        assert recomputed(pkt, ICMP)[ICMP].chksum == icmp.chksum
        inner = pkt[inet.IPerror]
        assert (inner.src, inner.dst, inner.id, inner.len) == (ME4, TARGET4, 99, size)
    else:
        pkt = IPv6(raw)
        assert (pkt.src, pkt.dst, pkt.hlim, pkt.nh, pkt.plen) == (ROUTER6, ME6, 63, 58, len(raw) - 40)
        icmp = pkt[inet6.ICMPv6PacketTooBig]
        assert (icmp.type, icmp.code, icmp.mtu) == (2, 0, 1400)
        assert recomputed(pkt, inet6.ICMPv6PacketTooBig)[inet6.ICMPv6PacketTooBig].cksum == icmp.cksum
        inner = pkt[inet6.IPerror6]
        assert (inner.src, inner.dst, inner.plen) == (ME6, TARGET6, size - 40)
    assert raw[pp.HEADER_LEN[family] + 8:] == probe[:quoted]
    assert pkt[inet.UDPerror if family == 4 else inet6.UDPerror].sport == SPORT


# -- scapy's answers, parsed by ours ---------------------------------------------------------------


def probe_of(family, method, size=1500, seq=SEQ):
    return build_probe(KEYS[family], size, 64, method, seq, RUN_ID, SPORT, DPORT)


def quote_of(family, method, quote, size=1500, options=None):
    """The probe as a router quotes it: ``rfc792`` (IP header + 8 bytes), ``rfc1812`` (as much as fits)."""
    raw = probe_of(family, method, size)
    if options is not None and family == 4:
        pkt = IP(raw)
        pkt.options = options
        del pkt.ihl, pkt.len
        raw = bytes(pkt)
    head = (IP(raw).ihl * 4) if family == 4 else 40
    if quote == "rfc792":
        return raw[:head + 8]
    return raw[:548 if family == 4 else 1232]


def error4(icmp_type, code, method, quote="rfc1812", source=ROUTER4, mtu=0, outer_options=None, inner_options=None):
    outer = IP(src=source, dst=ME4, ttl=61, options=outer_options or [])
    return bytes(outer / ICMP(type=icmp_type, code=code, nexthopmtu=mtu) / quote_of(4, method, quote, options=inner_options))


def error6(cls, method, quote="rfc1812", source=ROUTER6, ext=(), **fields):
    outer = IPv6(src=source, dst=ME6, hlim=61)
    for header in ext:
        outer = outer / header
    return bytes(outer / cls(**fields) / quote_of(6, method, quote))


def expected_ids(family, method, quote):
    """(seq, run_id) ours must recover from a quote: the token when quoted, else the headers."""
    if quote == "rfc1812":
        return SEQ, RUN_ID
    if method == "icmp":
        return SEQ, RUN_ID  # echo identifier and sequence
    return (SEQ if family == 4 else -1), -SPORT  # IPv4: IP id; UDP: matched on our source port


ERRORS4 = [
    # (name, type, code, source, expected kind, mtu)
    ("frag_needed", 3, 4, ROUTER4, PTB, 1400),
    ("frag_needed_min", 3, 4, ROUTER4, PTB, 68),
    ("time_exceeded", 11, 0, ROUTER4, TTL_EXCEEDED, None),
    ("port_unreachable_target", 3, 3, TARGET4, ECHO, None),
    ("proto_unreachable_target", 3, 2, TARGET4, ECHO, None),
    ("port_unreachable_router", 3, 3, ROUTER4, UNREACH, None),
    ("host_unreachable", 3, 1, ROUTER4, UNREACH, None),
    ("net_prohibited", 3, 9, ROUTER4, PROHIBITED, None),
    ("host_prohibited", 3, 10, ROUTER4, PROHIBITED, None),
    ("admin_prohibited", 3, 13, ROUTER4, PROHIBITED, None),
]


def error_cases(errors, variants):
    """Every error x method x quote with the plain variant; the other variants on two combinations."""
    cases = []
    for error in errors:
        for method in ("icmp", "udp"):
            for quote in ("rfc792", "rfc1812"):
                for variant in variants:
                    if variant == variants[0] or (method, quote) in (("icmp", "rfc1812"), ("udp", "rfc792")):
                        cases.append(pytest.param(*error[1:], method, quote, variant, id=f"{error[0]}-{method}-{quote}-{variant}"))
    return cases


@pytest.mark.parametrize("icmp_type,code,source,kind,mtu,method,quote,options", error_cases(ERRORS4, ("none", "outer", "inner", "both")))
def test_icmp4_errors_parse_to_scapys_values(icmp_type, code, source, kind, mtu, method, quote, options):
    outer_options = ROUTER_ALERT if options in ("outer", "both") else None
    inner_options = NOPS if options in ("inner", "both") else None
    raw = error4(icmp_type, code, method, quote, source, mtu or 0, outer_options, inner_options)
    pkt = IP(raw)
    assert pkt[ICMP].chksum == recomputed(pkt, ICMP)[ICMP].chksum  # scapy built a valid error
    got = parse(raw[:probe_io.SNAPLEN], method)
    assert got is not None
    assert (got.answer.kind, got.answer.source, got.target) == (kind, source, pkt[inet.IPerror].dst)
    assert (got.seq, got.run_id) == expected_ids(4, method, quote)
    assert got.answer.mtu == (pkt[ICMP].nexthopmtu if kind == PTB else None)
    assert got.answer.code == code
    if kind in (TTL_EXCEEDED, ECHO):
        assert got.answer.ttl == pkt.ttl


def test_icmp4_reassembly_time_exceeded_is_not_an_answer():
    assert parse(error4(11, 1, "icmp"), "icmp") is None


ERRORS6 = [
    ("packet_too_big", inet6.ICMPv6PacketTooBig, {"mtu": 1400}, ROUTER6, PTB),
    ("packet_too_big_min", inet6.ICMPv6PacketTooBig, {"mtu": 1280}, ROUTER6, PTB),
    ("time_exceeded", inet6.ICMPv6TimeExceeded, {"code": 0}, ROUTER6, TTL_EXCEEDED),
    ("port_unreachable_target", inet6.ICMPv6DestUnreach, {"code": 4}, TARGET6, ECHO),
    ("port_unreachable_router", inet6.ICMPv6DestUnreach, {"code": 4}, ROUTER6, UNREACH),
    ("no_route", inet6.ICMPv6DestUnreach, {"code": 0}, ROUTER6, UNREACH),
    ("address_unreachable", inet6.ICMPv6DestUnreach, {"code": 3}, ROUTER6, UNREACH),
    ("admin_prohibited", inet6.ICMPv6DestUnreach, {"code": 1}, ROUTER6, PROHIBITED),
    ("policy_failed", inet6.ICMPv6DestUnreach, {"code": 5}, ROUTER6, PROHIBITED),
    ("reject_route", inet6.ICMPv6DestUnreach, {"code": 6}, ROUTER6, PROHIBITED),
]
EXT6 = {
    "none": (),
    "hop_by_hop": (inet6.IPv6ExtHdrHopByHop(options=[inet6.RouterAlert()]),),
    "destination_options": (inet6.IPv6ExtHdrDestOpt(),),
    "hbh_and_destopt": (inet6.IPv6ExtHdrHopByHop(), inet6.IPv6ExtHdrDestOpt()),
    "atomic_fragment": (inet6.IPv6ExtHdrFragment(id=7),),
}


@pytest.mark.parametrize("cls,fields,source,kind,method,quote,ext", error_cases(ERRORS6, tuple(EXT6)))
def test_icmp6_errors_parse_to_scapys_values(cls, fields, source, kind, method, quote, ext):
    raw = error6(cls, method, quote, source, EXT6[ext], **fields)
    pkt = IPv6(raw)
    icmp = icmp6_layer(pkt)
    assert icmp.cksum == icmp6_layer(recomputed(pkt, icmp.__class__)).cksum != 0
    got = parse(raw[:probe_io.SNAPLEN], method)
    assert got is not None
    assert (got.answer.kind, got.answer.source, got.target) == (kind, source, pkt[inet6.IPerror6].dst)
    assert (got.seq, got.run_id) == expected_ids(6, method, quote)
    assert got.answer.mtu == (icmp.mtu if kind == PTB else None)
    assert got.answer.code == icmp.code
    if kind in (TTL_EXCEEDED, ECHO):
        assert got.answer.ttl == pkt.hlim


def test_icmp6_reassembly_time_exceeded_is_not_an_answer():
    assert parse(error6(inet6.ICMPv6TimeExceeded, "icmp", code=1), "icmp") is None


@pytest.mark.parametrize("quote", ["rfc792", "rfc1812"])
def test_icmp6_error_quoting_a_probe_behind_extension_headers(quote):
    """A quote whose probe carries extension headers (added by a sender-side policy) still matches."""
    probe = IPv6(probe_of(6, "icmp"))
    with_ext = IPv6(src=ME6, dst=TARGET6) / inet6.IPv6ExtHdrDestOpt() / inet6.IPv6ExtHdrFragment(id=3) / probe.payload
    raw_probe = bytes(with_ext)
    cut = 40 + 8 + 8 + 8 if quote == "rfc792" else 1232
    raw = bytes(IPv6(src=ROUTER6, dst=ME6) / inet6.ICMPv6PacketTooBig(mtu=1400) / raw_probe[:cut])
    got = parse(raw, "icmp")
    assert (got.answer.kind, got.answer.mtu, got.target, got.seq, got.run_id) == (PTB, 1400, TARGET6, SEQ, RUN_ID)


# -- echo replies, whole and fragmented --------------------------------------------------------------


def echo4(method, size=1500, options=None):
    probe = IP(probe_of(4, method, size))
    body = probe.payload.copy()
    if method == "icmp":
        body.type = 0
        del body.chksum
    else:
        body.sport, body.dport = body.dport, body.sport
        del body.chksum
    return IP(src=TARGET4, dst=ME4, ttl=57, id=4242, options=options or []) / body


def echo6(method, size=1500):
    probe = IPv6(probe_of(6, method, size))
    if method == "icmp":
        req = probe[inet6.ICMPv6EchoRequest]
        body = inet6.ICMPv6EchoReply(id=req.id, seq=req.seq, data=req.data)
    else:
        body = probe.payload.copy()
        body.sport, body.dport = body.dport, body.sport
        del body.chksum
    return IPv6(src=TARGET6, dst=ME6, hlim=57) / body


@pytest.mark.parametrize("method", ["icmp", "udp"])
@pytest.mark.parametrize("options", [None, ROUTER_ALERT])
def test_echo4_reply(method, options):
    got = parse(bytes(echo4(method, options=options))[:probe_io.SNAPLEN], method)
    assert (got.answer.kind, got.answer.source, got.target, got.answer.ttl) == (ECHO, TARGET4, TARGET4, 57)
    assert (got.seq, got.run_id) == (SEQ, RUN_ID)


@pytest.mark.parametrize("method", ["icmp", "udp"])
@pytest.mark.parametrize("ext", ["none", "hop_by_hop", "destination_options"])
def test_echo6_reply(method, ext):
    pkt = echo6(method)
    if EXT6[ext]:
        pkt = IPv6(src=pkt.src, dst=pkt.dst, hlim=pkt.hlim) / EXT6[ext][0] / pkt.payload
    got = parse(bytes(pkt)[:probe_io.SNAPLEN], method)
    assert got is not None
    assert (got.answer.kind, got.answer.source, got.target, got.answer.ttl) == (ECHO, TARGET6, TARGET6, 57)
    assert (got.seq, got.run_id) == (SEQ, RUN_ID)


def echo_icmp_without_token():
    """A reply to someone else's ping: the echo header's id/seq, no token."""
    raw = bytes(IP(src=TARGET4, dst=ME4) / ICMP(type=0, id=5, seq=6) / (b"x" * 56))
    got = parse(raw, "icmp")
    assert (got.seq, got.run_id, got.answer.kind) == (6, 5, ECHO)


def test_echo_without_token():
    echo_icmp_without_token()
    raw = bytes(IPv6(src=TARGET6, dst=ME6) / inet6.ICMPv6EchoReply(id=5, seq=6, data=b"x" * 56))
    got = parse(raw, "icmp")
    assert (got.seq, got.run_id, got.answer.kind) == (6, 5, ECHO)


def frags4(method, size, fragsize, options=None):
    return [bytes(f) for f in inet.fragment(echo4(method, size, options), fragsize=fragsize)]


def frags6(method, size, fragsize):
    pkt = echo6(method, size)
    pkt = IPv6(src=pkt.src, dst=pkt.dst, hlim=pkt.hlim) / inet6.IPv6ExtHdrFragment(id=0xABCDEF) / pkt.payload
    return [bytes(f) for f in inet6.fragment6(pkt, fragsize)]


FRAG_CASES = [(4, "icmp", 4000, 1480), (4, "udp", 4000, 1480), (4, "icmp", 1500, 576), (4, "udp", 9000, 1400),
              (6, "icmp", 4000, 1280), (6, "udp", 4000, 1280), (6, "icmp", 9000, 1500), (6, "udp", 1500, 1280)]


@pytest.mark.parametrize("family,method,size,fragsize", FRAG_CASES)
@pytest.mark.parametrize("order", ["in_order", "reversed", "first_last"])
def test_fragmented_echo_is_partial_then_whole(family, method, size, fragsize, order):
    frags = frags4(method, size, fragsize) if family == 4 else frags6(method, size, fragsize)
    assert len(frags) >= 2
    oracle = IP if family == 4 else IPv6
    first = parse(frags[0][:probe_io.SNAPLEN], method)
    assert (first.answer.kind, first.seq, first.run_id, first.target) == (PARTIAL, SEQ, RUN_ID, KEYS[family].target)
    total = 0
    for raw in frags:
        frag = fragment_of(raw[:probe_io.SNAPLEN])
        pkt = oracle(raw)
        if family == 4:
            assert (frag.offset, frag.more, frag.length) == (pkt.frag * 8, bool(pkt.flags.MF), pkt.len - pkt.ihl * 4)
        else:
            fh = pkt[inet6.IPv6ExtHdrFragment]
            assert (frag.offset, frag.more, frag.length) == (fh.offset * 8, bool(fh.m), pkt.plen - 8)
        total += frag.length
        if frag.offset:
            assert parse(raw[:probe_io.SNAPLEN], method) is None
    assert total == size - (20 if family == 4 else 40)
    arrival = {"in_order": frags, "reversed": frags[::-1], "first_last": frags[1:] + frags[:1]}[order]
    tracker, done = FragmentTracker(), []
    for raw in arrival:
        raw = raw[:probe_io.SNAPLEN]
        got = tracker.add(fragment_of(raw), parse(raw, method))
        if got is not None:
            done.append(got)
    assert [(p.answer.kind, p.seq, p.run_id) for p in done] == [(ECHO, SEQ, RUN_ID)]
    assert len(tracker) == 0


@pytest.mark.parametrize("family", [4, 6])
def test_fragmented_echo_missing_a_piece_stays_partial(family):
    frags = frags4("icmp", 4000, 1480) if family == 4 else frags6("icmp", 4000, 1280)
    tracker = FragmentTracker()
    assert [tracker.add(fragment_of(raw), parse(raw[:probe_io.SNAPLEN], "icmp")) for raw in frags[:-1]] == [None] * (len(frags) - 1)


def test_fragmented_icmp4_error_first_fragment_is_the_error():
    """A (large, RFC 1812) error that was itself fragmented: its first fragment carries the quote."""
    raw = error4(3, 4, "icmp", mtu=1400)
    pkt = IP(raw)
    pkt.id = 9
    frags = [bytes(f) for f in inet.fragment(pkt, fragsize=256)]
    first = parse(frags[0], "icmp")
    assert (first.answer.kind, first.answer.mtu, first.seq) == (PTB, 1400, SEQ)
    assert all(parse(f, "icmp") is None for f in frags[1:])


@pytest.mark.parametrize("fragsize", [1280, 1500])
def test_fragment_of_behind_hop_by_hop(fragsize):
    """A fragment header after hop-by-hop options is still a fragment (not a whole reply)."""
    pkt = echo6("icmp", 4000)
    pkt = IPv6(src=pkt.src, dst=pkt.dst) / inet6.IPv6ExtHdrHopByHop() / inet6.IPv6ExtHdrFragment(id=5) / pkt.payload
    frags = [bytes(f) for f in inet6.fragment6(pkt, fragsize)]
    first = parse(frags[0], "icmp")
    assert (first.answer.kind, first.seq) == (PARTIAL, SEQ)
    tracker, done = FragmentTracker(), []
    for raw in frags:
        frag = fragment_of(raw)
        fh = IPv6(raw)[inet6.IPv6ExtHdrFragment]
        assert (frag.offset, frag.more, frag.length) == (fh.offset * 8, bool(fh.m), IPv6(raw).plen - 16)
        got = tracker.add(frag, parse(raw, "icmp"))
        done += [got] if got else []
    assert [(p.answer.kind, p.seq) for p in done] == [(ECHO, SEQ)]
