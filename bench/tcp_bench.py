# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: path_mtu_info method=tcp against method=icmp and scamper's TCP PMTUD, on one black-holed lab path.

Builds its own network namespaces (prefix ``tcpb-``): tcpb-a -- tcpb-r -- tcpb-s --(MTU 1400)-- tcpb-b, where
tcpb-s drops the ICMP frag-needed it would send (the seeds' black hole); tcpb-b listens on TCP 443 (a Python
listener that accepts nothing), port 22 is closed. scamper is asked for ``trace -M -P tcp -d 443`` (Debian's
20211212 refuses PMTUD with TCP probes, so the row says so) and for its default UDP-Paris ``trace -M``. Every method gets the same 1 s loss timeout. Packets are
counted on tcpb-r's ingress from tcpb-a, so every tool is counted the same way. Then the same with tcpb-b
dropping ICMP echo: the case method=tcp is for. Namespaces are removed by name at the end, also on failure.
Needs root, iproute2, nftables and scamper.

    sudo python3 bench/tcp_bench.py [--json bench/results/tcp.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pmtu_bench
from pmtu_bench import collection_path, nft, sh

PREFIX = "tcpb-"
NAMESPACES = [PREFIX + n for n in ("a", "r", "s", "b")]
SOURCE = "198.18.90.2"
TARGET = "198.18.92.2"
HOP = "198.18.91.2"  # tcpb-s: the last hop big packets reach (TTL 2)
TRUE_MTU = 1400
TIMEOUT = 1.0
LISTENER = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443))
s.listen(128)
time.sleep(float(sys.argv[1]))
"""


def build() -> None:
    for ns in NAMESPACES:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    for ns in (PREFIX + "r", PREFIX + "s"):
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=ns)
    links = [("a", "a0", "r", "r0", 1500), ("r", "r1", "s", "s0", 1500), ("s", "s1", "b", "b0", 1400)]
    for a, ia, b, ib, mtu in links:
        sh("ip", "link", "add", ia, "netns", PREFIX + a, "type", "veth", "peer", "name", ib, "netns", PREFIX + b)
        sh("ip", "link", "set", ia, "mtu", str(mtu), "up", ns=PREFIX + a)
        sh("ip", "link", "set", ib, "mtu", str(mtu), "up", ns=PREFIX + b)
    addrs = [("a", "a0", f"{SOURCE}/24"), ("r", "r0", "198.18.90.1/24"), ("r", "r1", "198.18.91.1/24"),
             ("s", "s0", f"{HOP}/24"), ("s", "s1", "198.18.92.1/24"), ("b", "b0", f"{TARGET}/24")]
    for host, dev, addr in addrs:
        sh("ip", "addr", "add", addr, "dev", dev, ns=PREFIX + host)
    sh("ip", "route", "add", "default", "via", "198.18.90.1", ns=PREFIX + "a")
    sh("ip", "route", "add", "198.18.92.0/24", "via", HOP, ns=PREFIX + "r")
    sh("ip", "route", "add", "default", "via", "198.18.91.1", ns=PREFIX + "s")
    sh("ip", "route", "add", "default", "via", "198.18.92.1", ns=PREFIX + "b")
    nft(PREFIX + "s", """table inet tcpbfilter {
    chain output {
        type filter hook output priority 0;
        icmp type destination-unreachable icmp code frag-needed drop
    }
}
""")
    nft(PREFIX + "r", f"""table inet tcpbcount {{
    counter sent {{ }}
    chain pre {{
        type filter hook prerouting priority -300;
        iifname "r0" ip saddr {SOURCE} counter name "sent"
    }}
}}
""")


def drop_echo(on: bool) -> None:
    sh("nft", "delete", "table", "inet", "tcpbecho", ns=PREFIX + "b", check=False)
    if on:
        nft(PREFIX + "b", """table inet tcpbecho {
    chain input {
        type filter hook input priority 0;
        icmp type echo-request drop
    }
}
""")


def teardown() -> None:
    for ns in NAMESPACES:
        if sh("ip", "netns", "pids", ns, check=False).returncode != 0:
            continue
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)


def reset() -> None:
    pmtu_bench.reset(PREFIX, "tcpbcount")


def sent() -> int:
    return pmtu_bench.sent(PREFIX, "tcpbcount")


def path_mtu_info(coll: str, targets: list[str], method: str) -> dict:
    """Run the module as Ansible would on the managed host (new interpreter, imports included)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"ANSIBLE_MODULE_ARGS": {"targets": targets, "timeout": TIMEOUT, "method": method}}, f)
    start = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", PREFIX + "a", "env", f"PYTHONPATH={coll}", sys.executable, "-m",
                           "ansible_collections.netpath.mtu.plugins.modules.path_mtu_info", f.name],
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    os.unlink(f.name)
    res = json.loads(proc.stdout[proc.stdout.index("{"):])
    if res.get("failed"):
        raise RuntimeError(res["msg"])
    return {"wall": wall, "result": res["results"][0]}


def scamper(args: str) -> int | str | None:
    """The path MTU scamper's trace -M finds; a string when scamper refuses the command (Debian's 20211212 does
    PMTUD with UDP probes only: with -P tcp, tcp-ack or icmp-paris it exits 255 without a word)."""
    proc = sh("scamper", "-O", "text", "-c", f"trace -M -w {int(TIMEOUT)} {args}".strip(), "-i", TARGET,
              ns=PREFIX + "a", check=False, timeout=300)
    if proc.returncode != 0:
        return f"refused (exit {proc.returncode})"
    found = re.findall(r"mtu: (\d+)\]", proc.stdout)
    return int(found[-1]) if found else None


def measure(name: str, fn) -> dict:
    reset()
    start = time.monotonic()
    got = fn()
    wall = time.monotonic() - start
    row = {"method": name, "wall_s": round(wall, 3), "packets": sent()}
    if isinstance(got, str):
        row.update(path_mtu=None, status=got, duration_s=None, hop_located=None, exact=None)
    elif isinstance(got, dict):
        r = got["result"]
        hop = r.get("hop") or {}
        row.update(path_mtu=r["path_mtu"], status=r["status"], duration_s=r["duration_s"],
                   hop_located=bool(hop.get("located")) and hop.get("address") == HOP, exact=r["exact"])
    else:
        row.update(path_mtu=got, status=None, duration_s=None, hop_located=None, exact=None)
    row["correct"] = row["path_mtu"] == TRUE_MTU
    return row


def table(title: str, rows: list[dict], base: dict) -> None:
    print(f"\n{title}\n")
    print(f"{'method':34} {'path MTU':>8} {'status':>18} {'correct':>8} {'wall s':>7} {'packets':>8} {'time x':>7} {'pkts x':>7}")
    for r in rows:
        tx = r["wall_s"] / base["wall_s"] if base["wall_s"] else 0
        px = r["packets"] / base["packets"] if base["packets"] else 0
        print(f"{r['method']:34} {str(r['path_mtu']):>8} {str(r['status']):>18} {str(r['correct']):>8}"
              f" {r['wall_s']:7.2f} {r['packets']:8d} {tx:7.1f} {px:7.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("tcp_bench needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "scamper"):
        if not shutil.which(tool):
            print(f"tcp_bench needs {tool}", file=sys.stderr)
            return 2
    teardown()
    coll = collection_path()
    results: dict = {}
    listener = None
    try:
        build()
        listener = subprocess.Popen(["ip", "netns", "exec", PREFIX + "b", sys.executable, "-c", LISTENER, "600"])
        sh("ping", "-c", "1", "-W", "2", TARGET, ns=PREFIX + "a")  # ARP warm-up for everyone
        path_mtu_info(coll, [HOP], "icmp")  # warm-up: the first run compiles the modules
        for label, echo_dropped in (("echo answered", False), ("echo dropped", True)):
            drop_echo(echo_dropped)
            results[label] = [
                measure("path_mtu_info method=tcp :443", lambda: path_mtu_info(coll, [TARGET], "tcp")),
                measure("path_mtu_info method=tcp :22 (RST)", lambda: path_mtu_info(coll, [f"{TARGET}:22"], "tcp")),
                measure("path_mtu_info method=icmp", lambda: path_mtu_info(coll, [TARGET], "icmp")),
                measure("scamper trace -M -P tcp -d 443", lambda: scamper("-P tcp -d 443")),
                measure("scamper trace -M (UDP-paris)", lambda: scamper("")),
            ]
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        teardown()
        shutil.rmtree(coll, ignore_errors=True)

    for label, rows in results.items():
        table(f"Black-holed path ({label}), true path MTU {TRUE_MTU}, loss timeout {TIMEOUT:g} s for every method",
              rows, rows[0])
        for r in rows[:3]:
            if r["duration_s"] is not None:
                print(f"  {r['method']}: {r['duration_s']:.3f} s inside the module, hop located at {HOP}: {r['hop_located']}")
    tcp, scamper_udp = results["echo dropped"][0], results["echo dropped"][4]
    verdicts = {
        "tcp byte-exact with the hop located, echo answered or not": all(
            rows[i]["correct"] and rows[i]["exact"] and rows[i]["hop_located"] for rows in results.values() for i in (0, 1)),
        "icmp unreachable when echo is dropped": results["echo dropped"][2]["status"] == "unreachable",
        "tcp within 1.5x icmp (echo answered)": results["echo answered"][0]["wall_s"] <= 1.5 * results["echo answered"][2]["wall_s"],
        "scamper's PMTUD (UDP: it refuses -P tcp with -M) >= 5x slower": scamper_udp["wall_s"] >= 5 * tcp["wall_s"],
    }
    print("\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in verdicts.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": results, "timeout_s": TIMEOUT, "verdicts": verdicts}, f, indent=2)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
