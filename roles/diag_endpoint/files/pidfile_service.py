# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one command as a service where systemd is not PID 1: started in its own session with a PID file,
stopped by that PID. Prints {"changed": ..., "pid": ..., "msg": ...} as JSON.

    pidfile_service.py start PIDFILE LOGFILE RESTART CHECK -- ARGV...   (RESTART, CHECK: 0 or 1)
    pidfile_service.py stop PIDFILE CHECK

The PID file's process counts as the service only while its command line is exactly ARGV (start) or
still runs the same program file (stop): a PID reused by another process is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode() for part in handle.read().split(b"\0")[:-1]]
    except OSError:
        return []


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="ascii") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def ours(pid: int | None, argv: list[str] | None, program: str | None = None) -> bool:
    """Whether ``pid`` runs ``argv`` exactly, or (``program``) runs that program file."""
    if pid is None:
        return False
    running = cmdline(pid)
    if argv is not None:
        return running == argv
    return len(running) > 1 and running[1] == program


def stop(pidfile: str, check: bool) -> dict:
    pid = read_pid(pidfile)
    program = None
    stamp = pidfile + ".argv"
    try:
        with open(stamp, encoding="utf-8") as handle:
            program = json.load(handle)[1]
    except (OSError, ValueError, IndexError):
        pass
    alive = ours(pid, None, program)
    leftovers = [path for path in (pidfile, stamp) if os.path.exists(path)]
    if check or not (alive or leftovers):
        return {"changed": alive or bool(leftovers), "pid": pid if alive else None,
                "msg": f"would stop {pid}" if alive else "not running"}
    if alive:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while ours(pid, None, program) and time.monotonic() < deadline:
            time.sleep(0.1)
        if ours(pid, None, program):
            os.kill(pid, signal.SIGKILL)
            while ours(pid, None, program):
                time.sleep(0.1)
    for path in leftovers:
        os.unlink(path)
    return {"changed": True, "pid": None, "msg": f"stopped {pid}" if alive else "removed a stale PID file"}


def start(pidfile: str, logfile: str, restart: bool, check: bool, argv: list[str]) -> dict:
    pid = read_pid(pidfile)
    if ours(pid, argv) and not restart:
        return {"changed": False, "pid": pid, "msg": "running"}
    if check:
        return {"changed": True, "pid": pid, "msg": "would (re)start"}
    stop(pidfile, False)
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                start_new_session=True, close_fds=True)
    with open(pidfile + ".argv", "w", encoding="utf-8") as handle:
        json.dump(argv, handle)
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write(f"{proc.pid}\n")
    time.sleep(1)
    if proc.poll() is not None:
        with open(logfile, "rb") as log:
            tail = log.read()[-2000:].decode(errors="replace")
        for path in (pidfile, pidfile + ".argv"):
            os.unlink(path)
        return {"failed": True, "changed": True, "pid": None, "msg": f"exited with {proc.returncode}: {tail}"}
    return {"changed": True, "pid": proc.pid, "msg": "started"}


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["start"] and len(args) > 6 and args[5] == "--":
        result = start(args[1], args[2], args[3] == "1", args[4] == "1", args[6:])
    elif args[:1] == ["stop"] and len(args) == 3:
        result = stop(args[1], args[2] == "1")
    else:
        result = {"failed": True, "changed": False, "msg": f"usage: {__doc__}"}
    print(json.dumps(result))
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
