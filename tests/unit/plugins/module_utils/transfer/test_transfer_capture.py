# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""transfer_check with capture on: both ends capture, the responder summarises, the checking host compares."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import capture_io
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import capture_analysis as ca
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import pcap_format as pf
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_check_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.transfer.test_capture_analysis import (
    FAMILIES, black_hole, clean, fragment_drop)
from ansible_collections.netpath.mtu.tests.unit.plugins.modules.test_transfer_check import (
    DIGEST, TOKEN, FakeCheckIO, FakeResponderIO, bye, conn)

CLIENT4, PEER4, dummy = FAMILIES[4]


class FakeCapture:
    """The capture seam: hands back the packets it was given and keeps what it would write."""

    def __init__(self, captured, error=None, log=None):
        self.captured, self.error, self.log = captured, error, log if log is not None else []
        self.started = None
        self.written: dict[str, bytes] = {}
        self.truncated, self.kernel_drops = False, 0

    def directory(self, path):
        return path or "/tmp/netpath-capture-fake"

    def start(self, address, port):
        if self.error:
            raise PermissionError(1, "Operation not permitted")
        self.started = (address, port)

    def packets(self, settle=0.0):
        self.log.append(("packets", settle))
        return list(self.captured)

    def stop(self):
        self.log.append(("stop",))
        return list(self.captured)

    def write(self, path, packets):
        self.written[path] = pf.encode(packets, 256)


class SummaryIO(FakeCheckIO):
    """The checking host's sockets; a summary request gets ``summary`` back."""

    def __init__(self, summary: bytes, log: list, **kw):
        super().__init__(**kw)
        self.summary, self.log, self.mss = summary, log, []

    def connect(self, peer, port, source, timeout, mss=None):
        self.log.append(("connect", mss))
        self.mss.append(mss)
        return super().connect(peer, port, source, timeout)

    def recv(self, handle, size, timeout):
        c = self.conns[handle]
        if tp.decode_request(c.sent, DIGEST) == (tp.OP_SUMMARY, 0):
            out, self.summary = self.summary[:size], self.summary[size:]
            return out
        return super().recv(handle, size, timeout)


def same(got: list, want: list) -> bool:
    """The same packets, timestamps to the microsecond the file keeps."""
    return [p._replace(ts=round(p.ts, 6)) for p in got] == [p._replace(ts=round(p.ts, 6)) for p in want]


def params(**kw) -> backend.TransferParams:
    base = {"mode": "check", "peer": PEER4, "address": None, "source": None, "port": 33534, "token": TOKEN,
            "timeout": 4.0, "clients": 1, "rate": 10.0, "small_size": 1000, "large_size": 1000000,
            "max_bytes": 1 << 26, "max_exchanges": 16, "capture": True, "capture_dir": None}
    return backend.TransferParams.from_params({**base, **kw})


@pytest.mark.parametrize("scenario, stall, verdict", [(black_hole, 26880, ca.SEGMENT_LOST), (clean, None, ca.CLEAN)])
def test_check_compares_both_captures(scenario, stall, verdict):
    sender, receiver = scenario(4)
    body = {"view": ca.receiver_view(receiver, CLIENT4), "pcap": "/var/tmp/cap/transfer-receiver-198.18.3.2.pcap",
            "truncated": False}
    log: list = []
    io = SummaryIO(tp.encode_summary(tp.SUMMARY_OK, body), log, stall_after=stall)
    capture = FakeCapture(sender, log=log)
    result = backend.run(params(capture_dir="/var/tmp/cap"), io, capture)
    assert capture.started == (PEER4, 33534)
    cap = result["capture"]
    assert cap["local"] == "/var/tmp/cap/transfer-sender-198.18.3.2.pcap"
    assert same(pf.decode(capture.written[cap["local"]]), sender)
    assert (cap["peer"], cap["packets"], cap["peer_error"]) == (body["pcap"], len(sender), None)
    assert cap["analysis"] == ca.analyse(sender, PEER4, body["view"])
    assert cap["analysis"]["verdict"] == verdict
    # The capture stops before the summary connection, which announces a small MSS; then the goodbye.
    assert log.index(("stop",)) < log.index(("connect", tp.SUMMARY_MSS))
    assert [tp.decode_request(c.sent, DIGEST)[0] for c in io.conns.values()] == [
        tp.OP_EXCHANGE, tp.OP_EXCHANGE, tp.OP_SUMMARY, tp.OP_BYE]


@pytest.mark.parametrize("summary, error", [
    (tp.encode_summary(tp.SUMMARY_NO_CAPTURE), "the responder does not capture (capture: false)"),
    (tp.encode_summary(tp.SUMMARY_TOO_LARGE), "the responder's capture summary was too large to send"),
    (b"", "no capture summary from the responder before the deadline"),
    (tp.SUMMARY.pack(tp.MAGIC, tp.VERSION, 0, 0, 5) + b"nojs!", "no capture summary from the responder"),
])
def test_check_without_a_summary_still_reports_its_side(summary, error):
    sender, dummy2 = black_hole(4)
    result = backend.run(params(), SummaryIO(summary, []), FakeCapture(sender))
    cap = result["capture"]
    assert cap["peer"] is None and cap["peer_error"].startswith(error)
    assert cap["analysis"]["verdict"] == ca.NO_DATA and cap["analysis"]["data_segments_sent"] == 2


def test_capture_off_touches_no_capture():
    capture = FakeCapture([])
    result = backend.run(params(capture=False), FakeCheckIO(), capture)
    assert result["capture"] is None and capture.started is None and capture.log == []


@pytest.mark.parametrize("mode", ["check", "responder"])
def test_capture_without_privileges_fails_clearly(mode):
    extra = {"mode": "responder", "peer": None, "address": PEER4} if mode == "responder" else {}
    io = FakeResponderIO([]) if mode == "responder" else FakeCheckIO()
    with pytest.raises(ModuleFailure, match="capture needs CAP_NET_RAW"):
        backend.run(params(**extra), io, FakeCapture([], error=True))


def summary_request(handle, at):
    return conn(handle, at, 0, op=tp.OP_SUMMARY)


def responder_params(**kw):
    return params(mode="responder", peer=None, address=PEER4, **kw)


def test_responder_summarises_what_it_captured():
    dummy2, receiver = black_hole(4)
    log: list = []
    capture = FakeCapture(receiver, log=log)
    io = FakeResponderIO(conn(1, 0.1, 1000) + summary_request(2, 1.0) + bye(3, 1.5))
    result = backend.run(responder_params(capture_dir="/srv/cap"), io, capture)
    assert capture.started == (PEER4, 33534)
    path = "/srv/cap/transfer-receiver-198.18.3.2.pcap"
    assert result["capture"] == {"local": path, "packets": len(receiver), "truncated": False, "kernel_drops": 0}
    assert same(pf.decode(capture.written[path]), receiver)
    status, length = tp.summary_length(io.replies[2])
    body = json.loads(io.replies[2][tp.SUMMARY.size:])
    assert (status, length) == (tp.SUMMARY_OK, len(io.replies[2]) - tp.SUMMARY.size)
    assert body == {"view": ca.receiver_view(receiver, ca.parse(receiver[0]).src), "pcap": path, "truncated": False}
    assert ("packets", backend.SETTLE) in log
    assert io.closed[2] == "fin" and len(result["exchanges"]) == 1  # a summary is not an exchange
    assert result["bytes_sent"] == tp.REPLY.size + len(io.replies[2]) <= result["bytes_received"]


def test_responder_without_capture_says_so():
    io = FakeResponderIO(conn(1, 0.1, 1000) + summary_request(2, 1.0) + bye(3, 1.5))
    result = backend.run(responder_params(capture=False), io, FakeCapture([]))
    assert tp.summary_length(io.replies[2]) == (tp.SUMMARY_NO_CAPTURE, 0)
    assert "capture" not in result


def test_responder_never_sends_more_than_it_received():
    dummy2, receiver = black_hole(4)
    io = FakeResponderIO(summary_request(1, 0.1) + bye(2, 0.5))  # no exchange: 24 bytes received
    result = backend.run(responder_params(), io, FakeCapture(receiver))
    # The summary would be more than the 24 bytes received: only the 12-byte refusal goes out.
    assert tp.summary_length(io.replies[1]) == (tp.SUMMARY_TOO_LARGE, 0)
    assert result["bytes_sent"] == tp.SUMMARY.size


def test_what_the_client_put_on_the_wire_counts_toward_the_budget():
    """A stalled transfer delivers little to the socket, but its fragments reached the host."""
    dummy2, receiver = fragment_drop()
    io = FakeResponderIO(summary_request(1, 0.1) + bye(2, 0.5))
    result = backend.run(responder_params(), io, FakeCapture(receiver))
    body = json.loads(io.replies[1][tp.SUMMARY.size:])
    assert len(io.replies[1]) > result["bytes_received"] == 48
    assert body["view"]["bytes"] == sum(len(p.data) for p in receiver) >= result["bytes_sent"] == len(io.replies[1])
    assert len(body["view"]["orphans"]) == 2


# -- capture_dir: refused before anything runs (issue 16's bad-input suite found it ignored) ----

@pytest.mark.parametrize("capture, path, message", [
    (True, None, None),
    (True, "/var/tmp/captures", None),
    (False, "/var/tmp/captures", "capture_dir is for capture=true"),
    (True, "captures", "capture_dir 'captures' must be an absolute path"),
    (True, "/tmp/a\nb", "capture_dir must not contain control characters such as a newline"),
    (True, "/proc/self", "capture_dir /proc/self is on a pseudo file system"),
    (True, "/dev", "capture_dir /dev is on a pseudo file system"),
    (True, "/devices", None),
])
def test_capture_dir_as_text(capture, path, message):
    errors = backend.capture_dir_errors(capture, path)
    assert (errors[0].startswith(message) if message else errors == []), errors


def test_capture_dir_on_the_file_system(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    problem = capture_io.CaptureIO.directory_problem
    assert problem(str(tmp_path)) is None
    assert problem(str(tmp_path / "new" / "deeper")) is None  # created when the capture starts
    assert problem(str(tmp_path / "file")) == f"capture_dir {tmp_path}/file: {tmp_path}/file is not a directory"
    assert problem(str(tmp_path / "file" / "x")).endswith(f"{tmp_path}/file is not a directory")
    assert "Too many levels of symbolic links" in problem(str(tmp_path / "loop"))
