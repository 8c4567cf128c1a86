"""The bad-input suite: every case of cases.py on the lab's hosts, judged, summarized.

Usage (as root, the lab built; tests/integration/targets/reliability_inputs/runme.sh does this):
    PYTHONPATH=<build> python tests/reliability/runner.py --lab rel --work DIR [--json FILE] [--module NAME ...]

One worker per host runs that host's cases inside its namespace (worker.py), the hosts side by side.
Prints the summary and writes it as JSON; exits 1 when any case is a defect.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import cases as case_table
import host_state
import summary

HERE = os.path.dirname(os.path.abspath(__file__))


def make_fixtures(directory: str, lab: str) -> None:
    """A host's fixture files: a directory, a symlink loop, garbage, a truncated nftables.conf."""
    os.makedirs(os.path.join(directory, "dir"), exist_ok=True)
    loop = os.path.join(directory, "loop")
    if not os.path.islink(loop):
        os.symlink("loop", loop)
    with open(os.path.join(directory, "garbage.bin"), "wb") as handle:
        handle.write(b"\x00\xff\xfe table inet {{{ \x80\x81 ;;; *filter\n-A\n" * 64)
    with open(f"/etc/netns/{lab}-nft/nftables.conf", encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(directory, "truncated-nftables.conf"), "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) * 2 // 3])


def run_workers(lab: str, work: str, by_host: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each host's cases in its own worker process, side by side; outcomes by case id."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.environ.get("PYTHONPATH", ""), HERE]))
    procs = []
    for host, host_cases in sorted(by_host.items()):
        fixtures = os.path.join(work, f"fx-{host}")
        make_fixtures(fixtures, lab)
        cases_file, results_file = os.path.join(work, f"cases-{host}.json"), os.path.join(work, f"results-{host}.json")
        with open(cases_file, "w", encoding="utf-8") as handle:
            json.dump(host_cases, handle)
        namespace = "-" if host == "root" else f"{lab}-{host}"
        argv = [sys.executable, os.path.join(HERE, "worker.py"), cases_file, results_file, fixtures, namespace]
        if host != "root":
            argv = ["ip", "netns", "exec", namespace] + argv
        procs.append((host, results_file, subprocess.Popen(argv, env=env)))
    outcomes: dict[str, dict[str, Any]] = {}
    for host, results_file, proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"reliability: the worker of host {host} failed (exit {proc.returncode})")
        with open(results_file, encoding="utf-8") as handle:
            outcomes.update({r["id"]: r for r in json.load(handle)})
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="rel")
    parser.add_argument("--work", required=True, help="scratch directory (fixtures, per-host case files)")
    parser.add_argument("--json", help="write the summary here (default WORK/summary.json)")
    parser.add_argument("--module", action="append", help="only this module's cases (repeatable)")
    opts = parser.parse_args()
    modules = tuple(opts.module or case_table.MODULES)
    table = case_table.all_cases(case_table.FIXTURES, modules)
    by_host: dict[str, list[dict[str, Any]]] = {}
    for case in table:
        by_host.setdefault(case["host"], []).append(case)
    start = time.monotonic()
    temporary = host_state.temporary_names()
    outcomes = run_workers(opts.lab, opts.work, by_host)
    result = summary.summarize(table, outcomes, time.monotonic() - start)
    result["cases_per_host"] = {host: len(c) for host, c in sorted(by_host.items())}
    # / and /etc are shared by every host: a leftover there is the run's, not one case's.
    result["leftover_temporary_files"] = sorted(set(host_state.temporary_names()) - set(temporary))
    result["totals"]["defects"] += len(result["leftover_temporary_files"])
    with open(opts.json or os.path.join(opts.work, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
    print(summary.render(result))
    if result["totals"]["defects"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
