# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: the whole audit playbook against the floor of the same inventory (issue 14).

An operator waits for the playbook, not for the module. The floor is one trivial task
(``ansible.builtin.ping``, facts off) over the same hosts with the same forks and connection
settings; the audit is ``netpath.mtu.audit --check`` as the demo runs it. Both run interleaved, in
one run, on one of two lab fleets the lab role builds and removes by name:

- ``seed``: the seeds' outage (the lab role's default topology, as ``make demo`` builds it), every
  host, IPv4 and IPv6 underlay addresses (lab ``bseed``, 198.19.216.0/24);
- ``mesh``: bench/mesh_topology.yml, the 16 hosts of group ``mesh`` (lab ``bmesh``, 198.19.215.0/24).

It prints the ratio audit / floor (goal <= 6x), where the audit's time goes, task by task (slowest
first), and the scheduled audit's time (``netpath_mtu_audit_scope: watch`` against the full audit's
report, run right after it), and writes bench/results/audit_floor.json. Needs root; run it with the test venv's
Python:

    sudo .venv/bin/python bench/audit_floor_bench.py [--fleet seed mesh] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile

import audit_mesh_bench as amb
from pmtu_bench import collection_path

BENCH = os.path.dirname(os.path.abspath(__file__))
GOAL = 6.0
FLEETS = {
    "seed": {"lab": "bseed", "subnet": "198.19.216.0/24", "topology": None, "limit": "all",
             "vars": {"netpath_mtu_audit_address_vars": ["netpath_mtu_lab_address4", "netpath_mtu_lab_address6"]}},
    "mesh": {"lab": "bmesh", "subnet": "198.19.215.0/24", "topology": amb.TOPOLOGY, "limit": amb.MESH_GROUP,
             "vars": {"netpath_mtu_audit_address_vars": ["netpath_mtu_lab_address4"],
                      "netpath_mtu_audit_groups": [amb.MESH_GROUP]}},
}
FLOOR_PLAY = """---
- name: The floor, one trivial task over the same hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


class FloorBench(amb.Bench):
    """The mesh bench's Ansible environment, for any of FLEETS."""

    def __init__(self, args: argparse.Namespace, coll: str, work: str, fleet: str) -> None:
        self.fleet = FLEETS[fleet]
        super().__init__(argparse.Namespace(**vars(args), lab=self.fleet["lab"], mgmt_subnet=self.fleet["subnet"]),
                         coll, work)
        self.floor_play = os.path.join(work, "floor.yml")
        with open(self.floor_play, "w", encoding="utf-8") as f:
            f.write(FLOOR_PLAY)

    def lab(self, state: str) -> None:
        argv = ["netpath.mtu.lab", "-e", f"netpath_mtu_lab_name={self.args.lab}", "-e", f"netpath_mtu_lab_state={state}"]
        if state == "present":
            argv += ["-e", f"netpath_mtu_lab_mgmt_subnet={self.args.mgmt_subnet}"]
            if self.fleet["topology"]:
                argv += ["-e", f"@{self.fleet['topology']}"]
        self.playbook(*argv)

    def load_hosts(self) -> None:
        """The lab's hosts (routers too: flush_caches forgets every namespace's PMTU exceptions)."""
        with open(self.inventory, encoding="utf-8") as f:
            self.hosts = amb.yaml.safe_load(f)["all"]["hosts"]

    def floor(self) -> float:
        return round(self.playbook("-i", self.inventory, self.floor_play, "--limit", self.fleet["limit"])["wall_s"], 3)

    def whole_audit(self, previous: str | None = None) -> dict:
        """The audit; with ``previous`` (a report.json) the scheduled one: scope watch, drift against it."""
        self.flush_caches()
        report_dir = os.path.join(self.work, f"report{self.runs + 1}")
        audit_vars = {**self.fleet["vars"], "netpath_mtu_audit_report_dir": report_dir}
        if previous:
            audit_vars.update(netpath_mtu_audit_scope="watch", netpath_mtu_audit_previous_report=previous)
        run = self.playbook("-i", self.inventory, "netpath.mtu.audit", "--check", "--limit", self.fleet["limit"],
                            "-e", json.dumps(audit_vars))
        with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as f:
            doc = json.load(f)
        return {"wall_s": round(run["wall_s"], 3), "tasks": run["tasks"], "paths": len(doc["paths"]),
                "findings": len(doc["findings"]), "load": round(os.getloadavg()[0], 2),
                "report": os.path.join(report_dir, "report.json")}


def measure_fleet(args: argparse.Namespace, coll: str, fleet: str) -> dict:
    work = tempfile.mkdtemp(prefix=f"audit-floor-{fleet}-")
    bench = FloorBench(args, coll, work, fleet)
    try:
        amb.progress(f"{fleet}: building lab {bench.args.lab}")
        bench.lab("absent")
        bench.lab("present")
        bench.load_hosts()
        floors, audits, watches = [], [], []
        for run in range(args.repeat):
            amb.progress(f"{fleet}: run {run + 1}/{args.repeat}")
            floors.append(bench.floor())
            audits.append(bench.whole_audit())
            watches.append(bench.whole_audit(previous=audits[-1]["report"]))
    finally:
        amb.progress(f"{fleet}: removing lab {bench.args.lab}")
        try:
            bench.lab("absent")
        except RuntimeError as exc:
            print(f"audit_floor_bench: could not remove lab {bench.args.lab}: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    return summarize(fleet, floors, audits, watches)


def summarize(fleet: str, floors: list[float], audits: list[dict], watches: list[dict]) -> dict:
    floor, audit = amb.median(floors), amb.median([a["wall_s"] for a in audits])
    watch = amb.median([w["wall_s"] for w in watches])
    run = min(audits, key=lambda a: abs(a["wall_s"] - audit))
    tasks = sorted(run["tasks"], key=lambda t: -t["wall_s"])
    return {"fleet": fleet, "hosts": max((t["hosts"] for t in run["tasks"]), default=0), "paths": run["paths"],
            "findings": run["findings"], "floor_s": floor, "audit_s": audit, "ratio": round(audit / floor, 2),
            "watch_s": watch, "watch_paths": watches[0]["paths"], "watch_over_full": round(watch / audit, 2),
            "floors": floors, "audits": [a["wall_s"] for a in audits], "load": [a["load"] for a in audits],
            "slowest_tasks": [{k: t[k] for k in ("name", "file", "wall_s", "hosts", "skipped")} for t in tasks[:12]],
            "task_count": len(run["tasks"])}


def report(rows: list[dict]) -> None:
    for r in rows:
        print(f"\n{r['fleet']}: {r['hosts']} hosts, {r['paths']} paths, {r['findings']} findings; load {r['load']}")
        print(f"  floor (one ping task) {r['floor_s']:7.2f} s   runs {r['floors']}")
        print(f"  audit --check         {r['audit_s']:7.2f} s   runs {r['audits']}")
        print(f"  ratio                 {r['ratio']:7.2f} x   (goal <= {GOAL:g}x)   {r['task_count']} tasks")
        print(f"  scheduled (watch)     {r['watch_s']:7.2f} s   {r['watch_paths']} paths,"
              f" {r['watch_over_full']:.2f}x the full audit")
        print("  slowest tasks of the median run:")
        for t in r["slowest_tasks"]:
            print(f"    {t['wall_s']:7.2f} s  {t['name'][:70]:70} ({t['file']})")
    print("\n" + "\n".join(f"{'PASS' if r['ratio'] <= GOAL else 'FAIL'}  {r['fleet']}: audit <= {GOAL:g}x the floor"
                           for r in rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", nargs="+", choices=sorted(FLEETS), default=["seed", "mesh"])
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each; medians are reported")
    ap.add_argument("--forks", type=int, default=16, help="Ansible forks for both (default 16)")
    ap.add_argument("--json", default=os.path.join(BENCH, "results", "audit_floor.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("audit_floor_bench needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    coll = collection_path()
    try:
        rows = [measure_fleet(args, coll, fleet) for fleet in args.fleet]
    finally:
        shutil.rmtree(coll, ignore_errors=True)
    report(rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump({"goal_ratio": GOAL, "fleets": rows}, f, indent=1)
    return 0 if all(r["ratio"] <= GOAL for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
