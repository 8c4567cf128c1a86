# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: the audit's probe phase on a 16-host full mesh against one-by-one ping bisection.

Builds bench/mesh_topology.yml with the collection's lab role (lab ``bmesh``, management network
198.19.215.0/24): 16 hosts, 240 directed paths, some clean, some limited with working PTB, some
black-holed. Then, in one run, side by side (every method gets the same 1 s loss timeout):

(a) the audit's probe phase: ``ansible-playbook netpath.mtu.audit`` on the 16 hosts at once (forks 16),
    timed task by task by bench/callback_plugins/bench_timing.py; the phase is every task of
    roles/audit/tasks/probe.yml, planning and retries included;
(b) the same paths one by one with the seeds' ping bisection (pmtu_bench.ping_bisect) in the source
    host's namespace, sequentially (all of them, or --sample paths of each status and path MTU, extrapolated);
(c) one path with path_mtu_info on one host: the same Ansible task on a warm connection
    (bench/single_probe.yml), and the module alone; a clean path and a black-holed one.

It checks that the audit's path MTU equals the bisection's on every path, and removes the lab by
name at the end, also on failure or interrupt. Needs root, iproute2, ping and what the lab role
needs; run it with a Python that has ansible-core (the test venv):

    sudo .venv/bin/python bench/audit_mesh_bench.py [--repeat 3] [--sample N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

import pmtu_bench
from pmtu_bench import collection_path, ping_bisect, sh

BENCH = os.path.dirname(os.path.abspath(__file__))
TOPOLOGY = os.path.join(BENCH, "mesh_topology.yml")
SINGLE_PROBE = os.path.join(BENCH, "single_probe.yml")
CALLBACKS = os.path.join(BENCH, "callback_plugins")
PROBE_PHASE = "audit/tasks/probe.yml"  # task files are named by the end of their path
MESH_GROUP = "mesh"
TIMEOUT = pmtu_bench.TIMEOUT  # the audit's default netpath_mtu_audit_probe_timeout, ping -W 1
TARGET_RATIO = 3.0


class Bench:
    """One lab, the Ansible environment to reach it, and the measurements taken on it."""

    def __init__(self, args: argparse.Namespace, coll: str, work: str) -> None:
        self.args = args
        self.work = work
        self.inventory = f"/var/lib/netpath-mtu-lab/{args.lab}/inventory.yml"
        self.hosts: dict[str, dict] = {}
        self.mesh: list[str] = []
        self.coll = coll
        self.runs = 0
        self.env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": coll,
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_PIPELINING": "true",  # as the integration targets run: one SSH round trip per task
            "ANSIBLE_FORKS": str(args.forks),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
            "ANSIBLE_CALLBACKS_ENABLED": ",".join(
                filter(None, [os.environ.get("ANSIBLE_CALLBACKS_ENABLED"), "bench_timing"])),
        }

    # -- Ansible ----------------------------------------------------------------------------

    def playbook(self, *argv: str) -> dict:
        """Run ansible-playbook; return the timing callback's record. Raises with the log's tail on failure."""
        self.runs += 1
        log = os.path.join(self.work, f"run{self.runs}.log")
        timing = os.path.join(self.work, f"run{self.runs}.json")
        start = time.monotonic()
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.run([ansible_bin("ansible-playbook"), *argv], stdout=out, stderr=subprocess.STDOUT,
                                  env={**self.env, "BENCH_TIMING_FILE": timing}, check=False)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            with open(log, encoding="utf-8") as f:
                tail = "".join(f.readlines()[-30:])
            raise RuntimeError(f"ansible-playbook {' '.join(argv)} failed ({proc.returncode}):\n{tail}")
        with open(timing, encoding="utf-8") as f:
            return {"wall_s": wall, "tasks": task_rows(json.load(f)["tasks"])}

    def lab(self, state: str) -> None:
        argv = ["netpath.mtu.lab", "-e", f"netpath_mtu_lab_name={self.args.lab}", "-e", f"netpath_mtu_lab_state={state}"]
        if state == "present":
            argv += ["-e", f"netpath_mtu_lab_mgmt_subnet={self.args.mgmt_subnet}", "-e", f"@{TOPOLOGY}"]
        self.playbook(*argv)

    def load_inventory(self) -> None:
        with open(self.inventory, encoding="utf-8") as f:
            inv = yaml.safe_load(f)["all"]
        self.hosts = inv["hosts"]
        self.mesh = sorted(inv["children"][MESH_GROUP]["hosts"])

    # -- the lab's state ----------------------------------------------------------------------

    def warm_up(self) -> None:
        """Resolve every neighbour once (ARP), so no method pays for the first packet on a link."""
        for host in self.hosts.values():
            for iface in host["netpath_mtu_lab_interfaces"]:
                sh("ping", "-n", "-c", "1", "-W", "1", iface_peer(self.hosts, iface),
                   ns=host["netpath_mtu_lab_namespace"], check=False)

    def flush_caches(self) -> None:
        """Forget PMTU exceptions (the bisection's pings leave them) before each measurement."""
        for host in self.hosts.values():
            for family in ("-4", "-6"):
                sh("ip", family, "route", "flush", "cache", ns=host["netpath_mtu_lab_namespace"], check=False)

    # -- (a) the audit ------------------------------------------------------------------------

    def audit(self) -> dict:
        self.flush_caches()
        report_dir = os.path.join(self.work, f"report{self.runs + 1}")
        audit_vars = {"netpath_mtu_audit_address_vars": ["netpath_mtu_lab_address4"],
                      "netpath_mtu_audit_groups": [MESH_GROUP], "netpath_mtu_audit_report_dir": report_dir}
        run = self.playbook("-i", self.inventory, "netpath.mtu.audit", "--limit", MESH_GROUP, "-e", json.dumps(audit_vars))
        phase = [t for t in run["tasks"] if t["file"] == PROBE_PHASE]
        if not phase:
            raise RuntimeError(f"no task of {PROBE_PHASE} ran: has the audit role changed?")
        with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as f:
            paths = json.load(f)["paths"]
        return {
            "playbook_s": round(run["wall_s"], 3),
            "phase_s": round(sum(t["wall_s"] for t in phase), 3),
            "probe_tasks_s": round(sum(t["wall_s"] for t in phase if t["action"].endswith("path_mtu_info")), 3),
            "tasks": phase,
            "paths": [{k: p[k] for k in ("source", "peer", "address", "status", "path_mtu", "exact")} for p in paths],
            "load": os.getloadavg()[0],
        }

    # -- (c) one path ---------------------------------------------------------------------------

    def single_task(self, path: dict) -> dict:
        self.flush_caches()
        run = self.playbook("-i", self.inventory, SINGLE_PROBE, "--limit", path["source"],
                            "-e", json.dumps({"bench_target": path["address"], "bench_timeout": TIMEOUT}))
        task = next(t for t in run["tasks"] if t["action"].endswith("path_mtu_info"))
        return {"wall_s": round(task["wall_s"], 3), "probe_s": task["probe_s"]}

    def single_module(self, path: dict) -> dict:
        self.flush_caches()
        ns = self.hosts[path["source"]]["netpath_mtu_lab_namespace"]
        res = pmtu_bench.path_mtu_info(self.coll, [path["address"]], ns=ns, timeout=TIMEOUT)
        return {"wall_s": round(res["wall"], 3), "probe_s": res["results"][0]["duration_s"],
                "status": res["results"][0]["status"], "path_mtu": res["results"][0]["path_mtu"]}

    # -- (b) bisection ----------------------------------------------------------------------------

    def bisect(self, paths: list[dict]) -> list[dict]:
        self.flush_caches()
        rows = []
        for n, path in enumerate(paths, 1):
            start = time.monotonic()
            mtu, pings = ping_bisect(ns=self.hosts[path["source"]]["netpath_mtu_lab_namespace"],
                                     target=path["address"], timeout=TIMEOUT)
            rows.append({**path, "bisect_mtu": mtu, "pings": pings, "wall_s": round(time.monotonic() - start, 3)})
            if n % 20 == 0:
                progress(f"(b) {n}/{len(paths)} paths bisected")
        return rows


def iface_peer(hosts: dict, iface: dict) -> str:
    """The address of the host at the other end of a lab link."""
    for other in hosts.get(iface["peer"], {}).get("netpath_mtu_lab_interfaces", []):
        if other["link"] == iface["link"]:
            return other["ipv4"]
    raise RuntimeError(f"link {iface['link']} has no far end in the inventory")


def ansible_bin(tool: str) -> str:
    """The tool next to this Python (the venv's), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), tool)
    return here if os.access(here, os.X_OK) else (shutil.which(tool) or tool)


def task_rows(tasks: list[dict]) -> list[dict]:
    """Each task's wall time: from its start until the next task starts (the last one: its last result)."""
    rows = []
    for i, task in enumerate(tasks):
        hosts = task["hosts"].values()
        end = tasks[i + 1]["start"] if i + 1 < len(tasks) else max((h["end"] for h in hosts), default=task["start"])
        probes = [h["probe_s"] for h in hosts if "probe_s" in h]
        returned = sorted(h["end"] - task["start"] for h in hosts)
        rows.append({
            "name": task["name"].split(" : ", 1)[-1],
            "file": "/".join(task["path"].rsplit(":", 1)[0].split("/")[-3:]),
            "action": task["action"],
            "wall_s": round(end - task["start"], 3),
            "hosts": len(task["hosts"]),
            "skipped": sum(1 for h in hosts if h["status"] == "skipped"),
            "probe_s": max(probes) if probes else None,  # the slowest path inside the module
            "first_host_s": round(returned[0], 3) if returned else None,  # when the first host's result came
            "last_host_s": round(returned[-1], 3) if returned else None,
        })
    return rows


def pick(paths: list[dict], status: str) -> dict:
    found = [p for p in paths if p["status"] == status]
    if not found:
        raise RuntimeError(f"the audit found no {status} path: the lab is not what bench/mesh_topology.yml describes")
    return found[0]


def stratum(path: dict) -> str:
    """Paths of one status and path MTU cost the bisection the same steps (ok at 1500 takes one ping)."""
    return f"{path['status']} {path['path_mtu']}"


def count(paths: list[dict], key=stratum) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in paths:
        counts[key(p)] = counts.get(key(p), 0) + 1
    return dict(sorted(counts.items()))


def sample(paths: list[dict], per_stratum: int) -> list[dict]:
    """Every path, or per_stratum paths of each stratum, spread evenly over the sorted list."""
    if per_stratum <= 0:
        return paths
    chosen = []
    for name in count(paths):
        group = [p for p in paths if stratum(p) == name]
        chosen += group[::max(1, len(group) // per_stratum)][:per_stratum]
    return chosen


def by_status(paths: list[dict]) -> dict[str, int]:
    return count(paths, key=lambda p: p["status"])


def bisection_total(rows: list[dict], paths: list[dict]) -> dict:
    """Measured wall time of the bisected paths, and the estimate for all paths (mean per stratum x count)."""
    strata = {}
    for name, n in count(paths).items():
        done = [r for r in rows if stratum(r) == name]
        if done:
            strata[name] = {"paths": n, "bisected": len(done),
                            "mean_s": round(statistics.mean(r["wall_s"] for r in done), 3),
                            "mean_pings": round(statistics.mean(r["pings"] for r in done), 1)}
    return {"paths": len(rows), "measured_s": round(sum(r["wall_s"] for r in rows), 2),
            "all_paths_s": round(sum(st["mean_s"] * st["paths"] for st in strata.values()), 2),
            "extrapolated": len(rows) < len(paths), "pings": sum(r["pings"] for r in rows), "strata": strata}


def disagreements(rows: list[dict], audits: list[dict]) -> list[dict]:
    """Paths where some audit run's path MTU differs from the bisection's answer."""
    wrong = []
    for run, audit in enumerate(audits, 1):
        found = {(p["source"], p["address"]): p for p in audit["paths"]}
        for r in rows:
            got = found.get((r["source"], r["address"]), {}).get("path_mtu")
            if got != r["bisect_mtu"]:
                wrong.append({"run": run, "source": r["source"], "target": r["address"], "audit": got,
                              "bisection": r["bisect_mtu"]})
    return wrong


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(bench: Bench) -> dict:
    bench.load_inventory()
    bench.warm_up()
    audits: list[dict] = []
    single: dict[str, list[dict]] = {"task_black_hole": [], "task_ok": [], "module_black_hole": [], "module_ok": []}
    for run in range(bench.args.repeat):
        # Interleaved, so every method sees the machine's load of the moment.
        progress(f"(a) audit run {run + 1}/{bench.args.repeat}")
        audits.append(bench.audit())
        chosen = {"black_hole": pick(audits[0]["paths"], "black_hole"), "ok": pick(audits[0]["paths"], "ok")}
        progress(f"(c) one path, run {run + 1}/{bench.args.repeat}")
        for status, path in chosen.items():
            single[f"task_{status}"].append(bench.single_task(path))
            single[f"module_{status}"].append(bench.single_module(path))
    paths = audits[0]["paths"]
    progress(f"(b) ping bisection of {len(sample(paths, bench.args.sample))} paths, one by one")
    rows = bench.bisect(sample(paths, bench.args.sample))
    return {"audits": audits, "single": single, "chosen": chosen, "bisection": rows}


def summarize(data: dict, args: argparse.Namespace, mesh: list[str]) -> dict:
    audits, single, rows = data["audits"], data["single"], data["bisection"]
    paths = audits[0]["paths"]
    a_phase = median([a["phase_s"] for a in audits])
    c = {k: median([s["wall_s"] for s in v]) for k, v in single.items()}
    b = bisection_total(rows, paths)
    wrong = disagreements(rows, audits)
    expected = len(mesh) * (len(mesh) - 1)
    ratios = {
        "a_over_c_black_hole": round(a_phase / c["task_black_hole"], 2),
        "a_over_c_ok": round(a_phase / c["task_ok"], 2),
        "a_over_c_module_black_hole": round(a_phase / c["module_black_hole"], 2),
        "b_over_a": round(b["all_paths_s"] / a_phase, 1),
    }
    verdicts = {
        f"{expected} paths probed, mixed statuses": len(paths) == expected and len(by_status(paths)) >= 3,
        "audit path MTU = bisection on every bisected path": not wrong,
        f"probe phase <= {TARGET_RATIO:g}x one black-holed path's probe task": ratios["a_over_c_black_hole"] <= TARGET_RATIO,
    }
    return {
        "machine": {"cpus": os.cpu_count(), "load_at_audits": [round(a["load"], 2) for a in audits],
                    "load_end": [round(x, 2) for x in os.getloadavg()]},
        "settings": {"lab": args.lab, "mgmt_subnet": args.mgmt_subnet, "hosts": len(mesh), "forks": args.forks,
                     "timeout_s": TIMEOUT, "repeat": args.repeat, "pipelining": True},
        "paths": {"total": len(paths), "by_status": by_status(paths), "chosen_for_c": data["chosen"]},
        "a": {"phase_s": a_phase, "probe_tasks_s": median([a["probe_tasks_s"] for a in audits]),
              "playbook_s": median([a["playbook_s"] for a in audits]),
              "runs": [{k: v for k, v in a.items() if k != "paths"} for a in audits]},
        "c": {"median_s": c, "runs": single},
        "b": {**b, "rows": rows},
        "ratios": ratios,
        "disagreements": wrong,
        "verdicts": verdicts,
    }


def report(s: dict) -> None:
    a, b, c, r = s["a"], s["b"], s["c"]["median_s"], s["ratios"]
    statuses = ", ".join(f"{n} {k}" for k, n in s["paths"]["by_status"].items())
    print(f"\n{s['settings']['hosts']}-host full mesh, {s['paths']['total']} directed paths ({statuses});"
          f" loss timeout {TIMEOUT:g} s; forks {s['settings']['forks']}; median of {s['settings']['repeat']} runs;"
          f" {s['machine']['cpus']} CPUs, load {s['machine']['load_at_audits']} at the audits\n")
    bisect_note = "extrapolated from " + str(b["paths"]) + " paths" if b["extrapolated"] else "all paths, measured"
    lines = [
        ("(a) audit probe phase, all hosts at once", a["phase_s"], "every task of roles/audit/tasks/probe.yml"),
        ("    of which path_mtu_info tasks", a["probe_tasks_s"], "the probe task (its recheck included)"),
        ("    whole audit playbook", a["playbook_s"], "facts, probes, report"),
        ("(b) ping bisection, one path at a time", b["all_paths_s"], f"{bisect_note}, {b['pings']} pings"),
        ("(c) one path, Ansible task, black hole", c["task_black_hole"], "the unit of the target"),
        ("(c) one path, Ansible task, clean", c["task_ok"], ""),
        ("(c) one path, module alone, black hole", c["module_black_hole"], "no Ansible: process start to exit"),
        ("(c) one path, module alone, clean", c["module_ok"], ""),
    ]
    print(f"{'measurement':42} {'wall s':>8}  note")
    for name, wall, note in lines:
        print(f"{name:42} {wall:8.2f}  {note}")
    print(f"\n(a)/(c) black hole: {r['a_over_c_black_hole']:.2f}x   (a)/(c) clean: {r['a_over_c_ok']:.2f}x"
          f"   (a)/(c) module alone, black hole: {r['a_over_c_module_black_hole']:.2f}x   (b)/(a): {r['b_over_a']:.1f}x")
    print(f"\n(b) per kind of path: {'paths':>5} {'bisected':>8} {'mean s':>7} {'pings':>5}")
    for name, st in b["strata"].items():
        print(f"    {name:17} {st['paths']:5d} {st['bisected']:8d} {st['mean_s']:7.2f} {st['mean_pings']:5.1f}")
    run = min(a["runs"], key=lambda x: abs(x["phase_s"] - a["phase_s"]))
    print(f"\nWhere the probe phase goes (the median run, {run['phase_s']:.2f} s; 'probing' is the slowest"
          " path inside the module):")
    print(f"{'task':56} {'wall s':>7} {'hosts':>5} {'skip':>4} {'first/last host s':>17} {'probing s':>9}")
    for t in run["tasks"]:
        probing = f"{t['probe_s']:9.2f}" if t["probe_s"] is not None else ""
        returned = f"{t['first_host_s']:.2f} / {t['last_host_s']:.2f}" if t["hosts"] else ""
        print(f"{t['name'][:56]:56} {t['wall_s']:7.2f} {t['hosts']:5d} {t['skipped']:4d} {returned:>17} {probing}")
    for w in s["disagreements"][:10]:
        print(f"DISAGREE run {w['run']}: {w['source']} -> {w['target']}: audit {w['audit']}, bisection {w['bisection']}")
    print("\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in s["verdicts"].items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of (a) and (c); medians are reported (default 3)")
    ap.add_argument("--sample", type=int, default=0,
                    help="bisect only this many paths of each status and path MTU, and extrapolate"
                         " (default 0: every path, about 13 minutes)")
    ap.add_argument("--forks", type=int, default=16, help="Ansible forks (default 16: every host at once)")
    ap.add_argument("--lab", default="bmesh", help="lab name (default bmesh)")
    ap.add_argument("--mgmt-subnet", default="198.19.215.0/24", help="the lab's management network")
    ap.add_argument("--json", default=os.path.join(BENCH, "results", "audit_mesh.json"),
                    help="write everything measured to this file (default bench/results/audit_mesh.json)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if os.geteuid() != 0:
        print("audit_mesh_bench needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip", "ping", ansible_bin("ansible-playbook")):
        if not shutil.which(tool):
            print(f"audit_mesh_bench needs {tool}", file=sys.stderr)
            return 2
    # SIGTERM/SIGHUP end the run through the finally below, like Ctrl-C does.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    coll = collection_path()
    work = tempfile.mkdtemp(prefix="audit-mesh-bench-")
    bench = Bench(args, coll, work)
    try:
        progress(f"building lab {args.lab} ({TOPOLOGY})")
        bench.lab("absent")  # a leftover of an interrupted run
        bench.lab("present")
        data = measure(bench)
    finally:
        progress(f"removing lab {args.lab}")
        try:
            bench.lab("absent")
        except RuntimeError as exc:
            print(f"audit_mesh_bench: could not remove lab {args.lab}: {exc}", file=sys.stderr)
        shutil.rmtree(coll, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(data, args, bench.mesh)
    report(summary)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)
    return 0 if all(summary["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
