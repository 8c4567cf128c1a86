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
