"""Judging a bad-input case's outcome, and the suite's summary per module.

A case is rejected cleanly when the module failed (failed: true, non-zero exit) with one sentence
naming the parameter (in any case: "MTU 0 ..." names mtu), printed no traceback, finished in time and left the host unchanged. Anything
else is a defect, with what went wrong.
"""
from __future__ import annotations

import json
import re
from typing import Any

MAX_MESSAGE = 400  # characters: longer is not "one clear sentence"


def strings(value: Any) -> list[str]:
    """Every string in a case's arguments (a message may quote them; they do not count against it)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    return []


def own_words(msg: str, args: dict[str, Any]) -> str:
    """The message without the quoted arguments (longest first), as far as the module wrote it."""
    for text in sorted((s for s in strings(args) if len(s) > 3), key=len, reverse=True):
        msg = msg.replace(repr(text), "").replace(text, "")
    return re.sub(r"[\s,;'\"]{2,}", " ", msg)


def problems(case: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    """What is wrong with the outcome of a bad-input case (empty: rejected cleanly)."""
    found = []
    if outcome["timed_out"]:
        found.append(f"did not finish within {outcome['seconds']:.0f} s (killed)")
    text = outcome["stdout"] + outcome["stderr"]
    if "Traceback" in text or "MODULE FAILURE" in text:
        lines = [line for line in outcome["stderr"].splitlines() if line.strip()] or text.splitlines()
        found.append(f"traceback: {lines[-1][:200] if lines else '?'}")
    result = outcome["result"]
    if result is None and not outcome["timed_out"]:
        found.append(f"no JSON result (exit {outcome['rc']}): {outcome['stdout'][:120]!r} {outcome['stderr'][-200:]!r}")
    if result is not None:
        msg = str(result.get("msg", ""))
        if not result.get("failed"):
            found.append(f"accepted: changed={result.get('changed')}, no failure")
        else:
            if outcome["rc"] == 0:
                found.append("failed: true but exit status 0")
            words = own_words(msg, case["args"]).strip()
            if "\n" in words or len(words) > MAX_MESSAGE:
                found.append(f"message is not one sentence ({len(words)} characters, {words.count(chr(10)) + 1} lines)")
            if not any(name.lower() in msg.lower() for name in case["names"]):
                found.append(f"message does not name {'/'.join(case['names'])}")
            if outcome["state_changes"] and not result.get("changed"):
                found.append("reported changed=false although the host changed")
    if outcome["state_changes"]:
        found.append("host state changed: " + "; ".join(outcome["state_changes"][:6]))
    return found


def summarize(cases: list[dict[str, Any]], outcomes: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Per module: cases tried, rejected cleanly, defects (case, arguments, what went wrong), state changes."""
    modules: dict[str, dict[str, Any]] = {}
    for case in cases:
        entry = modules.setdefault(case["module"], {"tried": 0, "rejected_cleanly": 0, "defects": [],
                                                    "state_changes": 0})
        outcome = outcomes[case["id"]]
        entry["tried"] += 1
        found = problems(case, outcome)
        entry["state_changes"] += bool(outcome["state_changes"])
        if not found:
            entry["rejected_cleanly"] += 1
            continue
        result = outcome["result"] or {}
        entry["defects"].append({"case": case["id"], "host": case["host"], "args": shorten(case["args"]),
                                 "problems": found, "msg": str(result.get("msg", ""))[:300],
                                 "restore_problems": outcome.get("restore_problems", [])})
    totals = {key: sum(m[key] for m in modules.values()) for key in ("tried", "rejected_cleanly", "state_changes")}
    totals["defects"] = sum(len(m["defects"]) for m in modules.values())
    return {"modules": modules, "totals": totals, "seconds": round(seconds, 1)}


def shorten(value: Any) -> Any:
    """Arguments as printable: long strings and lists cut, with their length."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:20]}...({len(value)} chars)"
    if isinstance(value, list) and len(value) > 5:
        return [shorten(v) for v in value[:2]] + [f"...({len(value)} items)"]
    if isinstance(value, list):
        return [shorten(v) for v in value]
    if isinstance(value, dict) and len(value) > 10:
        return f"{{...{len(value)} keys}}"
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    return value


def render(summary: dict[str, Any]) -> str:
    """The summary as text: a table per module, then every defect."""
    lines = [f"{'module':<16} {'tried':>6} {'clean':>6} {'defects':>8} {'state changes':>14}"]
    for name, entry in sorted(summary["modules"].items()):
        lines.append(f"{name:<16} {entry['tried']:>6} {entry['rejected_cleanly']:>6} {len(entry['defects']):>8}"
                     f" {entry['state_changes']:>14}")
    t = summary["totals"]
    lines.append(f"{'total':<16} {t['tried']:>6} {t['rejected_cleanly']:>6} {t['defects']:>8} {t['state_changes']:>14}")
    lines.append(f"({summary['seconds']} s)")
    if summary.get("leftover_temporary_files"):
        lines.append(f"DEFECT temporary files left in / or /etc: {summary['leftover_temporary_files']}")
    for name, entry in sorted(summary["modules"].items()):
        for defect in entry["defects"]:
            lines.append(f"DEFECT {defect['case']} on {defect['host']}: {' | '.join(defect['problems'])}")
            lines.append(f"    args {json.dumps(defect['args'], ensure_ascii=True)[:300]}")
            if defect["msg"]:
                lines.append(f"    msg  {defect['msg'][:300]!r}")
    return "\n".join(lines)


# --- faults during a change (faults.py) --------------------------------------------------------------------


def summarize_faults(cases: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Faults injected, how each ended (old: nothing changed; new: all of it; mixed: live and boot disagree),
    whether changed was honest, whether the next run converged, and every problem."""
    outcomes = {"old": 0, "new": 0, "mixed": 0}
    for case in cases:
        outcomes[case.get("outcome", "mixed")] = outcomes.get(case.get("outcome", "mixed"), 0) + 1
    defects = [{"case": c["id"], "problems": c["problems"]} for c in cases if c["problems"]]
    totals = {"injected": len(cases), "defects": len(defects), "lost_or_half_done": outcomes["mixed"],
              "converged": sum(bool(c.get("converged", c.get("outcome") == "new" and not c["problems"])) for c in cases),
              "backups_checked": sum(c.get("backups", 0) for c in cases), **outcomes}
    return {"cases": cases, "totals": totals, "defects": defects, "seconds": round(seconds, 1)}


def render_faults(result: dict[str, Any]) -> str:
    """The fault summary as text: one line per fault, the totals, then every defect."""
    lines = [f"{'fault':<44} {'module':<22} {'host ends':>9} {'changed':>8} {'next run':>9} {'s':>5}"]
    for case in result["cases"]:
        nxt = "converged" if case.get("converged") else ("-" if "converged" not in case else "NO")
        lines.append(f"{case['id']:<44} {case['module']:<22} {case.get('outcome', '?'):>9} "
                     f"{str(case.get('reported_changed', '-')):>8} {nxt:>9} {case.get('seconds', 0):>5}")
    t = result["totals"]
    lines.append(f"faults injected {t['injected']}: host old {t['old']}, new {t['new']}, half done {t['mixed']}; "
                 f"converged {t['converged']}; backups checked {t['backups_checked']}; defects {t['defects']} "
                 f"({result['seconds']} s)")
    for defect in result["defects"]:
        lines.append(f"DEFECT {defect['case']}: {' | '.join(defect['problems'])}")
    return "\n".join(lines)


def render_all(inputs: dict[str, Any] | None, faults: dict[str, Any] | None) -> str:
    """Both parts of the suite, as README's reliability section quotes them."""
    lines = []
    if inputs:
        t = inputs["totals"]
        lines.append(f"bad input: {t['tried']} cases, {t['rejected_cleanly']} rejected cleanly, {t['defects']} defects, "
                     f"{t['state_changes']} state changes")
    if faults:
        t = faults["totals"]
        lines.append(f"faults during a change: {t['injected']} injected, host old {t['old']} / new {t['new']} / half "
                     f"done {t['mixed']}, converged {t['converged']}, defects {t['defects']}")
    return "\n".join(lines)


if __name__ == "__main__":
    import os
    import sys

    directory = sys.argv[1] if len(sys.argv) > 1 else "tests/output/reliability"

    def load(name: str) -> dict[str, Any] | None:
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    print(render_all(load("bad_inputs.json"), load("faults.json")))
