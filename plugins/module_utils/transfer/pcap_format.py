# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The classic pcap file format (what tcpdump -w writes), with the Linux "cooked" link type.

A SOCK_DGRAM packet socket hands over packets from the network header on, plus a sockaddr_ll
naming the packet's direction and protocol; LINKTYPE_LINUX_SLL keeps exactly that (so Wireshark
shows "Sent"/"Received" and both IP versions), without inventing Ethernet headers. Pure: bytes in,
bytes out; the capture seam writes the file.
"""

from __future__ import annotations

import struct
from typing import Iterable, NamedTuple

MAGIC = 0xA1B2C3D4  # microsecond timestamps
LINKTYPE_LINUX_SLL = 113
FILE_HEADER = struct.Struct("=IHHiIII")  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
RECORD_HEADER = struct.Struct("=IIII")  # seconds, microseconds, captured length, original length
SLL_HEADER = struct.Struct("!HHH8sH")  # packet type, ARPHRD, address length, address, protocol
PACKET_HOST, PACKET_OUTGOING = 0, 4
ARPHRD_ETHER = 1
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD


class Packet(NamedTuple):
    """One captured packet: when, the bytes from the IP header on, its length on the wire, sent or received."""

    ts: float
    data: bytes
    length: int
    outgoing: bool


def file_header(snaplen: int) -> bytes:
    return FILE_HEADER.pack(MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_LINUX_SLL)


def record(packet: Packet) -> bytes:
    """One pcap record: the cooked header (direction and protocol) and the packet's bytes."""
    proto = ETH_P_IPV6 if packet.data[:1] and packet.data[0] >> 4 == 6 else ETH_P_IP
    sll = SLL_HEADER.pack(PACKET_OUTGOING if packet.outgoing else PACKET_HOST, ARPHRD_ETHER, 0, bytes(8), proto)
    seconds = int(packet.ts)
    micros = min(999999, int(round((packet.ts - seconds) * 1e6)))
    return RECORD_HEADER.pack(seconds, micros, len(sll) + len(packet.data), len(sll) + packet.length) + sll + packet.data


def encode(packets: Iterable[Packet], snaplen: int) -> bytes:
    return file_header(snaplen) + b"".join(record(p) for p in packets)


def decode(blob: bytes) -> list[Packet]:
    """The packets of a pcap file this module wrote (or any LINKTYPE_LINUX_SLL one in host byte order
    or swapped); raises ValueError on anything else."""
    if len(blob) < FILE_HEADER.size:
        raise ValueError("not a pcap file: too short")
    for order in ("<", ">"):
        header = struct.unpack_from(order + "IHHiIII", blob)
        if header[0] == MAGIC:
            break
    else:
        raise ValueError("not a pcap file: bad magic")
    if header[6] != LINKTYPE_LINUX_SLL:
        raise ValueError(f"link type {header[6]} is not LINUX_SLL ({LINKTYPE_LINUX_SLL})")
    out, offset = [], FILE_HEADER.size
    while offset + RECORD_HEADER.size <= len(blob):
        seconds, micros, caplen, origlen = struct.unpack_from(order + "IIII", blob, offset)
        offset += RECORD_HEADER.size
        frame = blob[offset:offset + caplen]
        offset += caplen
        if len(frame) < SLL_HEADER.size:
            raise ValueError("truncated pcap record")
        pkttype = SLL_HEADER.unpack_from(frame)[0]
        out.append(Packet(seconds + micros / 1e6, frame[SLL_HEADER.size:], origlen - SLL_HEADER.size,
                          pkttype == PACKET_OUTGOING))
    return out
