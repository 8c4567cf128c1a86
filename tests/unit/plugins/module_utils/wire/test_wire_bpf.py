# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wire/bpf: the capture filters run on packets captured from Linux and on packets scapy builds, by a
small classic-BPF interpreter; the attach call against the kernel's own checker and filter."""

from __future__ import annotations

import socket
import struct

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.probe_io import fragment_of, parse
from ansible_collections.netpath.mtu.plugins.module_utils.wire import bpf
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils import test_packets_oracle as oracle
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.ptb.test_ptb_packets import ICMP4, ICMP6, ORIG4, ORIG6

inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")
IP, IPv6, UDP, TCP = inet.IP, inet6.IPv6, inet.UDP, inet.TCP


def run_bpf(program, packet: bytes) -> int:
    """A classic-BPF interpreter for the opcodes wire/bpf uses; returns the snap length (0: dropped).

    Like the kernel, a load beyond the packet's end drops it."""
    acc = idx = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        loads = {bpf.LD_B_ABS: (k, "!B"), bpf.LD_H_ABS: (k, "!H"), bpf.LD_H_IND: (idx + k, "!H"),
                 bpf.LDX_B_MSH: (k, "!B"), bpf.LD_W_ABS: (k, "!I"), bpf.LD_B_IND: (idx + k, "!B")}
        if code in loads:
            offset, fmt = loads[code]
            if offset + struct.calcsize(fmt) > len(packet):
                return 0
            value = struct.unpack_from(fmt, packet, offset)[0]
            if code == bpf.LDX_B_MSH:
                idx = (value & 0x0F) * 4
            else:
                acc = value
        elif code == bpf.RSH_K:
            acc >>= k
        elif code == bpf.JEQ_K:
            pc += jt if acc == k else jf
        elif code == bpf.JGE_K:
            pc += jt if acc >= k else jf
        elif code == bpf.JGT_K:
            pc += jt if acc > k else jf
        elif code == bpf.JSET_K:
            pc += jt if acc & k else jf
        elif code == bpf.RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def test_assemble_resolves_labels_to_relative_jumps():
    program = bpf.assemble([
        (bpf.LD_B_ABS, 0, 0, 0),
        (bpf.JEQ_K, 0x45, "yes", "no"),
        ("no",),
        (bpf.RET_K, 0, 0, 0),
        ("yes",),
        (bpf.RET_K, 9, 0, 0),
    ])
    assert program == [(0x30, 0, 0, 0), (0x15, 1, 0, 0x45), (0x06, 0, 0, 0), (0x06, 0, 0, 9)]


def test_pack_is_struct_sock_filter():
    assert bpf.pack([(bpf.RET_K, 1, 2, 0x10203)]) == struct.pack("HBBI", 6, 1, 2, 0x10203)
    assert len(bpf.pack(bpf.udp_dport(33533, 2048))) == 8 * len(bpf.udp_dport(33533, 2048))


# -- ptb_check's responder: the probes to its port, nothing else ---------------------------------------

def test_udp_dport_keeps_probes_only():
    """On the packets captured from Linux (see test_ptb_packets)."""
    program = bpf.udp_dport(33533, 2048)
    assert run_bpf(program, ORIG4) == 2048
    assert run_bpf(program, ORIG6) == 2048
    assert run_bpf(bpf.udp_dport(33534, 2048), ORIG4) == 0
    assert run_bpf(bpf.udp_dport(33534, 2048), ORIG6) == 0
    assert run_bpf(program, ICMP4) == 0
    assert run_bpf(program, ICMP6) == 0
    fragment = bytearray(ORIG4)
    fragment[6:8] = b"\x00\x10"  # offset, no MF
    assert run_bpf(program, bytes(fragment)) == 0
    with_options = bytearray(ORIG4[:20]) + b"\x01\x01\x01\x00" + ORIG4[20:]  # IHL 6: port at 26
    with_options[0] = 0x46
    assert run_bpf(program, bytes(with_options)) == 2048


@pytest.mark.parametrize("pkt, kept", [
    (IP(src=oracle.ME4, dst=oracle.TARGET4) / UDP(sport=1, dport=4242) / b"x", True),
    (IP(src=oracle.ME4, dst=oracle.TARGET4, options=oracle.ROUTER_ALERT) / UDP(dport=4242), True),
    (IP(src=oracle.ME4, dst=oracle.TARGET4, flags="MF") / UDP(dport=4242), False),  # first fragment
    (IP(src=oracle.ME4, dst=oracle.TARGET4) / UDP(dport=4243), False),
    (IP(src=oracle.ME4, dst=oracle.TARGET4) / UDP(sport=4242, dport=53), False),
    (IP(src=oracle.ME4, dst=oracle.TARGET4) / TCP(dport=4242), False),
    (IPv6(src=oracle.ME6, dst=oracle.TARGET6) / UDP(dport=4242), True),
    (IPv6(src=oracle.ME6, dst=oracle.TARGET6) / UDP(dport=4243), False),
    (IPv6(src=oracle.ME6, dst=oracle.TARGET6) / TCP(dport=4242), False),
    (IPv6(src=oracle.ME6, dst=oracle.TARGET6) / inet6.IPv6ExtHdrFragment() / UDP(dport=4242), False),
])
def test_udp_dport_on_packets_scapy_builds(pkt, kept):
    assert run_bpf(bpf.udp_dport(4242, 1500), bytes(pkt)) == (1500 if kept else 0)


# -- path_mtu_info's prober: every answer its parser reads ---------------------------------------------

def all_answers():
    yield "icmp", oracle.error4(3, 4, "icmp", mtu=1400), True
    yield "udp", oracle.error4(11, 0, "udp", outer_options=oracle.ROUTER_ALERT), True
    yield "udp", bytes(oracle.echo4("udp")), True
    yield "icmp", bytes(oracle.echo4("udp")), False
    for ext in oracle.EXT6.values():
        yield "icmp", oracle.error6(inet6.ICMPv6PacketTooBig, "icmp", ext=ext, mtu=1400), True
    yield "udp", bytes(oracle.echo6("udp")), True
    yield "icmp", bytes(oracle.echo6("udp")), False
    for raw in oracle.frags6("icmp", 4000, 1280) + oracle.frags4("udp", 4000, 1480):
        yield "udp", raw, True
    yield "icmp", bytes(IP(src=oracle.TARGET4, dst=oracle.ME4) / TCP()), False
    yield "icmp", bytes(IPv6(src=oracle.TARGET6, dst=oracle.ME6) / inet6.IPv6ExtHdrHopByHop() / TCP()), True  # parsed away


@pytest.mark.parametrize("method,raw,accepted", list(all_answers()))
def test_probe_answers_accepts_what_the_parser_reads(method, raw, accepted):
    snap = run_bpf(bpf.probe_answers(method == "udp", probe_io.SNAPLEN), raw)
    assert snap == (probe_io.SNAPLEN if accepted else 0)
    if not accepted or fragment_of(raw[:snap]) is not None:
        return
    assert parse(raw[:snap], method) is not None or IPv6(raw).haslayer(TCP)


# -- attach: the kernel checks the program and runs it -------------------------------------------------

def first_payload_byte_is(value: int) -> list:
    """For a UDP socket the filter sees the datagram from its UDP header on: payload starts at 8."""
    return bpf.assemble([(bpf.LD_B_ABS, 8, 0, 0), (bpf.JEQ_K, value, 0, "drop"), (bpf.RET_K, 0xFFFF, 0, 0),
                         ("drop",), (bpf.RET_K, 0, 0, 0)])


def test_attach_filters_what_a_socket_receives():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        bpf.attach(rx, first_payload_byte_is(ord("A")))
        for data in (b"B dropped", b"A kept"):
            tx.sendto(data, rx.getsockname())
        assert rx.recv(64) == b"A kept"


def test_attach_refuses_a_malformed_program():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(OSError):
            bpf.attach(sock, [(bpf.LD_B_ABS, 0, 0, 0)])  # no return: the kernel's checker says EINVAL


# -- transfer_check's two-ended capture: the peer's transfer, its fragments, ICMP errors from anywhere ----

ME4, PEER4, HOP4, OTHER4 = "198.18.0.1", "198.18.3.2", "198.18.1.1", "198.18.9.9"
ME6, PEER6, HOP6, OTHER6 = "2001:db8::1", "2001:db8:3::2", "2001:db8:1::1", "2001:db8:9::9"


def peer_cases():
    err4 = inet.ICMP(type=3, code=4, nexthopmtu=1400) / inet.IPerror(src=ME4, dst=PEER4) / inet.TCPerror()
    err6 = inet6.ICMPv6PacketTooBig(mtu=1280) / IPv6(src=ME6, dst=PEER6) / TCP()
    yield IP(src=ME4, dst=PEER4) / TCP(sport=40000, dport=33534), True
    yield IP(src=PEER4, dst=ME4) / TCP(sport=33534, dport=40000), True
    yield IP(src=ME4, dst=PEER4) / TCP(sport=40000, dport=22), False
    yield IP(src=ME4, dst=OTHER4) / TCP(sport=40000, dport=33534), False
    yield IP(src=PEER4, dst=ME4, flags="MF") / TCP(sport=33534, dport=40000), True  # first fragment
    yield IP(src=ME4, dst=PEER4, frag=185) / (b"x" * 40), True  # a later fragment
    yield IP(src=OTHER4, dst=ME4, frag=185) / (b"x" * 40), False
    yield IP(src=PEER4, dst=ME4) / inet.ICMP(type=8), True
    yield IP(src=HOP4, dst=ME4) / err4, True
    yield IP(src=HOP4, dst=ME4) / inet.ICMP(type=11) / inet.IPerror(src=ME4, dst=PEER4) / inet.TCPerror(), True
    yield IP(src=HOP4, dst=ME4) / inet.ICMP(type=8), False
    yield IP(src=HOP4, dst=ME4) / UDP(dport=33534), False
    yield IPv6(src=ME6, dst=PEER6) / TCP(sport=40000, dport=33534), True
    yield IPv6(src=PEER6, dst=ME6) / TCP(sport=33534, dport=40000), True
    yield IPv6(src=ME6, dst=PEER6) / TCP(sport=40000, dport=80), False
    yield IPv6(src=ME6, dst=OTHER6) / TCP(sport=40000, dport=33534), False
    yield IPv6(src=PEER6, dst=ME6) / inet6.IPv6ExtHdrFragment(offset=100) / (b"x" * 40), True
    yield IPv6(src=HOP6, dst=ME6) / err6, True
    yield IPv6(src=HOP6, dst=ME6) / inet6.ICMPv6DestUnreach() / IPv6(src=ME6, dst=PEER6) / TCP(), True
    yield IPv6(src=HOP6, dst=ME6) / inet6.ICMPv6EchoRequest(), False
    yield IPv6(src=PEER6, dst=ME6) / inet6.ICMPv6EchoRequest(), True
    yield IP(src=PEER4, dst=ME4) / TCP(sport=33534), False, "v6 program, v4 packet"


@pytest.mark.parametrize("case", list(peer_cases()), ids=lambda c: c[0].summary())
def test_peer_traffic_keeps_the_exchange_and_icmp_errors(case):
    pkt, kept = case[0], case[1]
    six = pkt.haslayer(IPv6) or len(case) == 3
    peer = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, PEER6 if six else PEER4)
    assert run_bpf(bpf.peer_traffic(peer, 33534, 256), bytes(pkt)) == (256 if kept else 0)


@pytest.mark.parametrize("peer", [socket.inet_pton(socket.AF_INET, PEER4), socket.inet_pton(socket.AF_INET6, PEER6)])
def test_peer_traffic_passes_the_kernel_checker(peer):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        bpf.attach(sock, bpf.peer_traffic(peer, 33534, 256))
