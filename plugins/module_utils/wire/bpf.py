# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one seam for packet capture: classic BPF programs and the packet socket they filter.

The programs (``assemble``, ``probe_answers``, ``udp_dport``, ``peer_traffic``) are pure: offsets count from the
network header, as a SOCK_DGRAM packet socket sees packets. ``attach`` is the one SO_ATTACH_FILTER
call; ``open_capture`` opens a packet socket with a program attached and empties what arrived
before the filter took effect.
"""

from __future__ import annotations

import ctypes
import socket
import struct

LD_B_ABS, LD_H_ABS, LD_H_IND, LDX_B_MSH = 0x30, 0x28, 0x48, 0xB1
LD_W_ABS, LD_B_IND = 0x20, 0x50
RSH_K, JEQ_K, JGT_K, JGE_K, JSET_K, RET_K = 0x74, 0x15, 0x25, 0x35, 0x45, 0x06
PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, PROTO_FRAGMENT = 6, 17, 1, 58, 44
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
NO_PROTOCOL = 0x100  # never equals a protocol byte: a comparison that never matches

Instruction = tuple[int, int, int, int]  # code, jump if true, jump if false, k


def assemble(program: list[tuple]) -> list[Instruction]:
    """(label,) entries mark places; (code, k, jt, jf) entries may name labels as jumps. Returns
    classic BPF (code, jt, jf, k) with relative jumps."""
    labels: dict[str, int] = {}
    count = 0
    for item in program:
        if len(item) == 1:
            labels[item[0]] = count
        else:
            count += 1
    out, pc = [], 0
    for item in program:
        if len(item) == 1:
            continue
        code, k, jt, jf = item
        rel = [labels[j] - pc - 1 if isinstance(j, str) else j for j in (jt, jf)]
        out.append((code, rel[0], rel[1], k))
        pc += 1
    return out


def probe_answers(udp: bool, snaplen: int, tcp: tuple[int, int] | None = None) -> list[Instruction]:
    """ICMP and ICMPv6 (and, with ``udp``, UDP) packets, IPv4 or IPv6, also behind IPv6 extension
    headers (the parser walks them) and as fragments; keeps ``snaplen`` bytes.

    With ``tcp`` (first, last port): also unfragmented TCP to a port in that range (IPv6: right after
    the fixed header), the answers to TCP probes; nothing else of this host's TCP traffic.
    """
    udp_k = PROTO_UDP if udp else NO_PROTOCOL
    v4_tcp: list[tuple] = [(RET_K, 0, 0, 0)]
    v6_tcp: list[tuple] = []
    if tcp:
        in_range = [(JGE_K, tcp[0], 0, "drop"), (JGT_K, tcp[1], "drop", "accept")]
        v4_tcp = [
            (JEQ_K, PROTO_TCP, 0, "drop"),
            (LD_H_ABS, 6, 0, 0),
            (JSET_K, 0x3FFF, "drop", 0),  # a fragment: no ports where we look
            (LDX_B_MSH, 0, 0, 0),  # X = IHL * 4
            (LD_H_IND, 2, 0, 0),  # A = destination port
            *in_range,
        ]
        v6_tcp = [(JEQ_K, PROTO_TCP, 0, "drop"), (LD_H_ABS, 42, 0, 0), *in_range]
    return assemble([
        (LD_B_ABS, 0, 0, 0),
        (RSH_K, 4, 0, 0),  # A = IP version
        (JEQ_K, 4, 0, "v6"),
        (LD_B_ABS, 9, 0, 0),  # A = protocol
        (JEQ_K, PROTO_ICMP, "accept", 0),
        (JEQ_K, udp_k, "accept", 0),
        *v4_tcp,
        ("v6",),
        (JEQ_K, 6, 0, "drop"),
        (LD_B_ABS, 6, 0, 0),  # A = next header
        (JEQ_K, PROTO_ICMPV6, "accept", 0),
        (JEQ_K, 44, "accept", 0),  # fragment header
        (JEQ_K, 0, "accept", 0),  # hop-by-hop options
        (JEQ_K, 60, "accept", 0),  # destination options
        (JEQ_K, 43, "accept", 0),  # routing header
        (JEQ_K, udp_k, "accept", 0),
        *v6_tcp,
        ("drop",),
        (RET_K, 0, 0, 0),
        ("accept",),
        (RET_K, snaplen, 0, 0),
    ])


def udp_dport(port: int, snaplen: int) -> list[Instruction]:
    """Unfragmented UDP to ``port``, IPv4 (any header length) or IPv6 (no extension headers);
    keeps ``snaplen`` bytes."""
    return assemble([
        (LD_B_ABS, 0, 0, 0),
        (RSH_K, 4, 0, 0),
        (JEQ_K, 4, 0, "v6"),
        (LD_B_ABS, 9, 0, 0),
        (JEQ_K, PROTO_UDP, 0, "drop"),
        (LD_H_ABS, 6, 0, 0),
        (JSET_K, 0x3FFF, "drop", 0),  # MF or an offset: a fragment
        (LDX_B_MSH, 0, 0, 0),  # X = IHL * 4
        (LD_H_IND, 2, 0, 0),
        (JEQ_K, port, "accept", "drop"),
        ("v6",),
        (JEQ_K, 6, 0, "drop"),
        (LD_B_ABS, 6, 0, 0),
        (JEQ_K, PROTO_UDP, 0, "drop"),
        (LD_H_ABS, 42, 0, 0),
        (JEQ_K, port, "accept", "drop"),
        ("accept",),
        (RET_K, snaplen, 0, 0),
        ("drop",),
        (RET_K, 0, 0, 0),
    ])


def _words(packed: bytes) -> list[int]:
    return [int.from_bytes(packed[i:i + 4], "big") for i in range(0, len(packed), 4)]


def _address_match(words: list[int], offset: int, match: str, miss: str) -> list[tuple]:
    """Jump to ``match`` when the address at ``offset`` is ``words``, else to ``miss``."""
    out: list[tuple] = []
    for i, word in enumerate(words):
        out += [(LD_W_ABS, offset + 4 * i, 0, 0), (JEQ_K, word, 0 if i < len(words) - 1 else match, miss)]
    return out


def peer_traffic(peer: bytes, port: int, snaplen: int) -> list[Instruction]:
    """What a two-ended capture keeps: TCP to or from ``port`` exchanged with ``peer`` (its packed
    IPv4 or IPv6 address), every IP fragment and ICMP message to or from ``peer``, and ICMP/ICMPv6
    errors (destination unreachable, time exceeded, packet too big) from anywhere - the routers on
    the way send those. IPv6 extension headers other than a fragment header are not walked.
    Keeps ``snaplen`` bytes."""
    words = _words(peer)
    if len(words) == 1:
        return assemble([
            (LD_B_ABS, 0, 0, 0),
            (RSH_K, 4, 0, 0),
            (JEQ_K, 4, 0, "drop"),
            *_address_match(words, 12, "peer", "dst"),
            ("dst",),
            *_address_match(words, 16, "peer", "other"),
            ("peer",),
            (LD_H_ABS, 6, 0, 0),
            (JSET_K, 0x1FFF, "accept", 0),  # a later fragment: no ports to look at
            (LD_B_ABS, 9, 0, 0),
            (JEQ_K, PROTO_ICMP, "accept", 0),
            (JEQ_K, PROTO_TCP, 0, "drop"),
            (LDX_B_MSH, 0, 0, 0),
            (LD_H_IND, 0, 0, 0),
            (JEQ_K, port, "accept", 0),
            (LD_H_IND, 2, 0, 0),
            (JEQ_K, port, "accept", "drop"),
            ("other",),
            (LD_B_ABS, 9, 0, 0),
            (JEQ_K, PROTO_ICMP, 0, "drop"),
            (LD_H_ABS, 6, 0, 0),
            (JSET_K, 0x1FFF, "drop", 0),
            (LDX_B_MSH, 0, 0, 0),
            (LD_B_IND, 0, 0, 0),  # ICMP type
            (JEQ_K, 3, "accept", 0),
            (JEQ_K, 11, "accept", "drop"),
            ("accept",),
            (RET_K, snaplen, 0, 0),
            ("drop",),
            (RET_K, 0, 0, 0),
        ])
    return assemble([
        (LD_B_ABS, 0, 0, 0),
        (RSH_K, 4, 0, 0),
        (JEQ_K, 6, 0, "drop"),
        *_address_match(words, 8, "peer", "dst"),
        ("dst",),
        *_address_match(words, 24, "peer", "other"),
        ("peer",),
        (LD_B_ABS, 6, 0, 0),
        (JEQ_K, PROTO_FRAGMENT, "accept", 0),
        (JEQ_K, PROTO_ICMPV6, "accept", 0),
        (JEQ_K, PROTO_TCP, 0, "drop"),
        (LD_H_ABS, 40, 0, 0),
        (JEQ_K, port, "accept", 0),
        (LD_H_ABS, 42, 0, 0),
        (JEQ_K, port, "accept", "drop"),
        ("other",),
        (LD_B_ABS, 6, 0, 0),
        (JEQ_K, PROTO_ICMPV6, 0, "drop"),
        (LD_B_ABS, 40, 0, 0),  # ICMPv6 type
        (JEQ_K, 1, "accept", 0),
        (JEQ_K, 2, "accept", 0),
        (JEQ_K, 3, "accept", "drop"),
        ("accept",),
        (RET_K, snaplen, 0, 0),
        ("drop",),
        (RET_K, 0, 0, 0),
    ])


def pack(program: list[Instruction]) -> bytes:
    """The program as the kernel's struct sock_filter array."""
    return b"".join(struct.pack("HBBI", *ins) for ins in program)


def attach(sock: socket.socket, program: list[Instruction]) -> None:
    """SO_ATTACH_FILTER: the kernel copies and checks the program (EINVAL when it is malformed)."""
    prog = pack(program)
    buf = ctypes.create_string_buffer(prog)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(prog) // 8, ctypes.addressof(buf)))


def open_capture(program: list[Instruction], snaplen: int, rcvbuf: tuple[int, int] | None = None,
                 outgoing: bool = False) -> socket.socket:
    """A non-blocking SOCK_DGRAM packet socket on all interfaces with ``program`` attached, that skips
    outgoing packets where the kernel can (4.20 and later) unless ``outgoing``. ``rcvbuf``: (forced
    size, size without CAP_NET_ADMIN). Raises PermissionError without CAP_NET_RAW."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    attach(sock, program)
    try:
        if not outgoing:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernels: callers recognise their own packets
    if rcvbuf:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf[0])
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf[1])
    sock.setblocking(False)
    # Anything captured before the filter was attached is not ours to read.
    while True:
        try:
            sock.recv(snaplen)
        except BlockingIOError:
            break
    return sock
