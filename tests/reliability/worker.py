"""Run one host's bad-input cases inside its namespace: the module's main() in a forked child per case.

Usage: ip netns exec NS python worker.py CASES.json RESULTS.json FIXTURE_DIR NS
       python worker.py CASES.json RESULTS.json FIXTURE_DIR -      (lab_fleet: the machine itself)

The modules are imported once and each case forks, so a case costs its module's work, not an
interpreter start (as `python -m ansible_collections...modules.X args.json` would, a second each).
The child runs the module as Ansible would run it directly: arguments through AnsibleModule's
loader, the result JSON on stdout, an uncaught exception printed as a traceback on stderr. After each
case the host's state is compared with the state before it; a case that changed it is recorded and
the host put back (host_state.Baseline.restore), so that later cases start from the same host.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

import host_state
from ansible.module_utils import basic

PACKAGE = "ansible_collections.netpath.mtu.plugins.modules"
CASE_TIMEOUT = 30.0


def substitute(value: Any, fixture_dir: str) -> Any:
    """The case's arguments with @FX@ replaced by this host's fixture directory."""
    if isinstance(value, str):
        return value.replace("@FX@", fixture_dir)
    if isinstance(value, list):
        return [substitute(v, fixture_dir) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, fixture_dir) for k, v in value.items()}
    return value


def child(module: Any, args: dict[str, Any], out_fd: int, err_fd: int) -> None:
    """In the forked child: the module's main() with args; never returns."""
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        basic._ANSIBLE_PROFILE = "legacy"
        sys.argv = [module.__file__]
        module.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # pylint: disable=broad-except  # printed as Python would: the suite looks for it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # pylint: disable=protected-access  # no atexit handlers of the parent in the child


def run_case(module: Any, args: dict[str, Any]) -> dict[str, Any]:
    """rc, stdout, stderr, seconds and whether the case was killed for running too long."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            child(module, args, out.fileno(), err.fileno())
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > CASE_TIMEOUT:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                timed_out, status = True, -1
                break
            time.sleep(0.005)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        rc = os.waitstatus_to_exitcode(status) if status != -1 else -9
        stdout = out.read().decode(errors="replace")
        return {"rc": rc, "result": result_json(stdout), "stdout": stdout[-4000:],
                "stderr": err.read().decode(errors="replace")[-4000:], "seconds": round(seconds, 3),
                "timed_out": timed_out}


def result_json(stdout: str) -> dict[str, Any] | None:
    """The module's result without its (possibly huge) invocation: the JSON object on stdout, or None."""
    try:
        value = json.loads(stdout.strip())
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    value.pop("invocation", None)
    return value


def control_connection() -> str | None:
    """SSH_CONNECTION as the lab's sshd would set it: the modules run over SSH on mgmt0 in real use."""
    for line in host_state.run(["ip", "-4", "-o", "addr", "show", "dev", "mgmt0"]).splitlines():
        address = line.split()[3].split("/")[0]
        return f"{address.rsplit('.', 1)[0]}.1 50022 {address} 22"
    return None


def main() -> None:
    cases_file, results_file, fixture_dir, namespace = sys.argv[1:5]
    namespace = None if namespace == "-" else namespace
    with open(cases_file, encoding="utf-8") as handle:
        cases = json.load(handle)
    modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in sorted({c["module"] for c in cases})}
    # A path argument of the wrong type becomes a relative path ("{'a': 1}"): let it land where it is seen.
    os.chdir(fixture_dir)
    connection = control_connection() if namespace else None
    if connection:
        os.environ["SSH_CONNECTION"] = connection
    baseline = host_state.Baseline(namespace, fixture_dir)
    before = baseline.state
    results = []
    for case in cases:
        result = run_case(modules[case["module"]], substitute(case["args"], fixture_dir))
        after = host_state.snapshot(namespace, fixture_dir)
        result["state_changes"] = host_state.diff(before, after)
        if result["state_changes"]:
            result["restore_problems"] = baseline.restore()
            after = host_state.snapshot(namespace, fixture_dir)
        before = after
        results.append(dict(result, id=case["id"]))
    with open(results_file, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
