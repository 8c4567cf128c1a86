# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: the audit's controller-side steps on synthetic fleets (no lab, no root).

Builds audit data shaped like a real audit's (facts from the unit tests' mtu_facts builders, path_mtu_info
results of the same shape, icmp_policy and ptb_check sections) for fleets of --hosts sizes, and times each
pure step the role runs on the controller: probe_plan, ptb_plan, findings, the report document and its
three renderings. Each size runs in a fresh Python process, so one size's memory does not inflate the
next one's peak. Time per path relative to the smallest size says whether a step is linear (~1x).

    python bench/fleet_bench.py                        # --hosts 100 500 2000
    python bench/fleet_bench.py --hosts 100 500 --group 25 --json bench/results/fleet.json
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ("probe_plan", "ptb_plan", "findings", "report_data", "render_json", "render_markdown", "render_html",
         "render_audit_data")
# What the role runs: the report step computes the findings itself, so "findings" is not added again.
ROLE_STEPS = ("probe_plan", "ptb_plan", "report_data", "render_json", "render_markdown", "render_html", "render_audit_data")
GOAL_HOSTS, GOAL_SECONDS, GOAL_BYTES = 500, 10.0, 1 << 30


# -- the fleet ----------------------------------------------------------------------------------

def _collection_path() -> str:
    """A temp dir holding ansible_collections/netpath/mtu -> this checkout, for imports."""
    tmp = tempfile.mkdtemp(prefix="fleet-bench-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "netpath"))
    os.symlink(ROOT, os.path.join(tmp, "ansible_collections", "netpath", "mtu"))
    return tmp


def _site(i: int, group: int) -> tuple[str, str]:
    """Host i's site address, IPv4 and IPv6: one /24 and one /64 per group."""
    g, k = divmod(i, group)
    return f"10.{g >> 8}.{g & 255}.{k + 1}", f"fd00:10:{g:x}::{k + 1:x}"


def _inner(link: int, side: int) -> tuple[str, str]:
    """Tunnel link ``link``'s inner addresses (a /30 and a /64 per link), side 1 or 2."""
    return str(ipaddress.ip_address(0xAC100000 + 4 * link + side)), f"fd00:200:{link >> 16:x}:{link & 0xffff:x}::{side}"


def build_facts(n: int, group: int) -> tuple[dict, dict, dict]:
    """(facts by host, inventory, tunnels {(host, name): (peer, link mtu, too_large)}) of an n-host fleet.

    Each host has a management address, a site network shared with its group, and two WireGuard tunnels:
    to the host with the same position in the next group and in the previous one (a ring of sites).
    Every 7th link has an MTU larger than its underlay carries."""
    from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import (
        addr, endpoint, host_facts, iface, wireguard)
    names = [f"h{i:05d}" for i in range(n)]
    facts, inventory, tunnels = {}, {}, {}
    groups = max(1, n // group)
    for i, name in enumerate(names):
        v4, v6 = _site(i, group)
        interfaces = [iface("mgmt0", 1500, [addr(f"100.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}", 10)], index=2),
                      iface("eth0", 1500, [v4, v6], index=3)]
        wgs = []
        g, k = divmod(i, group)
        for index, (tname, step, side) in enumerate((("wgn", 1, 1), ("wgp", -1, 2))):
            peer = ((g + step) % groups) * group + k
            if peer >= n or peer == i:
                continue
            link = i if step == 1 else peer
            mtu = 1460 if link % 7 == 0 else 1420
            inner4, inner6 = _inner(link, side)
            far4, far6 = _inner(link, 3 - side)
            interfaces.append(iface(tname, mtu, [addr(inner4, 30), inner6], kind="wireguard", index=4 + index,
                                    manager="wg-quick"))
            wgs.append(wireguard(tname, mtu, [endpoint(_site(peer, group)[0], "eth0", 1500, 60, peer=f"{names[peer]}-key=")],
                                 [[f"{far4}/32", f"{far6}/128"]], underlay_device="eth0"))
            tunnels[(name, tname)] = (names[peer], mtu, link % 7 == 0)
        facts[name] = host_facts(interfaces, wgs, forwarding=1 if k == 0 else 0, tcp_mtu_probing=0 if i % 3 else 1)
        inventory[name] = [v4, v6]
    return facts, inventory, tunnels


def plan_fleet(facts: dict, inventory: dict, group: int) -> dict:
    """The probe plan, one call per group of hosts (host-to-host paths within a group; tunnels to other groups)."""
    from ansible_collections.netpath.mtu.plugins.module_utils.audit import probe_plan
    names = sorted(facts)
    plan: dict = {}
    for start in range(0, len(names), group):
        members = names[start:start + group]
        plan.update(probe_plan.plan(facts, inventory, sources=members, host_paths=members))
    return plan


def _probe(source: int, target: dict, facts: dict, tunnels: dict, group: int) -> dict:
    """A path_mtu_info result for one planned target: mostly clean, some black holes, PTBs, unreachables."""
    name = f"h{source:05d}"
    tunnel = (target["tunnels"] or [None])[0]
    inside = "tunnel" in target["roles"] and tunnel is not None
    interface = tunnel if inside else "eth0"
    mtu = (facts[name]["interfaces"][interface]["mtu"]) if inside else 1500
    family = target["family"]
    gateway = _site((source // group) * group, group)[0 if family == "ipv4" else 1]
    salt = (source * 31 + sum(map(ord, target["target"]))) % 50
    hop, ptb = None, None
    if inside and tunnels[(name, tunnel)][2]:
        status, size, hop = "black_hole", 1380, {"address": None, "located": True, "method": "ttl", "ttl": 0}
    elif salt == 0:
        status, size = "black_hole", 1400
        hop = {"address": gateway, "located": True, "method": "ttl", "ttl": 1,
               "route": [{"ttl": 1, "address": gateway}]}
    elif salt == 1:
        status, size, ptb = "ptb", 1400, gateway
        hop = {"address": gateway, "located": True, "method": "ptb", "ttl": None}
    elif salt == 2:
        status, size = "unreachable", None
    else:
        status, size = "ok", mtu
    return {
        "address": target["target"], "black_hole": status == "black_hole", "duration_s": 1.0, "exact": True,
        "family": family, "hop": hop, "interface": interface, "interface_mtu": mtu,
        "mss": None if size is None else size - (60 if family == "ipv6" else 40), "path_mtu": size,
        "probes_sent": 40, "ptb_mismatch": False, "ptb_mtu": size if ptb else None, "ptb_seen": ptb is not None,
        "ptb_source": ptb, "reason": f"{status} at {size}", "rounds": 2, "source": _site(source, group)[0],
        "status": status, "target": target["target"],
    }


def _icmp_policy(i: int) -> dict:
    """Every 20th host's OUTPUT drops IPv4 frag-needed, every 30th host's INPUT drops packet-too-big."""
    drops = {}
    if i % 20 == 0:
        drops[("ipv4", "output")] = "dropped by 'icmp type destination-unreachable drop' (nftables inet filter chain output, handle 3)"
    if i % 30 == 0:
        drops[("ipv6", "input")] = "dropped by the policy drop of chain input"
    results = [{"family": f, "hook": h, "verdict": "dropped" if (f, h) in drops else "accepted",
                "reason": drops.get((f, h), "accepted: no base chain on the path drops it"), "conditional": False}
               for f in ("ipv4", "ipv6") for h in ("input", "forward", "output")]
    # Every 40th host (a site gateway when groups are even) drops forwarded IPv4 fragments.
    fragments = [{"family": "ipv4", "hook": "forward", "verdict": "dropped", "reason": "dropped by 'ip frag-off != 0 drop'",
                  "rule": {"framework": "nftables", "family": "inet", "table": "filter", "chain": "forward", "handle": 9}}
                 ] if i % 40 == 0 else []
    return {"results": results, "fragment_drops": fragments, "fix": {"commands": [f"nft insert rule inet filter output handle 3 accept  # h{i:05d}"]}
            if drops else {"commands": []}}


def build_hosts(facts: dict, plan: dict, tunnels: dict, group: int) -> dict:
    """host -> {facts, targets, probes, icmp_policy}: what ptb_plan and the findings read."""
    return {name: {"facts": facts[name], "targets": plan.get(name, []), "error": None, "deps": "present",
                   "probes": [_probe(i, t, facts, tunnels, group) for t in plan.get(name, [])],
                   "icmp_policy": _icmp_policy(i)}
            for i, name in enumerate(sorted(facts))}


def add_ptb_checks(hosts: dict, ptb: dict) -> None:
    """The ptb_check section each host would report for its checks: every 11th dropped."""
    for n, (name, entry) in enumerate(sorted(ptb.items())):
        # ptb_check mode=both's checks: the peer's host (name), its address (peer), the family.
        hosts[name]["ptb_check"] = [
            {"name": c["name"], "peer": c["peer"], "family": "ipv6" if ":" in c["peer"] else "ipv4",
             "status": "dropped" if (n + j) % 11 == 0 else "accepted",
             "reason": "acks came back, no PTB" if (n + j) % 11 == 0 else "the PTB was accepted"}
            for j, c in enumerate(entry["checks"])]


# -- measuring ------------------------------------------------------------------------------------

def _status_kib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak RSS of this process (Linux >= 4.0), so each step gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def measure(fn: Callable[[], Any]) -> tuple[Any, dict]:
    """Run fn once: (its result, {seconds (CPU), wall_seconds, peak_mib (the process's peak RSS during fn), grew_mib (above the start)})."""
    gc.collect()
    exact = _reset_peak()
    before = _status_kib("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_kib("VmHWM")
    # The steps are single-threaded CPU work: CPU time is what they cost, wall time adds the machine's load.
    return value, {"seconds": round(cpu, 3), "wall_seconds": round(seconds, 3), "peak_mib": round(peak / 1024, 1),
                   "grew_mib": round(max(0, peak - before) / 1024, 1), "peak_exact": exact}


def run_size(n: int, group: int) -> dict:
    """Every step once on an n-host fleet; runs in its own process."""
    from ansible_collections.netpath.mtu.plugins.module_utils.audit import findings
    from ansible_collections.netpath.mtu.plugins.module_utils.audit import merge
    from ansible_collections.netpath.mtu.plugins.module_utils.audit import ptb_plan
    from ansible_collections.netpath.mtu.plugins.module_utils.audit import report
    facts, inventory, tunnels = build_facts(n, group)
    steps: dict[str, dict] = {}
    plan, steps["probe_plan"] = measure(lambda: plan_fleet(facts, inventory, group))
    hosts = build_hosts(facts, plan, tunnels, group)
    ptb, steps["ptb_plan"] = measure(lambda: ptb_plan.ptb_plan(hosts))
    add_ptb_checks(hosts, ptb)
    # One site per group (what netpath_mtu_audit_site or the first inventory group gives): report.html's matrix of sites.
    data = {"hosts": hosts, "inventory": inventory, "sites": {name: f"site{int(name[1:]) // group:03d}" for name in hosts}}
    found, steps["findings"] = measure(lambda: findings.findings(data))
    del found
    doc, steps["report_data"] = measure(lambda: report.build(data, generated_at="2025-01-02T03:04:05Z", check_mode=True,
                                                             options={"groups": ["fleet"]}))
    sizes = {}
    for fmt, render in (("json", report.render_json), ("markdown", report.render_markdown), ("html", report.render_html)):
        text, steps["render_" + fmt] = measure(lambda render=render: render(doc))
        sizes[fmt] = len(text.encode("utf-8"))
        del text
    # audit_data.json: the raw per-host data the slice merge needs, written beside every report.
    text, steps["render_audit_data"] = measure(lambda: report.render_compact_json(merge.data_document(
        data, generated_at="2025-01-02T03:04:05Z", check_mode=True, options={"groups": ["fleet"]})))
    sizes["audit_data"] = len(text.encode("utf-8"))
    del text
    summary = doc["summary"]
    return {"hosts": n, "group": group, "paths": summary["paths"], "tunnels": summary["tunnels"],
            "findings": summary["findings"], "paths_by_status": summary["paths_by_status"],
            "findings_by_type": {t: c for t, c in summary["findings_by_type"].items() if c},
            "bytes": sizes, "steps": steps,
            "role_seconds": round(sum(steps[s]["seconds"] for s in ROLE_STEPS), 2),
            "peak_mib": max(s["peak_mib"] for s in steps.values())}


def child(n: int, group: int) -> dict:
    """One size in a fresh interpreter, so its peak is its own."""
    coll = _collection_path()
    env = dict(os.environ, PYTHONPATH=coll + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n), "--group", str(group)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{n} hosts failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


# -- output ---------------------------------------------------------------------------------------

def table(rows: list[dict]) -> str:
    """Per step and size: CPU seconds, peak MiB, and time per path relative to the smallest size."""
    base = rows[0]
    head = f"{'step':<16}" + "".join(f"{str(r['hosts']) + ' hosts':>26}" for r in rows)
    sub = f"{'':<16}" + "".join(f"{'s':>9}{'MiB':>8}{'x/path':>9}" for dummy in rows)
    lines = [head, sub]
    for step in STEPS + ("role total",):
        cells = []
        for r in rows:
            if step == "role total":
                secs, mib, bsecs = r["role_seconds"], r["peak_mib"], base["role_seconds"]
            else:
                secs, mib, bsecs = r["steps"][step]["seconds"], r["steps"][step]["peak_mib"], base["steps"][step]["seconds"]
            ratio = (secs / r["paths"]) / (bsecs / base["paths"]) if bsecs > 0 else float("nan")
            cells.append(f"{secs:>9.2f}{mib:>8.0f}{ratio:>8.1f}x")
        lines.append(f"{step:<16}" + "".join(cells))
    lines.append(f"{'paths':<16}" + "".join(f"{r['paths']:>26}" for r in rows))
    lines.append(f"{'report.json MB':<16}" + "".join(f"{r['bytes']['json'] / 1e6:>26.1f}" for r in rows))
    lines.append(f"{'report.html MB':<16}" + "".join(f"{r['bytes']['html'] / 1e6:>26.1f}" for r in rows))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[100, 500, 2000], help="fleet sizes (default 100 500 2000)")
    ap.add_argument("--group", type=int, default=25, help="hosts per site: host-to-host paths stay within it (default 25)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "fleet.json"), help="where to write the numbers")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        json.dump(run_size(args.child, args.group), sys.stdout)
        return 0
    rows = []
    for n in sorted(args.hosts):
        print(f"{n} hosts ...", file=sys.stderr, flush=True)
        rows.append(child(n, args.group))
    print(table(rows))
    goal = [r for r in rows if r["hosts"] == GOAL_HOSTS]
    ok = True
    for r in goal:
        ok = r["role_seconds"] <= GOAL_SECONDS and r["peak_mib"] * (1 << 20) <= GOAL_BYTES
        print(f"\n{GOAL_HOSTS} hosts: {r['role_seconds']:.1f} s (goal <= {GOAL_SECONDS:.0f} s), "
              f"peak {r['peak_mib']:.0f} MiB (goal <= {GOAL_BYTES >> 20} MiB): {'met' if ok else 'NOT met'}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump({"group": args.group, "sizes": rows}, out, indent=2, sort_keys=True)
        out.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
