# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bench-only callback: when every task starts and when each host's result arrives, as JSON.

Enabled by bench/audit_mesh_bench.py (ANSIBLE_CALLBACK_PLUGINS, ANSIBLE_CALLBACKS_ENABLED) next to
the normal output; it changes nothing in how the play runs. Writes BENCH_TIMING_FILE at the end.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timing
type: aggregate
short_description: Task start and per-host result times, for the benchmarks in bench/
description:
  - Writes every task's name, file and start time, and each host's result time and status, to the
    JSON file named by the environment variable E(BENCH_TIMING_FILE).
  - For path_mtu_info results it also keeps the slowest path's C(duration_s) and the path count.
requirements:
  - enable in ansible.cfg or with E(ANSIBLE_CALLBACKS_ENABLED)
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[dict] = []

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self.tasks.append({"name": task.get_name(), "path": task.get_path() or "", "action": task.action,
                           "start": time.time(), "hosts": {}})

    def _record(self, result, status: str) -> None:
        if not self.tasks:
            return
        entry = {"end": time.time(), "status": status}
        paths = result._result.get("results")
        if isinstance(paths, list) and paths and isinstance(paths[0], dict) and "duration_s" in paths[0]:
            entry["paths"] = len(paths)
            entry["probe_s"] = max(p.get("duration_s") or 0.0 for p in paths)
        self.tasks[-1]["hosts"][result._host.get_name()] = entry

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats) -> None:
        path = os.environ.get("BENCH_TIMING_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"tasks": self.tasks}, f, indent=1)
