# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one seam for raw packets: send batches of don't-fragment probes, collect what answers.

Probes go out through IPPROTO_RAW sockets with our own IP header (IP_HDRINCL): the kernel
neither fragments them nor consults its PMTU cache for them (it only refuses packets larger
than the egress device MTU), so a stale cached exception cannot lie to the search. Note that
they do traverse this host's netfilter OUTPUT hook, like an application's packets would.

Answers are read from one AF_PACKET socket opened (with a BPF filter: wire/bpf.py) before the first probe
leaves, so nothing is missed and nothing depends on a socket the kernel would route ICMP
errors to. The capture sees packets before the kernel reassembles them: a fragmented answer
counts only once every fragment has arrived (``FragmentTracker``); a first fragment alone is a
PARTIAL answer (the request got there, the whole reply did not). Packets are built and parsed with ``struct``: scapy needs 0.3-0.9 ms to build and
~0.5 ms to parse one packet, which alone would cost seconds per round on a fleet.

PMTU cache hygiene: a frag-needed quoting an IPv4 echo with an identifier no ping socket owns,
or a UDP datagram no local socket sent, updates no route exception. ICMPv6 packet-too-big
quoting an echo request always does, so for IPv6 echo probes the exceptions this run created
are removed again (``PmtuCacheGuard``, through wire/netlink.py); exceptions that existed before are left alone.

TCP probes (``method="tcp"``) are DF SYNs padded with zero payload to the probe size. Each one leaves from
its own source port (``TCP_PORTS`` consecutive ports from a random base above Linux's default ephemeral
range, so a second SYN never meets the target's half-open state of the first), and its initial sequence
number is the probe sequence shifted left 16 bits. The target acknowledges ISN+1 in a SYN-ACK (Linux drops
SYN data without TCP Fast Open) and ISN+1+payload in a RST (closed port): either way the acknowledgement
minus one, shifted right 16 bits, is the probe sequence, and ICMP errors quote the ISN itself. A SYN-ACK
makes this host's kernel send a RST (no socket owns the port); we send our own RST as well, so no
half-open connection stays on the target even when a local firewall swallows the SYN-ACK.
"""

from __future__ import annotations

import errno
import math
import random
import select
import socket
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable

from ansible_collections.netpath.mtu.plugins.module_utils.wire import bpf, netlink
from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import checksum
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import (
    ECHO,
    HEADER_LEN,
    LOCAL_ERROR,
    PARTIAL,
    PROHIBITED,
    PTB,
    TTL_EXCEEDED,
    UNREACH,
    Answer,
    Outcome,
    Probe,
)

MAGIC = 0x4E50  # "NP": first two payload bytes of every probe
TOKEN = struct.Struct("!HHI")  # magic, run id, probe sequence
IP_MTU_DISCOVER, IPV6_MTU_DISCOVER, PMTUDISC_PROBE = 10, 23, 3
SNAPLEN = 1600  # headers and token are all we read; keeps the receive buffer small
DRAIN_EVERY = 32  # probes sent between two reads of the capture socket
SETTLE_EVERY_S = 0.005  # at most this often the round's end is computed again from new answers
TCP_PORTS = 4096  # source ports of one TCP run: one per probe of a round, reused round after round
TCP_PORT_BASE = (61000, 65536 - TCP_PORTS)  # above Linux's default ephemeral range (32768-60999)
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
TCP_WINDOW = 64240


class ProbeError(Exception):
    """Raised for conditions the module turns into a clear failure message."""


@dataclass(frozen=True)
class PathKey:
    target: str
    family: int
    source: str
    port: int = 0  # destination port of this path (TCP targets given as host:port); 0: the prober's own


# -- checksums and packet building ------------------------------------------------------------

def build_probe(key: PathKey, size: int, ttl: int, method: str, seq: int, run_id: int,
                sport: int, dport: int) -> bytes:
    """One DF probe of exactly ``size`` bytes. The payload is the token, then zeros.

    Zeros add nothing to a ones'-complement sum, so checksums only cover headers and token.
    """
    if method == "tcp":
        return build_tcp(key, size, ttl, sport, dport, tcp_isn(seq), TCP_SYN)
    token = TOKEN.pack(MAGIC, run_id, seq)
    fam = key.family
    ip_len = 20 if fam == 4 else 40
    l4_len = size - ip_len
    if l4_len < 8 + len(token):
        raise ValueError(f"a {size}-byte IPv{fam} probe cannot carry the probe token")
    pad = b"\0" * (l4_len - 8 - len(token))
    src = socket.inet_pton(socket.AF_INET if fam == 4 else socket.AF_INET6, key.source)
    dst = socket.inet_pton(socket.AF_INET if fam == 4 else socket.AF_INET6, key.target)
    if method == "icmp":
        proto = 1 if fam == 4 else 58
        etype = 8 if fam == 4 else 128
        head = struct.pack("!BBHHH", etype, 0, 0, run_id, seq & 0xFFFF)
    else:
        proto = 17
        head = struct.pack("!HHHH", sport, dport, l4_len, 0)
    if fam == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, l4_len) if proto == 17 else b""
    else:
        pseudo = src + dst + struct.pack("!IxxxB", l4_len, proto)
    csum = checksum(pseudo + head + token)
    if proto == 17 and csum == 0:
        csum = 0xFFFF
    head = head[:2] + struct.pack("!H", csum) + head[4:] if proto != 17 else head[:6] + struct.pack("!H", csum)
    if fam == 4:
        # id carries the sequence too (quoted in every ICMP error); 0 would be replaced by the kernel.
        ip_id = (seq & 0xFFFF) or 1
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, ip_id, 0x4000, ttl, proto, 0, src, dst)
    else:
        iph = struct.pack("!IHBB16s16s", 0x60000000, l4_len, proto, ttl, src, dst)
    return iph + head + token + pad


def tcp_isn(seq: int) -> int:
    """The initial sequence number of probe ``seq``: its low 16 bits stay free for the payload length a
    RST acknowledges, so the acknowledgement never carries into the sequence."""
    return (seq & 0xFFFF) << 16


def _ip_header(key: PathKey, size: int, ttl: int, proto: int, ip_id: int) -> tuple[bytes, bytes, bytes]:
    """(IP header, source, destination) of a ``size``-byte DF packet."""
    af = socket.AF_INET if key.family == 4 else socket.AF_INET6
    src, dst = socket.inet_pton(af, key.source), socket.inet_pton(af, key.target)
    if key.family == 4:
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, ip_id or 1, 0x4000, ttl, proto, 0, src, dst), src, dst
    return struct.pack("!IHBB16s16s", 0x60000000, size - 40, proto, ttl, src, dst), src, dst


def build_tcp(key: PathKey, size: int, ttl: int, sport: int, dport: int, seq: int, flags: int) -> bytes:
    """A ``size``-byte TCP segment without options (SYN probe or RST), padded with zeros (DF on IPv4)."""
    ip_len = 20 if key.family == 4 else 40
    l4_len = size - ip_len
    if l4_len < 20:
        raise ValueError(f"a {size}-byte IPv{key.family} packet cannot carry a TCP header")
    iph, src, dst = _ip_header(key, size, ttl, 6, (seq >> 16) & 0xFFFF)
    window = TCP_WINDOW if flags & TCP_SYN else 0
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, flags, window, 0, 0)
    if key.family == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, l4_len)
    else:
        pseudo = src + dst + struct.pack("!IxxxB", l4_len, 6)
    csum = checksum(pseudo + head)  # the zero payload adds nothing
    return iph + head[:16] + struct.pack("!H", csum) + head[18:] + b"\0" * (l4_len - 20)


# -- parsing answers --------------------------------------------------------------------------

@dataclass(frozen=True)
class Parsed:
    seq: int
    run_id: int | None
    target: str  # the probe's destination, from the echo source or the quoted header
    answer: Answer
    port: int | None = None  # TCP: the probe's source port (the answer's destination port, or quoted)
    syn_ack: bool = False  # TCP: the target accepted the connection; it needs our RST
    rport: int | None = None  # TCP: the target's port


def _parse_tcp(pkt: bytes, off: int, source: str, ttl: int) -> Parsed | None:
    """A SYN-ACK or RST-ACK from the target, answering the SYN whose sequence its acknowledgement names."""
    if len(pkt) < off + 14:
        return None
    rport, lport, _seq, ack, _doff, flags = struct.unpack_from("!HHIIBB", pkt, off)
    if not flags & TCP_ACK or not flags & (TCP_SYN | TCP_RST):
        return None
    seq = ((ack - 1) & 0xFFFFFFFF) >> 16
    return Parsed(seq, None, source, Answer(ECHO, source, ttl=ttl, code=flags), port=lport,
                  syn_ack=bool(flags & TCP_SYN) and not flags & TCP_RST, rport=rport)


def _quoted_tcp(parsed: Parsed, l4: bytes) -> Parsed:
    """An ICMP error quoting one of our SYNs: the sequence is in its ISN, the run in its source port."""
    sport, dport, isn = struct.unpack_from("!HHI", l4, 0)
    return replace(parsed, seq=isn >> 16, run_id=None, port=sport, rport=dport)


def _token(payload: bytes) -> tuple[int, int] | None:
    if len(payload) >= TOKEN.size:
        magic, run_id, seq = TOKEN.unpack_from(payload)
        if magic == MAGIC:
            return run_id, seq
    return None


def parse(pkt: bytes, method: str) -> Parsed | None:
    """Turn one received IP packet into an answer to one of our probes, or None.

    The first fragment of a fragmented reply gives a PARTIAL answer (see FragmentTracker);
    later fragments carry no headers and give None.
    """
    if not pkt:
        return None
    version = pkt[0] >> 4
    if version == 4:
        parsed = _parse4(pkt, method)
    elif version == 6:
        parsed = _parse6(pkt, method)
    else:
        return None
    if parsed is not None and parsed.answer.kind == ECHO and fragment_of(pkt) is not None:
        return replace(parsed, answer=replace(parsed.answer, kind=PARTIAL))
    return parsed


# -- fragments ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fragment:
    key: tuple  # one datagram: (4, source, protocol, IP id) or (6, source, fragment id)
    offset: int  # bytes
    length: int  # payload bytes this fragment carries (from the header: the capture is cut at SNAPLEN)
    more: bool  # more fragments follow (MF / M flag)


def fragment_of(pkt: bytes) -> Fragment | None:
    """The fragment this packet is, or None when it is a whole datagram."""
    if len(pkt) >= 20 and pkt[0] >> 4 == 4:
        ihl = (pkt[0] & 0x0F) * 4
        total, ident, flags = struct.unpack_from("!HHH", pkt, 2)
        offset, more = (flags & 0x1FFF) * 8, bool(flags & 0x2000)
        if not offset and not more:
            return None
        return Fragment((4, pkt[12:16], pkt[9], ident), offset, total - ihl, more)
    if len(pkt) >= 48 and pkt[0] >> 4 == 6 and pkt[6] in EXT6:
        # Linux puts the fragment header right after the fixed header of the replies it fragments;
        # others may put hop-by-hop or destination options before it.
        walked = _walk6(pkt, 40, pkt[6], first_only=False)
        if walked is None or walked[2] is None:
            return None
        off, dummy, (frag_at, offset, more, ident) = walked
        if not offset and not more:
            return None  # an atomic fragment is a whole datagram
        payload = struct.unpack_from("!H", pkt, 4)[0]
        return Fragment((6, pkt[8:24], ident), offset, payload - (frag_at + 8 - 40), more)
    return None


@dataclass
class _Held:
    pieces: list[tuple[int, int]] = field(default_factory=list)
    end: int | None = None
    first: Parsed | None = None


class FragmentTracker:
    """Which parts of each fragmented answer have arrived (offsets only, never data).

    Bounded: at most ``limit`` datagrams (the oldest is forgotten first) of ``max_pieces``
    fragments each, so a flood of fragments costs a few kilobytes.
    """

    def __init__(self, limit: int = 512, max_pieces: int = 64) -> None:
        self.limit = limit
        self.max_pieces = max_pieces
        self._held: OrderedDict[tuple, _Held] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def add(self, frag: Fragment, first: Parsed | None = None) -> Parsed | None:
        """Note one fragment (``first``: what its first fragment parsed to, if this is it).

        Returns the first fragment's answer, as a whole ECHO, once offsets 0..end are all covered
        and the last fragment (no more-fragments flag) is among them; None until then.
        """
        held = self._held.get(frag.key)
        if held is None:
            held = self._held[frag.key] = _Held()
            while len(self._held) > self.limit:
                self._held.popitem(last=False)
        if len(held.pieces) >= self.max_pieces:
            return None
        held.pieces.append((frag.offset, frag.offset + frag.length))
        if not frag.more:
            held.end = frag.offset + frag.length
        if first is not None:
            held.first = first
        if held.first is None or held.end is None or not _covers(held.pieces, held.end):
            return None
        del self._held[frag.key]
        answer = held.first.answer
        return replace(held.first, answer=replace(answer, kind=ECHO)) if answer.kind == PARTIAL else held.first


def _covers(pieces: list[tuple[int, int]], end: int) -> bool:
    reach = 0
    for start, stop in sorted(pieces):
        if start > reach:
            return False
        reach = max(reach, stop)
    return reach >= end


def _parse4(pkt: bytes, method: str) -> Parsed | None:
    if len(pkt) < 28:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    frag = struct.unpack_from("!H", pkt, 6)[0] & 0x1FFF
    if frag:
        return None  # only first fragments carry the headers
    ttl, proto = pkt[8], pkt[9]
    source = socket.inet_ntop(socket.AF_INET, pkt[12:16])
    if proto == 17 and method == "udp":
        tok = _token(pkt[ihl + 8:])
        if tok:
            return Parsed(tok[1], tok[0], source, Answer(ECHO, source, ttl=ttl))
        return None
    if proto == 6 and method == "tcp":
        return _parse_tcp(pkt, ihl, source, ttl)
    if proto != 1 or len(pkt) < ihl + 8:
        return None
    icmp_type, code = pkt[ihl], pkt[ihl + 1]
    if icmp_type == 0:
        ident, seq = struct.unpack_from("!HH", pkt, ihl + 4)
        tok = _token(pkt[ihl + 8:])
        if tok:
            ident, seq = tok
        return Parsed(seq, ident, source, Answer(ECHO, source, ttl=ttl))
    if icmp_type not in (3, 11):
        return None
    inner = pkt[ihl + 8:]
    if len(inner) < 28 or inner[0] >> 4 != 4:
        return None
    iihl = (inner[0] & 0x0F) * 4
    ip_id = struct.unpack_from("!H", inner, 4)[0]
    iproto = inner[9]
    target = socket.inet_ntop(socket.AF_INET, inner[16:20])
    l4 = inner[iihl:]
    run_id, seq = None, ip_id
    if iproto == 1 and len(l4) >= 8 and l4[0] == 8:
        run_id, seq = struct.unpack_from("!HH", l4, 4)
    elif iproto == 17 and len(l4) >= 8:
        run_id = None  # matched on the source port by the caller
        seq = ip_id
    elif iproto == 6 and len(l4) >= 8 and method == "tcp":
        pass  # sequence and port from the quoted TCP header, below
    else:
        return None
    tok = _token(l4[8:]) if iproto != 6 else None
    if tok:
        run_id, seq = tok
    if icmp_type == 11:
        if code != 0:
            return None
        ans = Answer(TTL_EXCEEDED, source, ttl=ttl, code=code)
    elif code == 4:
        ans = Answer(PTB, source, mtu=struct.unpack_from("!H", pkt, ihl + 6)[0], code=code)
    elif code in (2, 3) and source == target:
        ans = Answer(ECHO, source, ttl=ttl, code=code)  # the target got it and said "closed"
    elif code in (9, 10, 13):
        ans = Answer(PROHIBITED, source, code=code)
    else:
        ans = Answer(UNREACH, source, code=code)
    parsed = Parsed(seq, run_id, target, ans)
    if iproto == 6:
        return _quoted_tcp(parsed, l4)
    if iproto == 17 and len(l4) >= 2:
        return _with_port(parsed, struct.unpack_from("!H", l4, 0)[0])
    return parsed


def _with_port(parsed: Parsed, sport: int) -> Parsed:
    # UDP errors: the run is identified by our source port; run_id field is reused for it.
    return Parsed(parsed.seq, -sport if parsed.run_id is None else parsed.run_id, parsed.target, parsed.answer)


# IPv6 extension headers a packet may carry before its upper layer: hop-by-hop options,
# routing, fragment, destination options (RFC 8200 4.1).
EXT6 = frozenset({0, 43, 44, 60})


def _walk6(pkt: bytes, off: int, nh: int, first_only: bool = True) -> tuple[int, int, tuple | None] | None:
    """Skip the extension headers from ``off``: (upper-layer offset, its protocol, fragment header or None).

    The fragment header is (its offset, fragment offset in bytes, more flag, identification).
    None when the headers are cut short, or (``first_only``) this is not a first fragment; a
    later fragment (without ``first_only``) stops the walk right after its fragment header.
    """
    frag = None
    for dummy in range(8):  # a chain longer than this is not worth following
        if nh not in EXT6:
            return off, nh, frag
        if len(pkt) < off + 8:
            return None
        if nh == 44:
            flags, ident = struct.unpack_from("!HI", pkt, off + 2)
            frag = (off, flags & 0xFFF8, bool(flags & 1), ident)
            if frag[1]:
                # not the first fragment: what follows is data from the middle of the datagram
                return None if first_only else (off + 8, pkt[off], frag)
            nh, off = pkt[off], off + 8
        else:
            nh, off = pkt[off], off + (pkt[off + 1] + 1) * 8
    return None


def _skip_frag6(pkt: bytes, off: int, nh: int) -> tuple[int, int] | None:
    walked = _walk6(pkt, off, nh)
    return None if walked is None else walked[:2]


def _parse6(pkt: bytes, method: str) -> Parsed | None:
    if len(pkt) < 48:
        return None
    hlim = pkt[7]
    source = socket.inet_ntop(socket.AF_INET6, pkt[8:24])
    skipped = _skip_frag6(pkt, 40, pkt[6])
    if skipped is None:
        return None
    off, nh = skipped
    if nh == 17 and method == "udp":
        tok = _token(pkt[off + 8:])
        if tok:
            return Parsed(tok[1], tok[0], source, Answer(ECHO, source, ttl=hlim))
        return None
    if nh == 6 and method == "tcp":
        return _parse_tcp(pkt, off, source, hlim)
    if nh != 58 or len(pkt) < off + 8:
        return None
    icmp_type, code = pkt[off], pkt[off + 1]
    if icmp_type == 129:
        ident, seq = struct.unpack_from("!HH", pkt, off + 4)
        tok = _token(pkt[off + 8:])
        if tok:
            ident, seq = tok
        return Parsed(seq, ident, source, Answer(ECHO, source, ttl=hlim))
    if icmp_type not in (1, 2, 3):
        return None
    inner = pkt[off + 8:]
    if len(inner) < 48 or inner[0] >> 4 != 6:
        return None
    target = socket.inet_ntop(socket.AF_INET6, inner[24:40])
    iskip = _skip_frag6(inner, 40, inner[6])
    if iskip is None:
        return None
    ioff, inh = iskip
    l4 = inner[ioff:]
    if len(l4) < 8:
        return None
    if inh == 58 and l4[0] == 128:
        run_id, seq = struct.unpack_from("!HH", l4, 4)
    elif inh == 17:
        run_id, seq = None, -1
    elif inh == 6 and method == "tcp":
        run_id, seq = None, -1  # from the quoted TCP header, below
    else:
        return None
    tok = _token(l4[8:]) if inh != 6 else None
    if tok:
        run_id, seq = tok
    if icmp_type == 2:
        ans = Answer(PTB, source, mtu=struct.unpack_from("!I", pkt, off + 4)[0], code=code)
    elif icmp_type == 3:
        if code != 0:
            return None
        ans = Answer(TTL_EXCEEDED, source, ttl=hlim, code=code)
    elif code == 4 and source == target:
        ans = Answer(ECHO, source, ttl=hlim, code=code)
    elif code in (1, 5, 6):
        ans = Answer(PROHIBITED, source, code=code)
    else:
        ans = Answer(UNREACH, source, code=code)
    parsed = Parsed(seq, run_id, target, ans)
    if inh == 6:
        return _quoted_tcp(parsed, l4)
    if inh == 17 and run_id is None:
        return _with_port(parsed, struct.unpack_from("!H", l4, 0)[0])
    return parsed


def source_for(family: int, target: str, interface: str | None) -> str:
    """The source address the kernel would pick, without sending anything (UDP connect)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(af, socket.SOCK_DGRAM) as s:
        if interface:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        s.connect((target, 9))
        return s.getsockname()[0]


def _delete_exception6(target: str, table: int | None) -> None:
    """Remove one exception; one that expired in the meantime (ESRCH) counts as removed."""
    try:
        netlink.delete_exception6(target, table)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


class PmtuCacheGuard:
    """Remember which IPv6 targets had no PMTU exception, and remove the ones this run leaves."""

    def __init__(self, keys: list[PathKey]) -> None:
        self.before: dict[PathKey, netlink.Route] = {}
        for key in keys:
            if key.family == 6:
                try:
                    self.before[key] = netlink.route_get(6, key.target)
                except (netlink.NoRoute, OSError):
                    pass

    def cleanup(self) -> list[str]:
        removed = []
        for key, before in self.before.items():
            if before.exception_mtu is not None:
                continue  # not ours: leave it
            try:
                now = netlink.route_get(6, key.target)
                if now.exception_mtu is not None:
                    _delete_exception6(key.target, now.table)
                    removed.append(key.target)
            except (netlink.NoRoute, OSError):
                pass
        return removed


# -- the prober -----------------------------------------------------------------------------------

# pmtu.RoundEnds: (outcomes so far, paths with new answers) -> when the round may end (time.monotonic)
Settled = Callable[[dict[PathKey, list[Outcome]], set[PathKey]], float]


class Prober:
    """Sends rounds of probes for many paths at once and collects the answers."""

    def __init__(self, method: str = "icmp", port: int = 33434, interface: str | None = None,
                 rate: int = 0, burst: int = 256) -> None:
        if method not in ("icmp", "udp", "tcp"):
            raise ValueError(f"unsupported method {method!r}")
        self.method = method
        self.port = port
        self.interface = interface
        self.rate = rate
        self.burst = burst
        self.run_id = random.randint(1, 0xFFFF)
        # TCP: the first of TCP_PORTS source ports, one per probe of a round
        self.sport = random.randint(*TCP_PORT_BASE) if method == "tcp" else random.randint(40000, 60999)
        self.seq = random.randint(1, 0xFFFF)
        self.packets_sent = 0
        self._socks: dict[int, socket.socket] = {}
        self._cap: socket.socket | None = None
        self._fragments = FragmentTracker()
        self._sent_at: dict[tuple[int, str], float] = {}
        self._port_of: dict[tuple[int, str], int] = {}  # TCP: (sequence, target) -> the probe's source port
        self._key_of: dict[tuple[int, str], PathKey] = {}
        self.resets_sent = 0

    def open(self, families: set[int]) -> None:
        try:
            tcp = (self.sport, self.sport + TCP_PORTS - 1) if self.method == "tcp" else None
            self._cap = bpf.open_capture(bpf.probe_answers(self.method == "udp", SNAPLEN, tcp), SNAPLEN,
                                         rcvbuf=(32 << 20, 8 << 20))  # room for a fleet's burst
            for fam in sorted(families):
                af = socket.AF_INET if fam == 4 else socket.AF_INET6
                s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
                self._socks[fam] = s
                # PROBE: size checks against the device MTU only. Without it a cached PMTU
                # exception (stale or not) makes the kernel drop bigger probes and answer itself.
                if fam == 4:
                    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, PMTUDISC_PROBE)
                else:
                    s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, PMTUDISC_PROBE)
                if self.interface:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
        except PermissionError as exc:
            self.close()
            raise ProbeError(
                "raw sockets need root or CAP_NET_RAW (probes are sent with our own IP header and"
                " answers read from a packet socket); run with become: true"
            ) from exc

    def close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks.clear()
        if self._cap is not None:
            self._cap.close()
            self._cap = None

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        if self.seq == 0:
            self.seq = 1
        return self.seq

    def send_round(self, batch: list[tuple[PathKey, Probe]], settled: Settled, timeout: float) -> dict[PathKey, list[Outcome]]:
        """Send every probe of ``batch`` (in order), then collect until ``settled`` says the round may end
        (it returns a time on this clock, see pmtu.RoundEnds) or ``timeout`` after the last send, whichever
        comes first. Answers carry their arrival time and round-trip time."""
        outcomes: dict[PathKey, list[Outcome]] = {}
        by_seq_target: dict[tuple[int, str], list] = {}
        key_of: dict[tuple[int, str], PathKey] = {}  # seq wraps: a big round reuses one for another target
        self._sent_at = {}
        self._port_of = {}
        self._key_of = key_of
        unanswered = 0
        answered_seqs: set[int] = set()
        fresh: list[tuple[int, str]] = []  # (seq, target) of whole answers not yet shown to ``settled``
        tokens, last = float(self.burst), time.monotonic()
        for n, (key, probe) in enumerate(batch):
            if self.rate:
                now = time.monotonic()
                tokens = min(float(self.burst), tokens + (now - last) * self.rate)
                last = now
                if tokens < 1:
                    time.sleep((1 - tokens) / self.rate)
                    tokens = 1.0
                tokens -= 1
            seq = self._next_seq()
            answers: list[Answer] = []
            outcomes.setdefault(key, []).append((probe, answers))
            by_seq_target[(seq, key.target)] = answers
            key_of[(seq, key.target)] = key
            ttl = probe.ttl or 64
            sport = self._sport(seq)
            if self.method == "tcp":
                self._port_of[(seq, key.target)] = sport
            pkt = build_probe(key, probe.size, ttl, self.method, seq, self.run_id, sport, key.port or self.port)
            self._sent_at[(seq, key.target)] = time.monotonic()
            err = self._send(key, pkt)
            self.packets_sent += 1
            if err is not None:
                answers.append(err)
            else:
                unanswered += 1
            if n % DRAIN_EVERY == DRAIN_EVERY - 1:
                # Read while sending: big batches would overflow the capture buffer, and answers
                # stamped when they are read long after arriving would inflate the RTTs.
                self._drain(by_seq_target, answered_seqs, fresh)
        hard = time.monotonic() + timeout
        end, next_call = hard, 0.0
        changed = {key_of[sent] for sent in fresh}
        fresh.clear()
        poller = select.poll()
        poller.register(self._cap, select.POLLIN)
        while unanswered > len(answered_seqs):
            now = time.monotonic()
            if changed and (now >= next_call or now >= end):
                # New answers can move the end either way; ask at most every SETTLE_EVERY_S.
                end = min(hard, settled(outcomes, changed))
                changed, next_call = set(), now + SETTLE_EVERY_S
            if now >= end:
                break
            wake = min(end, next_call) if changed else end
            if poller.poll(max(1, math.ceil((wake - now) * 1000))):
                fresh.clear()
                self._drain(by_seq_target, answered_seqs, fresh)
                changed.update(key_of[sent] for sent in fresh)
        return outcomes

    def _sport(self, seq: int) -> int:
        return self.sport + seq % TCP_PORTS if self.method == "tcp" else self.sport

    def _reset(self, p: Parsed) -> None:
        """RST the connection a SYN-ACK opened on the target (its seq is our ISN+1; no ACK needed)."""
        key = self._key_of.get((p.seq, p.target))
        if key is None or p.port is None or p.rport is None:
            return
        self._send(key, build_tcp(key, HEADER_LEN[key.family] + 20, 64, p.port, p.rport, tcp_isn(p.seq) + 1, TCP_RST))
        self.resets_sent += 1

    def _send(self, key: PathKey, pkt: bytes) -> Answer | None:
        sock = self._socks[key.family]
        for _attempt in range(100):
            try:
                sock.sendto(pkt, (key.target, 0))
                return None
            except BlockingIOError:
                time.sleep(0.001)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    time.sleep(0.001)
                    continue
                if exc.errno == errno.EMSGSIZE:
                    return Answer(LOCAL_ERROR, None, code=exc.errno)
                if exc.errno in (errno.EPERM, errno.EACCES):
                    return Answer(PROHIBITED, None, code=exc.errno)  # our own OUTPUT firewall
                return Answer(UNREACH, None, code=exc.errno)
        return Answer(LOCAL_ERROR, None, code=errno.ENOBUFS)

    def _drain(self, by_seq_target: dict[tuple[int, str], list], answered: set[int],
               fresh: list[tuple[int, str]] | None = None) -> int:
        """Read what the capture holds; whole answers' sequence numbers go to ``answered`` (and
        (sequence, target) to ``fresh``)."""
        got = 0
        if self._cap is None:
            return got
        while True:
            try:
                pkt = self._cap.recv(SNAPLEN)
            except BlockingIOError:
                return got
            p = parse(pkt, self.method)
            frag = fragment_of(pkt)
            if frag is not None:
                if p is not None:
                    self._note(by_seq_target, p)  # a first fragment: PARTIAL until its siblings arrive
                p = self._fragments.add(frag, p)
            if p is None or not self._note(by_seq_target, p):
                continue
            answered.add(p.seq)
            if fresh is not None:
                fresh.append((p.seq, p.target))
            got += 1

    def _note(self, by_seq_target: dict[tuple[int, str], list], p: Parsed) -> bool:
        """File one answer under its probe, stamped with its arrival and round-trip time; True when it
        is a whole answer to one of ours."""
        if p.run_id is not None and p.run_id not in (self.run_id, -self.sport):
            return False
        answers = by_seq_target.get((p.seq, p.target))
        if answers is None:
            return False
        if p.port is not None and self._port_of.get((p.seq, p.target)) != p.port:
            return False  # TCP: another connection of this host, or a probe of another run
        if p.syn_ack:
            self._reset(p)
        now = time.monotonic()
        sent = self._sent_at.get((p.seq, p.target))
        p = replace(p, answer=replace(p.answer, at=now, rtt=None if sent is None else max(0.0, now - sent)))
        if p.answer.kind == PARTIAL:
            answers.append(p.answer)
            return False
        # The whole reply supersedes the note its first fragment left.
        answers[:] = [a for a in answers if a.kind != PARTIAL] + [p.answer]
        return True
