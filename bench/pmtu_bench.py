# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: path_mtu_info against the tools a user would reach for, on a black-holed lab path.

Builds its own network namespaces (prefix ``bn-``): bn-a -- bn-r -- bn-s --(MTU 1400)-- bn-b,
where bn-s drops the ICMP frag-needed it would send (the seeds' black hole), and bn-f, also behind a
1400-byte link of bn-s, whose echo replies a small responder holds back (``--delay-ms``: a path far
away). Every method gets the same 1 s loss timeout. Packets are counted on bn-r's ingress from bn-a,
so every tool is counted the same way, whatever socket it sends with. Namespaces are removed by name
at the end, also on failure. Needs root, iproute2, nftables, ping, tracepath and scamper, and git
(the module of ``--baseline-ref`` is run side by side).

    sudo python3 bench/pmtu_bench.py [--skip-tracepath] [--json FILE] [--reps N] [--loss 1 5] [--delay-ms 150]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

PREFIX = "bn-"
NAMESPACES = [PREFIX + n for n in ("a", "r", "s", "b", "f")]
TARGET = "198.18.66.2"
TRUE_MTU = 1400
HOP = "198.18.65.2"  # bn-s: the last hop big packets reach (TTL 2)
CLEAN = "198.18.65.2"  # bn-s itself: 1500 bytes all the way
FAR = "198.18.72.2"  # bn-f: black-holed like TARGET, its echo replies held back by --delay-ms
FLEET = [f"198.18.67.{i}" for i in range(10, 74)]  # 64 targets behind the same black hole
BIG_FLEET = [str(a) for a in list(ipaddress.ip_network("198.18.68.0/22").hosts())[:1000]]  # on bn-b's lo too
# bn-f answers echo requests itself, after a delay (the kernel's own replies are switched off there).
RESPONDER = r"""
import heapq, select, socket, struct, sys, time
delay = float(sys.argv[1]) / 1000
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def csum(b):
    b += b"\0" * (len(b) % 2)
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
held, n = [], 0
while True:
    wait = max(0.0, held[0][0] - time.monotonic()) if held else None
    if select.select([s], [], [], wait)[0]:
        pkt, (src, _) = s.recvfrom(65535)
        icmp = pkt[(pkt[0] & 15) * 4:]
        if icmp[0] == 8:
            body = b"\0\0\0\0" + icmp[4:]
            n += 1
            heapq.heappush(held, (time.monotonic() + delay, n, src, body[:2] + struct.pack("!H", csum(body)) + body[4:]))
    while held and held[0][0] <= time.monotonic():
        _t, _n, dst, reply = heapq.heappop(held)
        s.sendto(reply, (dst, 0))
"""
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
    sh("sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1", ns=PREFIX + "f")  # the responder answers
    links = [("a", "a0", "r", "r0", 1500), ("r", "r1", "s", "s0", 1500), ("s", "s1", "b", "b0", 1400),
             ("s", "s2", "f", "f0", 1400)]
    for a, ia, b, ib, mtu in links:
        sh("ip", "link", "add", ia, "netns", PREFIX + a, "type", "veth", "peer", "name", ib, "netns", PREFIX + b)
        sh("ip", "link", "set", ia, "mtu", str(mtu), "up", ns=PREFIX + a)
        sh("ip", "link", "set", ib, "mtu", str(mtu), "up", ns=PREFIX + b)
    addrs = [("a", "a0", "198.18.64.2/24"), ("r", "r0", "198.18.64.1/24"), ("r", "r1", "198.18.65.1/24"),
             ("s", "s0", "198.18.65.2/24"), ("s", "s1", "198.18.66.1/24"), ("b", "b0", "198.18.66.2/24"),
             ("s", "s2", "198.18.72.1/24"), ("f", "f0", "198.18.72.2/24")]
    for host, dev, addr in addrs:
        sh("ip", "addr", "add", addr, "dev", dev, ns=PREFIX + host)
    batch = "".join(f"addr add {addr}/32 dev lo\n" for addr in FLEET + BIG_FLEET)
    subprocess.run(["ip", "-n", PREFIX + "b", "-batch", "-"], input=batch, text=True, check=True)
    sh("ip", "route", "add", "default", "via", "198.18.64.1", ns=PREFIX + "a")
    for net in ("198.18.66.0/23", "198.18.68.0/22", "198.18.72.0/24"):
        sh("ip", "route", "add", net, "via", "198.18.65.2", ns=PREFIX + "r")
    sh("ip", "route", "add", "default", "via", "198.18.65.1", ns=PREFIX + "s")
    sh("ip", "route", "add", "198.18.67.0/24", "via", "198.18.66.2", ns=PREFIX + "s")
    sh("ip", "route", "add", "198.18.68.0/22", "via", "198.18.66.2", ns=PREFIX + "s")
    sh("ip", "route", "add", "default", "via", "198.18.66.1", ns=PREFIX + "b")
    sh("ip", "route", "add", "default", "via", "198.18.72.1", ns=PREFIX + "f")
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


def set_loss(percent: float) -> None:
    """Drop ``percent`` % of bn-a's packets, each way, at bn-r (nftables numgen: the kernel has no netem)."""
    sh("nft", "delete", "table", "inet", "bnloss", ns=PREFIX + "r", check=False)
    if percent:
        nft(PREFIX + "r", f"""table inet bnloss {{
    chain drops {{
        type filter hook forward priority -10;
        ip saddr 198.18.64.2 numgen random mod 1000 < {int(percent * 10)} drop
        ip daddr 198.18.64.2 numgen random mod 1000 < {int(percent * 10)} drop
    }}
}}
""")


def start_responder(delay_ms: float) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", PREFIX + "f", sys.executable, "-c", RESPONDER, str(delay_ms)])


def reset(prefix: str = PREFIX, table: str = "bncount") -> None:
    """Forget cached PMTU exceptions and zero the packet counter before each method."""
    sh("ip", "route", "flush", "cache", ns=prefix + "a")
    sh("nft", "reset", "counter", "inet", table, "sent", ns=prefix + "r")


def sent(prefix: str = PREFIX, table: str = "bncount") -> int:
    """Packets the probing namespace sent, as the router's counter saw them."""
    out = sh("nft", "-j", "list", "counter", "inet", table, "sent", ns=prefix + "r").stdout
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


def baseline_path(ref: str, repo: str = ROOT) -> str:
    """A temp dir holding ansible_collections/netpath/mtu as of git ``ref`` of ``repo`` (the module before a change)."""
    tmp = tempfile.mkdtemp(prefix="bn-base-")
    dest = os.path.join(tmp, "ansible_collections", "netpath", "mtu")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", repo, "archive", ref, "plugins"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
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
    return {"wall": wall, "results": res["results"],
            "duration": max(r["duration_s"] for r in res["results"])}


def black_hole_found(r: dict, mtu: int = TRUE_MTU) -> bool:
    """Byte-exact black hole with the hop located at bn-s."""
    hop = r.get("hop") or {}
    return (r["status"], r["path_mtu"], r["exact"], hop.get("located"), hop.get("address")) == (
        "black_hole", mtu, True, True, HOP)


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


def repetitions(coll: str, reps: int, loss: float, delay_ms: float) -> dict:
    """``reps`` runs of the module on a black-holed LAN path, a clean one and a far one (replies held back
    ``delay_ms``), with ``loss`` % of packets dropped each way: how many answers were exact, and wrong."""
    set_loss(loss)
    tally = {"condition": f"loss {loss:g}%, far path +{delay_ms:g} ms", "runs": reps, "paths": 0, "exact": 0,
             "wrong": 0, "false_black_holes": 0, "unclear": 0, "wrong_answers": [], "wall_s": []}
    want = {TARGET: ("black_hole", TRUE_MTU), CLEAN: ("ok", 1500), FAR: ("black_hole", TRUE_MTU)}
    try:
        for _rep in range(reps):
            reset()
            run = path_mtu_info(coll, [TARGET, CLEAN, FAR])
            tally["wall_s"].append(round(run["wall"], 3))
            for r in run["results"]:
                tally["paths"] += 1
                status, mtu = want[r["target"]]
                if (r["status"], r["path_mtu"]) == (status, mtu) and r["exact"]:
                    tally["exact"] += 1
                elif r["status"] == "unreachable" or (r["status"] == status and not r["exact"] and r["path_mtu"] == mtu):
                    tally["unclear"] += 1  # no answer, or not confirmed: an honest "don't know"
                else:
                    tally["wrong"] += 1
                    tally["false_black_holes"] += r["black_hole"] and status != "black_hole"
                    tally["wrong_answers"].append({k: r[k] for k in ("target", "status", "path_mtu", "exact", "reason")})
    finally:
        set_loss(0)
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-tracepath", action="store_true", help="tracepath alone takes about 90 s")
    ap.add_argument("--json", help="also write the numbers to this file")
    ap.add_argument("--baseline-ref", default="035fcf0",
                    help="git ref of the module to run side by side (default: before RTT-bound rounds)")
    ap.add_argument("--repo", default=ROOT, help="git checkout to take --baseline-ref from (default: this one)")
    ap.add_argument("--reps", type=int, default=30, help="repetitions per loss condition (default 30)")
    ap.add_argument("--loss", type=float, nargs="*", default=[0, 1, 5], help="loss conditions, %% each way")
    ap.add_argument("--delay-ms", type=float, default=150, help="how long bn-f holds its echo replies back")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pmtu_bench needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "ping", "tracepath", "scamper", "git"):
        if not shutil.which(tool):
            print(f"pmtu_bench needs {tool}", file=sys.stderr)
            return 2
    teardown()
    coll = collection_path()
    base_coll = baseline_path(args.baseline_ref, args.repo)
    rows: list[dict] = []
    responder = None
    try:
        build()
        responder = start_responder(args.delay_ms)
        for target in (TARGET, CLEAN):
            sh("ping", "-c", "1", "-W", "2", target, ns=PREFIX + "a")  # ARP warm-up for everyone
        for _try in range(10):  # the responder's Python takes a moment to start
            if sh("ping", "-c", "1", "-W", "2", FAR, ns=PREFIX + "a", check=False).returncode == 0:
                break
        else:
            raise RuntimeError(f"the delayed responder on {FAR} does not answer")
        for tree in (coll, base_coll):
            path_mtu_info(tree, [CLEAN])  # warm-up: the first run compiles the modules
        runs: dict = {}

        def module(name: str, tree: str, target: str):
            def probe() -> int | None:
                runs[name] = path_mtu_info(tree, [target])
                return runs[name]["results"][0]["path_mtu"]
            return probe

        rows.append(measure("path_mtu_info", module("path_mtu_info", coll, TARGET)))
        rows.append(measure(f"path_mtu_info @{args.baseline_ref}", module("before", base_coll, TARGET)))
        rows.append(measure("ping -M do bisection", lambda: ping_bisect()[0]))
        rows.append(measure("scamper trace -M", scamper))
        if not args.skip_tracepath:
            rows.append(measure("tracepath", tracepath))
        for row, name in zip(rows, ("path_mtu_info", "before")):
            row["duration_s"] = runs[name]["duration"]
            row["hop_located"] = black_hole_found(runs[name]["results"][0])
        clean = {}
        for name, tree in (("after", coll), ("before", base_coll)):
            reset()
            clean[name] = path_mtu_info(tree, [CLEAN])
        fleets = {}
        for name, tree in (("after", coll), ("before", base_coll)):
            for label, targets in (("1", [FLEET[0]]), ("64", FLEET), ("1000", BIG_FLEET)):
                reset()
                fleets[(name, label)] = run = path_mtu_info(tree, targets)
                run["packets"] = sent()
                run["exact"] = all(r["path_mtu"] == TRUE_MTU and r["status"] == "black_hole" and r["exact"]
                                   for r in run["results"])
        tallies = [repetitions(coll, args.reps, loss, args.delay_ms) for loss in args.loss]
    finally:
        if responder is not None:
            responder.kill()
            responder.wait()
        teardown()
        shutil.rmtree(coll, ignore_errors=True)
        shutil.rmtree(base_coll, ignore_errors=True)

    base = rows[0]
    bisect = rows[2]
    print(f"\nBlack-holed path, true path MTU {TRUE_MTU}, loss timeout {TIMEOUT:g} s for every method\n")
    print(f"{'method':28} {'path MTU':>8} {'correct':>8} {'wall s':>8} {'packets':>8} {'time x':>8} {'pkts x':>8}")
    for r in rows:
        tx = r["wall_s"] / base["wall_s"] if base["wall_s"] else 0
        px = r["packets"] / base["packets"] if base["packets"] else 0
        print(f"{r['method']:28} {str(r['path_mtu']):>8} {str(r['correct']):>8} {r['wall_s']:8.2f}"
              f" {r['packets']:8d} {tx:8.1f} {px:8.2f}")
    for r in rows[:2]:
        print(f"  {r['method']}: {r['duration_s']:.3f} s inside the module (first probe to verdict),"
              f" hop located at {HOP}: {r['hop_located']}")
    print("\nClean path (to bn-s, 1500 all the way):")
    for name in ("after", "before"):
        c = clean[name]
        print(f"  {name:6}: wall {c['wall']:.2f} s, inside the module {c['duration']:.3f} s,"
              f" {c['results'][0]['status']} {c['results'][0]['path_mtu']}")
    print("\nMany black-holed targets from one host (wall, the new process included):")
    for name in ("after", "before"):
        one = fleets[(name, "1")]
        for label in ("1", "64", "1000"):
            run = fleets[(name, label)]
            print(f"  {name:6} {label:>4} targets: {run['wall']:6.2f} s ({run['duration']:.2f} s inside),"
                  f" {run['packets']:6d} packets, all exact: {run['exact']}, {run['wall'] / one['wall']:.2f}x one target")
    print(f"\nRepetitions ({args.reps} runs per condition, 3 paths each: black-holed LAN, clean LAN,"
          f" black-holed far +{args.delay_ms:g} ms):")
    for t in tallies:
        walls = sorted(t["wall_s"])
        print(f"  {t['condition']:32} paths {t['paths']:4d}  exact {t['exact']:4d}  unclear {t['unclear']:3d}"
              f"  wrong {t['wrong']:3d}  false black holes {t['false_black_holes']:2d}  median wall {walls[len(walls) // 2]:.2f} s")
    after_1k = fleets[("after", "1000")]["wall"] / fleets[("after", "1")]["wall"]
    verdicts = {
        "byte-exact": base["correct"] and all(fleets[("after", n)]["exact"] for n in ("1", "64", "1000")),
        "black-holed LAN path, hop located, <= 0.5 s": base["hop_located"] and base["wall_s"] <= 0.5,
        ">= 8x ping bisection": bisect["wall_s"] >= 8 * base["wall_s"],
        "clean path <= 0.1 s (inside the module)": clean["after"]["duration"] <= 0.1,
        "1000 targets <= 2x one": after_1k <= 2.0,
        "no wrong answer under loss and delay": not any(t["wrong"] for t in tallies),
    }
    print("\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in verdicts.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "clean": {k: {"wall_s": v["wall"], "duration_s": v["duration"]} for k, v in clean.items()},
                       "fleets": {f"{k[0]} {k[1]}": {"wall_s": v["wall"], "duration_s": v["duration"],
                                                     "packets": v["packets"], "exact": v["exact"]}
                                  for k, v in fleets.items()},
                       "repetitions": tallies, "baseline_ref": args.baseline_ref, "verdicts": verdicts}, f, indent=2)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
