# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""method=tcp: SYN probes built with struct and dissected by scapy, SYN-ACK / RST / ICMP-quoting-TCP built by
scapy and parsed by ours, the capture filter, the prober's matching and RST, the backend's options."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import path_mtu_info_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import (
    ECHO, PROHIBITED, PTB, TTL_EXCEEDED, UNREACH, Answer, PathSearch, Probe,
)
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.probe_io import (
    SNAPLEN, TCP_PORTS, PathKey, Parsed, Prober, build_probe, parse, tcp_isn,
)
from ansible_collections.netpath.mtu.plugins.module_utils.wire import bpf, netlink
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.pmtu.test_path_mtu_info_backend import DEFAULTS, seams
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.pmtu.test_pmtu import SimPath
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.wire.test_wire_bpf import run_bpf
from ansible_collections.netpath.mtu.tests.unit.plugins.modules.test_path_mtu_info import FakeProber

inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")
hypothesis = pytest.importorskip("hypothesis")
strategies = pytest.importorskip("hypothesis.strategies")
IP, ICMP, TCP, IPerror, TCPerror = inet.IP, inet.ICMP, inet.TCP, inet.IPerror, inet.TCPerror
IPv6, IPerror6, TCPerror6 = inet6.IPv6, inet6.IPerror6, inet6.TCPerror
ME = {4: "198.18.3.2", 6: "fd00:198:18:3::2"}
TARGET = {4: "198.18.0.2", 6: "fd00:198:18::2"}
ROUTER = {4: "198.18.1.1", 6: "fd00:198:18:1::1"}
KEYS = {fam: PathKey(TARGET[fam], fam, ME[fam], 443) for fam in (4, 6)}
SEQ, SPORT, DPORT = 0x0BEE, 61234, 443
IP_LAYER = {4: IP, 6: IPv6}


def syn(family: int, size: int, ttl: int = 64, seq: int = SEQ) -> bytes:
    return build_probe(KEYS[family], size, ttl, "tcp", seq, 0x1234, SPORT, DPORT)


# -- our SYNs, dissected by scapy ----------------------------------------------------------------------

@pytest.mark.parametrize("family, size, ttl, seq", [
    (family, size, ttl, seq) for family in (4, 6) for size, ttl, seq in ((104, 1, 1), (1400, 64, SEQ), (1500, 3, 0xFFFF), (9000, 255, 0x10001))
])
def test_syn_probes_dissect_to_what_was_meant(family, size, ttl, seq):
    raw = syn(family, size, ttl, seq)
    pkt = IP_LAYER[family](raw)
    assert len(raw) == size
    tcp = pkt[TCP]
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags, tcp.dataofs) == (SPORT, DPORT, (seq & 0xFFFF) << 16, 0, "S", 5)
    assert len(bytes(tcp.payload)) == size - (20 if family == 4 else 40) - 20
    if family == 4:
        assert (pkt.flags, pkt.ttl, pkt.len, pkt.proto, pkt.frag) == ("DF", ttl, size, 6, 0)
        assert pkt.chksum == 0  # IP_HDRINCL: the kernel fills in the header checksum
    else:
        assert (pkt.hlim, pkt.plen, pkt.nh) == (ttl, size - 40, 6)
    copy = IP_LAYER[family](raw)
    del copy[TCP].chksum
    assert IP_LAYER[family](bytes(copy))[TCP].chksum == tcp.chksum  # scapy's checksum is ours


def test_a_syn_too_small_for_its_header_is_refused():
    with pytest.raises(ValueError, match="cannot carry a TCP header"):
        syn(4, 39)
    assert len(syn(4, 40)) == 40


# -- answers built by scapy, parsed by ours ----------------------------------------------------------------

def reply(family: int, flags: str, ack: int, sport: int = DPORT, dport: int = SPORT):
    return bytes(IP_LAYER[family](src=TARGET[family], dst=ME[family]) / TCP(sport=sport, dport=dport, flags=flags, seq=99, ack=ack))


@pytest.mark.parametrize("family", [4, 6])
def test_a_syn_ack_acknowledges_the_isn_plus_one(family):
    p = parse(reply(family, "SA", tcp_isn(SEQ) + 1), "tcp")
    assert (p.seq, p.run_id, p.target, p.port, p.rport, p.syn_ack) == (SEQ, None, TARGET[family], SPORT, DPORT, True)
    assert (p.answer.kind, p.answer.source, p.answer.ttl) == (ECHO, TARGET[family], 64)


@pytest.mark.parametrize("family, payload", [(4, 1360), (6, 1340), (4, 0), (6, 65495 - 40)])
def test_a_rst_acknowledges_the_payload_too_and_still_names_the_probe(family, payload):
    p = parse(reply(family, "RA", (tcp_isn(SEQ) + 1 + payload) & 0xFFFFFFFF), "tcp")
    assert (p.seq, p.port, p.syn_ack, p.answer.kind) == (SEQ, SPORT, False, ECHO)


def test_a_sequence_of_0xffff_wraps_cleanly():
    assert parse(reply(4, "SA", (tcp_isn(0xFFFF) + 1) & 0xFFFFFFFF), "tcp").seq == 0xFFFF


@pytest.mark.parametrize("flags", ["S", "A", "PA", "R", "F"])
def test_segments_that_answer_no_syn_are_ignored(flags):
    assert parse(reply(4, flags, tcp_isn(SEQ) + 1), "tcp") is None


def test_tcp_is_read_only_by_the_tcp_method():
    for method in ("icmp", "udp"):
        assert parse(reply(4, "SA", tcp_isn(SEQ) + 1), method) is None
        assert parse(reply(6, "SA", tcp_isn(SEQ) + 1), method) is None


def icmp_error(family: int, kind: str, quote: bytes, source: str | None = None, mtu: int = 1400, code: int | None = None) -> bytes:
    source = source or ROUTER[family]
    if family == 4:
        icmp = {"ptb": ICMP(type=3, code=4, nexthopmtu=mtu), "ttl": ICMP(type=11, code=0),
                "prohibited": ICMP(type=3, code=13), "unreach": ICMP(type=3, code=1 if code is None else code)}[kind]
        return bytes(IP(src=source, dst=ME[4]) / icmp / IPerror(quote))
    icmp = {"ptb": inet6.ICMPv6PacketTooBig(mtu=mtu), "ttl": inet6.ICMPv6TimeExceeded(code=0),
            "prohibited": inet6.ICMPv6DestUnreach(code=1), "unreach": inet6.ICMPv6DestUnreach(code=3 if code is None else code)}[kind]
    return bytes(IPv6(src=source, dst=ME[6]) / icmp / IPerror6(quote))


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind, expected", [("ptb", PTB), ("ttl", TTL_EXCEEDED), ("prohibited", PROHIBITED), ("unreach", UNREACH)])
def test_icmp_errors_quoting_a_syn_name_the_probe_by_port_and_isn(family, kind, expected):
    # RFC 792 routers quote 8 bytes of TCP: the ports and the sequence number, all we need.
    for quote in (syn(family, 1500), syn(family, 1500)[:(20 if family == 4 else 40) + 8]):
        p = parse(icmp_error(family, kind, quote), "tcp")
        assert (p.seq, p.run_id, p.target, p.port, p.rport, p.syn_ack) == (SEQ, None, TARGET[family], SPORT, DPORT, False)
        assert (p.answer.kind, p.answer.source) == (expected, ROUTER[family])
        if kind == "ptb":
            assert p.answer.mtu == 1400


def test_the_scapy_quote_of_a_syn_parses_like_ours():
    quoted = IP(src=ME[4], dst=TARGET[4], flags="DF", ttl=1) / TCP(sport=SPORT, dport=DPORT, flags="S", seq=tcp_isn(SEQ))
    p = parse(bytes(IP(src=ROUTER[4], dst=ME[4]) / ICMP(type=11, code=0) / IPerror(bytes(quoted))), "tcp")
    assert (p.seq, p.port, p.answer.kind) == (SEQ, SPORT, TTL_EXCEEDED)
    quoted6 = IPv6(src=ME[6], dst=TARGET[6], hlim=1) / TCP(sport=SPORT, dport=DPORT, flags="S", seq=tcp_isn(SEQ))
    p6 = parse(bytes(IPv6(src=ROUTER[6], dst=ME[6]) / inet6.ICMPv6TimeExceeded() / IPerror6(bytes(quoted6))), "tcp")
    assert (p6.seq, p6.port, p6.answer.kind) == (SEQ, SPORT, TTL_EXCEEDED)


def test_the_target_saying_port_unreachable_means_the_syn_got_there():
    p = parse(icmp_error(4, "unreach", syn(4, 600), source=TARGET[4], code=3), "tcp")
    assert (p.answer.kind, p.seq, p.port) == (ECHO, SEQ, SPORT)


def test_icmp_quoting_tcp_is_not_read_by_the_other_methods():
    assert parse(icmp_error(4, "ptb", syn(4, 1500)), "icmp") is None
    assert parse(icmp_error(6, "ptb", syn(6, 1500)), "udp") is None


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True, database=None)
@hypothesis.given(strategies.binary(max_size=120), strategies.sampled_from([4, 6]), strategies.integers(0, 160))
def test_the_parser_never_raises_on_random_or_cut_bytes(noise, family, cut):
    """Random bytes, and real answers cut short or with random tails, give an answer or None."""
    valid = [reply(family, "SA", tcp_isn(SEQ) + 1), icmp_error(family, "ptb", syn(family, 1500)),
             icmp_error(family, "ttl", syn(family, 200))]
    for raw in [noise, *(v[:cut] + noise for v in valid), *(v[:cut] for v in valid)]:
        for method in ("tcp", "icmp", "udp"):
            p = parse(raw, method)
            assert p is None or isinstance(p, Parsed)


# -- the capture filter ------------------------------------------------------------------------------

PROGRAM = bpf.probe_answers(False, SNAPLEN, (SPORT - 10, SPORT - 10 + TCP_PORTS - 1))


@pytest.mark.parametrize("family", [4, 6])
def test_the_filter_keeps_tcp_to_our_ports_and_icmp_errors(family):
    assert run_bpf(PROGRAM, reply(family, "SA", 1)) == SNAPLEN
    assert run_bpf(PROGRAM, reply(family, "RA", 1, dport=SPORT - 10)) == SNAPLEN
    assert run_bpf(PROGRAM, reply(family, "RA", 1, dport=SPORT - 10 + TCP_PORTS - 1)) == SNAPLEN
    assert run_bpf(PROGRAM, icmp_error(family, "ptb", syn(family, 1500))) == SNAPLEN


@pytest.mark.parametrize("family", [4, 6])
def test_the_filter_drops_the_rest_of_this_hosts_tcp(family):
    assert run_bpf(PROGRAM, reply(family, "PA", 1, dport=22)) == 0
    assert run_bpf(PROGRAM, reply(family, "SA", 1, dport=SPORT - 11)) == 0
    assert run_bpf(PROGRAM, reply(family, "SA", 1, dport=SPORT - 10 + TCP_PORTS)) == 0
    assert run_bpf(PROGRAM, bytes(IP_LAYER[family](src=TARGET[family], dst=ME[family]) / inet.UDP(sport=53, dport=SPORT))) == 0


def test_a_fragment_of_tcp_is_dropped_and_without_tcp_the_program_is_the_old_one():
    frag = IP(src=TARGET[4], dst=ME[4], flags="MF") / TCP(sport=DPORT, dport=SPORT, flags="SA")
    assert run_bpf(PROGRAM, bytes(frag)) == 0
    plain = bpf.probe_answers(False, SNAPLEN)
    assert run_bpf(plain, reply(4, "SA", 1)) == 0 and run_bpf(plain, reply(6, "SA", 1)) == 0
    assert len(plain) == 17  # as before method tcp existed


# -- the prober: matching by port and a RST after every SYN-ACK ---------------------------------------------

class Recorder(Prober):
    def __init__(self):
        super().__init__(method="tcp", port=443)
        self.sent: list[bytes] = []

    def _send(self, key, pkt):
        self.sent.append(pkt)


def prober_with_one_probe(family: int):
    prober = Recorder()
    key = KEYS[family]
    seq = 5000
    answers: list = []
    prober._port_of = {(seq, key.target): prober.sport + seq % TCP_PORTS}
    prober._key_of = {(seq, key.target): key}
    prober._sent_at = {(seq, key.target): time.monotonic()}
    return prober, {(seq, key.target): answers}, answers, seq


@pytest.mark.parametrize("family", [4, 6])
def test_a_syn_ack_is_an_answer_and_gets_a_rst(family):
    prober, table, answers, seq = prober_with_one_probe(family)
    port = prober.sport + seq % TCP_PORTS
    raw = bytes(IP_LAYER[family](src=TARGET[family], dst=ME[family]) / TCP(sport=443, dport=port, flags="SA", ack=tcp_isn(seq) + 1))
    assert prober._note(table, parse(raw, "tcp"))
    assert [a.kind for a in answers] == [ECHO] and answers[0].rtt is not None
    (rst,) = prober.sent
    seg = IP_LAYER[family](rst)[TCP]
    expected = ("R", tcp_isn(seq) + 1, port, 443, 0, 40 if family == 4 else 60)
    assert (seg.flags, seg.seq, seg.sport, seg.dport, seg.window, len(rst)) == expected
    copy = IP_LAYER[family](rst)
    del copy[TCP].chksum
    assert IP_LAYER[family](bytes(copy))[TCP].chksum == seg.chksum
    assert prober.resets_sent == 1


def test_a_rst_needs_no_rst_and_another_port_is_not_ours():
    prober, table, answers, seq = prober_with_one_probe(4)
    port = prober.sport + seq % TCP_PORTS
    rst = parse(reply(4, "RA", tcp_isn(seq) + 1 + 500, dport=port), "tcp")
    assert prober._note(table, rst) and prober.sent == []
    stranger = parse(reply(4, "SA", tcp_isn(seq) + 1, dport=port + 1), "tcp")
    assert not prober._note(table, stranger) and prober.sent == [] and len(answers) == 1


def test_each_probe_of_a_round_leaves_from_its_own_port():
    prober = Recorder()
    ports = {prober._sport(seq) for seq in range(7, 7 + TCP_PORTS)}
    assert len(ports) == TCP_PORTS and min(ports) == prober.sport and max(ports) == prober.sport + TCP_PORTS - 1
    assert 61000 <= prober.sport and prober.sport + TCP_PORTS - 1 <= 65535


# -- the backend: ports, defaults, filtered ----------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("198.18.2.2", ("198.18.2.2", None)),
    ("198.18.2.2:22", ("198.18.2.2", 22)),
    ("web.lab:8443", ("web.lab", 8443)),
    ("fd00::2", ("fd00::2", None)),
    ("[fd00::2]:443", ("fd00::2", 443)),
    ("[fd00::2]", ("fd00::2", None)),
])
def test_targets_may_name_a_port(given, expected):
    assert backend.split_port(given) == expected


@pytest.mark.parametrize("given, message", [
    ("198.18.2.2:0", "targets: '198.18.2.2:0' has a port that is not a number between 1 and 65535"),
    ("198.18.2.2:https", "targets: '198.18.2.2:https' has a port that is not a number between 1 and 65535"),
    ("198.18.2.2:", "targets: '198.18.2.2:' has a port that is not a number between 1 and 65535"),
    ("[fd00::2]:70000", "targets: '[fd00::2]:70000' has a port that is not a number between 1 and 65535"),
    ("[fd00::2", "targets: '[fd00::2' must be [IPv6 address] or [IPv6 address]:port"),
    ("[fd00::2]443", "targets: '[fd00::2]443' must be [IPv6 address] or [IPv6 address]:port"),
    ("[198.18.2.2]:443", "targets: '[198.18.2.2]:443' has brackets around something that is no IPv6 address"),
])
def test_bad_ports_fail_with_one_sentence_naming_targets(given, message):
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, method="tcp", targets=[given])), seams())
    assert exc.value.msg == message


@pytest.mark.parametrize("method", ["icmp", "udp"])
def test_a_port_in_a_target_needs_method_tcp(method):
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, method=method, targets=["198.18.2.2:443"])), seams())
    assert exc.value.msg == "targets: '198.18.2.2:443' names a port, which only method tcp uses"


def test_port_with_icmp_is_an_error_and_the_defaults_follow_the_method():
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, port=443)), seams())
    assert exc.value.msg == "port applies to method tcp or udp only; remove it or set method"
    assert [backend.Params.from_module(dict(DEFAULTS, method=m)).port for m in ("icmp", "udp", "tcp")] == [None, 33434, 443]


@pytest.fixture
def two_paths(monkeypatch):
    monkeypatch.setattr(FakeProber, "instances", [])
    monkeypatch.setattr(FakeProber, "open_errors", [])
    monkeypatch.setattr(FakeProber, "paths", {
        "198.18.2.2": SimPath(mtu=1400, ptb=False, target="198.18.2.2", hops=("198.18.1.1", "198.18.4.2")),
        "198.18.2.3": SimPath(mtu=1500, target="198.18.2.3", hops=("198.18.1.1",), reachable=False)})


def test_tcp_results_carry_method_and_port_per_target(two_paths):
    result = backend.run(backend.Params.from_module(dict(DEFAULTS, method="tcp", targets=["198.18.2.2", "198.18.2.2:22"])), seams())
    assert [(r["target"], r["method"], r["port"], r["status"], r["path_mtu"], r["exact"]) for r in result["results"]] == [
        ("198.18.2.2", "tcp", 443, "black_hole", 1400, True), ("198.18.2.2:22", "tcp", 22, "black_hole", 1400, True)]
    ((prober,),) = [FakeProber.instances]
    ports = {key.port for batch in prober.batches for key, _probe in batch}
    assert ports == {0, 22} and (prober.method, prober.port) == ("tcp", 443)


def test_a_silent_port_is_filtered_never_a_black_hole(two_paths):
    result = backend.run(backend.Params.from_module(dict(DEFAULTS, method="tcp", targets=["198.18.2.3:8443"])), seams())
    ((entry,),) = [result["results"]]
    assert (entry["status"], entry["black_hole"], entry["port"]) == ("filtered", False, 8443)
    assert entry["reason"] == ("no SYN-ACK, RST or ICMP error answered any TCP SYN to port 8443, the small ones included:"
                               " a firewall drops them")
    icmp = backend.run(backend.Params.from_module(dict(DEFAULTS, targets=["198.18.2.3"])), seams())
    assert icmp["results"][0]["status"] == "unreachable" and icmp["results"][0]["method"] == "icmp"


def test_only_silence_becomes_filtered():
    search = PathSearch(family=4, min_size=68, max_size=1500)
    search.record([(Probe(68, "control"), [Answer(UNREACH, "198.18.1.1", code=1)])])
    verdict = search.result()
    assert backend.tcp_verdict(verdict, search, 443) is verdict
    reached = replace(search, control_passes=1)
    assert backend.tcp_verdict(dict(verdict, status="black_hole"), reached, 443)["status"] == "black_hole"


# -- fallback: icmp first, then tcp to the target's port for the paths icmp got no answer on -------------------

class MethodProber(FakeProber):
    """A host whose firewall drops ICMP echo: icmp meets silence, tcp meets the path."""

    by_method: dict = {}

    def send_round(self, batch, settled, timeout):
        self.rounds += 1
        self.batches.append(batch)
        outcomes: dict = {}
        for key, probe in batch:
            path = MethodProber.by_method[self.method][key.target]
            outcomes.setdefault(key, []).append((probe, path.answer(probe)))
        settled(outcomes)
        return outcomes


@pytest.fixture
def echo_dropped(monkeypatch):
    monkeypatch.setattr(FakeProber, "instances", [])
    monkeypatch.setattr(FakeProber, "open_errors", [])
    hole = {"target": "198.18.2.2", "mtu": 1400, "hops": ("198.18.1.1", "198.18.4.2")}
    monkeypatch.setattr(MethodProber, "by_method", {
        "icmp": {"198.18.2.2": SimPath(reachable=False, **hole),
                 "198.18.2.3": SimPath(mtu=1500, target="198.18.2.3", hops=("198.18.1.1",)),
                 "198.18.2.4": SimPath(reachable=False, target="198.18.2.4", hops=("198.18.1.1",))},
        "tcp": {"198.18.2.2": SimPath(**hole),
                "198.18.2.4": SimPath(reachable=False, target="198.18.2.4", hops=("198.18.1.1",))}})


FALLBACK = dict(DEFAULTS, targets=["198.18.2.2", "198.18.2.3", "198.18.2.4", "198.18.2.5"], fallback="tcp",
                ports={"198.18.2.2": "22", "198.18.2.3": 22, "198.18.2.4": 2222})


def test_tcp_answers_where_icmp_met_silence_and_replaces_it(echo_dropped):
    result = backend.run(backend.Params.from_module(FALLBACK), seams(prober=MethodProber, route=no_route_to_5))
    got = [(r["target"], r["method"], r["port"], r["status"], r["path_mtu"], r["exact"], (r["fallback_from"] or {}).get("status"))
           for r in result["results"]]
    assert got == [
        ("198.18.2.2", "tcp", 22, "black_hole", 1400, True, "unreachable"),  # answered by tcp, to its ssh port
        ("198.18.2.3", "icmp", None, "ok", 1500, True, None),  # icmp answered: no second probe
        ("198.18.2.4", "icmp", None, "unreachable", None, False, None),  # neither answered
        ("198.18.2.5", "icmp", None, "unreachable", None, False, None),  # no local route, no port: not again
    ]
    assert result["results"][2]["reason"].endswith(
        "; by tcp to port 2222: no SYN-ACK, RST or ICMP error answered any TCP SYN to port 2222, the small ones"
        " included: a firewall drops them")
    icmp, tcp = FakeProber.instances
    assert (icmp.method, tcp.method) == ("icmp", "tcp")
    assert {(key.target, key.port) for batch in tcp.batches for key, _probe in batch} == {("198.18.2.2", 22), ("198.18.2.4", 2222)}


def test_without_fallback_silence_stays_icmp_and_ports_serve_method_tcp(echo_dropped):
    params = dict(FALLBACK, targets=["198.18.2.2"], fallback=None, method="tcp", port=443)
    result = backend.run(backend.Params.from_module(params), seams(prober=MethodProber))
    assert [(r["method"], r["port"], r["status"], r["path_mtu"]) for r in result["results"]] == [("tcp", 22, "black_hole", 1400)]
    result = backend.run(backend.Params.from_module(dict(params, method="icmp", port=None, ports=None)), seams(prober=MethodProber))
    assert [(r["method"], r["status"], r["fallback_from"]) for r in result["results"]] == [("icmp", "unreachable", None)]
    assert len(FakeProber.instances) == 2


@pytest.mark.parametrize("changes, message", [
    ({"method": "udp", "ports": None}, "fallback tcp follows method icmp; with method udp remove it"),
    ({"fallback": None}, "ports applies to method tcp or fallback tcp only; remove it or set one of them"),
    ({"ports": {"198.18.2.2": 0}}, "ports: the port of '198.18.2.2' must be a number between 1 and 65535, got 0"),
    ({"ports": {"198.18.2.2": "ssh"}}, "ports: the port of '198.18.2.2' must be a number between 1 and 65535, got 'ssh'"),
])
def test_fallback_and_ports_errors(changes, message):
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(FALLBACK, **changes)), seams())
    assert exc.value.msg == message


def no_route_to_5(family, target, source=None, oif=None):
    if target == "198.18.2.5":
        raise netlink.NoRoute("no route to 198.18.2.5")
    return netlink.Route(oif=2, interface="eth0", device_mtu=1500, table=254)
