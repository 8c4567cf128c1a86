# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The network diagnostic page of role netpath.mtu.diag_endpoint: a standalone HTTP service.

The role copies this file as it is to the host and runs it with ``python3`` (standard library only,
no import from the collection: the host has no collection). Routes, nothing else (404):

- ``/``: a page whose JavaScript downloads ``/payload`` of increasing sizes, marks each completed or
  stalled (per-size timeout), then asks ``/mtu?run=...`` for the verdict in plain words.
- ``/payload?size=N&run=R``: a response whose first packet is an IP packet of exactly N bytes (when
  N fits the segment size the client advertised); larger N is N minus one packet's headers, sent as
  several full-size packets.
- ``/mtu?size=N[&run=R]``: the same as JSON (padded), with what the server's kernel knows about the
  connection (TCP_INFO and the MSS in the client's SYN); for curl.
- ``/mtu[?run=R[&ok=..&stalled=..]]``: what the server saw of run R's responses (acknowledged, or
  stuck with retransmissions and unacknowledged segments) and the verdict.

Bounded: sizes between ``MIN_SIZE`` and ``--max-size``, a per-client request rate, a cap on
simultaneous connections, and a stalled response is reset after ``--stall-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

# struct tcp_info (linux/tcp.h): a copy of transfer_proto.TCP_INFO_FIELDS (this file runs where the
# collection is not installed); a unit test keeps the two equal.
TCP_INFO_FIELDS = (
    ("state", 0, "B"), ("retransmits", 2, "B"), ("probes", 3, "B"), ("backoff", 4, "B"),
    ("rto_us", 8, "I"), ("snd_mss", 16, "I"), ("rcv_mss", 20, "I"), ("unacked", 24, "I"),
    ("lost", 32, "I"), ("retrans", 36, "I"), ("pmtu", 60, "I"), ("rtt_us", 68, "I"),
    ("snd_cwnd", 80, "I"), ("advmss", 84, "I"), ("total_retrans", 100, "I"),
    ("bytes_acked", 120, "Q"), ("bytes_received", 128, "Q"),
)
# tcpi_options (offset 5), bit TCPI_OPT_TIMESTAMPS: every data segment carries 12 more bytes.
TCPI_OPTIONS_OFFSET, TCPI_OPT_TIMESTAMPS = 5, 1
TCP_INFO_LEN = 232
# linux/tcp.h; Python's socket module does not name them.
TCP_SAVE_SYN, TCP_SAVED_SYN = 27, 28

MIN_SIZE = 600
HARD_MAX_SIZE = 1 << 20
DEFAULT_SIZES = (600, 1000, 1200, 1280, 1300, 1350, 1380, 1400, 1420, 1440, 1460, 1480, 1500,
                 4000, 16000, 65536)
RUN_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_RESULTS = 1024
TLS_RECORD_OVERHEAD = 22  # TLS 1.3 AEAD: 5-byte header, 1-byte content type, 16-byte tag
ROUTES = ("/", "/payload", "/mtu")
# Bytes per packet for the page, reports and errors: with headers below IPv4's 576-byte minimum MTU.
SAFE_CHUNK = 500


def parse_tcp_info(data: bytes) -> dict[str, int]:
    """Decode the fields of ``getsockopt(TCP_INFO)`` that the kernel filled in (older kernels return less)."""
    out = {}
    for name, offset, fmt in TCP_INFO_FIELDS:
        size = struct.calcsize("=" + fmt)
        if len(data) >= offset + size:
            out[name] = struct.unpack_from("=" + fmt, data, offset)[0]
    if len(data) > TCPI_OPTIONS_OFFSET:
        out["timestamps"] = int(bool(data[TCPI_OPTIONS_OFFSET] & TCPI_OPT_TIMESTAMPS))
    return out


def syn_mss(saved_syn: bytes) -> int | None:
    """The MSS option of a SYN saved with TCP_SAVE_SYN (IPv4 or IPv6 header, then TCP); None if absent."""
    if not saved_syn:
        return None
    version = saved_syn[0] >> 4
    if version == 4:
        start = (saved_syn[0] & 0x0F) * 4
    elif version == 6 and len(saved_syn) >= 40 and saved_syn[6] == socket.IPPROTO_TCP:
        start = 40
    else:
        return None
    if len(saved_syn) < start + 20:
        return None
    end = min(len(saved_syn), start + (saved_syn[start + 12] >> 4) * 4)
    pos = start + 20
    while pos < end:
        kind = saved_syn[pos]
        if kind == 0:
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= end or saved_syn[pos + 1] < 2:
            break
        if kind == 2 and saved_syn[pos + 1] == 4 and pos + 4 <= end:
            return int(struct.unpack_from("!H", saved_syn, pos + 2)[0])
        pos += saved_syn[pos + 1]
    return None


def ip_header(family: str) -> int:
    return 40 if family == "ipv6" else 20


def packet_overhead(family: str, timestamps: bool, tls: bool) -> int:
    """Bytes in a packet around one segment's application data: IP, TCP (+ timestamps), TLS record."""
    return ip_header(family) + 20 + (12 if timestamps else 0) + (TLS_RECORD_OVERHEAD if tls else 0)


def mtu_from_mss(mss: int | None, family: str) -> int | None:
    """The MTU a peer's advertised MSS stands for (MSS + IP and TCP headers)."""
    return None if mss is None else mss + ip_header(family) + 20


def check_sizes(sizes: list[int], max_size: int) -> list[str]:
    errors = []
    if not MIN_SIZE <= max_size <= HARD_MAX_SIZE:
        errors.append(f"max size {max_size} is not between {MIN_SIZE} and {HARD_MAX_SIZE}")
    if not sizes:
        errors.append("no sizes to test")
    bad = [size for size in sizes if not MIN_SIZE <= size <= max_size]
    if bad:
        errors.append(f"sizes {bad} are not between {MIN_SIZE} and the max size {max_size}")
    if sizes != sorted(set(sizes)):
        errors.append("sizes must increase")
    return errors


class BadRequest(ValueError):
    """A request outside the documented routes and parameters; the message is safe to echo."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_request(target: str, max_size: int) -> tuple[str, dict[str, Any]]:
    """Route and validated parameters of a request target, or BadRequest (404 unknown route, 400 bad value)."""
    parts = urlsplit(target)
    if parts.path not in ROUTES:
        raise BadRequest(404, "not found")
    query = parse_qs(parts.query, keep_blank_values=True)
    params: dict[str, Any] = {}
    for key, values in query.items():
        if key not in ("size", "run", "ok", "stalled") or len(values) != 1:
            raise BadRequest(400, f"unexpected parameter {key[:20]!r}")
        params[key] = values[0]
    if "size" in params:
        if not params["size"].isdigit() or not MIN_SIZE <= int(params["size"]) <= max_size:
            raise BadRequest(400, f"size must be an integer between {MIN_SIZE} and {max_size}")
        params["size"] = int(params["size"])
    if "run" in params and not RUN_RE.fullmatch(params["run"]):
        raise BadRequest(400, "run must be 1-32 letters, digits, '-' or '_'")
    for key in ("ok", "stalled"):
        if key in params:
            items = [item for item in params[key].split(",") if item]
            if len(items) > 64 or not all(item.isdigit() and len(item) <= 7 for item in items):
                raise BadRequest(400, f"{key} must be a list of sizes")
            params[key] = [int(item) for item in items]
    if parts.path == "/payload" and ("size" not in params or "run" not in params):
        raise BadRequest(400, "/payload needs size and run")
    if parts.path == "/" and params:
        raise BadRequest(400, "/ takes no parameters")
    return parts.path, params


def response_head(status: int, content_type: str, length: int, space: bool = False) -> bytes:
    # ``space``: one byte more (optional whitespace after a field value) where the length's digits
    # would otherwise make an exact total impossible.
    return (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
            f"Cache-Control: no-store{' ' if space else ''}\r\nConnection: close\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode("ascii")


def body_length(total: int, content_type: str, minimum: int = 0) -> tuple[int, bool]:
    """The body length (and whether the head needs its extra byte) that makes head and body exactly
    ``total`` bytes; ``minimum`` (and no extra byte) when that is too small."""
    length = max(minimum, total - len(response_head(200, content_type, 0)))
    # The length's digits are part of the head: settle them.
    while len(response_head(200, content_type, length)) + length > total and length > minimum:
        length -= 1
    space = len(response_head(200, content_type, length)) + length == total - 1
    return length, space


def sized_response(total: int, content_type: str) -> bytes:
    """A complete HTTP response of exactly ``total`` bytes (more only below a bare head's length)."""
    length, space = body_length(total, content_type)
    return response_head(200, content_type, length, space) + b"x" * length


def json_sized(document: dict, total: int) -> bytes:
    """``document`` as JSON with a ``pad`` string so that the whole response is ``total`` bytes, or
    unpadded when the document alone is longer."""
    plain = json.dumps(dict(document, pad=""), sort_keys=True).encode()
    length, space = body_length(total, "application/json", len(plain))
    padded = json.dumps(dict(document, pad="x" * (length - len(plain))), sort_keys=True).encode()
    return response_head(200, "application/json", len(padded), space) + padded


def outcome(record: dict[str, Any], client_ok: bool | None) -> str:
    """completed, stalled or sending: the client's word when it gave one, else the server's kernel's."""
    if client_ok is not None:
        return "completed" if client_ok else "stalled"
    if record.get("acked"):
        return "completed"
    return "stalled" if record.get("done") else "sending"


def verdict(records: list[dict[str, Any]], ok: list[int] | None = None,
            stalled: list[int] | None = None) -> dict[str, Any]:
    """What a run's responses say about the path, in plain words.

    ``records``: the server's view of each size (client_mss, snd_mss, pmtu, family, acked, unacked,
    total_retrans); ``ok``/``stalled``: what the client saw, when it says so.
    """
    ok_set, stalled_set = set(ok or []), set(stalled or [])
    by_size = {record["size"]: record for record in records}
    sizes = sorted(set(by_size) | ok_set | stalled_set)
    outcomes = {}
    for size in sizes:
        client = True if size in ok_set else False if size in stalled_set else None
        outcomes[size] = outcome(by_size.get(size, {}), client)
    passed = [size for size in sizes if outcomes[size] == "completed"]
    failed = [size for size in sizes if outcomes[size] == "stalled"]
    out: dict[str, Any] = {"passed": passed, "stalled": failed, "path_carries": max(passed) if passed else None,
                           "stalls_from": min(failed) if failed else None}
    if not sizes:
        return dict(out, status="no_data", text="No test ran yet.")
    seen = [by_size[size] for size in sizes if size in by_size]
    family = seen[0].get("family", "ipv4") if seen else "ipv4"
    pmtus = [record["pmtu"] for record in seen if record.get("pmtu")]
    client_mtus = [mtu_from_mss(record.get("client_mss"), family) for record in seen if record.get("client_mss")]
    if not failed:
        text = f"All sizes completed: your path carries {max(passed)} bytes and more."
        if pmtus and client_mtus and min(pmtus) < min(client_mtus):
            text += (f" Path MTU discovery works: an ICMP message told the server the path MTU is {min(pmtus)}"
                     " bytes, and it sent smaller packets.")
            return dict(out, status="pmtud_works", text=text)
        return dict(out, status="ok", text=text)
    if not passed or min(failed) < max(passed):
        return dict(out, status="inconclusive",
                    text="Small and large responses failed alike (stalled sizes "
                         f"{failed}, completed {passed}): this looks like loss or an outage, not an MTU limit. Try again.")
    bound, first_stall = max(passed), min(failed)
    stuck = [by_size[size] for size in failed if size in by_size]
    text = (f"Your path carries {bound} bytes; large responses stall beyond it ({first_stall} bytes and more"
            " did not arrive).")
    client_mss = next((record.get("client_mss") for record in stuck + seen if record.get("client_mss")), None)
    if client_mss:
        text += (f" Your side advertised a TCP MSS of {client_mss} (an MTU of {mtu_from_mss(client_mss, family)}),"
                 " so the server sends packets that large.")
    evidence = [record for record in stuck if record.get("unacked") or record.get("total_retrans")]
    if evidence:
        retrans = max(record.get("total_retrans", 0) for record in evidence)
        pmtu = min(record.get("pmtu", 0) for record in evidence)
        text += (f" The server's kernel retransmitted them {retrans} times without an acknowledgement, and no"
                 f" ICMP reached it: it still believes the path MTU is {pmtu}.")
    icmp = ("ICMPv6 type 2 (packet too big)" if family == "ipv6"
            else "ICMP type 3 code 4 (fragmentation needed)")
    mss = bound - ip_header(family) - 20
    text += (f" Ask your network team to allow {icmp} towards this server, or to set MSS clamping"
             f" (TCP MSS {mss}) on the link with the smaller MTU.")
    return dict(out, status="black_hole", text=text, icmp=icmp, clamp_mss=mss)


class RateLimiter:
    """A token bucket per client address: ``rate`` requests per minute, bursts up to ``rate``."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 4096) -> None:
        self.rate, self.clock, self.max_clients = rate, clock, max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        with self.lock:
            now = self.clock()
            tokens, last = self.buckets.pop(client, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60.0)
            allowed = tokens >= 1.0
            self.buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self.buckets) > self.max_clients:
                self.buckets.popitem(last=False)
            return allowed


class Results:
    """The server's view of recent responses, per (client, run, size); bounded, oldest dropped first."""

    def __init__(self, limit: int = MAX_RESULTS) -> None:
        self.limit = limit
        self.items: OrderedDict[tuple[str, str, int], dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def put(self, client: str, run: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.items[(client, run, record["size"])] = record
            while len(self.items) > self.limit:
                self.items.popitem(last=False)

    def update(self, client: str, run: str, size: int, **fields: Any) -> None:
        with self.lock:
            if (client, run, size) in self.items:
                self.items[(client, run, size)].update(fields)

    def run(self, client: str, run: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(record) for (who, name, dummy), record in self.items.items() if who == client and name == run]


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Network path MTU check</title>
<style>body{font-family:sans-serif;max-width:48em;margin:2em auto}td,th{padding:0 1em;text-align:right}
.completed{color:#070}.stalled{color:#b00}#verdict{font-size:1.2em;margin-top:1em}</style></head>
<body data-state="running"><h1>Network path MTU check</h1>
<p>This page downloads responses of increasing size from this server. A path that drops large packets
(and the ICMP message that should report it) lets the small ones through and stalls the large ones.</p>
<table><thead><tr><th>packet size</th><th>result</th><th>time</th></tr></thead><tbody id="rows"></tbody></table>
<p id="verdict">Testing...</p><pre id="server"></pre>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const run = Math.random().toString(36).slice(2, 14);
const results = [];
window.netpathDiag = {run: run, results: results, verdict: null};
function row(size, state, ms) {
  const tr = document.createElement("tr");
  tr.id = "size-" + size;
  for (const text of [String(size), state, ms === null ? "" : ms + " ms"]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  tr.className = state;
  const old = document.getElementById(tr.id);
  if (old) { old.replaceWith(tr); } else { document.getElementById("rows").appendChild(tr); }
}
async function fetchSize(size) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), config.timeout * 1000);
  const start = performance.now();
  try {
    const response = await fetch("/payload?size=" + size + "&run=" + run,
                                 {cache: "no-store", signal: controller.signal});
    const body = await response.arrayBuffer();
    const expected = Number(response.headers.get("Content-Length"));
    return {size: size, ok: response.ok && body.byteLength === expected,
            ms: Math.round(performance.now() - start)};
  } catch (error) {
    return {size: size, ok: false, ms: null};
  } finally {
    clearTimeout(timer);
  }
}
async function main() {
  for (const size of config.sizes) {
    row(size, "testing", null);
    const result = await fetchSize(size);
    results.push(result);
    row(size, result.ok ? "completed" : "stalled", result.ms);
  }
  const ok = results.filter(r => r.ok).map(r => r.size).join(",");
  const stalled = results.filter(r => !r.ok).map(r => r.size).join(",");
  try {
    const response = await fetch("/mtu?run=" + run + "&ok=" + ok + "&stalled=" + stalled, {cache: "no-store"});
    const report = await response.json();
    window.netpathDiag.verdict = report.verdict;
    window.netpathDiag.server = report.results;
    document.getElementById("verdict").textContent = report.verdict.text;
    document.getElementById("server").textContent = JSON.stringify(report.results, null, 1);
  } catch (error) {
    document.getElementById("verdict").textContent =
      "The server did not answer the final report request (" + error + "). Stalled sizes: " + stalled;
  }
  document.body.dataset.state = "done";
}
main();
</script></body></html>
"""


def render_page(sizes: list[int], timeout: float) -> bytes:
    # "<" escaped: the configuration cannot close its script element.
    config = json.dumps({"sizes": sizes, "timeout": timeout}).replace("<", "\\u003c")
    return PAGE.replace("__CONFIG__", config).encode()


# ---- the sockets ------------------------------------------------------------------------------

class DiagServer(ThreadingHTTPServer):
    """One listening address; ``options`` and the shared state come from main()."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: str, port: int, options: argparse.Namespace, shared: dict[str, Any]) -> None:
        self.address_family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        self.options, self.shared = options, shared
        super().__init__((address, port), DiagHandler, bind_and_activate=False)
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.socket.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)
        self.server_bind()
        self.server_activate()

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the address up in DNS (getfqdn): not wanted, and slow offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, not a traceback: a failed TLS handshake or a client gone is routine here.
        sys.stderr.write(f"{client_address[0]} error: {sys.exc_info()[1]}\n")

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.shared["slots"].acquire(blocking=False):
            # Over the concurrency cap: a short refusal, no thread.
            try:
                request.settimeout(1)
                request.sendall(response_head(503, "text/plain", 5) + b"busy\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.shared["slots"].release()


class DiagHandler(BaseHTTPRequestHandler):
    server: DiagServer
    server_version = "netpath-mtu-diag"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 10

    def setup(self) -> None:
        raw = self.request
        try:
            self.saved_syn = raw.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512)
        except OSError:
            self.saved_syn = b""
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.server.shared.get("tls")
        if context is not None:
            raw.settimeout(self.timeout)
            self.request = context.wrap_socket(raw, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        sys.stderr.write(f"{self.client_address[0]} {format % args}\n")

    def family(self) -> str:
        return "ipv6" if self.server.address_family == socket.AF_INET6 else "ipv4"

    def tcp_info(self) -> dict[str, int]:
        try:
            return parse_tcp_info(self.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN))
        except OSError:
            return {}

    def send_bytes(self, status: int, data: bytes) -> None:
        self.log_request(status, len(data))
        self.close_connection = True
        self.send_paced(data)

    def send_paced(self, data: bytes) -> None:
        """Everything but the test payloads goes out in packets small enough for any path (each chunk
        acknowledged before the next, so none are merged): the page must load over the black hole it
        diagnoses."""
        deadline = time.monotonic() + self.timeout
        self.request.settimeout(self.timeout)
        for start in range(0, len(data), SAFE_CHUNK):
            self.request.sendall(data[start:start + SAFE_CHUNK])
            while self.tcp_info().get("unacked", 0) and time.monotonic() < deadline:
                time.sleep(0.005)

    def send_error_text(self, status: int, message: str) -> None:
        body = (message + "\n").encode()
        self.send_bytes(status, response_head(status, "text/plain", len(body)) + body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, unsupported method) in the same short form.
        self.send_error_text(code, "bad request" if code < 500 else "not supported")

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        client = self.client_address[0]
        if not self.server.shared["limiter"].allow(client):
            self.send_error_text(429, "too many requests; try again in a minute")
            return
        try:
            route, params = parse_request(self.path, self.server.options.max_size)
        except BadRequest as error:
            self.send_error_text(error.status, str(error))
            return
        if route == "/":
            page = self.server.shared["page"]
            csp = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
            head = response_head(200, "text/html; charset=utf-8", len(page)).replace(
                b"\r\n\r\n", f"\r\nContent-Security-Policy: {csp}\r\n\r\n".encode())
            self.send_bytes(200, head + page)
        elif route == "/mtu" and "size" not in params:
            self.report(client, params)
        else:
            self.sized(client, route, params)

    def view(self, size: int) -> dict[str, Any]:
        info = self.tcp_info()
        client_mss = syn_mss(self.saved_syn)
        return {"size": size, "family": self.family(), "client_mss": client_mss,
                "client_mtu": mtu_from_mss(client_mss, self.family()), "snd_mss": info.get("snd_mss"),
                "advmss": info.get("advmss"), "pmtu": info.get("pmtu"), "rtt_us": info.get("rtt_us"),
                "timestamps": info.get("timestamps", 0), "unacked": 0, "total_retrans": 0,
                "acked": False, "done": False}

    def sized(self, client: str, route: str, params: dict[str, Any]) -> None:
        size, run = params["size"], params.get("run", "curl")
        record = self.view(size)
        tls = self.server.shared["tls"] is not None
        overhead = packet_overhead(record["family"], bool(record["timestamps"]), tls)
        if route == "/payload":
            data = sized_response(size - overhead, "application/octet-stream")
        else:
            first = min(size, (record["snd_mss"] or 0) + packet_overhead(record["family"], bool(record["timestamps"]), False))
            document = {key: value for key, value in record.items() if key not in ("acked", "done")}
            data = json_sized(dict(document, client=client, run=run, first_packet=first), size - overhead)
        self.server.shared["results"].put(client, run, record)
        self.log_request(200, len(data))
        self.close_connection = True
        deadline = time.monotonic() + self.server.options.stall_timeout
        try:
            # Bounded: a black hole fills the send buffer, and sendall would wait for ever.
            self.request.settimeout(self.server.options.stall_timeout)
            self.request.sendall(data)
        except OSError:
            pass
        self.watch(client, run, size, len(data), deadline)

    def watch(self, client: str, run: str, size: int, sent: int, deadline: float) -> None:
        """Follow the kernel's view until the client acknowledged everything or the stall timeout."""
        results: Results = self.server.shared["results"]
        while True:
            info = self.tcp_info()
            acked = info.get("unacked", 0) == 0 and info.get("bytes_acked", sent) >= sent
            results.update(client, run, size, unacked=info.get("unacked", 0), pmtu=info.get("pmtu"),
                           snd_mss=info.get("snd_mss"), total_retrans=info.get("total_retrans", 0),
                           retransmits=info.get("retransmits", 0), acked=acked)
            if acked or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        results.update(client, run, size, done=True)
        if not acked:
            # Reset: the kernel stops retransmitting into the black hole now.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def report(self, client: str, params: dict[str, Any]) -> None:
        run = params.get("run", "curl")
        records = self.server.shared["results"].run(client, run)
        info, client_mss = self.tcp_info(), syn_mss(self.saved_syn)
        document = {"client": client, "run": run, "family": self.family(), "client_mss": client_mss,
                    "client_mtu": mtu_from_mss(client_mss, self.family()), "server_pmtu": info.get("pmtu"),
                    "snd_mss": info.get("snd_mss"), "results": sorted(records, key=lambda record: record["size"]),
                    "verdict": verdict(records, params.get("ok"), params.get("stalled"))}
        body = json.dumps(document, sort_keys=True).encode()
        self.send_bytes(200, response_head(200, "application/json", len(body)) + body)


def drop_privileges(user: str) -> None:
    """After binding and reading the key: run as ``user`` (only when started as root)."""
    if os.getuid() != 0 or not user:
        return
    import pwd  # pylint: disable=import-outside-toplevel
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="netpath.mtu network diagnostic page")
    parser.add_argument("--address", action="append", required=True, help="address to listen on (repeat)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--max-size", type=int, default=65536)
    parser.add_argument("--sizes", default=",".join(str(size) for size in DEFAULT_SIZES))
    parser.add_argument("--page-timeout", type=float, default=3.0)
    parser.add_argument("--stall-timeout", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=120, help="requests per minute per client address")
    parser.add_argument("--max-connections", type=int, default=32)
    parser.add_argument("--user", default="")
    parser.add_argument("--check", action="store_true", help="validate the options, then exit")
    options = parser.parse_args(argv)
    options.sizes = [int(size) for size in options.sizes.split(",") if size]
    errors = check_sizes(options.sizes, options.max_size)
    for address in options.address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            errors.append(f"--address {address!r} is not an IP address")
    if not 0 < options.port < 65536:
        errors.append("--port must be 1-65535")
    if bool(options.cert) != bool(options.key):
        errors.append("--cert and --key go together")
    if not 0 < options.page_timeout < options.stall_timeout <= 60:
        errors.append("need 0 < --page-timeout < --stall-timeout <= 60")
    if options.rate < 1 or options.max_connections < 1:
        errors.append("--rate and --max-connections must be positive")
    if errors:
        parser.error("; ".join(errors))
    return options


def build(options: argparse.Namespace) -> list[DiagServer]:
    tls = None
    if options.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_3
        tls.load_cert_chain(options.cert, options.key)
    shared = {"tls": tls, "limiter": RateLimiter(options.rate), "results": Results(),
              "slots": threading.BoundedSemaphore(options.max_connections),
              "page": render_page(options.sizes, options.page_timeout)}
    return [DiagServer(address, options.port, options, shared) for address in options.address]


def main(argv: list[str] | None = None) -> None:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    if options.check:
        sys.stdout.write("options ok\n")
        return
    servers = build(options)
    drop_privileges(options.user)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stderr.write(f"listening on {', '.join(options.address)} port {options.port}\n")
    sys.stderr.flush()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
