# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ptb_check without the sockets: packets, messages and the verdict, as pure functions.

Everything here works on bytes and numbers only (no socket, scapy or netlink import), so the
unit tests compare it byte for byte with packets captured from a real Linux router.

Sizes are whole IP packet lengths (header included), like MTUs. The responder's ICMP errors
have the shape Linux gives its own (``icmp_send`` / ``icmp6_send``): IPv4 frag-needed with TOS
``(tos & 0x1e) | 0xc0``, no DF, TTL 64, quoting at most 548 bytes (the error fits in 576);
ICMPv6 packet-too-big quoting at most 1232 bytes (the error fits in 1280, RFC 4443 2.4).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import checksum

HEADER_LEN = {4: 20, 6: 40}
UDP_HEADER_LEN = 8
ICMP_HEADER_LEN = 8
# Never announce less than this: Linux's default net.ipv4.route.min_pmtu, and IPv6's minimum MTU.
ANNOUNCE_FLOOR = {4: 552, 6: 1280}
# Largest quote: the whole error stays within 576 (IPv4, RFC 1812 4.3.2.3) / 1280 (IPv6) bytes.
QUOTE_LIMIT = {4: 576 - 20 - 8, 6: 1280 - 40 - 8}
DEFAULT_STEP = 8
MAX_MTU = 65535

PROTO_ICMP, PROTO_UDP, PROTO_ICMPV6 = 1, 17, 58
ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH = 3, 4, 3
ICMPV6_DEST_UNREACH, ICMPV6_PKT_TOOBIG, ICMPV6_PORT_UNREACH = 1, 2, 4
SO_EE_ORIGIN_LOCAL, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 1, 2, 3
EMSGSIZE, ECONNREFUSED = 90, 111

# -- messages (the run token and its digest: wire/token.py) ----------------------------------

MAGIC = b"NPTB"
VERSION = 1
KIND_PROBE, KIND_ACK, KIND_BYE = 1, 2, 3
# What the responder did about a probe (the status byte of its acknowledgement).
ACK_PTB_SENT = 0  # the packet-too-big left the responder
ACK_PTB_BLOCKED = 1  # the responder's own kernel/firewall refused to send it (EPERM and friends)
ACK_LIMITED = 2  # rate limit or reply budget: nothing sent for this probe
ACK_BAD_MTU = 3  # the MTU the probe asked for is outside what the responder may announce
ACK_NOT_QUOTABLE = 4  # the responder did not capture the probe's bytes, so it could not quote it
ACK_STATUS_NAMES = {
    ACK_PTB_SENT: "ptb_sent",
    ACK_PTB_BLOCKED: "ptb_blocked",
    ACK_LIMITED: "limited",
    ACK_BAD_MTU: "bad_mtu",
    ACK_NOT_QUOTABLE: "not_quotable",
}
# magic, version, kind, status, reserved, token digest, sequence, MTU to announce / announced
MESSAGE = struct.Struct("!4sBBBx8sII")


class Message(NamedTuple):
    kind: int
    status: int
    seq: int
    mtu: int


def encode_message(kind: int, digest: bytes, seq: int, mtu: int = 0, status: int = 0, size: int = 0) -> bytes:
    """A message, zero-padded to ``size`` bytes when that is larger."""
    data = MESSAGE.pack(MAGIC, VERSION, kind, status, digest, seq & 0xFFFFFFFF, mtu)
    return data + b"\0" * max(0, size - len(data))


def decode_message(data: bytes, digest: bytes) -> Message | None:
    """The message in ``data`` when it carries this run's digest, else None."""
    if len(data) < MESSAGE.size:
        return None
    magic, version, kind, status, got, seq, mtu = MESSAGE.unpack_from(data)
    if magic != MAGIC or version != VERSION or got != digest or kind not in (KIND_PROBE, KIND_ACK, KIND_BYE):
        return None
    return Message(kind, status, seq, mtu)


# -- checksums and headers --------------------------------------------------------------------

def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def family_of(address: str) -> int:
    return ipaddress.ip_address(address).version


def pseudo_header4(src: str, dst: str, proto: int, length: int) -> bytes:
    return packed(src) + packed(dst) + struct.pack("!BBH", 0, proto, length)


def pseudo_header6(src: str, dst: str, length: int, next_header: int) -> bytes:
    """RFC 8200 8.1: source, destination, upper-layer length (32 bits), three zero bytes, next header."""
    return packed(src) + packed(dst) + struct.pack("!I3xB", length, next_header)


def _with_checksum(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("!H", value) + data[offset + 2:]


def ipv4_header(src: str, dst: str, proto: int, payload_len: int, *, ident: int, ttl: int = 64,
                tos: int = 0, df: bool = True) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident & 0xFFFF, 0x4000 if df else 0,
                         ttl, proto, 0, packed(src), packed(dst))
    return _with_checksum(header, 10, checksum(header))


def ipv6_header(src: str, dst: str, next_header: int, payload_len: int, *, hop_limit: int = 64,
                tclass: int = 0, flow_label: int = 0) -> bytes:
    first = (6 << 28) | ((tclass & 0xFF) << 20) | (flow_label & 0xFFFFF)
    return struct.pack("!IHBB16s16s", first, payload_len, next_header, hop_limit, packed(src), packed(dst))


def build_udp(src: str, dst: str, sport: int, dport: int, payload: bytes, *, ident: int = 1, ttl: int = 64,
              df: bool = True, tos: int = 0, flow_label: int = 0) -> bytes:
    """A complete IPv4 (DF) or IPv6 UDP packet with correct checksums."""
    family = family_of(src)
    if family != family_of(dst):
        raise ValueError(f"source {src} and destination {dst} are of different address families")
    length = UDP_HEADER_LEN + len(payload)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    if family == 4:
        pseudo = pseudo_header4(src, dst, PROTO_UDP, length)
    else:
        pseudo = pseudo_header6(src, dst, length, PROTO_UDP)
    csum = checksum(pseudo + udp) or 0xFFFF  # 0 means "no checksum" in UDP
    udp = _with_checksum(udp, 6, csum)
    if family == 4:
        return ipv4_header(src, dst, PROTO_UDP, length, ident=ident, ttl=ttl, tos=tos, df=df) + udp
    return ipv6_header(src, dst, PROTO_UDP, length, hop_limit=ttl, tclass=tos, flow_label=flow_label) + udp


def build_probe(src: str, dst: str, sport: int, dport: int, size: int, digest: bytes, seq: int, mtu: int,
                *, ident: int = 1, ttl: int = 64) -> bytes:
    """One DF probe of exactly ``size`` bytes asking the responder to announce ``mtu``."""
    family = family_of(src)
    room = size - HEADER_LEN[family] - UDP_HEADER_LEN
    if room < MESSAGE.size:
        raise ValueError(f"a {size}-byte IPv{family} probe cannot carry the {MESSAGE.size}-byte probe message")
    payload = encode_message(KIND_PROBE, digest, seq, mtu=mtu, size=room)
    return build_udp(src, dst, sport, dport, payload, ident=ident, ttl=ttl)


# -- parsing a captured packet ----------------------------------------------------------------

@dataclass(frozen=True)
class UdpPacket:
    family: int
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes  # as far as captured
    length: int  # the whole packet's length according to its IP header


def parse_udp(packet: bytes) -> UdpPacket | None:
    """A captured IP packet (network header first) as UDP, or None.

    Only unfragmented IPv4 and IPv6 without extension headers: that is what a probe is.
    """
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        if len(packet) < 28:
            return None
        ihl = (packet[0] & 0x0F) * 4
        total, frag, proto = struct.unpack_from("!H", packet, 2)[0], struct.unpack_from("!H", packet, 6)[0], packet[9]
        if ihl < 20 or proto != PROTO_UDP or frag & 0x3FFF or len(packet) < ihl + 8:
            return None
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        offset, length = ihl, total
    elif version == 6:
        if len(packet) < 48 or packet[6] != PROTO_UDP:
            return None
        src = str(ipaddress.IPv6Address(packet[8:24]))
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        offset, length = 40, 40 + struct.unpack_from("!H", packet, 4)[0]
    else:
        return None
    sport, dport, udp_len = struct.unpack_from("!HHH", packet, offset)
    payload = packet[offset + 8:offset + max(8, udp_len)]
    return UdpPacket(version, src, dst, sport, dport, payload, length)


# -- the packet-too-big ----------------------------------------------------------------------

def quote_length(family: int, packet_len: int, budget: int | None = None) -> int:
    """How many bytes of the offending packet an error quotes; 0 when it cannot quote enough.

    ``budget`` caps the whole error (outer header + ICMP header + quote). The quote must hold the
    original IP header and the 8 bytes after it, or the receiver cannot match it to a socket.
    """
    overhead = HEADER_LEN[family] + ICMP_HEADER_LEN
    length = min(packet_len, QUOTE_LIMIT[family])
    if budget is not None:
        length = min(length, budget - overhead)
    return length if length >= HEADER_LEN[family] + 8 else 0


def build_ptb(packet: bytes, src: str, mtu: int, *, budget: int | None = None, ident: int = 1, ttl: int = 64,
              tos: int | None = None, flow_label: int = 0) -> bytes:
    """ICMP frag-needed (IPv4) / ICMPv6 packet-too-big from ``src`` announcing ``mtu``, quoting ``packet``.

    It goes back to the quoted packet's source, like a router's. Raises ValueError when the
    packet cannot be quoted within ``budget`` bytes or the MTU is out of range.
    """
    if not packet:
        raise ValueError("nothing to quote")
    family = packet[0] >> 4
    if family not in (4, 6):
        raise ValueError("the quoted packet is neither IPv4 nor IPv6")
    if family_of(src) != family:
        raise ValueError(f"source {src} is not an IPv{family} address")
    if not ANNOUNCE_FLOOR[family] <= mtu <= MAX_MTU:
        raise ValueError(f"MTU {mtu} is outside {ANNOUNCE_FLOOR[family]}-{MAX_MTU} for IPv{family}")
    length = quote_length(family, len(packet), budget)
    if not length:
        raise ValueError("the error would not fit the reply budget with a usable quote")
    quote = packet[:length]
    if family == 4:
        dst = str(ipaddress.IPv4Address(packet[12:16]))
        icmp = struct.pack("!BBHHH", ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 0, mtu) + quote
        icmp = _with_checksum(icmp, 2, checksum(icmp))
        tos = (packet[1] & 0x1E) | 0xC0 if tos is None else tos
        return ipv4_header(src, dst, PROTO_ICMP, len(icmp), ident=ident, ttl=ttl, tos=tos, df=False) + icmp
    dst = str(ipaddress.IPv6Address(packet[8:24]))
    icmp = struct.pack("!BBHI", ICMPV6_PKT_TOOBIG, 0, 0, mtu) + quote
    icmp = _with_checksum(icmp, 2, checksum(pseudo_header6(src, dst, len(icmp), PROTO_ICMPV6) + icmp))
    return ipv6_header(src, dst, PROTO_ICMPV6, len(icmp), hop_limit=ttl, tclass=tos or 0,
                       flow_label=flow_label) + icmp


def announce_mtu(family: int, current: int, requested: int | None = None, step: int = DEFAULT_STEP) -> int:
    """The MTU to announce: just below ``current`` (the path MTU the host now uses), never below the floor.

    The kernel only lowers a path MTU, so the announcement must be below ``current`` to count.
    Raises ValueError saying why none is harmless.
    """
    floor = ANNOUNCE_FLOOR[family]
    mtu = current - step if requested is None else requested
    if mtu < floor:
        if requested is not None:
            raise ValueError(f"announce_mtu {requested} is below {floor}, the least an IPv{family} PTB may announce here")
        raise ValueError(f"the current path MTU {current} leaves nothing harmless to announce: IPv{family} PTBs"
                         f" announce at least {floor}")
    if mtu >= current:
        raise ValueError(f"announce_mtu {mtu} is not below the current path MTU {current}; the kernel only"
                         " lowers a path MTU, so it would ignore it")
    return mtu


# -- the socket's error queue -----------------------------------------------------------------

EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err, host byte order


def parse_extended_err(data: bytes) -> dict:
    """IP_RECVERR / IPV6_RECVERR ancillary data: ``struct sock_extended_err`` and the offender's address."""
    if len(data) < EXTENDED_ERR.size:
        raise ValueError(f"a sock_extended_err needs {EXTENDED_ERR.size} bytes, got {len(data)}")
    errno_, origin, icmp_type, code, _pad, info, _data = EXTENDED_ERR.unpack_from(data)
    offender = None
    rest = data[EXTENDED_ERR.size:]
    if len(rest) >= 8:
        sa_family = struct.unpack_from("=H", rest)[0]
        if sa_family == 2 and len(rest) >= 8:
            offender = str(ipaddress.IPv4Address(rest[4:8]))
        elif sa_family == 10 and len(rest) >= 24:
            offender = str(ipaddress.IPv6Address(rest[8:24]))
    return {"errno": errno_, "origin": origin, "type": icmp_type, "code": code, "info": info, "offender": offender}


def is_ptb(err: dict) -> bool:
    if err.get("origin") == SO_EE_ORIGIN_ICMP:
        return err.get("type") == ICMP_DEST_UNREACH and err.get("code") == ICMP_FRAG_NEEDED
    if err.get("origin") == SO_EE_ORIGIN_ICMP6:
        return err.get("type") == ICMPV6_PKT_TOOBIG
    return False


def is_port_unreachable(err: dict) -> bool:
    if err.get("origin") == SO_EE_ORIGIN_ICMP:
        return err.get("type") == ICMP_DEST_UNREACH and err.get("code") == ICMP_PORT_UNREACH
    if err.get("origin") == SO_EE_ORIGIN_ICMP6:
        return err.get("type") == ICMPV6_DEST_UNREACH and err.get("code") == ICMPV6_PORT_UNREACH
    return False


# -- the verdict ------------------------------------------------------------------------------

ACCEPTED, DROPPED, INCONCLUSIVE = "accepted", "dropped", "inconclusive"


@dataclass
class Observation:
    """What the checking host saw during one run (one peer, one family)."""

    peer: str
    port: int
    announced: int
    probes_sent: int = 0
    send_errors: list = field(default_factory=list)  # errno of probes our own kernel refused
    acks: dict = field(default_factory=dict)  # seq -> ack status
    errors: list = field(default_factory=list)  # parse_extended_err() dicts, in arrival order
    route_mtu_after: int | None = None  # a cached PMTU exception for the peer seen after the acks
    elapsed: float = 0.0
    timeout: float = 0.0


def ack_counts(acks: dict) -> dict:
    counts: dict = {}
    for status in acks.values():
        name = ACK_STATUS_NAMES.get(status, f"status_{status}")
        counts[name] = counts.get(name, 0) + 1
    return counts


def ptb_from_peer(obs: Observation) -> list[dict]:
    return [e for e in obs.errors if is_ptb(e) and e.get("offender") == obs.peer and e.get("info") == obs.announced]


def classify(obs: Observation, needed: int = 2) -> tuple[str, str]:
    """accepted / dropped / inconclusive, and why, from one run's observation.

    ``accepted``: the kernel queued EMSGSIZE with the announced MTU from the peer on the probe
    socket (or cached that PMTU): the PTB got through every firewall and conntrack check.
    ``dropped``: the responder sent at least ``needed`` PTBs and acknowledged each on the same
    flow; the acknowledgements arrived, the PTBs never did.
    """
    ours = ptb_from_peer(obs)
    sent = sum(1 for s in obs.acks.values() if s == ACK_PTB_SENT)
    if ours:
        how = f"the probe socket got EMSGSIZE with MTU {obs.announced} from {obs.peer}"
        if obs.route_mtu_after == obs.announced:
            how += " and the kernel cached that path MTU"
        return ACCEPTED, how
    if obs.route_mtu_after == obs.announced:
        return ACCEPTED, f"the kernel cached the announced path MTU {obs.announced} for {obs.peer}"
    others = [e for e in obs.errors if is_ptb(e)]
    if others:
        first = others[0]
        return ACCEPTED, (f"a PTB from {first.get('offender')} (MTU {first.get('info')}) reached the probe socket:"
                          " this host accepts PTBs; the path to the peer is smaller than the probe")
    if sent >= needed:
        return DROPPED, (f"{obs.peer} sent {sent} PTB(s) (MTU {obs.announced}) quoting this host's probes and"
                         f" acknowledged each on the same flow; the acknowledgements arrived, no PTB did:"
                         " something drops ICMP frag-needed / packet-too-big on the way here or on this host"
                         " (INPUT firewall, conntrack, ip_no_pmtu_disc)")
    if obs.probes_sent == 0 and obs.send_errors:
        return INCONCLUSIVE, (f"this host refused to send the probes (errno {obs.send_errors[0]}): its own"
                              " OUTPUT firewall or routing stops UDP to the peer")
    counts = ack_counts(obs.acks)
    if counts.get("ptb_blocked"):
        return INCONCLUSIVE, (f"the responder's own host refused to send the PTB ({counts['ptb_blocked']}"
                              " time(s)): its OUTPUT firewall drops ICMP errors")
    if counts.get("bad_mtu"):
        return INCONCLUSIVE, f"the responder refused to announce MTU {obs.announced}"
    if sent:
        return INCONCLUSIVE, (f"only {sent} PTB was acknowledged before the deadline ({obs.timeout:g} s);"
                              f" {needed} are needed to call it dropped")
    if obs.acks:
        return INCONCLUSIVE, f"the responder answered but sent no PTB ({', '.join(sorted(counts))})"
    if any(is_port_unreachable(e) and e.get("offender") == obs.peer for e in obs.errors):
        return INCONCLUSIVE, (f"nothing listens on {obs.peer} port {obs.port} (port unreachable): the responder"
                              f" was not running within {obs.timeout:g} s")
    return INCONCLUSIVE, (f"no answer from a responder at {obs.peer} port {obs.port} within {obs.timeout:g} s:"
                          " it was not started, has another token, or the probes or answers are filtered")
