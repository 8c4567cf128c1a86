# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading

import pytest
import yaml
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from ansible_collections.netpath.mtu.plugins.module_utils.diag import diag_server as ds
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(ds.__file__), "..", "..", ".."))
# getsockopt(TCP_INFO) of test_transfer_proto.py (Linux 6.18, peer behind a 1400-byte link).
TCP_INFO = bytes.fromhex(
    "010000000007aa00e01c03000000000044050000180200000000000000000000000000000000000000000000c8000000"
    "00000000cc000000c8000000dc05000058fa00003d00000012000000ffffff7f55000000a80500000300000000000000"
    "90380000000000003a617a5100000000ffffffffffffffffa18601000000000000000000000000004d00000021000000"
    "0000000008000000000000004b0000008068511b00000000000000000000000000000000000000000000000000000000"
    "4c00000000000000a086010000000000000000000000000000000000000000000000000000ec0100")


# ---- one source of truth ------------------------------------------------------------------------

def test_tcp_info_layout_is_transfer_protos():
    assert ds.TCP_INFO_FIELDS == tp.TCP_INFO_FIELDS
    info = ds.parse_tcp_info(TCP_INFO)
    assert info == dict(tp.parse_tcp_info(TCP_INFO), timestamps=1)
    assert ds.parse_tcp_info(TCP_INFO[:5]) == {"state": 1, "retransmits": 0, "probes": 0, "backoff": 0}


def test_the_role_copies_this_file_and_it_needs_only_the_standard_library():
    with open(os.path.join(COLLECTION, "roles", "diag_endpoint", "vars", "main.yml"), encoding="utf-8") as handle:
        source = yaml.safe_load(handle)["__netpath_mtu_diag_source"]
    role_path = os.path.join(COLLECTION, "roles", "diag_endpoint")
    assert os.path.realpath(source.replace("{{ role_path }}", role_path)) == os.path.realpath(ds.__file__.replace(".pyc", ".py"))
    with open(ds.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)


def test_the_unit_runs_the_argv_that_the_fallback_runs():
    with open(os.path.join(COLLECTION, "roles", "diag_endpoint", "templates", "diag.service.j2"), encoding="utf-8") as handle:
        unit = handle.read()
    assert re.findall(r"^ExecStart=(.*)$", unit, re.M) == ["{{ __netpath_mtu_diag_argv | join(' ') }}"]
    with open(os.path.join(COLLECTION, "roles", "diag_endpoint", "tasks", "present.yml"), encoding="utf-8") as handle:
        assert "-- {{ __netpath_mtu_diag_argv | join(' ') }}" in handle.read()


# ---- pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("packet, mss", [
    (IP(src="198.18.0.2", dst="198.18.0.1") / TCP(flags="S", options=[
        ("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]), 1460),
    (IP(src="198.18.0.2", dst="198.18.0.1", options=b"\x01\x01\x01\x00") / TCP(flags="S", options=[("NOP", None), ("MSS", 1360)]), 1360),
    (IPv6(src="fd00::2", dst="fd00::1") / TCP(flags="S", options=[("SAckOK", b""), ("MSS", 1440)]), 1440),
    (IP() / TCP(flags="S", options=[("WScale", 7)]), None),
    (IP() / TCP(flags="S"), None),
])
def test_mss_of_a_saved_syn(packet, mss):
    assert ds.syn_mss(bytes(packet)) == mss


@pytest.mark.parametrize("data", [b"", b"\x45" + b"\x00" * 10, b"\x60" + b"\x00" * 39, b"\x20" * 60])
def test_mss_of_garbage_is_none(data):
    assert ds.syn_mss(data) is None


@pytest.mark.parametrize("family, timestamps, tls, overhead", [
    ("ipv4", True, False, 52), ("ipv4", False, False, 40), ("ipv6", True, False, 72), ("ipv6", True, True, 94),
])
def test_packet_overhead(family, timestamps, tls, overhead):
    assert ds.packet_overhead(family, timestamps, tls) == overhead


@pytest.mark.parametrize("total", list(range(100, 260)) + [1348, 1428, 1448, 10099, 10100, 10101, 65484])
def test_sized_response_is_exact(total):
    data = ds.sized_response(total, "application/octet-stream")
    head, body = data.split(b"\r\n\r\n", 1)
    assert len(data) == total or (total < 160 and len(body) == 0 and len(data) > total)
    assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) == len(body)


@pytest.mark.parametrize("total", [300, 1348, 1428, 9999, 10000, 65484])
def test_json_sized_is_exact_and_valid(total):
    document = {"size": total, "client": "198.18.2.2"}
    data = ds.json_sized(document, total)
    body = data.split(b"\r\n\r\n", 1)[1]
    assert len(data) == total
    assert {key: value for key, value in json.loads(body).items() if key != "pad"} == document


def test_json_too_long_for_the_size_is_sent_whole():
    document = {"text": "x" * 400}
    body = ds.json_sized(document, 200).split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == dict(document, pad="")


@pytest.mark.parametrize("target, expected", [
    ("/", ("/", {})),
    ("/payload?size=1400&run=ab-1", ("/payload", {"size": 1400, "run": "ab-1"})),
    ("/mtu?size=600", ("/mtu", {"size": 600})),
    ("/mtu?run=x&ok=600,1400&stalled=", ("/mtu", {"run": "x", "ok": [600, 1400], "stalled": []})),
    ("/mtu", ("/mtu", {})),
])
def test_documented_requests(target, expected):
    assert ds.parse_request(target, 65536) == expected


@pytest.mark.parametrize("target, status", [
    ("/etc/passwd", 404), ("/index.html", 404), ("/mtu/", 404), ("//mtu", 404), ("/payload/../mtu", 404),
    ("/payload?size=1400", 400), ("/payload?run=x", 400), ("/mtu?size=599", 400), ("/mtu?size=65537", 400),
    ("/mtu?size=-1", 400), ("/mtu?size=1e3", 400), ("/mtu?size=1400&size=1500", 400), ("/mtu?x=1", 400),
    ("/mtu?run=" + "a" * 33, 400), ("/mtu?run=a/b", 400), ("/mtu?run=ab%0A", 400), ("/mtu?ok=1,x", 400), ("/?size=600", 400),
    ("/mtu?ok=" + ",".join(["600"] * 65), 400),
])
def test_everything_else_is_refused(target, status):
    with pytest.raises(ds.BadRequest) as error:
        ds.parse_request(target, 65536)
    assert error.value.status == status


def record(size, acked, family="ipv4", **fields):
    base = {"size": size, "family": family, "client_mss": 1460 if family == "ipv4" else 1440, "pmtu": 1500,
            "acked": acked, "done": True, "unacked": 0 if acked else 1, "total_retrans": 0 if acked else 4}
    return dict(base, **fields)


def test_verdict_of_a_black_hole_over_ipv4():
    records = [record(size, size <= 1400) for size in (600, 1400, 1420, 1500, 16000)]
    verdict = ds.verdict(records, [600, 1400], [1420, 1500, 16000])
    assert (verdict["status"], verdict["path_carries"], verdict["stalls_from"]) == ("black_hole", 1400, 1420)
    assert verdict["text"].startswith("Your path carries 1400 bytes; large responses stall beyond it (1420 bytes")
    assert "advertised a TCP MSS of 1460 (an MTU of 1500)" in verdict["text"]
    assert "retransmitted them 4 times" in verdict["text"] and "path MTU is 1500" in verdict["text"]
    assert "allow ICMP type 3 code 4 (fragmentation needed)" in verdict["text"]
    assert "MSS clamping (TCP MSS 1360)" in verdict["text"] and verdict["clamp_mss"] == 1360


def test_verdict_of_a_black_hole_over_ipv6_from_the_servers_view_alone():
    records = [record(size, size <= 1400, "ipv6") for size in (1280, 1400, 1500)]
    verdict = ds.verdict(records)
    assert (verdict["status"], verdict["passed"], verdict["stalled"]) == ("black_hole", [1280, 1400], [1500])
    assert "ICMPv6 type 2 (packet too big)" in verdict["text"] and "TCP MSS 1340" in verdict["text"]
    assert "an MTU of 1500" in verdict["text"]


def test_a_response_still_in_flight_is_neither_passed_nor_stalled():
    verdict = ds.verdict([record(1400, True), record(1500, False, done=False)])
    assert (verdict["status"], verdict["passed"], verdict["stalled"]) == ("ok", [1400], [])


def test_verdict_when_everything_completes():
    assert ds.verdict([record(size, True) for size in (600, 1500, 65536)])["status"] == "ok"
    verdict = ds.verdict([record(1400, True), record(1500, True, pmtu=1400)])
    assert verdict["status"] == "pmtud_works" and "path MTU is 1400" in verdict["text"]


@pytest.mark.parametrize("ok, stalled", [([1500], [600]), ([], [600, 1500])])
def test_verdict_when_small_ones_fail_too(ok, stalled):
    assert ds.verdict([], ok, stalled)["status"] == "inconclusive"


def test_the_clients_word_overrides_the_servers():
    verdict = ds.verdict([record(1400, True), record(1500, True)], [1400], [1500])
    assert (verdict["status"], verdict["stalls_from"]) == ("black_hole", 1500)
    assert "retransmitted" not in verdict["text"]  # the kernel has no evidence for it


def test_no_data():
    assert ds.verdict([])["status"] == "no_data"


def test_rate_limiter():
    now = [0.0]
    limiter = ds.RateLimiter(3, clock=lambda: now[0], max_clients=2)
    assert [limiter.allow("a") for dummy in range(4)] == [True, True, True, False]
    now[0] = 20.0  # one token back (3 per minute)
    assert [limiter.allow("a") for dummy in range(2)] == [True, False]
    assert limiter.allow("b") and limiter.allow("c")
    assert list(limiter.buckets) == ["b", "c"]  # bounded: the oldest client is forgotten


def test_results_are_bounded_and_per_client():
    results = ds.Results(limit=3)
    for size in (600, 1000, 1400, 1500):
        results.put("a", "r", {"size": size})
    results.put("b", "r", {"size": 600})
    results.update("a", "r", 1500, acked=True)
    assert results.run("a", "r") == [{"size": 1400}, {"size": 1500, "acked": True}]
    assert results.run("b", "r") == [{"size": 600}] and results.run("a", "other") == []


def test_page_has_its_config_and_nothing_external():
    page = ds.render_page([600, 1400], 2.5).decode()
    assert '{"sizes": [600, 1400], "timeout": 2.5}' in page
    assert not re.search(r"(src|href)=|https?:|//[a-z]", page)


@pytest.mark.parametrize("argv, message", [
    (["--address", "x"], "is not an IP address"),
    (["--address", "::1", "--sizes", "1400,1000"], "sizes must increase"),
    (["--address", "::1", "--sizes", "500"], "not between 600"),
    (["--address", "::1", "--max-size", str(ds.HARD_MAX_SIZE + 1)], "max size"),
    (["--address", "::1", "--cert", "/c"], "--cert and --key go together"),
    (["--address", "::1", "--page-timeout", "5", "--stall-timeout", "5"], "--page-timeout < --stall-timeout"),
    (["--address", "::1", "--port", "0"], "--port"),
    (["--address", "::1", "--rate", "0"], "--rate"),
])
def test_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        ds.parse_args(argv)
    assert message in capsys.readouterr().err


# ---- the service on loopback ---------------------------------------------------------------------

def options(**changes):
    values = {"address": ["127.0.0.1"], "port": 0, "cert": "", "key": "", "max_size": 65536,
              "sizes": [600, 1400], "page_timeout": 1.0, "stall_timeout": 2.0, "rate": 100,
              "max_connections": 8, "user": "", "check": False}
    values.update(changes)
    return argparse.Namespace(**values)


@pytest.fixture
def serve():
    started = []

    def start(**changes):
        server = ds.build(options(**changes))[0]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server.server_address[1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def get(port, target, context=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        conn = context.wrap_socket(sock) if context else sock
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), head, body


def test_served_sizes_are_exact_and_say_what_the_kernel_knows(serve):
    port = serve()
    status, head, body = get(port, "/mtu?size=1400&run=t")
    document = json.loads(body)
    assert status == 200 and len(head) + 4 + len(body) == 1400 - 52  # loopback: TCP timestamps on
    assert document["client_mss"] == 65495 and document["first_packet"] == 1400 and document["family"] == "ipv4"
    assert get(port, "/payload?size=1400&run=t")[2] == b"x" * len(get(port, "/payload?size=1400&run=t")[2])
    status, dummy, body = get(port, "/mtu?run=t&ok=1400")
    report = json.loads(body)
    assert status == 200 and report["verdict"]["status"] == "ok"
    assert [(item["size"], item["acked"], item["done"]) for item in report["results"]] == [(1400, True, True)]


def test_served_routes_and_bounds(serve):
    port = serve(rate=6)
    assert get(port, "/")[0] == 200 and b"script-src 'unsafe-inline'" in get(port, "/")[1]
    assert [get(port, target)[0] for target in ("/etc/passwd", "/mtu?size=70000")] == [404, 400]
    assert [get(port, "/")[0] for dummy in range(3)] == [200, 200, 429]  # 6 tokens


def test_connections_beyond_the_cap_get_503(serve):
    port = serve(max_connections=1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as holder:
        holder.sendall(b"GET / HTTP/1.1\r\n")  # an unfinished request keeps its slot
        assert get(port, "/")[0] == 503
    for dummy in range(50):  # the slot comes back once the first connection is gone
        if get(port, "/")[0] == 200:
            break
    else:
        pytest.fail("the slot never came back")


def test_tls(serve, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=diag", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = serve(cert=str(cert), key=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    status, head, body = get(port, "/mtu?size=1400", context)
    # One TLS 1.3 record in the first packet: 22 bytes more around the HTTP response.
    assert status == 200 and len(head) + 4 + len(body) == 1400 - 52 - 22
    assert json.loads(body)["first_packet"] == 1400
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(port, "/")  # plain HTTP on the TLS port gets nothing
