# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run ptb_check end to end against fake seams: a simulated peer for the check, scripted traffic for the responder.

Time is virtual: the fakes advance a clock instead of sleeping, so the deadlines are exact.
"""

from __future__ import annotations

import errno
import json
import struct
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.module_utils.host import deps
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_check_backend
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.modules import ptb_check
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

TOKEN = "abcdefgh1234"
DIGEST = token_digest(TOKEN)
A4 = "198.18.2.1"
B4 = "198.18.0.1"
A6 = "fd00:198:18:2::1"
B6 = "fd00:198:18::1"
LOCAL = {A4, A6, B4, B6, "198.18.9.9"}  # the netlink seam's view: addresses of "this host"


def errqueue_blob(err: int, origin: int, icmp_type: int, code: int, info: int, offender: str) -> bytes:
    """struct sock_extended_err + offender sockaddr, as the kernel queues it (see test_ptb_packets)."""
    head = struct.pack("=IBBBBII", err, origin, icmp_type, code, 0, info, 0)
    if ":" in offender:
        return head + struct.pack("=HHI", 10, 0, 0) + pp.packed(offender) + b"\0" * 4
    return head + struct.pack("=HH", 2, 0) + pp.packed(offender) + b"\0" * 8


class FakeCheckIO:
    """The checking host's seam, with a simulated network and responder behind it.

    ``behaviour`` of the peer: accept (PTB reaches the socket, then the ack), drop (only the ack
    arrives), blocked (the responder's host refuses to send the PTB), refused (nothing listens),
    silent (nothing at all), late (refused until ``start_at``, then accept).
    """

    def __init__(self, behaviour="accept", current=1500, exception_before=None, rtt=0.002, start_at=0.0,
                 v4_exception_after=False, send_errno=None, delete_fails=False):
        self.t = 100.0
        self.behaviour, self.rtt, self.start_at = behaviour, rtt, start_at
        self.current, self.exception = current, exception_before
        self.v4_exception_after, self.send_errno, self.delete_fails = v4_exception_after, send_errno, delete_fails
        self.queue: list[tuple[float, tuple]] = []
        self.probes: list[bytes] = []
        self.datagrams: list[bytes] = []
        self.deleted: list[tuple] = []
        self.opened = None
        self.closed = False
        self.start = self.t

    def now(self):
        return self.t

    def route(self, peer, source=None):
        six = ":" in peer
        return {"source": A6 if six else A4, "interface": "eth0", "device_mtu": 1500,
                "route_mtu": None if self.current == 1500 else self.current,
                "exception_mtu": self.exception, "table": 254}

    def delete_exception(self, peer, table):
        if self.delete_fails:
            raise OSError(errno.EPERM, "Operation not permitted")
        self.deleted.append((peer, table))
        self.exception = None

    def open_checker(self, family, peer, port, source):
        if source == "198.18.9.9":
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        self.opened = (family, peer, port, source)
        self.local = (A6 if family == 6 else A4, 40000)
        return self.local

    def _at(self, delay, event):
        self.queue.append((self.t + delay, event))

    def send_raw(self, packet, dst):
        if self.send_errno:
            return self.send_errno
        self.probes.append(packet)
        probe = pp.parse_udp(packet)
        msg = pp.decode_message(probe.payload, DIGEST)
        family = probe.family
        origin = pp.SO_EE_ORIGIN_ICMP6 if family == 6 else pp.SO_EE_ORIGIN_ICMP
        behaviour = self.behaviour
        if behaviour == "late":
            behaviour = "accept" if self.t - self.start >= self.start_at else "refused"
        if behaviour == "refused":
            unreach = (1, 4) if family == 6 else (3, 3)
            self._at(self.rtt, ("error", errqueue_blob(errno.ECONNREFUSED, origin, *unreach, 0, dst)))
            return None
        if behaviour == "silent":
            return None
        status = pp.ACK_PTB_SENT
        if behaviour == "accept":
            ptb = (2, 0) if family == 6 else (3, 4)
            self._at(self.rtt, ("error", errqueue_blob(errno.EMSGSIZE, origin, *ptb, msg.mtu, dst)))
            if family == 6:
                self.exception = msg.mtu
        elif behaviour == "blocked":
            status = pp.ACK_PTB_BLOCKED
        if family == 4 and self.v4_exception_after:
            self.exception = msg.mtu
        self._at(self.rtt * 1.5, ("datagram", pp.encode_message(pp.KIND_ACK, DIGEST, msg.seq, msg.mtu, status)))
        return None

    def send_datagram(self, data):
        self.datagrams.append(data)
        return None

    def wait_checker(self, timeout):
        due = sorted((at, ev) for at, ev in self.queue if at <= self.t + timeout)
        if not due:
            self.t += timeout
            return []
        first = due[0][0]
        self.t = max(self.t, first)
        ready = [ev for at, ev in self.queue if at <= self.t]
        self.queue = [(at, ev) for at, ev in self.queue if at > self.t]
        return ready

    def close(self):
        self.closed = True


class FakeResponderIO:
    """The responder's seam: ``script`` is a list of (time, event) delivered as they fall due."""

    def __init__(self, script, send_errno=None):
        self.t = 100.0
        self.script = sorted(((100.0 + at, ev) for at, ev in script), key=lambda item: item[0])
        self.send_errno = send_errno
        self.raw: list[tuple[bytes, str]] = []
        self.replies: list[tuple[bytes, str, int]] = []
        self.opened = None
        self.closed = False

    def now(self):
        return self.t

    def open_responder(self, address, port):
        self.opened = (address, port)

    def wait_responder(self, timeout):
        due = [item for item in self.script if item[0] <= self.t + timeout]
        if not due:
            self.t += timeout
            return []
        self.t = max(self.t, due[0][0])
        ready = [ev for at, ev in self.script if at <= self.t]
        self.script = [(at, ev) for at, ev in self.script if at > self.t]
        return ready

    def send_raw(self, packet, dst):
        self.raw.append((packet, dst))
        return self.send_errno

    def send_reply(self, data, address, port):
        self.replies.append((data, address, port))
        return None

    def close(self):
        self.closed = True


@pytest.fixture
def harness(monkeypatch):
    holder = {"warnings": []}
    monkeypatch.setattr(ptb_check, "PtbIO", lambda: holder["io"])
    monkeypatch.setattr(netlink, "is_local", lambda address: address in LOCAL)
    monkeypatch.setattr(ptb_check.AnsibleModule, "warn", lambda self, msg, *a, **k: holder["warnings"].append(msg))
    return holder


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            ptb_check.main()
    return json.loads(capsys.readouterr().out)


def check(harness, capsys, io, **args):
    harness["io"] = io
    return run_module({"peer": B4, "token": TOKEN, **args}, capsys)


# -- the checking side ------------------------------------------------------------------------

def test_runs_without_pyroute2(harness, capsys, monkeypatch):
    """Routes and the IPv6 exception go through wire/netlink (raw rtnetlink): pyroute2 is not needed."""
    monkeypatch.setitem(sys.modules, "pyroute2", None)  # "import pyroute2" raises ImportError
    monkeypatch.setattr(deps, "PYROUTE2_IMPORT_ERROR", "ImportError: No module named 'pyroute2'")
    result = check(harness, capsys, FakeCheckIO("accept"))
    assert (result.get("failed"), result["status"]) == (None, "accepted")
    assert "pyroute2" not in ptb_check.DOCUMENTATION


@pytest.mark.parametrize("check_mode", [False, True])
def test_accepted_ipv4(harness, capsys, check_mode):
    io = FakeCheckIO("accept")
    result = check(harness, capsys, io, _ansible_check_mode=check_mode)
    assert (result["status"], result["changed"]) == ("accepted", False)
    assert "EMSGSIZE with MTU 1492 from 198.18.0.1" in result["reason"]
    assert (result["path_mtu"], result["announced_mtu"], result["probe_size"], result["probes_sent"]) == (1500, 1492, 1280, 1)
    assert result["acks"] == {"ptb_sent": 1}
    assert result["icmp_errors"] == [{"offender": B4, "type": 3, "code": 4, "mtu": 1492, "errno": "EMSGSIZE", "count": 1}]
    assert result["pmtu_exception"] == {"before": None, "after": None, "removed": False, "left": None}
    assert result["source"] == {"address": A4, "port": 40000}
    assert result["elapsed"] < 0.01
    assert io.opened == (4, B4, 33533, None)
    # The probe: exactly 1280 bytes, DF, the flow's own addresses and ports, asking for 1492.
    probe = io.probes[0]
    assert len(probe) == 1280 and struct.unpack_from("!H", probe, 6)[0] == 0x4000
    parsed = pp.parse_udp(probe)
    assert (parsed.src, parsed.dst, parsed.sport, parsed.dport) == (A4, B4, 40000, 33533)
    assert pp.decode_message(parsed.payload, DIGEST).mtu == 1492
    # Goodbye, twice, so the responder can exit early.
    assert [pp.decode_message(d, DIGEST).kind for d in io.datagrams] == [pp.KIND_BYE, pp.KIND_BYE]
    assert io.closed and harness["warnings"] == []
    assert TOKEN not in json.dumps(result)


def test_accepted_ipv6_removes_only_its_exception(harness, capsys):
    io = FakeCheckIO("accept")
    result = check(harness, capsys, io, peer=B6)
    assert (result["status"], result["family"]) == ("accepted", "ipv6")
    assert "kernel cached that path MTU" in result["reason"]
    assert result["pmtu_exception"] == {"before": None, "after": 1492, "removed": True, "left": None}
    assert io.deleted == [(B6, 254)]
    assert pp.parse_udp(io.probes[0]).family == 6


def test_pre_existing_ipv6_exception_sets_the_path_mtu(harness, capsys):
    io = FakeCheckIO("accept", exception_before=1400)
    result = check(harness, capsys, io, peer=B6)
    assert (result["path_mtu"], result["announced_mtu"], result["probe_size"]) == (1400, 1392, 1280)
    assert result["pmtu_exception"] == {"before": 1400, "after": 1392, "removed": True, "left": None}


def test_dropped_after_two_acknowledged_ptbs(harness, capsys):
    io = FakeCheckIO("drop")
    result = check(harness, capsys, io)
    assert result["status"] == "dropped"
    assert "sent 2 PTB(s) (MTU 1492)" in result["reason"]
    assert (result["probes_sent"], result["acks"], result["icmp_errors"]) == (2, {"ptb_sent": 2}, [])
    # Second probe after one interval, then the grace period after its acknowledgement.
    assert 0.25 + 0.3 < result["elapsed"] < 0.25 + 0.3 + 0.02


def test_silent_peer_is_inconclusive_at_the_deadline(harness, capsys):
    io = FakeCheckIO("silent")
    result = check(harness, capsys, io, timeout=3)
    assert result["status"] == "inconclusive"
    assert "no answer from a responder at 198.18.0.1 port 33533 within 3 s" in result["reason"]
    assert result["elapsed"] == pytest.approx(3.0, abs=0.001)
    assert result["probes_sent"] == 12  # one every 0.25 s


def test_probes_are_capped(harness, capsys):
    io = FakeCheckIO("silent")
    result = check(harness, capsys, io, timeout=60)
    assert result["probes_sent"] == ptb_check_backend.MAX_PROBES
    assert result["elapsed"] == pytest.approx(60.0, abs=0.001)


def test_refused_says_nothing_listens(harness, capsys):
    # Port unreachable is a responder still starting: the check waits START_GRACE for it, not timeout.
    io = FakeCheckIO("refused")
    result = check(harness, capsys, io, timeout=2, port=33999)
    assert result["status"] == "inconclusive"
    assert "nothing listens on 198.18.0.1 port 33999 (port unreachable): the responder was not running within 15 s" \
        in result["reason"]
    assert result["elapsed"] == pytest.approx(ptb_check_backend.START_GRACE, abs=0.001)
    assert result["icmp_errors"] == [{"offender": B4, "type": 3, "code": 3, "mtu": None, "errno": "ECONNREFUSED",
                                      "count": 60}]


def test_a_responder_that_starts_after_the_timeout_still_counts(harness, capsys):
    # A loaded host took 8 s to start the responder; until then its port was unreachable.
    io = FakeCheckIO("late", start_at=8.0)
    result = check(harness, capsys, io, timeout=3)
    assert result["status"] == "accepted", result["reason"]
    assert 8.0 <= result["elapsed"] < 9.0


def test_late_responder_still_counts(harness, capsys):
    io = FakeCheckIO("late", start_at=1.0)
    result = check(harness, capsys, io)
    assert result["status"] == "accepted"
    assert result["probes_sent"] == 5
    assert result["icmp_errors"][0]["errno"] == "ECONNREFUSED" and result["icmp_errors"][0]["count"] == 4
    assert result["icmp_errors"][1]["mtu"] == 1492


def test_blocked_on_the_responder(harness, capsys):
    result = check(harness, capsys, FakeCheckIO("blocked"))
    assert result["status"] == "inconclusive"
    assert "OUTPUT firewall drops ICMP errors" in result["reason"]
    assert result["acks"] == {"ptb_blocked": 2}


def test_own_output_firewall(harness, capsys):
    result = check(harness, capsys, FakeCheckIO("accept", send_errno=errno.EPERM), timeout=1)
    assert result["status"] == "inconclusive"
    assert "refused to send the probes" in result["reason"]
    assert result["probes_sent"] == 0


def test_no_harmless_mtu_left(harness, capsys):
    io = FakeCheckIO("accept", current=1280)
    result = check(harness, capsys, io, peer=B6)
    assert result["status"] == "inconclusive"
    assert "leaves nothing harmless to announce" in result["reason"]
    assert io.opened is None and io.probes == []


def test_small_path_caps_the_probe(harness, capsys):
    io = FakeCheckIO("accept", current=1000)
    result = check(harness, capsys, io)
    assert (result["path_mtu"], result["announced_mtu"], result["probe_size"]) == (1000, 992, 1000)
    assert len(io.probes[0]) == 1000


def test_explicit_announce_mtu(harness, capsys):
    result = check(harness, capsys, FakeCheckIO("accept"), announce_mtu=1400, probe_size=600)
    assert (result["status"], result["announced_mtu"], result["probe_size"]) == ("accepted", 1400, 600)


def test_explicit_announce_mtu_must_be_harmless(harness, capsys):
    harness["io"] = FakeCheckIO("accept")
    result = run_module({"peer": B4, "token": TOKEN, "announce_mtu": 1500}, capsys)
    assert result["failed"] and "not below the current path MTU 1500" in result["msg"]


def test_unexpected_ipv4_exception_is_reported(harness, capsys):
    result = check(harness, capsys, FakeCheckIO("accept", v4_exception_after=True))
    assert result["pmtu_exception"]["left"] == 1492 and not result["pmtu_exception"]["removed"]
    assert any("cannot remove one IPv4 exception" in w for w in harness["warnings"])


def test_failed_removal_is_a_warning(harness, capsys):
    result = check(harness, capsys, FakeCheckIO("accept", delete_fails=True), peer=B6)
    assert result["status"] == "accepted"
    assert result["pmtu_exception"]["left"] == 1492
    assert any("could not remove the PMTU exception" in w for w in harness["warnings"])


def test_source_this_host_does_not_have(harness, capsys):
    """Netlink called 198.18.9.9 local (or could not tell); the bind's error is the message."""
    io = FakeCheckIO("accept")
    result = check(harness, capsys, io, source="198.18.9.9")
    assert result["failed"] and result["msg"] == "check failed: Cannot assign requested address"
    assert io.closed


@pytest.mark.parametrize("args,message", [
    ({"token": TOKEN}, "mode=check needs peer"),
    ({"peer": B4, "token": "short"}, "token must be 8 to 128"),
    ({"peer": "fe80::1", "token": TOKEN}, "global or unique-local scope"),
    ({"peer": "224.0.0.1", "token": TOKEN}, "global or unique-local scope"),
    ({"peer": "backend.example", "token": TOKEN}, "is not an IP address"),
    ({"peer": B4, "source": A6, "token": TOKEN}, "different address families"),
    ({"peer": B4, "token": TOKEN, "probe_size": 100}, "probe_size 100"),
    ({"peer": B4, "token": TOKEN, "port": 0}, "port 0"),
    ({"peer": B4, "token": TOKEN, "address": B4}, "address is for mode=responder"),
    ({"mode": "responder", "token": TOKEN}, "mode=responder needs address"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "timeout": 700}, "at most 600 seconds"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "clients": 0}, "clients 0"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "rate": 0}, "rate 0"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "max_replies": 0}, "max_replies 0"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "peer": A4}, "peer and source are for mode=check"),
    # issue 16: loopback and broadcast peers, sources and addresses that are not this host's, impossible MTUs
    ({"peer": "127.0.0.1", "token": TOKEN}, "peer 127.0.0.1 is loopback; give a unicast address"),
    ({"peer": "::1", "token": TOKEN}, "peer ::1 is loopback; give a unicast address"),
    ({"peer": "255.255.255.255", "token": TOKEN}, "peer 255.255.255.255 is the broadcast address; give"),
    ({"peer": B4, "source": "198.51.100.7", "token": TOKEN}, "source 198.51.100.7 is not an address of this host"),
    ({"peer": B4, "source": "255.255.255.255", "token": TOKEN}, "source 255.255.255.255 is the broadcast address"),
    ({"mode": "responder", "address": "255.255.255.255", "token": TOKEN}, "address 255.255.255.255 is the broadcast"),
    ({"mode": "responder", "address": "198.51.100.7", "token": TOKEN}, "address 198.51.100.7 is not an address of"),
    ({"mode": "responder", "address": B4, "token": TOKEN, "announce_mtu": 67}, "announce_mtu 67 must be 68 to 65535"),
    ({"mode": "responder", "address": B6, "token": TOKEN, "announce_mtu": 1279}, "announce_mtu 1279 must be 68"),
    ({"peer": B4, "token": TOKEN, "announce_mtu": 65536}, "announce_mtu 65536 must be 68 to 65535"),
])
def test_invalid_parameters(harness, capsys, args, message):
    harness["io"] = None  # never reached
    result = run_module(args, capsys)
    assert result["failed"] and message in result["msg"]


# -- the responder ----------------------------------------------------------------------------

def probe(seq, mtu=1492, src=A4, dst=B4, sport=40000, size=1280, digest=DIGEST):
    return pp.build_probe(src, dst, sport, 33533, size, digest, seq, mtu, ident=seq)


def arrives(packet):
    """The capture copy, then the socket's datagram, as the responder sees one probe."""
    parsed = pp.parse_udp(packet)
    return [("captured", packet), ("datagram", parsed.payload, (parsed.src, parsed.sport))]


def bye(src=A4, sport=40000):
    return ("datagram", pp.encode_message(pp.KIND_BYE, DIGEST, 0), (src, sport))


def respond(harness, capsys, script, send_errno=None, **args):
    io = FakeResponderIO(script, send_errno)
    harness["io"] = io
    result = run_module({"mode": "responder", "address": B4, "token": TOKEN, **args}, capsys)
    return result, io


def timeline(*groups):
    """[(t, [events])] -> [(t, event), ...]"""
    return [(at, ev) for at, events in groups for ev in events]


def test_responder_answers_with_a_genuine_ptb_and_an_ack(harness, capsys):
    packet = probe(7)
    result, io = respond(harness, capsys, timeline((0.5, arrives(packet)), (0.6, [bye()])))
    assert io.opened == (B4, 33533) and io.closed
    assert (result["exit_reason"], result["probes_received"], result["ptbs_sent"]) == ("clients", 1, 1)
    assert result["clients_seen"] == [A4]
    (ptb, dst), = io.raw
    assert dst == A4
    # Frag-needed from the responder's address to the prober, announcing 1492, quoting the real bytes.
    assert ptb[12:16] == pp.packed(B4) and ptb[16:20] == pp.packed(A4)
    assert (ptb[20], ptb[21], struct.unpack_from("!H", ptb, 26)[0]) == (3, 4, 1492)
    assert ptb[28:] == packet[:548]
    assert pp.checksum(ptb[:20]) == 0 and pp.checksum(ptb[20:]) == 0
    (ack, ack_dst, ack_port), = io.replies
    assert (ack_dst, ack_port) == (A4, 40000)
    assert pp.decode_message(ack, DIGEST) == pp.Message(pp.KIND_ACK, pp.ACK_PTB_SENT, 7, 1492)
    assert result["bytes_received"] == 1280
    assert result["bytes_sent"] == len(ptb) + 20 + 8 + pp.MESSAGE.size <= 1280
    assert result["elapsed"] == pytest.approx(0.6)


def test_responder_ipv6_ptb_fits_the_budget(harness, capsys):
    packet = probe(1, src=A6, dst=B6)
    result, io = respond(harness, capsys, timeline((0.1, arrives(packet)), (0.2, [bye(src=A6)])), address=B6)
    (ptb, dst), = io.raw
    assert dst == A6 and ptb[40] == 2 and struct.unpack_from("!I", ptb, 44)[0] == 1492
    assert pp.checksum(pp.pseudo_header6(B6, A6, len(ptb) - 40, 58) + ptb[40:]) == 0
    assert result["bytes_sent"] <= result["bytes_received"] == 1280
    assert ptb[48:] == packet[:len(ptb) - 48]


def test_responder_ignores_other_tokens_duplicates_and_acks(harness, capsys):
    stranger = probe(1, digest=token_digest("someoneelse"))
    packet = probe(2)
    ack = ("datagram", pp.encode_message(pp.KIND_ACK, DIGEST, 2), (A4, 40000))
    result, io = respond(harness, capsys, timeline(
        (0.1, arrives(stranger)), (0.2, arrives(packet)), (0.3, arrives(packet)), (0.4, [ack]), (0.5, [bye()])))
    assert (result["probes_received"], result["ptbs_sent"], result["ignored"]) == (1, 1, 3)
    assert len(io.raw) == 1 and len(io.replies) == 1


def test_responder_waits_for_every_client(harness, capsys):
    other = "198.18.3.1"
    result, io = respond(harness, capsys, timeline(
        (0.1, arrives(probe(1))), (0.2, [bye()]), (0.3, [bye()]), (0.4, arrives(probe(2, src=other))),
        (0.5, [bye(src=other)]), (0.6, arrives(probe(3)))), clients=2)
    assert result["exit_reason"] == "clients"
    assert result["clients_seen"] == [A4, other]
    assert result["ptbs_sent"] == 2 and result["elapsed"] == pytest.approx(0.5)


def test_responder_exits_at_its_deadline(harness, capsys):
    result, io = respond(harness, capsys, timeline((0.1, arrives(probe(1)))), timeout=5)
    assert result["exit_reason"] == "timeout"
    assert result["elapsed"] == pytest.approx(5.0)
    assert io.closed


def test_responder_stops_after_max_replies(harness, capsys):
    script = timeline(*[(0.2 * n, arrives(probe(n))) for n in range(1, 6)])
    result, io = respond(harness, capsys, script, max_replies=3)
    assert (result["exit_reason"], result["ptbs_sent"], len(io.replies)) == ("max_replies", 3, 3)


def test_responder_rate_limits_itself(harness, capsys):
    burst = [ev for n in range(1, 9) for ev in arrives(probe(n))]
    result, io = respond(harness, capsys, timeline((0.1, burst), (0.2, [bye()])), rate=1)
    assert result["probes_received"] == 5 and result["ignored"] == 3  # burst of 5
    assert len(io.raw) == 5


def test_responder_reports_its_own_firewall(harness, capsys):
    result, io = respond(harness, capsys, timeline((0.1, arrives(probe(1))), (0.2, [bye()])), send_errno=errno.EPERM)
    assert (result["ptbs_sent"], result["ptbs_blocked"]) == (0, 1)
    assert pp.decode_message(io.replies[0][0], DIGEST).status == pp.ACK_PTB_BLOCKED
    assert result["bytes_sent"] == 20 + 8 + pp.MESSAGE.size  # only the ack left


def test_responder_needs_the_captured_bytes_and_a_valid_mtu(harness, capsys):
    uncaptured = probe(1)
    too_low = probe(2, mtu=500)
    result, io = respond(harness, capsys, timeline(
        (0.1, [arrives(uncaptured)[1]]), (0.2, arrives(too_low)), (0.3, [bye()])))
    statuses = [pp.decode_message(data, DIGEST).status for data, dummy, dummy_port in io.replies]
    assert statuses == [pp.ACK_NOT_QUOTABLE, pp.ACK_BAD_MTU]
    assert io.raw == []


def test_responder_ignores_captures_for_other_addresses(harness, capsys):
    elsewhere = probe(1, dst="198.18.0.9")
    parsed = pp.parse_udp(elsewhere)
    result, io = respond(harness, capsys, timeline(
        (0.1, [("captured", elsewhere), ("datagram", parsed.payload, (A4, 40000))]), (0.2, [bye()])))
    assert pp.decode_message(io.replies[0][0], DIGEST).status == pp.ACK_NOT_QUOTABLE


def test_responder_never_sends_more_than_it_received(harness, capsys):
    small = probe(1, size=256)
    result, io = respond(harness, capsys, timeline((0.1, arrives(small)), (0.2, [bye()])))
    (ptb, dummy), = io.raw
    assert len(ptb) + 20 + 8 + pp.MESSAGE.size <= 256
    assert result["bytes_sent"] <= result["bytes_received"] == 256


# -- mode=both: a host's whole share of the fleet's checks in one run -----------------------------

def both(harness, capsys, seams, **args):
    """Run mode=both; ``seams`` are handed out in the order the run asks for them (responders first)."""
    queue = list(seams)
    harness["io"] = None
    ptb_check.PtbIO = lambda: queue.pop(0)  # the harness fixture's monkeypatch restores it
    return run_module({"mode": "both", "token": TOKEN, **args}, capsys)


def test_both_serves_its_peers_and_checks_its_own_at_once(harness, capsys):
    responder = FakeResponderIO(timeline((0.1, arrives(probe(1))), (0.2, [bye()])))
    accepted, dropped = FakeCheckIO("accept"), FakeCheckIO("drop")
    result = both(harness, capsys, [responder, accepted, dropped],
                  responders=[{"address": B4}], checks=[{"peer": B4, "name": "gw-a"}, {"peer": B6, "name": "gw-b"}])
    assert result["changed"] is False and "failed" not in result
    (served,) = result["responders"]
    assert (served["address"], served["exit_reason"], served["ptbs_sent"], served["clients_seen"]) == (B4, "clients", 1, [A4])
    assert responder.opened == (B4, 33533) and responder.closed
    assert [(c["name"], c["peer"], c["family"], c["status"]) for c in result["checks"]] == [
        ("gw-a", B4, "ipv4", "accepted"), ("gw-b", B6, "ipv6", "dropped")]
    assert accepted.opened == (4, B4, 33533, None) and dropped.opened == (6, B6, 33533, None)
    assert TOKEN not in json.dumps(result)


def test_both_reports_a_part_that_fails_and_runs_the_others(harness, capsys):
    """A check that cannot open its socket fails in its entry only; the responder's lifetime still ends it."""
    responder = FakeResponderIO([])
    result = both(harness, capsys, [responder, FakeCheckIO("accept"), FakeCheckIO("accept")], lifetime=4,
                  responders=[{"address": B4, "clients": 3}],
                  checks=[{"peer": B4, "source": "198.18.9.9", "name": "x"}, {"peer": B4, "name": "y"}])
    assert "failed" not in result
    assert result["responders"][0]["exit_reason"] == "timeout"
    assert result["responders"][0]["elapsed"] == pytest.approx(4.0)
    bad, good = result["checks"]
    assert (bad["name"], bad["failed"], bad["msg"]) == ("x", True, "check failed: Cannot assign requested address")
    assert (good["name"], good["status"]) == ("y", "accepted")


@pytest.mark.parametrize("args, message", [
    ({}, "mode=both needs checks, responders or both"),
    ({"peer": B4, "checks": [{"peer": B4}]}, "mode=both takes no peer; give it in each entry of checks or responders"),
    ({"checks": [{"peer": "fe80::1"}]}, "checks[0]: peer fe80::1 is link-local"),
    ({"responders": [{"address": "198.18.77.1"}]}, "responders[0]: address 198.18.77.1 is not an address of this host"),
    ({"responders": [{"address": B4, "clients": 0}]}, "responders[0]: clients 0 must be at least 1"),
    ({"responders": [{"address": B4}], "lifetime": 601}, "lifetime 601 must be above 0 and at most 600 seconds"),
    ({"checks": ["bogus;id"]}, "checks[0] must be a dictionary with peer, source, name, got 'bogus;id'"),
    ({"responders": [{"address": B4, "port": 1}]}, "responders[0] has unknown keys port (it takes address, clients)"),
    ({"responders": [{"clients": 2}]}, "responders[0] needs address, a string"),
    ({"responders": [{"address": B4, "clients": "two"}]}, "responders[0]: clients must be an integer, got 'two'"),
    ({"checks": [{"peer": B4, "name": ["x"]}]}, "checks[0]: name must be a string, got ['x']"),
])
def test_both_refuses_bad_entries_before_anything_runs(harness, capsys, args, message):
    seams = [FakeResponderIO([]), FakeCheckIO("accept")]
    result = both(harness, capsys, list(seams), **args)
    assert result["failed"] is True and message in result["msg"]
    assert seams[0].opened is None and seams[1].opened is None


@pytest.mark.parametrize("key, value", [("checks", [{"peer": B4}]), ("responders", [{"address": B4}]), ("lifetime", 5)])
def test_mode_both_options_are_refused_elsewhere(harness, capsys, key, value):
    result = check(harness, capsys, FakeCheckIO("accept"), **{key: value})
    assert result["failed"] is True and f"{key} is for mode=both" in result["msg"]


def test_thousands_of_bad_entries_give_one_sentence(harness, capsys):
    result = both(harness, capsys, [], checks=["bogus"] * 5000)
    assert result["failed"] is True and len(result["msg"]) < 200
    assert result["msg"].endswith("(and 4999 more problems in checks)")
