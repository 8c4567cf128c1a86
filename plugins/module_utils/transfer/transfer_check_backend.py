# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""transfer_check's work behind its seam: the checking host's two exchanges and the responder's service.

The module builds ``TransferParams`` and a ``TransferIO`` (plain TCP sockets) and calls ``run``; the
unit tests pass a fake seam with a virtual clock instead. The wire format and the verdict are in
transfer_proto; the responder's skeleton and the shared validation in wire/responder.

With ``capture`` both ends capture the exchange (the ``capture`` seam, capture_io) and write a
pcap file. The checking host stops its capture after the large exchange, asks the responder on a
connection of its own for what its capture saw (``OP_SUMMARY``: capture_analysis.receiver_view,
a few hundred bytes of JSON that travel in 536-byte segments, so they cross a path that
black-holes large ones) and compares both sides (capture_analysis.analyse).
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
from typing import Any, Callable, ClassVar, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import capture_analysis as ca
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp
from ansible_collections.netpath.mtu.plugins.module_utils.wire.ratelimit import RateLimiter
from ansible_collections.netpath.mtu.plugins.module_utils.wire.responder import Responder, RunParams, guarded

CONNECT_RETRY = 0.2
CHUNK = 64 * 1024
ZEROS = bytes(CHUNK)
BURST = 5
MAX_CONCURRENT = 8
IDLE = 30.0
LOCAL_KEYS = ("snd_mss", "rcv_mss", "advmss", "pmtu", "rtt_us", "snd_cwnd", "unacked", "lost", "retrans",
              "total_retrans", "retransmits", "backoff", "bytes_acked", "bytes_received")


@dataclasses.dataclass(frozen=True)
class TransferParams(RunParams):
    """transfer_check's options, typed."""

    small_size: int
    large_size: int
    max_bytes: int
    max_exchanges: int
    capture: bool = False
    capture_dir: str | None = None

    BUDGET: ClassVar[str] = "max_exchanges"
    SOURCE_CHOOSES: ClassVar[str] = "the local address"
    DEFAULT_TIMEOUT: ClassVar[Mapping[str, float]] = {"check": 10.0, "responder": 60.0}

    def check_errors(self) -> list[str]:
        return tp.validate_sizes(self.small_size, self.large_size)

    def mode_errors(self, is_local: Callable[[str], bool] | None = None) -> list[str]:
        return super().mode_errors(is_local) + capture_dir_errors(self.capture, self.capture_dir)

    def responder_errors(self) -> list[str]:
        if not tp.MIN_SIZE <= self.max_bytes <= tp.MAX_SIZE:
            return [f"max_bytes {self.max_bytes} must be between {tp.MIN_SIZE} and {tp.MAX_SIZE}"]
        return []


SUMMARY_TIMEOUT = 5.0
SETTLE = 0.2  # seconds for the responder's capture to catch up before it summarises


# Where a pcap never belongs: the kernel's and the devices' pseudo file systems.
PSEUDO_FS = ("/proc", "/sys", "/dev")


def capture_dir_errors(capture: bool, path: str | None) -> list[str]:
    """What is wrong with ``capture_dir`` as text (the file system is the seam's to check)."""
    if path is None:
        return []
    if not capture:
        return ["capture_dir is for capture=true"]
    if not path.startswith("/"):
        return [f"capture_dir {path[:80]!r} must be an absolute path"]
    if any(ord(char) < 32 for char in path):
        return ["capture_dir must not contain control characters such as a newline"]
    if any(path == fs or path.startswith(fs + "/") for fs in PSEUDO_FS):
        return [f"capture_dir {path[:80]} is on a pseudo file system ({', '.join(PSEUDO_FS)}); give a real directory"]
    return []


def run(params: TransferParams, io: Any, capture: Any = None) -> dict:
    """The module's result for ``params``; failures raise ModuleFailure. Closes ``io``; ``capture``
    (a capture_io.CaptureIO) is used only when ``params.capture``."""
    capture = capture if params.capture else None

    def work() -> dict:
        if params.mode == "responder":
            return TransferResponder(io, params, capture).run()
        return run_check(io, params, capture)

    def close() -> None:
        io.close_all()
        if capture is not None:
            capture.stop()
    return guarded(params.mode, work, close, failures=(ValueError, PermissionError))


def _start_capture(capture: Any, address: str, port: int) -> None:
    try:
        capture.start(address, port)
    except PermissionError as exc:
        raise PermissionError(f"capture needs CAP_NET_RAW (become: true): {exc.strerror or exc}") from exc


def _pcap_name(role: str, address: str) -> str:
    return f"transfer-{role}-{address.replace(':', '_')}.pcap"


def _err(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__
    return f"{name} ({exc.strerror or exc})"


def _local_view(io: Any, handle: int) -> dict:
    info = tp.parse_tcp_info(io.tcp_info(handle))
    view = {"maxseg": io.maxseg(handle)}
    view.update({k: info.get(k) for k in LOCAL_KEYS})
    return view


# -- the checking host ------------------------------------------------------------------------

def run_check(io: Any, params: TransferParams, capture: Any = None) -> dict:
    start = io.now()
    run_digest = tp.digest(params.token)
    peer = str(ipaddress.ip_address(params.peer))
    params = dataclasses.replace(params, peer=peer)
    if capture is not None:
        directory = capture.directory(params.capture_dir)
        _start_capture(capture, peer, params.port)
    small = exchange(io, params, params.small_size, run_digest)
    large = exchange(io, params, params.large_size, run_digest) if small["ok"] else None
    captured = None
    if capture is not None:
        # Stopped before the summary connection: its own segments are not part of the transfer.
        packets = capture.stop()
        path = f"{directory}/{_pcap_name('sender', peer)}"
        capture.write(path, packets)
        body, error = fetch_summary(io, params, run_digest)
        captured = {"local": path, "peer": (body or {}).get("pcap"), "packets": len(packets),
                    "truncated": capture.truncated or bool((body or {}).get("truncated")),
                    "kernel_drops": capture.kernel_drops, "peer_error": error,
                    "analysis": ca.analyse(packets, peer, (body or {}).get("view"))}
    try:
        handle = io.connect(peer, params.port, params.source, 2.0)
        io.send(handle, tp.encode_request(tp.OP_BYE, run_digest, 0), 1.0)
        io.close(handle)
    except OSError:
        pass  # the responder stops at its own deadline
    status, reason = tp.classify(small, large)
    last = large if large and large["peer"] else small
    return {
        "status": status, "reason": reason, "peer": peer, "family": "ipv6" if ":" in peer else "ipv4",
        "port": params.port, "small_ok": small["ok"], "large_ok": bool(large and large["ok"]),
        "bytes_moved": small["bytes_acked"] + (large["bytes_acked"] if large else 0),
        "throughput_bps": large["throughput_bps"] if large else None,
        "mss": {"local": {k: last["local"].get(k) for k in tp.MSS_KEYS}, "peer": last["peer"]},
        "small": small, "large": large, "capture": captured, "elapsed": round(io.now() - start, 3),
    }


def fetch_summary(io: Any, params: TransferParams, run_digest: bytes) -> tuple[dict | None, str | None]:
    """The responder's summary of its capture, or None and why not."""
    try:
        handle = io.connect(params.peer, params.port, params.source, 2.0, mss=tp.SUMMARY_MSS)
    except OSError as exc:
        return None, f"cannot connect for the responder's capture summary: {_err(exc)}"
    deadline = io.now() + SUMMARY_TIMEOUT
    data, want = b"", tp.SUMMARY.size
    try:
        io.send(handle, tp.encode_request(tp.OP_SUMMARY, run_digest, 0), 1.0)
        while len(data) < want and io.now() < deadline:
            chunk = io.recv(handle, want - len(data), min(0.5, deadline - io.now()))
            if chunk == b"":
                break
            data += chunk or b""
            header = tp.summary_length(data) if want == tp.SUMMARY.size and len(data) >= want else None
            if header is not None:
                status, length = header
                if status != tp.SUMMARY_OK:
                    return None, ("the responder does not capture (capture: false)" if status == tp.SUMMARY_NO_CAPTURE
                                  else "the responder's capture summary was too large to send")
                want = tp.SUMMARY.size + length
    except OSError as exc:
        return None, f"the responder's capture summary failed: {_err(exc)}"
    finally:
        io.close(handle)
    body = tp.decode_summary_body(data[tp.SUMMARY.size:]) if len(data) == want > tp.SUMMARY.size else None
    return (body, None) if body is not None else (None, "no capture summary from the responder before the deadline")


def exchange(io: Any, params: TransferParams, size: int, run_digest: bytes) -> dict:
    """Send one request and ``size`` payload bytes, read the reply; all within the check's timeout."""
    timeout = params.run_timeout
    start = io.now()
    deadline = start + timeout
    result = {"ok": False, "size": size, "timeout": timeout, "bytes_sent": 0, "bytes_acked": 0, "peer_received": None,
              "elapsed": None, "throughput_bps": None, "error": None, "local": {}, "peer": None}
    handle = _connect(io, params, deadline, result)
    if handle is None:
        result["elapsed"] = round(io.now() - start, 3)
        return result
    pending_header, pending = tp.encode_request(tp.OP_EXCHANGE, run_digest, size), size
    reply = b""
    try:
        while pending_header or pending:
            left = deadline - io.now()
            if left <= 0:
                break
            # The request goes out in a segment of its own, so the responder learns of the exchange
            # even when every full-size segment after it vanishes.
            data = pending_header or ZEROS[:min(CHUNK, pending)]
            sent = io.send(handle, data, min(0.5, left))
            from_header = min(sent, len(pending_header))
            pending_header = pending_header[from_header:]
            pending -= sent - from_header
            result["bytes_sent"] += sent - from_header
        while not (pending_header or pending) and len(reply) < tp.REPLY.size:
            left = deadline - io.now()
            if left <= 0:
                break
            data = io.recv(handle, tp.REPLY.size - len(reply), min(0.5, left))
            if data == b"":
                result["error"] = "the responder closed the connection without a reply"
                break
            reply += data or b""
    except OSError as exc:
        result["error"] = f"connection failed: {_err(exc)}"
    elapsed = io.now() - start
    _conclude(io, handle, result, reply, unsent=bool(pending_header or pending))
    result["elapsed"] = round(elapsed, 3)
    if result["ok"]:
        result["throughput_bps"] = tp.throughput_bps(size, elapsed)
    return result


def _connect(io: Any, params: TransferParams, deadline: float, result: dict) -> int | None:
    """A connection to the responder, retried until ``deadline`` (it may still be starting); None if none."""
    while True:
        left = deadline - io.now()
        if left <= 0:
            return None
        try:
            handle = io.connect(params.peer, params.port, params.source, min(2.0, left))
        except OSError as exc:
            result["error"] = f"cannot connect to {params.peer} port {params.port}: {_err(exc)}"
            io.sleep(min(CONNECT_RETRY, deadline - io.now()))
            continue
        result["error"] = None
        return handle


def _conclude(io: Any, handle: int, result: dict, reply: bytes, unsent: bool) -> None:
    """Fill ``result`` from the reply and the socket's view, then close (with an RST unless it completed)."""
    size = result["size"]
    local = _local_view(io, handle)
    decoded = tp.decode_reply(reply)
    # bytes_acked counts the SYN and our request header too
    acked = local.get("bytes_acked")
    result["bytes_acked"] = max(0, min(size, acked - 1 - tp.REQUEST.size)) if acked else 0
    if decoded is not None:
        result["peer_received"] = decoded["received"]
        result["peer"] = {k: decoded[k] for k in tp.MSS_KEYS}
        result["ok"] = decoded["status"] == tp.STATUS_OK and decoded["received"] == size
        if result["ok"]:
            result["bytes_acked"] = size
        elif not result["error"]:
            result["error"] = f"the responder confirmed {decoded['received']} of {size} bytes"
    elif not result["error"]:
        result["error"] = ("stalled: the deadline passed with data still unacknowledged" if unsent
                           else "no reply from the responder before the deadline")
    io.close(handle, abort=not result["ok"])
    result["local"] = local


# -- the responder ----------------------------------------------------------------------------

class TransferResponder:
    """Serves exchanges with the run's token: reads the payload, confirms it with a short reply."""

    def __init__(self, io: Any, params: TransferParams, capture: Any = None) -> None:
        self.io = io
        self.params = params
        self.capture = capture
        self.pcap: str | None = None
        self.address = str(ipaddress.ip_address(params.address))
        self.digest = tp.digest(params.token)
        self.life = Responder(io.now, params.run_timeout, params.clients)
        self.limiter = RateLimiter(params.rate, BURST, self.life.start)
        self.conns: dict[int, dict] = {}
        self.exchanges: list[dict] = []
        self.counts = {"refused": 0, "ignored": 0, "bytes_received": 0, "bytes_sent": 0}

    def run(self) -> dict:
        try:
            self.io.listen(self.address, self.params.port)
        except OSError as exc:
            raise ValueError(f"cannot listen on {self.address} port {self.params.port}: {_err(exc)}") from exc
        if self.capture is not None:
            # Its own address: the checking hosts are not known in advance.
            self.pcap = f"{self.capture.directory(self.params.capture_dir)}/{_pcap_name('receiver', self.address)}"
            _start_capture(self.capture, self.address, self.params.port)
        try:
            self.life.serve(self.io.poll, self.on_event, tick=self.drop_idle, max_wait=1.0)
        finally:
            for handle in list(self.conns):
                self.end(handle, "shutdown")
            self.io.close_all()
        extra = {}
        if self.capture is not None:
            packets = self.capture.stop()
            self.capture.write(self.pcap, packets)
            extra["capture"] = {"local": self.pcap, "packets": len(packets), "truncated": self.capture.truncated,
                                "kernel_drops": self.capture.kernel_drops}
        return self.life.result(self.address, self.params.port, exchanges=self.exchanges, **self.counts, **extra)

    def summarise(self, handle: int, client: str) -> None:
        """Answer a summary request: what the capture saw of ``client``, within the reply budget."""
        # Never more than received: the summary counts against the same budget as the replies, and
        # what the client put on the wire toward us counts too (a stalled transfer delivers little).
        budget = self.counts["bytes_received"]
        if self.capture is None:
            data = tp.encode_summary(tp.SUMMARY_NO_CAPTURE)
        else:
            view = ca.receiver_view(self.capture.packets(SETTLE), client)
            budget = max(budget, view["bytes"])
            data = tp.encode_summary(tp.SUMMARY_OK, {"view": view, "pcap": self.pcap,
                                                     "truncated": self.capture.truncated})
            if len(data) - tp.SUMMARY.size > tp.MAX_SUMMARY or self.counts["bytes_sent"] + len(data) > budget:
                data = tp.encode_summary(tp.SUMMARY_TOO_LARGE)
        if self.counts["bytes_sent"] + len(data) <= budget and self.io.reply(handle, data):
            self.counts["bytes_sent"] += len(data)
        self.io.close(handle)

    def drop_idle(self, now: float) -> None:
        for handle in [h for h, c in self.conns.items() if now - c["last"] > IDLE]:
            self.end(handle, "idle")

    def end(self, handle: int, end: str, reply: bool = False) -> None:
        """Close a connection; an exchange gets its row (and, when complete, its reply first)."""
        io, counts = self.io, self.counts
        conn = self.conns.pop(handle)
        if conn["op"] == tp.OP_EXCHANGE:
            view = _local_view(io, handle)
            row = {"client": conn["client"], "size": conn["size"], "received": conn["got"],
                   "complete": conn["got"] == conn["size"], "end": end,
                   "elapsed": round(io.now() - conn["start"], 3), **{k: view.get(k) for k in tp.MSS_KEYS}}
            if reply:
                row["end"] = "unanswered"
                data = tp.encode_reply(conn["got"], view, io.now() - conn["start"])
                # Never more than received (a reply is shorter than a request with the smallest payload).
                if counts["bytes_sent"] + len(data) <= counts["bytes_received"] and io.reply(handle, data):
                    counts["bytes_sent"] += len(data)
                    row["end"] = "replied"
            self.exchanges.append(row)
            end = row["end"]
        io.close(handle, abort=end != "replied")

    def _drop(self, handle: int, count: str | None = None, abort: bool = True) -> None:
        if count:
            self.counts[count] += 1
        self.conns.pop(handle)
        self.io.close(handle, abort=abort)

    def on_event(self, event: tuple) -> None:
        kind, handle = event[0], event[1]
        if kind == "accept":
            if len(self.conns) >= MAX_CONCURRENT or not self.limiter.allow(self.io.now()):
                self.counts["refused"] += 1
                self.io.close(handle, abort=True)
                return
            self.conns[handle] = {"client": event[2][0], "head": b"", "op": None, "size": 0, "got": 0,
                                  "start": self.io.now(), "last": self.io.now()}
            return
        conn = self.conns.get(handle)
        if conn is None:
            return
        if kind in ("eof", "reset"):
            self.end(handle, kind)
            return
        data = event[2]
        self.counts["bytes_received"] += len(data)
        conn["last"] = self.io.now()
        if conn["op"] is None:
            data = self._read_request(handle, conn, data)
            if data is None:
                return
        conn["got"] += len(data)
        if conn["got"] > conn["size"]:
            self.end(handle, "overrun")
        elif conn["got"] == conn["size"]:
            self.end(handle, "replied", reply=True)
        if len(self.exchanges) >= self.params.max_exchanges:
            self.life.stop("max_exchanges")

    def _read_request(self, handle: int, conn: dict, data: bytes) -> bytes | None:
        """Collect the request header; the payload bytes after it, or None when the connection is done with."""
        need = tp.REQUEST.size - len(conn["head"])
        conn["head"] += data[:need]
        data = data[need:]
        if len(conn["head"]) < tp.REQUEST.size:
            return None
        request = tp.decode_request(conn["head"], self.digest)
        if request is None:
            self._drop(handle, "ignored")
            return None
        op, size = request
        if op == tp.OP_BYE:
            self._drop(handle, abort=False)
            self.life.said_bye(conn["client"])
            return None
        if op == tp.OP_SUMMARY:
            self.conns.pop(handle)
            self.summarise(handle, conn["client"])
            return None
        if not tp.MIN_SIZE <= size <= self.params.max_bytes:
            self._drop(handle, "refused")
            return None
        conn.update(op=op, size=size)
        self.life.served(conn["client"])
        return data
