# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What two captures of one transfer say, the way the seed engineer read them side by side.

The sender's capture shows what left (and which ICMP errors came back); the receiver's what
arrived. ``receiver_view`` boils the receiver's packets down to what the comparison needs - the
TCP sequence ranges that arrived per connection (fragments count once reassembled), the fragment
trains that arrived incomplete, the ICMP errors it sent toward the sender - small enough for the
responder to send back over the control channel. ``analyse`` compares the sender's packets with
that view: the first data segment that left and never arrived (sequence, size, DF, whether only
some of its fragments arrived), how often it was retransmitted, the ICMP errors the sender got
and those sent toward it that it never got. Sequence ranges are compared modulo 2**32 from each
connection's first sequence number. Pure: packets in, dicts out.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Iterable, NamedTuple

from ansible_collections.netpath.mtu.plugins.module_utils.transfer.pcap_format import Packet

TCP, ICMP, ICMPV6, FRAGMENT = 6, 1, 58, 44
IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options: skipped on the way
SEQ_SPACE = 1 << 32
MAX_RANGES = 256  # per connection in a receiver view: a clean transfer merges into one
MAX_LISTED = 16  # orphan fragment trains and ICMP errors kept in a view
CLEAN, SEGMENT_LOST, FRAGMENTS_LOST, NO_DATA = "clean", "segment_lost", "fragments_lost", "no_data"


class Seen(NamedTuple):
    """One IP packet, decoded as far as the analysis needs."""

    ts: float
    outgoing: bool
    family: int
    src: str
    dst: str
    size: int  # IP total length
    df: bool  # IPv4's DF bit; always true for IPv6 (routers never fragment it)
    frag_offset: int  # bytes
    more_fragments: bool
    ident: int  # IPv4 identification, or the IPv6 fragment header's
    proto: int
    payload: int  # bytes after the IP (and fragment) header(s) in this packet
    tcp: tuple[int, int, int, int, int] | None  # sport, dport, seq, header length, flags (first fragment or whole)
    icmp: dict | None  # an ICMP error: type, code, mtu

    @property
    def fragment(self) -> bool:
        return self.more_fragments or self.frag_offset > 0


def _addr(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def _tcp(data: bytes, offset: int) -> tuple[int, int, int, int, int] | None:
    if len(data) < offset + 14:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", data, offset)
    hlen = (data[offset + 12] >> 4) * 4
    return sport, dport, seq, hlen, data[offset + 13]


def _quoted_destination(data: bytes, offset: int, family: int) -> str | None:
    """Where the packet an ICMP error quotes was going."""
    at = offset + 8 + (16 if family == 4 else 24)
    size = 4 if family == 4 else 16
    return _addr(data[at:at + size]) if len(data) >= at + size else None


def _icmp(data: bytes, offset: int, family: int) -> dict | None:
    """Destination unreachable (v4 type 3, v6 type 1), time exceeded and packet too big, with the
    quoted packet's destination (``about``); None for other messages."""
    if len(data) < offset + 8:
        return None
    kind, code = data[offset], data[offset + 1]
    if family == 4 and kind in (3, 11):
        mtu = struct.unpack_from("!H", data, offset + 6)[0] if (kind, code) == (3, 4) else None
    elif family == 6 and kind in (1, 2, 3):
        mtu = struct.unpack_from("!I", data, offset + 4)[0] if kind == 2 else None
    else:
        return None
    return {"type": kind, "code": code, "mtu": mtu, "about": _quoted_destination(data, offset, family)}


def parse(packet: Packet) -> Seen | None:
    """The packet decoded, or None when it is not a whole IPv4/IPv6 header."""
    data = packet.data
    if len(data) >= 20 and data[0] >> 4 == 4:
        ihl = (data[0] & 0x0F) * 4
        total, ident, frag, proto = struct.unpack_from("!HHHxB", data, 2)
        offset = (frag & 0x1FFF) * 8
        first = offset == 0
        return Seen(packet.ts, packet.outgoing, 4, _addr(data[12:16]), _addr(data[16:20]), total,
                    bool(frag & 0x4000), offset, bool(frag & 0x2000), ident, proto, total - ihl,
                    _tcp(data, ihl) if first and proto == TCP else None,
                    _icmp(data, ihl, 4) if first and proto == ICMP else None)
    if len(data) >= 40 and data[0] >> 4 == 6:
        total = 40 + struct.unpack_from("!H", data, 4)[0]
        proto, at = data[6], 40
        offset, more, ident = 0, False, 0
        while proto in IPV6_EXTENSIONS and len(data) >= at + 8:
            proto, at = data[at], at + (data[at + 1] + 1) * 8
        if proto == FRAGMENT and len(data) >= at + 8:
            field, ident = struct.unpack_from("!HI", data, at + 2)
            proto = data[at]
            offset, more, at = field & 0xFFF8, bool(field & 1), at + 8
        first = offset == 0
        return Seen(packet.ts, packet.outgoing, 6, _addr(data[8:24]), _addr(data[24:40]), total, True, offset,
                    more, ident, proto, total - at, _tcp(data, at) if first and proto == TCP else None,
                    _icmp(data, at, 6) if first and proto == ICMPV6 else None)
    return None


def parse_all(packets: Iterable[Packet]) -> list[Seen]:
    return [seen for seen in (parse(p) for p in packets) if seen is not None]


# -- sequence ranges --------------------------------------------------------------------------

def _merge(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def _covered(ranges: list[list[int]], start: int, end: int) -> bool:
    return any(lo <= start and end <= hi for lo, hi in ranges)


def _reassemble(train: list[Seen]) -> tuple[bool, Seen | None, int]:
    """(complete, first fragment, payload bytes) of one fragment train."""
    first = next((s for s in train if s.frag_offset == 0), None)
    reach = 0
    for seen in sorted(train, key=lambda s: s.frag_offset):
        if seen.frag_offset > reach:
            break
        reach = max(reach, seen.frag_offset + seen.payload)
    last = any(not s.more_fragments for s in train)
    total = max(s.frag_offset + s.payload for s in train)
    return first is not None and last and reach >= total, first, total


def _segment(seen: Seen, payload: int) -> tuple[str, int, int] | None:
    """(connection key, sequence, TCP payload bytes) of a TCP packet or a reassembled train's first fragment."""
    if seen.tcp is None:
        return None
    sport, dport, seq, hlen, dummy = seen.tcp
    return f"{sport}-{dport}", seq, payload - hlen


def receiver_view(packets: Iterable[Packet], sender: str) -> dict[str, Any]:
    """What arrived from ``sender`` at the receiver, and the ICMP errors it sent toward ``sender``."""
    seen_all = parse_all(packets)
    ranges: dict[str, list[list[int]]] = {}
    trains: dict[tuple, list[Seen]] = {}
    icmp_sent = []
    wire = 0
    for seen in seen_all:
        wire += seen.size if seen.src == sender else 0
        if seen.src != sender:
            if seen.dst == sender and seen.icmp and seen.outgoing:
                icmp_sent.append(_icmp_row(seen))
            continue
        if seen.fragment:
            trains.setdefault((seen.ident, seen.proto), []).append(seen)
            continue
        _add_range(ranges, _segment(seen, seen.payload))
    orphans = []
    for (ident, dummy), train in sorted(trains.items(), key=lambda kv: kv[1][0].ts):
        complete, first, total = _reassemble(train)
        if complete:
            _add_range(ranges, _segment(first, total))
            continue
        orphans.append(_orphan(ident, train, first))
    return {"sender": sender, "packets": len(seen_all), "bytes": wire,
            "ranges": {k: _merge(v)[:MAX_RANGES] for k, v in ranges.items()},
            "orphans": orphans[:MAX_LISTED], "icmp_sent": icmp_sent[:MAX_LISTED]}


def _add_range(ranges: dict[str, list[list[int]]], segment: tuple[str, int, int] | None) -> None:
    if segment is None or segment[2] <= 0:
        return
    key, seq, length = segment
    # Kept unwrapped (seq may pass 2**32): the sender compares modulo 2**32 from its own base.
    ranges.setdefault(key, []).append([seq, seq + length])


def _orphan(ident: int, train: list[Seen], first: Seen | None) -> dict[str, Any]:
    row = {"ident": ident, "offsets": sorted(s.frag_offset for s in train), "first": first is not None,
           "last": any(not s.more_fragments for s in train), "bytes": sum(s.payload for s in train),
           "connection": None, "seq": None}
    if first is not None and first.tcp is not None:
        row["connection"], row["seq"] = f"{first.tcp[0]}-{first.tcp[1]}", first.tcp[2]
    return row


def _icmp_row(seen: Seen) -> dict[str, Any]:
    return {"source": seen.src, **(seen.icmp or {})}


# -- the comparison ---------------------------------------------------------------------------

def _rebase(ranges: list[list[int]], base: int) -> list[list[int]]:
    return _merge([[(lo - base) % SEQ_SPACE, (lo - base) % SEQ_SPACE + hi - lo] for lo, hi in ranges])


def _sent_segments(seen_all: list[Seen], peer: str) -> tuple[dict[str, int], dict[tuple, list[Seen]]]:
    """Each connection's base sequence (its SYN's + 1, else its first) and the data segments sent,
    by (connection, relative sequence), in the order they first left."""
    bases: dict[str, int] = {}
    segments: dict[tuple, list[Seen]] = {}
    for seen in seen_all:
        if not seen.outgoing or seen.dst != peer or seen.tcp is None:
            continue
        sport, dport, seq, hlen, flags = seen.tcp
        key = f"{sport}-{dport}"
        if flags & 0x02:  # SYN
            bases[key] = (seq + 1) % SEQ_SPACE
            continue
        bases.setdefault(key, seq)
        if seen.payload - hlen > 0 and not seen.more_fragments:
            segments.setdefault((key, (seq - bases[key]) % SEQ_SPACE), []).append(seen)
    return bases, segments


def _first_lost(bases: dict[str, int], segments: dict[tuple, list[Seen]], view: dict, start: float) -> tuple:
    ranges = {key: _rebase(r, bases[key]) for key, r in view.get("ranges", {}).items() if key in bases}
    orphan_seqs = {(o["connection"], (o["seq"] - bases[o["connection"]]) % SEQ_SPACE)
                   for o in view.get("orphans", []) if o.get("connection") in bases and o.get("seq") is not None}
    lost = [(key, copies) for key, copies in segments.items()
            if not _covered(ranges.get(key[0], []), key[1], key[1] + copies[0].payload - copies[0].tcp[3])]
    if not lost:
        return None, 0
    (conn, rel), copies = min(lost, key=lambda item: item[1][0].ts)
    smallest = min(copies, key=lambda s: s.size)
    first = copies[0]
    return {"connection": conn, "seq": first.tcp[2], "relative_seq": rel, "size": smallest.payload - smallest.tcp[3],
            "ip_size": smallest.size, "df": first.df, "fragmented": (conn, rel) in orphan_seqs,
            "retransmissions": len(copies) - 1, "sent_at": round(first.ts - start, 6)}, len(lost)


def _icmp_missing(received: list[dict], sent: list[dict]) -> list[dict]:
    left = list(received)
    missing = []
    for row in sent:
        if row in left:
            left.remove(row)
        else:
            missing.append(row)
    return missing


def analyse(sender_packets: Iterable[Packet], peer: str, view: dict[str, Any] | None) -> dict[str, Any]:
    """Compare what the sender sent to ``peer`` with ``view`` (``receiver_view`` of the peer's capture)."""
    seen_all = parse_all(sender_packets)
    start = seen_all[0].ts if seen_all else 0.0
    bases, segments = _sent_segments(seen_all, peer)
    # Errors about packets to the peer only: the capture keeps ICMP errors from anywhere.
    icmp_received = [_icmp_row(s) for s in seen_all if not s.outgoing and s.icmp and s.icmp["about"] == peer]
    result: dict[str, Any] = {
        "verdict": NO_DATA, "sender_packets": len(seen_all), "receiver_packets": None,
        "data_segments_sent": len(segments), "lost_segments": None, "first_lost": None,
        "icmp_received": icmp_received, "icmp_missing": [], "orphan_fragments": [],
    }
    if view is None:
        result["summary"] = "no capture from the receiver to compare with"
        return result
    first_lost, lost = _first_lost(bases, segments, view, start)
    result.update(receiver_packets=view.get("packets"), lost_segments=lost, first_lost=first_lost,
                  icmp_missing=_icmp_missing(icmp_received, view.get("icmp_sent", [])),
                  orphan_fragments=view.get("orphans", []))
    if not segments:
        result["summary"] = "the sender sent no data to compare"
    elif result["orphan_fragments"]:
        result["verdict"] = FRAGMENTS_LOST
    elif first_lost:
        result["verdict"] = SEGMENT_LOST
    else:
        result["verdict"] = CLEAN
    result.setdefault("summary", summary(result))
    return result


def summary(result: dict[str, Any]) -> str:
    """The finding in one sentence."""
    lost = result["first_lost"]
    icmp = result["icmp_received"]
    heard = ", ".join(sorted({f"{r['source']} type {r['type']} code {r['code']}"
                              + (f" MTU {r['mtu']}" if r.get("mtu") else "") for r in icmp}))
    heard = f"the sender received ICMP errors: {heard}" if icmp else "the sender received no ICMP error"
    if result["verdict"] == CLEAN:
        return f"nothing missing: all {result['data_segments_sent']} data segments arrived; {heard}"
    parts = []
    if lost:
        parts.append(f"the data segment at relative sequence {lost['relative_seq']} ({lost['size']} bytes,"
                     f" {lost['ip_size']}-byte packet, DF {'set' if lost['df'] else 'clear'}) left the sender"
                     f" and never arrived{' whole' if lost['fragmented'] else ''}; retransmitted"
                     f" {lost['retransmissions']} times; {result['lost_segments']} segments never arrived")
    if result["orphan_fragments"]:
        parts.append(f"{len(result['orphan_fragments'])} fragment trains arrived incomplete (first fragment"
                     f" {'only' if all(not o['last'] for o in result['orphan_fragments']) else 'or last missing'})")
    parts.append(heard)
    if result["icmp_missing"]:
        parts.append(f"{len(result['icmp_missing'])} ICMP errors sent toward the sender never reached it")
    return "; ".join(parts)
