# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: path_mtu_info against the tools a user would reach for, on a black-holed lab path.

Builds its own network namespaces (prefix ``bn-``): bn-a -- bn-r -- bn-s --(MTU 1400)-- bn-b,
where bn-s drops the ICMP frag-needed it would send (the seeds' black hole). Every method gets
the same 1 s loss timeout. Packets are counted on bn-r's ingress from bn-a, so every tool is
counted the same way, whatever socket it sends with. Namespaces are removed by name at the end,
also on failure. Needs root, iproute2, nftables, ping, tracepath and scamper.

    sudo python3 bench/pmtu_bench.py [--skip-tracepath] [--json FILE]
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

PREFIX = "bn-"
NAMESPACES = [PREFIX + n for n in ("a", "r", "s", "b")]
TARGET = "198.18.66.2"
TRUE_MTU = 1400
FLEET = [f"198.18.67.{i}" for i in range(10, 74)]  # 64 targets behind the same black hole
TIMEOUT = 1.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*argv: str, ns: str | None = None, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LC_ALL": "C"})


def nft(ns: str, script: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True)


# -- the lab ----------------------------------------------------------------------------------------

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
    addrs = [("a", "a0", "198.18.64.2/24"), ("r", "r0", "198.18.64.1/24"), ("r", "r1", "198.18.65.1/24"),
             ("s", "s0", "198.18.65.2/24"), ("s", "s1", "198.18.66.1/24"), ("b", "b0", "198.18.66.2/24")]
    for host, dev, addr in addrs:
        sh("ip", "addr", "add", addr, "dev", dev, ns=PREFIX + host)
    for addr in FLEET:
        sh("ip", "addr", "add", addr + "/32", "dev", "lo", ns=PREFIX + "b")
    sh("ip", "route", "add", "default", "via", "198.18.64.1", ns=PREFIX + "a")
    sh("ip", "route", "add", "198.18.66.0/23", "via", "198.18.65.2", ns=PREFIX + "r")
    sh("ip", "route", "add", "default", "via", "198.18.65.1", ns=PREFIX + "s")
    sh("ip", "route", "add", "198.18.67.0/24", "via", "198.18.66.2", ns=PREFIX + "s")
    sh("ip", "route", "add", "default", "via", "198.18.66.1", ns=PREFIX + "b")
    # The black hole: the router with the small link never says "fragmentation needed".
    nft(PREFIX + "s", """table inet bnfilter {
    chain output {
        type filter hook output priority 0;
        icmp type destination-unreachable icmp code frag-needed drop
    }
}
""")
    # Count what bn-a sends, at the next hop, for every tool alike.
    nft(PREFIX + "r", """table inet bncount {
    counter sent { }
    chain pre {
        type filter hook prerouting priority -300;
        iifname "r0" ip saddr 198.18.64.2 counter name "sent"
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
    """Forget cached PMTU exceptions and zero the packet counter before each method."""
    sh("ip", "route", "flush", "cache", ns=PREFIX + "a")
    sh("nft", "reset", "counter", "inet", "bncount", "sent", ns=PREFIX + "r")


def sent() -> int:
    out = sh("nft", "-j", "list", "counter", "inet", "bncount", "sent", ns=PREFIX + "r").stdout
    for item in json.loads(out)["nftables"]:
        if "counter" in item:
            return int(item["counter"]["packets"])
    return -1


# -- the methods ----------------------------------------------------------------------------------

def collection_path() -> str:
    """A temp dir holding ansible_collections/netpath/mtu -> this checkout, for imports."""
    tmp = tempfile.mkdtemp(prefix="bn-coll-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "netpath"))
    os.symlink(ROOT, os.path.join(tmp, "ansible_collections", "netpath", "mtu"))
    return tmp


def path_mtu_info(coll: str, targets: list[str], ns: str = PREFIX + "a", timeout: float = TIMEOUT) -> dict:
    """Run the module as Ansible would on the managed host (new interpreter, imports included)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"ANSIBLE_MODULE_ARGS": {"targets": targets, "timeout": timeout}}, f)
    start = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", ns, "env", f"PYTHONPATH={coll}", sys.executable, "-m",
                           "ansible_collections.netpath.mtu.plugins.modules.path_mtu_info", f.name],
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    os.unlink(f.name)
    res = json.loads(proc.stdout[proc.stdout.index("{"):])
    if res.get("failed"):
        raise RuntimeError(res["msg"])
    return {"wall": wall, "results": res["results"]}


def ping_bisect(lo: int = 1280, hi: int = 1500, ns: str = PREFIX + "a", target: str = TARGET,
                timeout: float = TIMEOUT) -> tuple[int, int]:
    """The seeds' method, scripted: ping -M do -s, bisect packet sizes in [lo, hi] (IPv4). Returns (mtu, pings)."""
    def passes(size: int) -> bool:
        return sh("ping", "-n", "-c", "1", "-W", str(int(timeout)), "-M", "do", "-s", str(size - 28), target,
                  ns=ns, check=False).returncode == 0
    pings = 1
    if passes(hi):
        return hi, pings
    good, bad = lo, hi  # lo assumed to pass, as a user would after one small ping
    while bad - good > 1:
        mid = (good + bad) // 2
        pings += 1
        if passes(mid):
            good = mid
        else:
            bad = mid
    return good, pings


def tracepath() -> int | None:
    out = sh("tracepath", "-n", TARGET, ns=PREFIX + "a", check=False, timeout=300).stdout
    m = re.search(r"Resume: pmtu (\d+)", out)
    return int(m.group(1)) if m else None


def scamper() -> int | None:
    out = sh("scamper", "-O", "text", "-c", f"trace -M -w {int(TIMEOUT)}", "-i", TARGET,
             ns=PREFIX + "a", check=False, timeout=300).stdout
    found = re.findall(r"mtu: (\d+)\]", out)
    return int(found[-1]) if found else None


def measure(name: str, fn) -> dict:
    reset()
    start = time.monotonic()
    mtu = fn()
    wall = time.monotonic() - start
    return {"method": name, "path_mtu": mtu, "correct": mtu == TRUE_MTU, "wall_s": round(wall, 3), "packets": sent()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-tracepath", action="store_true", help="tracepath alone takes about 90 s")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pmtu_bench needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "ping", "tracepath", "scamper"):
        if not shutil.which(tool):
            print(f"pmtu_bench needs {tool}", file=sys.stderr)
            return 2
    teardown()
    coll = collection_path()
    rows: list[dict] = []
    try:
        build()
        sh("ping", "-c", "1", "-W", "1", TARGET, ns=PREFIX + "a")  # ARP warm-up for everyone

        def ours() -> int | None:
            return path_mtu_info(coll, [TARGET])["results"][0]["path_mtu"]

        rows.append(measure("path_mtu_info", ours))
        rows.append(measure("ping -M do bisection", lambda: ping_bisect()[0]))
        rows.append(measure("scamper trace -M", scamper))
        if not args.skip_tracepath:
            rows.append(measure("tracepath", tracepath))

        reset()
        one = path_mtu_info(coll, [FLEET[0]])
        reset()
        many = path_mtu_info(coll, FLEET)
        fleet_pkts = sent()
        fleet_ok = all(r["path_mtu"] == TRUE_MTU and r["status"] == "black_hole" for r in many["results"])
    finally:
        teardown()
        shutil.rmtree(coll, ignore_errors=True)

    base = rows[0]
    print(f"\nBlack-holed path, true path MTU {TRUE_MTU}, loss timeout {TIMEOUT:g} s for every method\n")
    print(f"{'method':24} {'path MTU':>8} {'correct':>8} {'wall s':>8} {'packets':>8} {'time x':>8} {'pkts x':>8}")
    for r in rows:
        tx = r["wall_s"] / base["wall_s"] if base["wall_s"] else 0
        px = r["packets"] / base["packets"] if base["packets"] else 0
        print(f"{r['method']:24} {str(r['path_mtu']):>8} {str(r['correct']):>8} {r['wall_s']:8.2f}"
              f" {r['packets']:8d} {tx:8.1f} {px:8.2f}")
    ratio = many["wall"] / one["wall"]
    print(f"\npath_mtu_info, 1 target : {one['wall']:.2f} s")
    print(f"path_mtu_info, 64 targets: {many['wall']:.2f} s, {fleet_pkts} packets, all exact: {fleet_ok}"
          f"  -> {ratio:.2f}x one target")
    verdicts = {
        "byte-exact": base["correct"] and fleet_ok,
        "black-holed path <= 2.5 s": base["wall_s"] <= 2.5,
        "64 targets <= 2x one": ratio <= 2.0,
    }
    print("\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in verdicts.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "one_target_s": one["wall"], "fleet_s": many["wall"],
                       "fleet_packets": fleet_pkts, "fleet_exact": fleet_ok, "verdicts": verdicts}, f, indent=2)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
