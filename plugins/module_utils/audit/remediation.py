# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Remediation, as pure functions: which fixes a host gets from the audit's findings (``host_plan``),
what one applied step did (``step_record``), and the report that sets the audits before and after
side by side (``build_report``, ``render_markdown``, ``summary_lines``).

The remediate role calls them through the filters in ``plugins/filter/remediate.py``; the audit
computes the findings (``findings.py``), each with the module and arguments of its fix.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.audit import catalog

SCHEMA_VERSION = 1
TYPES = catalog.SEVERITY
# The fix kinds, in the order the steps run in (see catalog.FIX_KINDS), and the module each names.
STEPS = catalog.STEPS
MODULES = catalog.MODULES
STEP_OF = catalog.STEP_OF
FORMATS = ("data", "json", "markdown", "summary", "unproven")
# How a step's persistence (the modules' ``persistence.state``) reads in the report; ``boot`` is not listed.
AT_BOOT = {"runtime_only": "runtime only", "unknown": "not proven to survive a reboot"}
SUMMARY_TAIL = {"runtime_only": "RUNTIME ONLY: lost at reboot", "unknown": "NOT PROVEN to survive a reboot"}
RUNTIME_ONLY_HEADING = "## Runtime only: lost at reboot"
NOT_RUN = "not remediated - unreachable, or failed before its fixes were planned"


def _list(value: Any, what: str) -> list:
    if isinstance(value, (str, dict)) or not isinstance(value, Iterable):
        raise ValueError(f"{what} must be a list, got {value!r}")
    return list(value)


def _names(value: Any, allowed: Iterable[str], what: str) -> list[str]:
    names = _list(value, what)
    unknown = sorted(set(map(str, names)) - set(allowed))
    if unknown:
        raise ValueError(f"{what}: unknown {', '.join(unknown)}; known: {', '.join(allowed)}")
    return names


def _check_findings(findings: Any) -> list[dict]:
    if not isinstance(findings, list):
        raise ValueError(f"findings must be the list of an audit report, got {type(findings).__name__}")
    for finding in findings:
        if not isinstance(finding, dict) or not {"id", "type", "fix"} <= set(finding):
            raise ValueError(f"each finding needs id, type and fix (from the audit report), got {finding!r}")
    return findings


# --- plan -------------------------------------------------------------------------------------

def host_plan(findings: Any, host: str, types: Any = tuple(TYPES), steps: Any = STEPS) -> dict:
    """This host's fixes: the findings of ``types`` whose fix is addressed to ``host``, per step.

    Many findings share one fix (black holes with one cause, both families of a tunnel), so fixes
    are deduplicated: one ``link_mtu`` entry per interface (the smallest MTU asked wins), one
    ``sysctl`` entry per name; ``icmp_policy`` and ``mss_clamp`` are the ids of the findings they
    fix (empty: the step does not run). ``advice`` lists the findings this run leaves alone: no
    module fixes them, or their step is not in ``steps``.
    """
    types = _names(types, TYPES, "types")
    steps = _names(steps, STEPS, "steps")
    mine = [f for f in _check_findings(findings) if (f["fix"] or {}).get("host") == host and f["type"] in types]
    plan: dict[str, Any] = {step: [] for step in STEPS}
    links: dict[str, dict] = {}
    sysctls: dict[str, dict] = {}
    advice = []
    for finding in mine:
        step = STEP_OF.get(finding["fix"].get("module") or "")
        if step not in steps:
            advice.append(finding["id"])
            continue
        args = finding["fix"].get("args") or {}
        if step == "link_mtu":
            entry = links.setdefault(args["name"], {"name": args["name"], "mtu": int(args["mtu"]), "findings": []})
            entry["mtu"] = min(entry["mtu"], int(args["mtu"]))
        elif step == "sysctl":
            entry = sysctls.setdefault(args["name"], {"name": args["name"], "value": str(args["value"]), "findings": []})
            if entry["value"] != str(args["value"]):
                raise ValueError(f"findings ask for two values of {args['name']}: {entry['value']} and {args['value']}")
        else:
            plan[step].append(finding["id"])
            continue
        entry["findings"].append(finding["id"])
    plan["link_mtu"] = [links[name] for name in sorted(links)]
    plan["sysctl"] = [sysctls[name] for name in sorted(sysctls)]
    plan["advice"] = advice
    return plan


# --- what a step did --------------------------------------------------------------------------

def _link_summary(result: dict) -> str:
    persist = result.get("persist") or {}
    text = (f"MTU {result.get('previous_mtu', '?')} -> {result.get('mtu', '?')}; persisted: "
            f"{persist.get('status', '?')} ({persist.get('manager') or 'no manager'})")
    return text + (f", {persist['reason']}" if persist.get("reason") else "")


def _icmp_summary(result: dict) -> str:
    changes = [f"accept inserted in {c.get('family', '?')} {c.get('hook', '?')}, was {c.get('reason', '?')}"
               for c in result.get("changes") or []]
    return "; ".join(changes) or "already accepted"


def _mss_summary(result: dict) -> str:
    report = result.get("report") or {}
    return "; ".join([f"added {r}" for r in report.get("added") or []]
                     + [f"removed {r}" for r in report.get("removed") or []]) or "already clamped"


def _sysctl_summary(result: dict) -> str:
    return f"{result.get('previous', '?')} -> {result.get('value', '?')}, persisted in {result.get('file', '?')}"


def step_record(step: str, result: Any, fix: Any = None) -> dict:
    """What one step did on a host, from its module result and its plan entry (``fix``).

    For ``sysctl`` the result is ``{changed, previous, value, file}`` (the role runs builtin modules);
    for ``transfer`` (a check after the changes) ``fix`` is the audit path with the ``size`` sent.
    """
    if step not in STEPS + ("transfer",):
        raise ValueError(f"step must be one of {', '.join(STEPS)}, transfer; got {step!r}")
    if not isinstance(result, dict):
        raise ValueError(f"the result of a {step} step must be a dict, got {result!r}")
    fix = fix or {}
    if step == "transfer":
        return transfer_record(result, fix)
    if step == "link_mtu":
        target, summary = fix.get("name") or result.get("interface", "?"), _link_summary(result)
        findings = fix.get("findings", [])
    elif step == "sysctl":
        target, summary = fix.get("name", "?"), _sysctl_summary(result)
        findings = fix.get("findings", [])
    elif step == "icmp_policy":
        target, summary, findings = "firewall", _icmp_summary(result), list(fix or [])
    else:
        target, summary, findings = result.get("backend") or "firewall", _mss_summary(result), list(fix or [])
    persisted = result.get("persisted") or []
    if persisted and step != "link_mtu":
        summary += f"; persisted in {', '.join(persisted)}"
    persistence = result.get("persistence") if isinstance(result.get("persistence"), dict) else None
    if persistence and persistence.get("state") in AT_BOOT:
        summary += f"; {SUMMARY_TAIL[persistence['state']]}"
    return {"step": step, "target": target, "changed": bool(result.get("changed")), "summary": summary,
            "findings": list(findings), "persistence": persistence}


CONTROL_HINT = ("the interface carries the connection Ansible runs over; review the change and set "
                "netpath_mtu_remediate_allow_control_interface=true to allow it (link_mtu then verifies with "
                "full-size pings and rolls back when the controller stops answering)")


def failure(task: Any, result: Any, allow_control_interface: bool = False) -> str:
    """Why a host's remediation stopped: the failed task and its module's message(s).

    A failed loop (link_mtu, one item per interface) only says "One or more items failed", so the
    failed items are named one by one.
    """
    result = result if isinstance(result, dict) else {}
    items = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if items:
        messages = [f"{(r.get('item') or {}).get('name', 'item')}: {r.get('msg', 'failed')}" for r in items]
    else:
        messages = [str(result.get("msg") or "no message")]
    text = f"{task or 'a step'} failed: {'; '.join(messages)}"
    control = any(r.get("control_interface") for r in items) or bool(result.get("control_interface"))
    if control and not allow_control_interface:
        text += f" - {CONTROL_HINT}"
    return text


def host_record(steps: Any = (), error: Any = None, advice: Any = (), transfers: Any = ()) -> dict:
    """One host's part of the remediation report."""
    steps = _list(steps, "steps")
    return {"steps": steps, "changed": any(s.get("changed") for s in steps), "error": error or None,
            "advice": list(advice or []), "transfers": list(transfers or [])}


def transfer_record(result: dict, path: dict) -> dict:
    """One transfer through a tunnel: the audit path it ran on (with the ``size`` sent) and what
    transfer_check said."""
    size = path.get("size", 0)
    status = result.get("status") or "failed"
    record = {"source": path.get("source"), "peer": path.get("peer"), "address": path.get("address"),
              "family": path.get("family"), "tunnels": list(path.get("tunnels") or []), "size": int(size),
              "status": status, "ok": status == "ok",
              "reason": result.get("reason") or result.get("msg") or "no result",
              "throughput_bps": result.get("throughput_bps")}
    analysis = (result.get("capture") or {}).get("analysis")
    if analysis:  # netpath_mtu_remediate_capture: what the two captures say, in short
        record["capture"] = {k: analysis.get(k) for k in ("verdict", "summary", "first_lost")}
    return record


# --- report -----------------------------------------------------------------------------------

def _ids(report: Any) -> list[str] | None:
    if not report:
        return None
    return [f["id"] for f in report.get("findings") or []]


def _by_type(doc: Any) -> dict:
    return dict((doc or {}).get("summary", {}).get("findings_by_type") or {})


def not_at_boot(records: dict) -> list[dict]:
    """Every step whose result does not survive a reboot (``runtime_only``) or may not (``unknown``).

    A step without ``persistence`` (sysctl: the role writes /etc/sysctl.d itself) makes no claim and is not listed.
    """
    found = []
    for host, record in records.items():
        for step in record.get("steps") or []:
            persistence = step.get("persistence") or {}
            if persistence.get("state") in AT_BOOT:
                found.append({"host": host, "step": step["step"], "target": step["target"], "state": persistence["state"],
                              "files": list(persistence.get("files") or []), "reason": persistence.get("reason") or ""})
    return found


def build_report(before: Any, after: Any, hosts: Any, *, types: Any = tuple(TYPES), check_mode: bool = False,
                 generated_at: Any = None, report_dir: str = ".") -> dict:
    """The remediation document (``remediation.json``): per host what changed, findings before/after.

    ``before`` and ``after`` are audit report documents (``after`` is None when not verified);
    ``hosts`` maps each host of the play to its ``host_record`` (None: it never got that far).
    """
    if not isinstance(hosts, dict):
        raise ValueError(f"hosts must be a dict of host records, got {type(hosts).__name__}")
    types = _names(types, TYPES, "types")
    records = {name: dict(record) if record else host_record(error=NOT_RUN) for name, record in sorted(hosts.items())}
    before_ids = _ids(before) or []
    after_ids = _ids(after)
    verified = after_ids is not None
    after_set = set(after_ids or [])
    transfers = [t for record in records.values() for t in record.get("transfers") or []]
    steps = [s for record in records.values() for s in record.get("steps") or []]
    runtime = not_at_boot(records)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "check_mode": bool(check_mode),
        "report_dir": report_dir,
        "before_report": f"{report_dir}/before",
        "after_report": f"{report_dir}/after" if verified else None,
        "hosts": records,
        "findings": {
            "before": before_ids,
            "after": after_ids,
            "resolved": sorted(set(before_ids) - after_set) if verified else [],
            "remaining": sorted(set(before_ids) & after_set) if verified else sorted(before_ids),
            "new": sorted(after_set - set(before_ids)),
        },
        "transfers": transfers,
        "runtime_only": runtime,
        "summary": {
            "hosts": len(records),
            "hosts_changed": [name for name, r in records.items() if r.get("changed")],
            "hosts_failed": [name for name, r in records.items() if r.get("error")],
            "changes": sum(1 for s in steps if s.get("changed")),
            "findings_before": len(before_ids),
            "findings_after": len(after_ids) if verified else None,
            "findings_by_type_before": _by_type(before),
            "findings_by_type_after": _by_type(after) if verified else None,
            # Findings of the types this run fixes that are still there after it.
            "remaining_fixable": ([f["id"] for f in after.get("findings") or [] if f["type"] in types]
                                  if verified else None),
            "transfers": len(transfers),
            "transfers_ok": sum(1 for t in transfers if t.get("ok")),
            "verified": verified,
            # Changes the hosts do not load at boot (lost at reboot), and those nobody can tell.
            "runtime_only": sum(1 for r in runtime if r["state"] == "runtime_only"),
            "persistence_unknown": sum(1 for r in runtime if r["state"] == "unknown"),
        },
    }


def _codes(ids: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids) or "none"


def _markdown_host(name: str, host: dict) -> list[str]:
    lines = [f"### {name}", ""]
    if host.get("error"):
        lines += [f"**Stopped:** {host['error']}", ""]
    for step in host.get("steps") or []:
        fixes = f" (fixes {len(step['findings'])} finding(s): {_codes(step['findings'])})" if step["findings"] else ""
        lines.append(f"- {'CHANGED' if step['changed'] else 'ok'} `{step['step']}` {step['target']}: "
                     f"{step['summary']}{fixes}")
    if not host.get("steps") and not host.get("error"):
        lines.append("- nothing to do")
    lines += [f"- not applied (advice only, or its step is switched off): `{i}`" for i in host.get("advice") or []]
    lines += [f"- transfer {t['size']} B to {t['peer']} {t['address']} ({t['family']}, {', '.join(t['tunnels'])}): "
              f"**{t['status']}** - {t['reason']}" for t in host.get("transfers") or []]
    return lines + [""]


def _markdown_runtime_only(doc: dict) -> list[str]:
    """The first section, when some change is not loaded at boot: a reboot brings the outage back."""
    entries = doc.get("runtime_only") or []
    if not entries:
        return []
    lines = [RUNTIME_ONLY_HEADING, "",
             f"**{len(entries)} change(s) {'would be' if doc['check_mode'] else 'are'} live but not (provably) loaded at "
             "boot: after a reboot these hosts are back to the outage.** Make the configuration load at boot (the reason "
             "says how), then run the remediation again.", ""]
    for entry in entries:
        files = f" ({', '.join(entry['files'])})" if entry["files"] else ""
        lines.append(f"- **{entry['host']}** `{entry['step']}` {entry['target']}{files}: **{AT_BOOT[entry['state']]}** - "
                     f"{entry['reason']}")
    return lines + [""]


def render_markdown(doc: dict) -> str:
    """remediation.md: what a terminal user reads; what a reboot undoes comes first."""
    s = doc["summary"]
    after = s["findings_by_type_after"] or {}
    failed = f"; failed: {', '.join(s['hosts_failed'])}" if s["hosts_failed"] else ""
    lines = [f"# Path MTU remediation{' (check mode: nothing was changed)' if doc['check_mode'] else ''}", ""]
    lines += _markdown_runtime_only(doc)
    lines += [f"Generated {doc['generated_at']}. {s['changes']} change(s) on {len(s['hosts_changed'])} of "
              f"{s['hosts']} hosts{failed}.", "",
              "| | before | after |", "|---|---|---|",
              f"| findings | {s['findings_before']} | {s['findings_after'] if s['verified'] else 'not verified'} |"]
    for ftype in sorted(set(s["findings_by_type_before"]) | set(after)):
        count_after = after.get(ftype, 0) if s["verified"] else ""
        lines.append(f"| {ftype} | {s['findings_by_type_before'].get(ftype, 0)} | {count_after} |")
    if s["transfers"]:
        lines.append(f"| transfers through tunnels complete | | {s['transfers_ok']}/{s['transfers']} |")
    reports = f"`{doc['before_report']}/report.md` (before)"
    if doc["after_report"]:
        reports += f", `{doc['after_report']}/report.md` (after)"
    lines += ["", f"Audit reports: {reports}.", "", "## Changes per host", ""]
    for name, host in doc["hosts"].items():
        lines += _markdown_host(name, host)
    if s["verified"]:
        f = doc["findings"]
        lines += ["## Findings", "",
                  f"- resolved ({len(f['resolved'])}): {_codes(f['resolved'])}",
                  f"- remaining ({len(f['remaining'])}): {_codes(f['remaining'])}",
                  f"- new ({len(f['new'])}): {_codes(f['new'])}", ""]
    return "\n".join(lines)


def summary_lines(doc: dict) -> list[str]:
    """The few lines the play prints at its end."""
    s = doc["summary"]
    head = (f"Remediation{' (check mode: nothing changed)' if doc['check_mode'] else ''}: {s['changes']} change(s) "
            f"on {len(s['hosts_changed'])}/{s['hosts']} hosts")
    if s["hosts_failed"]:
        head += f"; FAILED: {', '.join(s['hosts_failed'])}"
    found = f"Findings: {s['findings_before']} before"
    found += (f", {s['findings_after']} after ({len(doc['findings']['resolved'])} resolved)" if s["verified"]
              else ", not verified")
    lines = [head]
    entries = doc.get("runtime_only") or []
    if entries:
        hosts = ", ".join(dict.fromkeys(e["host"] for e in entries))
        lines.append(f"RUNTIME ONLY - lost at reboot: {s.get('runtime_only', 0)} change(s), not proven to survive it: "
                     f"{s.get('persistence_unknown', 0)} (hosts: {hosts}); see remediation.md")
    lines.append(found)
    if s["transfers"]:
        lines.append(f"Transfers through tunnels: {s['transfers_ok']}/{s['transfers']} complete")
    lines += [f"{name}: {host['error']}" for name, host in doc["hosts"].items() if host.get("error")]
    return lines + [f"Report: {doc['report_dir']}/remediation.{{json,md}}, before/, after/"]


def unproven(doc: dict) -> str | None:
    """Why the remediation is not proven (fixable findings remain, transfers failed), or None."""
    s = doc["summary"]
    if not s["verified"]:
        return None
    remaining = s["remaining_fixable"] or []
    failed_transfers = s["transfers"] - s["transfers_ok"]
    if not remaining and not failed_transfers:
        return None
    return (f"After the changes {len(remaining)} finding(s) remain ({', '.join(remaining) or 'none'}) and "
            f"{failed_transfers} transfer(s) did not complete; see {doc['report_dir']}/remediation.md")


def render(doc: dict, fmt: str) -> Any:
    """``doc`` as remediation.json (``json``), remediation.md (``markdown``), the play's closing
    lines (``summary``) or why it is not proven (``unproven``, an empty string when it is)."""
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return render_markdown(doc)
    if fmt == "summary":
        return summary_lines(doc)
    if fmt == "unproven":
        return unproven(doc) or ""
    raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
