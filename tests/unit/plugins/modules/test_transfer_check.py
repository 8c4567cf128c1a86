# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run transfer_check end to end against fake seams with a virtual clock."""

from __future__ import annotations

import errno
import json
import struct

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp
from ansible_collections.netpath.mtu.plugins.modules import transfer_check
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink

TOKEN = "abcdefgh1234"
DIGEST = tp.digest(TOKEN)
PEER = "198.18.3.2"
CLIENT = "198.18.0.1"
LOCAL = {PEER, CLIENT, "198.19.0.1"}  # the netlink seam's view: addresses of "this host"
PEER_VIEW = {"maxseg": 1368, "snd_mss": 1368, "rcv_mss": 1368, "pmtu": 1500, "advmss": 1448}


def tcp_info(**fields) -> bytes:
    blob = bytearray(232)
    for name, offset, fmt in tp.TCP_INFO_FIELDS:
        if name in fields:
            struct.pack_into("=" + fmt, blob, offset, fields[name])
    return bytes(blob)


class FakeConn:
    def __init__(self):
        self.sent = b""
        self.payload = 0
        self.closed = None
        self.acked = 0


class FakeCheckIO:
    """The sending host's sockets over a simulated path.

    ``stall_after``: payload bytes that get through before full-size segments vanish (None: none vanish).
    ``refused_until``: connections are refused until this many seconds into the run.
    """

    def __init__(self, stall_after=None, refused_until=0.0, rate=100e6, no_reply=False):
        self.t = 0.0
        self.stall_after, self.refused_until, self.rate, self.no_reply = stall_after, refused_until, rate, no_reply
        self.conns: dict[int, FakeConn] = {}
        self.connects: list[tuple] = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += max(0.0, seconds)

    def connect(self, peer, port, source, timeout):
        self.connects.append((peer, port, source, round(self.t, 3)))
        if self.t < self.refused_until:
            raise OSError(errno.ECONNREFUSED, "Connection refused")
        handle = len(self.conns) + 1
        self.conns[handle] = FakeConn()
        return handle

    def send(self, handle, data, timeout):
        conn = self.conns[handle]
        if len(conn.sent) < tp.REQUEST.size:
            conn.sent += bytes(data)
            conn.acked += len(data)
            return len(data)
        room = len(data) if self.stall_after is None else max(0, self.stall_after - conn.payload)
        if room == 0:
            self.t += timeout  # the send buffer stays full
            return 0
        n = min(len(data), room)
        conn.payload += n
        conn.acked += n
        self.t += n / self.rate
        return n

    def recv(self, handle, size, timeout):
        conn = self.conns[handle]
        request = tp.decode_request(conn.sent, DIGEST)
        if request and conn.payload == request[1] and not self.no_reply:
            return tp.encode_reply(conn.payload, PEER_VIEW, 0.01)[:size]
        if self.no_reply:
            return b""
        self.t += timeout
        return None

    def tcp_info(self, handle):
        conn = self.conns[handle]
        stalled = self.stall_after is not None and conn.payload >= self.stall_after
        return tcp_info(snd_mss=1368, rcv_mss=536, advmss=1448, pmtu=1420 if stalled else 1500,
                        total_retrans=9 if stalled else 0, bytes_acked=conn.acked + 1)

    def maxseg(self, handle):
        return 1368

    def close(self, handle, abort=False):
        self.conns[handle].closed = "reset" if abort else "fin"

    def close_all(self):
        pass


@pytest.fixture
def harness(monkeypatch):
    holder = {}
    monkeypatch.setattr(transfer_check, "TransferIO", lambda: holder["io"])
    monkeypatch.setattr(netlink, "is_local", lambda address: address in LOCAL)
    return holder


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            transfer_check.main()
    return json.loads(capsys.readouterr().out)


def check(harness, capsys, io, **args):
    harness["io"] = io
    return run_module({"peer": PEER, "token": TOKEN, **args}, capsys)


def requests(io):
    return [tp.decode_request(conn.sent, DIGEST) for conn in io.conns.values()]


def test_both_exchanges_complete(harness, capsys):
    io = FakeCheckIO()
    result = check(harness, capsys, io, timeout=5)
    assert (result["status"], result["small_ok"], result["large_ok"], result["changed"]) == ("ok", True, True, False)
    assert result["bytes_moved"] == 1001000
    assert result["throughput_bps"] == pytest.approx(100e6 * 8, rel=0.01)
    assert result["mss"] == {"local": {"maxseg": 1368, "snd_mss": 1368, "rcv_mss": 536, "pmtu": 1500, "advmss": 1448},
                             "peer": PEER_VIEW}
    assert result["large"]["peer_received"] == 1000000 and result["large"]["error"] is None
    assert requests(io) == [(tp.OP_EXCHANGE, 1000), (tp.OP_EXCHANGE, 1000000), (tp.OP_BYE, 0)]
    assert [c.closed for c in io.conns.values()] == ["fin", "fin", "fin"]
    assert TOKEN not in json.dumps(result)


def test_large_transfer_stalls(harness, capsys):
    io = FakeCheckIO(stall_after=26880)
    result = check(harness, capsys, io, timeout=4)
    assert (result["status"], result["small_ok"], result["large_ok"]) == ("stalled", True, False)
    large = result["large"]
    assert large["bytes_sent"] == 26880 and large["bytes_acked"] == 26880 and large["peer_received"] is None
    assert large["elapsed"] == pytest.approx(4.0, abs=0.01)
    assert large["error"].startswith("stalled")
    assert (large["local"]["pmtu"], large["local"]["total_retrans"]) == (1420, 9)
    assert "26880 of 1000000 bytes acknowledged" in result["reason"] and "black-hole" in result["reason"]
    assert result["bytes_moved"] == 1000 + 26880 and result["throughput_bps"] is None
    assert result["mss"]["peer"] == PEER_VIEW  # from the small exchange
    # The stalled connection is reset, so nothing lingers behind a FIN that cannot arrive.
    assert [c.closed for c in io.conns.values()] == ["fin", "reset", "fin"]


def test_no_responder_fails_within_the_deadline(harness, capsys):
    io = FakeCheckIO(refused_until=1e9)
    result = check(harness, capsys, io, timeout=2)
    assert (result["status"], result["small_ok"], result["large_ok"], result["large"]) == ("failed", False, False, None)
    assert "ECONNREFUSED" in result["reason"] and "198.18.3.2 port 33534" in result["reason"]
    assert result["small"]["elapsed"] == pytest.approx(2.0, abs=0.01)
    assert 11 <= len(io.connects) <= 12  # every 0.2 s until the deadline, plus the goodbye attempt


def test_a_late_responder_is_waited_for(harness, capsys):
    io = FakeCheckIO(refused_until=1.0)
    result = check(harness, capsys, io)
    assert result["status"] == "ok"
    assert result["small"]["elapsed"] == pytest.approx(1.0, abs=0.01)


def test_responder_closing_without_reply(harness, capsys):
    result = check(harness, capsys, FakeCheckIO(no_reply=True), timeout=2)
    assert result["status"] == "failed"
    assert "closed the connection without a reply" in result["reason"]


def test_source_and_port_are_used(harness, capsys):
    io = FakeCheckIO()
    check(harness, capsys, io, source="198.19.0.1", port=40000, small_size=100, large_size=5000)
    assert {c[:3] for c in io.connects} == {(PEER, 40000, "198.19.0.1")}
    assert requests(io)[:2] == [(tp.OP_EXCHANGE, 100), (tp.OP_EXCHANGE, 5000)]


@pytest.mark.parametrize("args,message", [
    ({"token": TOKEN}, "mode=check needs peer"),
    ({"peer": PEER, "token": "x"}, "token must be"),
    ({"peer": "server-b", "token": TOKEN}, "is not an IP address"),
    ({"peer": PEER, "source": "fd00::1", "token": TOKEN}, "different address families"),
    ({"peer": PEER, "token": TOKEN, "small_size": 10}, "small_size 10"),
    ({"peer": PEER, "token": TOKEN, "address": PEER}, "address is for mode=responder"),
    ({"mode": "responder", "token": TOKEN}, "mode=responder needs address"),
    ({"mode": "responder", "address": PEER, "token": TOKEN, "max_bytes": 1}, "max_bytes 1"),
    ({"mode": "responder", "address": PEER, "token": TOKEN, "timeout": 0}, "timeout 0"),
    ({"mode": "responder", "address": PEER, "token": TOKEN, "max_exchanges": 0}, "max_exchanges 0"),
    ({"mode": "responder", "address": PEER, "token": TOKEN, "peer": CLIENT}, "peer and source are for mode=check"),
    # issue 16: the same address checks as ptb_check
    ({"peer": "fe80::1", "token": TOKEN}, "peer fe80::1 is link-local; give a unicast address"),
    ({"peer": "224.0.0.1", "token": TOKEN}, "peer 224.0.0.1 is multicast"),
    ({"peer": "127.0.0.1", "token": TOKEN}, "peer 127.0.0.1 is loopback"),
    ({"peer": "0.0.0.0", "token": TOKEN}, "peer 0.0.0.0 is unspecified"),
    ({"peer": "255.255.255.255", "token": TOKEN}, "peer 255.255.255.255 is the broadcast address"),
    ({"peer": PEER, "source": "198.51.100.7", "token": TOKEN}, "source 198.51.100.7 is not an address of this host"),
    ({"peer": PEER, "source": "224.0.0.1", "token": TOKEN}, "source 224.0.0.1 is multicast"),
    ({"mode": "responder", "address": "0.0.0.0", "token": TOKEN}, "address 0.0.0.0 is unspecified"),
    ({"mode": "responder", "address": "::", "token": TOKEN}, "address :: is unspecified"),
    ({"mode": "responder", "address": "fe80::1", "token": TOKEN}, "address fe80::1 is link-local"),
    ({"mode": "responder", "address": "198.51.100.7", "token": TOKEN}, "address 198.51.100.7 is not an address"),
])
def test_invalid_parameters(harness, capsys, args, message):
    harness["io"] = None
    result = run_module(args, capsys)
    assert result["failed"] and message in result["msg"]


# -- the responder ----------------------------------------------------------------------------

class FakeResponderIO:
    def __init__(self, script, listen_error=None):
        self.t = 0.0
        self.script = sorted(script, key=lambda item: item[0])
        self.listen_error = listen_error
        self.listening = None
        self.replies: dict[int, bytes] = {}
        self.closed: dict[int, str] = {}
        self.all_closed = False

    def now(self):
        return self.t

    def listen(self, address, port):
        if self.listen_error:
            raise OSError(self.listen_error, "Address already in use")
        self.listening = (address, port)

    def poll(self, timeout):
        due = [item for item in self.script if item[0] <= self.t + timeout]
        if not due:
            self.t += timeout
            return []
        self.t = max(self.t, due[0][0])
        ready = [ev for at, ev in self.script if at <= self.t]
        self.script = [(at, ev) for at, ev in self.script if at > self.t]
        return ready

    def reply(self, handle, data):
        self.replies[handle] = data
        return True

    def tcp_info(self, handle):
        return tcp_info(snd_mss=1368, rcv_mss=1368, advmss=1448, pmtu=1500)

    def maxseg(self, handle):
        return 1368

    def close(self, handle, abort=False):
        self.closed[handle] = "reset" if abort else "fin"

    def close_all(self):
        self.all_closed = True
        self.listening = None


def conn(handle, at, size, *, token_digest=DIGEST, split=3, end=None, client=CLIENT, op=tp.OP_EXCHANGE):
    """A client connection's events: accept, the request and payload in ``split`` pieces, optionally an end."""
    data = tp.encode_request(op, token_digest, size) + bytes(size if op == tp.OP_EXCHANGE else 0)
    events = [(at, ("accept", handle, (client, 50000 + handle)))]
    step = max(1, len(data) // split + 1)
    for n, offset in enumerate(range(0, len(data), step)):
        events.append((at + 0.01 * (n + 1), ("data", handle, data[offset:offset + step])))
    if end:
        events.append((at + 0.5, (end, handle)))
    return events


def bye(handle, at, client=CLIENT):
    return conn(handle, at, 0, op=tp.OP_BYE, client=client)


def respond(harness, capsys, script, **args):
    io = FakeResponderIO(script, args.pop("listen_error", None))
    harness["io"] = io
    return run_module({"mode": "responder", "address": PEER, "token": TOKEN, **args}, capsys), io


def test_responder_serves_and_exits_after_goodbye(harness, capsys):
    result, io = respond(harness, capsys, conn(1, 0.1, 1000) + conn(2, 0.5, 1000000) + bye(3, 1.0))
    assert (result["exit_reason"], result["changed"]) == ("clients", False)
    assert [(e["size"], e["received"], e["complete"], e["end"]) for e in result["exchanges"]] == [
        (1000, 1000, True, "replied"), (1000000, 1000000, True, "replied")]
    assert result["exchanges"][0]["maxseg"] == 1368
    reply = tp.decode_reply(io.replies[1])
    assert (reply["received"], reply["maxseg"], reply["pmtu"]) == (1000, 1368, 1500)
    assert result["bytes_received"] == 1000 + 1000000 + 3 * 24
    assert result["bytes_sent"] == 2 * tp.REPLY.size <= result["bytes_received"]
    assert io.closed == {1: "fin", 2: "fin", 3: "fin"}
    assert result["clients_seen"] == [CLIENT]
    assert io.all_closed and io.listening is None
    assert result["elapsed"] == pytest.approx(1.03)  # the goodbye's last piece


def test_responder_records_a_stalled_exchange(harness, capsys):
    script = conn(1, 0.1, 1000) + conn(2, 0.5, 1000000, split=200)[:3] + [(5.0, ("reset", 2))] + bye(3, 5.1)
    result, io = respond(harness, capsys, script)
    stalled = result["exchanges"][1]
    assert (stalled["complete"], stalled["end"], stalled["size"]) == (False, "reset", 1000000)
    assert 0 < stalled["received"] < 1000000
    assert 2 not in io.replies and io.closed[2] == "reset"


def test_responder_ignores_strangers_and_refuses_oversize(harness, capsys):
    script = (conn(1, 0.1, 1000, token_digest=tp.digest("somebodyelse")) + conn(2, 0.2, 5000)
              + conn(3, 0.3, 1000) + bye(4, 0.4))
    result, io = respond(harness, capsys, script, max_bytes=4096)
    assert (result["ignored"], result["refused"]) == (1, 1)
    assert io.closed[1] == "reset" and io.closed[2] == "reset"
    assert list(io.replies) == [3]


def test_responder_rate_limits_connections(harness, capsys):
    script = [ev for h in range(1, 8) for ev in conn(h, 0.1, 100)] + bye(9, 0.3)
    result, io = respond(harness, capsys, script, rate=1, timeout=10)
    assert result["refused"] == 3  # seven at once: a burst of 5 passes; the goodbye comes too soon after
    assert len(io.replies) == 5
    assert result["exit_reason"] == "timeout"


def test_responder_exits_at_its_deadline_and_resets_open_connections(harness, capsys):
    script = conn(1, 0.1, 1000000, split=100)[:5]
    result, io = respond(harness, capsys, script, timeout=3)
    assert result["exit_reason"] == "timeout"
    assert result["elapsed"] == pytest.approx(3.0)
    assert result["exchanges"][0]["end"] == "shutdown" and io.closed[1] == "reset"


def test_responder_drops_idle_connections(harness, capsys):
    script = conn(1, 0.1, 1000000, split=100)[:3]
    result, io = respond(harness, capsys, script, timeout=40)
    assert result["exchanges"][0]["end"] == "idle"
    assert io.closed[1] == "reset"


def test_responder_stops_after_max_exchanges(harness, capsys):
    script = [ev for h in range(1, 5) for ev in conn(h, h * 1.0, 100)]
    result, io = respond(harness, capsys, script, max_exchanges=2)
    assert result["exit_reason"] == "max_exchanges"
    assert len(result["exchanges"]) == 2


def test_responder_cannot_listen(harness, capsys):
    result, io = respond(harness, capsys, [], listen_error=errno.EADDRINUSE)
    assert result["failed"] and "cannot listen on 198.18.3.2 port 33534: EADDRINUSE" in result["msg"]
