# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ptb_packets against bytes captured from Linux (kernel 6.18).

Capture set-up: namespaces A - R - B, R's link to B with MTU 1400, transmit checksum offload
off on A. A sent a 1500-byte DF UDP datagram (port 40404 -> 33533, payload "NPTB", bytes 0..31,
then zeros) from a socket; R answered with its own frag-needed / packet-too-big. Both were
captured on A with a packet socket. The payload's run of zeros is written as ``bytes(n)`` below;
the SHA-256 of each complete capture proves the reconstruction is exact.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

PAYLOAD = b"NPTB" + bytes(range(32))

ORIG4 = bytes.fromhex("450005dcbed14000401139d4c613d801c613d8429dd482fd05c8038d") + PAYLOAD + bytes(1500 - 28 - 36)
ICMP4 = bytes.fromhex("45c002401a170000400121bbc613d802c613d801030439c900000578") + ORIG4[:548]
ORIG6 = (bytes.fromhex("600a8d8b05b41140fd000198021600010000000000000001fd000198021600020000000000000002"
                       "9dd482fd05b43ebd") + PAYLOAD + bytes(1500 - 48 - 36))
ICMP6 = (bytes.fromhex("60094dc404d83a40fd000198021600010000000000000002fd000198021600010000000000000001"
                       "0200f34d00000578") + ORIG6[:1232])
CAPTURED_SHA256 = {
    "ORIG4": "198229f13919c8c65dbe828a9ad3948e9e67109a590f790c5f0b0143db151470",
    "ICMP4": "cf9630bb4f0022838da8128d86597897a3b18591ce1f42ebfc2f7a9fc8f58156",
    "ORIG6": "30bc33f7db00b62e8997f0ea04a8b73f0ebea2db89713747e6b0b6cec3a8bbbf",
    "ICMP6": "53471c2fab5f5964f8c1a131f9d5c0a71d6a07b549bd31e332aaf235a1c22e01",
}
ROUTER4 = "198.19.216.2"
ROUTER6 = "fd00:198:216:1::2"

# recvmsg(MSG_ERRQUEUE) ancillary data captured on the checking side (struct sock_extended_err +
# offender): IPv4 frag-needed MTU 1492, IPv6 packet-too-big MTU 1492, IPv4 port unreachable.
ERR4_PTB = bytes.fromhex("5a00000002030400d40500000000000002000000c613d8420000000000000000")
ERR6_PTB = bytes.fromhex("5a00000003020000d4050000000000000a00000000000000fd00019802160002000000000000000200000000")
ERR4_REFUSED = bytes.fromhex("6f00000002030300000000000000000002000000c613d8420000000000000000")


def test_captures_are_reconstructed_exactly():
    for name, data in (("ORIG4", ORIG4), ("ICMP4", ICMP4), ("ORIG6", ORIG6), ("ICMP6", ICMP6)):
        assert hashlib.sha256(data).hexdigest() == CAPTURED_SHA256[name], name


def test_frag_needed_is_byte_identical_to_the_routers():
    ident = struct.unpack_from("!H", ICMP4, 4)[0]
    assert pp.build_ptb(ORIG4, ROUTER4, 1400, ident=ident) == ICMP4


def test_packet_too_big_is_byte_identical_to_the_routers():
    flow_label = struct.unpack_from("!I", ICMP6)[0] & 0xFFFFF
    assert pp.build_ptb(ORIG6, ROUTER6, 1400, flow_label=flow_label) == ICMP6


@pytest.mark.parametrize("orig", [ORIG4, ORIG6], ids=["ipv4", "ipv6"])
def test_udp_packet_is_byte_identical_to_the_kernels(orig):
    parsed = pp.parse_udp(orig)
    assert (parsed.src, parsed.sport, parsed.dport, parsed.length) == (parsed.src, 40404, 33533, 1500)
    if parsed.family == 4:
        built = pp.build_udp(parsed.src, parsed.dst, 40404, 33533, parsed.payload, ident=struct.unpack_from("!H", orig, 4)[0])
    else:
        built = pp.build_udp(parsed.src, parsed.dst, 40404, 33533, parsed.payload,
                             flow_label=struct.unpack_from("!I", orig)[0] & 0xFFFFF)
    assert built == orig


def test_checksums_verify_to_zero():
    assert pp.checksum(ICMP4[:20]) == 0  # IPv4 header
    assert pp.checksum(ICMP4[20:]) == 0  # ICMP over header and quote
    src, dst = ROUTER6, "fd00:198:216:1::1"
    assert pp.checksum(pp.pseudo_header6(src, dst, len(ICMP6) - 40, 58) + ICMP6[40:]) == 0
    udp6 = ORIG6[40:]
    assert pp.checksum(pp.pseudo_header6("fd00:198:216:1::1", "fd00:198:216:2::2", len(udp6), 17) + udp6) == 0
    udp4 = ORIG4[20:]
    assert pp.checksum(pp.pseudo_header4("198.19.216.1", "198.19.216.66", 17, len(udp4)) + udp4) == 0


def test_checksum_rfc1071_example_and_odd_length():
    # RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2, its complement 220d.
    assert pp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert pp.checksum(b"\x01") == pp.checksum(b"\x01\x00")


def test_ipv6_pseudo_header_layout():
    header = pp.pseudo_header6("fd00::1", "fd00::2", 0x010203, 58)
    assert len(header) == 40
    assert header[32:] == bytes.fromhex("00010203 000000 3a")  # length, zeros, next header


@pytest.mark.parametrize("family,packet_len,budget,expected", [
    (4, 1500, None, 548),
    (4, 100, None, 100),
    (4, 1500, 200, 172),
    (4, 1500, 28 + 27, 0),  # cannot hold IP header + 8 bytes
    (4, 1500, 28 + 28, 28),
    (6, 1500, None, 1232),
    (6, 1280, 1208, 1160),
    (6, 1500, 48 + 47, 0),
])
def test_quote_length(family, packet_len, budget, expected):
    assert pp.quote_length(family, packet_len, budget) == expected


def test_budget_truncates_the_quote_and_keeps_the_error_within_it():
    ptb = pp.build_ptb(ORIG6, ROUTER6, 1492, budget=1000)
    assert len(ptb) == 1000
    assert ptb[48:] == ORIG6[:952]
    assert pp.checksum(pp.pseudo_header6(ROUTER6, "fd00:198:216:1::1", len(ptb) - 40, 58) + ptb[40:]) == 0


def test_frag_needed_header_fields():
    orig = bytearray(ORIG4)
    orig[1] = 0x28  # DSCP AF11
    ptb = pp.build_ptb(bytes(orig), ROUTER4, 1492, ident=7)
    assert ptb[1] == 0xC8  # Linux: (tos & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL
    assert struct.unpack_from("!HHBB", ptb, 4) == (7, 0, 64, 1)  # id, no DF, TTL 64, ICMP
    assert ptb[20:22] == b"\x03\x04"
    assert struct.unpack_from("!H", ptb, 26)[0] == 1492
    assert ptb[16:20] == ORIG4[12:16]  # back to the quoted packet's source


@pytest.mark.parametrize("kwargs,message", [
    ({"packet": ORIG4, "src": ROUTER4, "mtu": 551}, "outside 552-65535"),
    ({"packet": ORIG6, "src": ROUTER6, "mtu": 1279}, "outside 1280-65535"),
    ({"packet": ORIG6, "src": ROUTER4, "mtu": 1400}, "not an IPv6 address"),
    ({"packet": ORIG4, "src": ROUTER4, "mtu": 1400, "budget": 40}, "would not fit"),
    ({"packet": b"", "src": ROUTER4, "mtu": 1400}, "nothing to quote"),
    ({"packet": b"\x50" * 40, "src": ROUTER4, "mtu": 1400}, "neither IPv4 nor IPv6"),
])
def test_build_ptb_refuses(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pp.build_ptb(**kwargs)


def test_parse_udp_of_the_captures():
    four = pp.parse_udp(ORIG4)
    assert (four.family, four.src, four.dst, four.sport, four.dport) == (4, "198.19.216.1", "198.19.216.66", 40404, 33533)
    assert four.payload[:36] == PAYLOAD and len(four.payload) == 1472
    six = pp.parse_udp(ORIG6[:300])  # captured with a short snap length
    assert (six.family, six.src, six.dst, six.length) == (6, "fd00:198:216:1::1", "fd00:198:216:2::2", 1500)
    assert six.payload[:36] == PAYLOAD


def test_parse_udp_rejects_what_is_not_a_probe():
    fragment = bytearray(ORIG4)
    fragment[6:8] = b"\x20\x00"  # MF
    assert pp.parse_udp(bytes(fragment)) is None
    assert pp.parse_udp(ICMP4) is None
    assert pp.parse_udp(ICMP6) is None
    assert pp.parse_udp(ORIG4[:20]) is None
    assert pp.parse_udp(b"") is None
    assert pp.parse_udp(b"\x10" * 60) is None


# -- messages (tokens: wire/test_wire_token.py) ------------------------------------------------

def test_messages_round_trip_and_reject_others():
    digest = token_digest("abcdefgh1234")
    data = pp.encode_message(pp.KIND_ACK, digest, 0xFFFFFFFF + 5, mtu=1492, status=pp.ACK_PTB_BLOCKED, size=100)
    assert len(data) == 100
    assert pp.decode_message(data, digest) == pp.Message(pp.KIND_ACK, pp.ACK_PTB_BLOCKED, 4, 1492)
    assert pp.decode_message(data, token_digest("otherrun123")) is None
    assert pp.decode_message(data[:23], digest) is None
    assert pp.decode_message(b"XPTB" + data[4:], digest) is None
    assert pp.decode_message(data[:5] + b"\x09" + data[6:], digest) is None  # unknown kind


def test_probe_has_the_exact_size_and_carries_the_request():
    digest = token_digest("abcdefgh1234")
    for src, dst in (("198.18.1.1", "198.18.0.1"), ("fd00::1", "fd00::2")):
        probe = pp.build_probe(src, dst, 40000, 33533, 1280, digest, 9, 1492, ident=3)
        assert len(probe) == 1280
        parsed = pp.parse_udp(probe)
        assert pp.decode_message(parsed.payload, digest) == pp.Message(pp.KIND_PROBE, 0, 9, 1492)
    with pytest.raises(ValueError, match="cannot carry"):
        pp.build_probe("fd00::1", "fd00::2", 1, 2, 60, digest, 1, 1280)
    with pytest.raises(ValueError, match="different address families"):
        pp.build_udp("fd00::1", "198.18.0.1", 1, 2, b"")


@pytest.mark.parametrize("family,current,requested,expected", [
    (4, 1500, None, 1492),
    (6, 1500, None, 1492),
    (6, 1420, None, 1412),
    (4, 1400, 1300, 1300),
    (4, 560, None, 552),
])
def test_announce_mtu(family, current, requested, expected):
    assert pp.announce_mtu(family, current, requested) == expected


@pytest.mark.parametrize("family,current,requested,message", [
    (6, 1280, None, "leaves nothing harmless"),
    (6, 1285, None, "leaves nothing harmless"),
    (4, 559, None, "leaves nothing harmless"),
    (4, 1500, 500, "below 552"),
    (4, 1500, 1500, "not below the current path MTU"),
])
def test_announce_mtu_refuses(family, current, requested, message):
    with pytest.raises(ValueError, match=message):
        pp.announce_mtu(family, current, requested)


# -- error queue ------------------------------------------------------------------------------

def test_parse_extended_err_of_captured_ancillary_data():
    four = pp.parse_extended_err(ERR4_PTB)
    assert four == {"errno": 90, "origin": 2, "type": 3, "code": 4, "info": 1492, "offender": "198.19.216.66"}
    six = pp.parse_extended_err(ERR6_PTB)
    assert six == {"errno": 90, "origin": 3, "type": 2, "code": 0, "info": 1492, "offender": "fd00:198:216:2::2"}
    refused = pp.parse_extended_err(ERR4_REFUSED)
    assert (refused["errno"], refused["type"], refused["code"]) == (111, 3, 3)
    assert pp.is_ptb(four) and pp.is_ptb(six) and not pp.is_ptb(refused)
    assert pp.is_port_unreachable(refused) and not pp.is_port_unreachable(four)
    assert pp.parse_extended_err(ERR4_PTB[:16])["offender"] is None
    with pytest.raises(ValueError):
        pp.parse_extended_err(ERR4_PTB[:10])


def test_icmpv6_port_unreachable_and_local_errors():
    assert pp.is_port_unreachable({"origin": pp.SO_EE_ORIGIN_ICMP6, "type": 1, "code": 4})
    assert not pp.is_ptb({"origin": pp.SO_EE_ORIGIN_LOCAL, "type": 0, "code": 0})


# -- the verdict ------------------------------------------------------------------------------

PEER = "198.18.0.1"
PTB_FROM_PEER = {"errno": 90, "origin": 2, "type": 3, "code": 4, "info": 1492, "offender": PEER}
REFUSED = {"errno": 111, "origin": 2, "type": 3, "code": 3, "info": 0, "offender": PEER}


def obs(**kwargs):
    base = {"peer": PEER, "port": 33533, "announced": 1492, "probes_sent": 3, "timeout": 10.0}
    base.update(kwargs)
    return pp.Observation(**base)


@pytest.mark.parametrize("observation,status,words", [
    (obs(errors=[PTB_FROM_PEER], acks={1: 0}), "accepted", "EMSGSIZE with MTU 1492"),
    (obs(errors=[PTB_FROM_PEER], route_mtu_after=1492), "accepted", "cached that path MTU"),
    (obs(route_mtu_after=1492), "accepted", "cached the announced"),
    (obs(errors=[dict(PTB_FROM_PEER, offender="198.18.9.9", info=1400)]), "accepted", "smaller than the probe"),
    (obs(errors=[dict(PTB_FROM_PEER, info=1400)], acks={1: 0, 2: 0}), "accepted", "reached the probe socket"),
    (obs(errors=[REFUSED], acks={1: 0, 2: 0}), "dropped", "no PTB did"),
    (obs(acks={1: 0, 2: 0}), "dropped", "sent 2 PTB(s)"),
    (obs(acks={1: 0}), "inconclusive", "only 1 PTB"),
    (obs(acks={1: 1, 2: 1}), "inconclusive", "OUTPUT firewall drops ICMP"),
    (obs(acks={1: 3}), "inconclusive", "refused to announce"),
    (obs(acks={1: 2}), "inconclusive", "sent no PTB (limited)"),
    (obs(errors=[REFUSED] * 3), "inconclusive", "port unreachable"),
    (obs(), "inconclusive", "no answer from a responder"),
    (obs(probes_sent=0, send_errors=[1]), "inconclusive", "refused to send the probes"),
])
def test_classify(observation, status, words):
    got, reason = pp.classify(observation)
    assert got == status
    assert words in reason


def test_ack_counts():
    assert pp.ack_counts({1: 0, 2: 0, 3: 1, 4: 9}) == {"ptb_sent": 2, "ptb_blocked": 1, "status_9": 1}
