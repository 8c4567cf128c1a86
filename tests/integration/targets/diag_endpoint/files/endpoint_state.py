# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the diag_endpoint role left on the machine, as JSON (read only).

    python3 endpoint_state.py ROOT SCRIPT UNIT PIDFILE NAMESPACE PORT

files: every path under ROOT; unit: the unit file's ExecStart (or null); pid_cmdline: the command line of
the PID file's process; processes: every process on the machine that runs SCRIPT (pid,
uid, argv); listening: the TCP listeners on PORT in NAMESPACE and in this (the machine's) namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0")[:-1]]
    except OSError:
        return []


def uid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def listeners(prefix: list[str], port: str) -> list[str]:
    out = subprocess.run(prefix + ["ss", "-Htln", f"sport = :{port}"], check=True, capture_output=True, text=True)
    return sorted(line.split()[3] for line in out.stdout.splitlines() if line.strip())


def main() -> None:
    root, script, unit, pidfile, namespace, port = sys.argv[1:7]
    files = sorted(os.path.join(top, name) for top, dirs, names in os.walk(root) for name in dirs + names)
    exec_start = None
    if os.path.exists(unit):
        with open(unit, encoding="utf-8") as handle:
            exec_start = next((line.split("=", 1)[1].strip() for line in handle if line.startswith("ExecStart=")), None)
    pid_cmdline = None
    if os.path.exists(pidfile):
        with open(pidfile, encoding="ascii") as handle:
            pid_cmdline = " ".join(cmdline(handle.read().strip()))
    processes = [{"pid": int(pid), "uid": uid(pid), "argv": cmdline(pid)} for pid in os.listdir("/proc")
                 if pid.isdigit() and cmdline(pid)[1:2] == [script]]
    print(json.dumps({
        "files": files, "exec_start": exec_start, "pid_cmdline": pid_cmdline, "processes": processes,
        "listening": listeners(["ip", "netns", "exec", namespace], port), "listening_here": listeners([], port),
    }))


if __name__ == "__main__":
    main()
