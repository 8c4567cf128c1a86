# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What changed between two audit reports. Pure.

Findings are compared by id (``type/host/subject``, stable between runs): new, resolved, and those whose
severity changed. Paths are compared by id (``source/target/family``): a path MTU that dropped or rose,
a status that changed, a path that appeared or is no longer probed. Tunnels by id (``host/name``): an
MTU edited, what fits changed. ``summary`` holds the counts an AWX workflow branches on
(``new_critical`` > 0: notify).

``watch_targets`` is the light schedule between full audits: the tunnel underlays (planned anyway with
``tunnels_only``) plus the paths the previous report singled out.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.audit.catalog import SEVERITIES


def _check(doc: Any, name: str) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or not isinstance(doc.get("paths"), list):
        raise ValueError(f"{name} must be an audit report document (report.json of netpath.mtu.audit), "
                         f"got {type(doc).__name__}")
    return doc


def _by_id(entries: list) -> dict[str, dict]:
    return {str(entry.get("id")): entry for entry in entries if isinstance(entry, dict) and entry.get("id")}


def _finding_brief(finding: dict) -> dict:
    return {key: finding.get(key) for key in ("id", "type", "severity", "host", "message")}


def _findings(before: dict[str, dict], after: dict[str, dict]) -> dict:
    return {
        "new": [_finding_brief(after[i]) for i in sorted(set(after) - set(before))],
        "resolved": [_finding_brief(before[i]) for i in sorted(set(before) - set(after))],
        "severity_changed": [dict(_finding_brief(after[i]), previous_severity=before[i].get("severity"))
                             for i in sorted(set(after) & set(before))
                             if after[i].get("severity") != before[i].get("severity")],
    }


def _path_change(old: dict, new: dict) -> dict | None:
    old_mtu, new_mtu = old.get("path_mtu"), new.get("path_mtu")
    if old_mtu == new_mtu and old.get("status") == new.get("status"):
        return None
    change = {"id": new.get("id"), "source": new.get("source"), "target": new.get("target"), "family": new.get("family"),
              "path_mtu": new_mtu, "previous_path_mtu": old_mtu, "status": new.get("status"),
              "previous_status": old.get("status")}
    if isinstance(old_mtu, int) and isinstance(new_mtu, int) and old_mtu != new_mtu:
        change["direction"] = "dropped" if new_mtu < old_mtu else "rose"
    else:
        change["direction"] = "status"
    return change


def _paths(before: dict[str, dict], after: dict[str, dict]) -> dict:
    changed = [c for c in (_path_change(before[i], after[i]) for i in sorted(set(before) & set(after))) if c]
    return {
        "changed": changed,
        "appeared": sorted(set(after) - set(before)),
        "gone": sorted(set(before) - set(after)),
    }


def _tunnels(before: dict[str, dict], after: dict[str, dict]) -> list[dict]:
    changed = []
    for tunnel_id in sorted(set(before) & set(after)):
        old, new = before[tunnel_id], after[tunnel_id]
        if (old.get("mtu"), old.get("max_tunnel_mtu")) != (new.get("mtu"), new.get("max_tunnel_mtu")):
            changed.append({"id": tunnel_id, "mtu": new.get("mtu"), "previous_mtu": old.get("mtu"),
                            "max_tunnel_mtu": new.get("max_tunnel_mtu"),
                            "previous_max_tunnel_mtu": old.get("max_tunnel_mtu"), "status": new.get("status")})
    return changed


def compare(current: Any, previous: Any) -> dict:
    """The drift from ``previous`` to ``current`` (both report documents)."""
    after, before = _check(current, "current"), _check(previous, "previous")
    findings = _findings(_by_id(before["findings"]), _by_id(after["findings"]))
    paths = _paths(_by_id(before["paths"]), _by_id(after["paths"]))
    tunnels = _tunnels(_by_id(before.get("tunnels") or []), _by_id(after.get("tunnels") or []))
    new_by_severity = {s: sum(1 for f in findings["new"] if f["severity"] == s) for s in SEVERITIES}
    summary = {
        "previous_generated_at": before.get("generated_at"),
        "generated_at": after.get("generated_at"),
        "new": len(findings["new"]),
        "resolved": len(findings["resolved"]),
        "new_critical": new_by_severity["critical"],
        "new_by_severity": new_by_severity,
        "severity_changed": len(findings["severity_changed"]),
        "paths_dropped": sum(1 for c in paths["changed"] if c["direction"] == "dropped"),
        "paths_changed": len(paths["changed"]),
        "tunnels_changed": len(tunnels),
    }
    summary["drifted"] = any(summary[k] for k in ("new", "resolved", "severity_changed", "paths_changed",
                                                  "tunnels_changed"))
    return {"summary": summary, "findings": findings, "paths": paths, "tunnels": tunnels}


def render_markdown(drift: dict) -> str:
    """A short text for a terminal or a notification: what is new, resolved, changed."""
    summary = drift["summary"]
    lines = [f"# Audit drift since {summary.get('previous_generated_at') or 'the previous report'}", ""]
    if not summary["drifted"]:
        return "\n".join(lines + ["Nothing changed.", ""])
    lines.append(f"{summary['new']} new finding(s) ({summary['new_critical']} critical), {summary['resolved']} resolved, "
                 f"{summary['paths_changed']} path(s) changed ({summary['paths_dropped']} path MTU drop(s)), "
                 f"{summary['tunnels_changed']} tunnel(s) changed.")
    sections = [
        ("New findings", [f"- {f['severity'].upper()} {f['message']} (`{f['id']}`)" for f in drift["findings"]["new"]]),
        ("Resolved", [f"- {f['message']} (`{f['id']}`)" for f in drift["findings"]["resolved"]]),
        ("Severity changed", [f"- `{f['id']}`: {f['previous_severity']} -> {f['severity']}"
                              for f in drift["findings"]["severity_changed"]]),
        ("Paths changed", [f"- `{c['id']}`: {c['previous_status']} {c['previous_path_mtu']} -> {c['status']} {c['path_mtu']}"
                           for c in drift["paths"]["changed"]]),
        ("Tunnels changed", [f"- `{t['id']}`: MTU {t['previous_mtu']} -> {t['mtu']}, fits {t['previous_max_tunnel_mtu']} "
                             f"-> {t['max_tunnel_mtu']}" for t in drift["tunnels"]]),
    ]
    for title, items in sections:
        if items:
            lines += ["", f"## {title}", ""] + items
    return "\n".join(lines) + "\n"


def _worth_watching(path: dict, flagged: set[str], worst: set[tuple]) -> bool:
    mtu, interface_mtu = path.get("path_mtu"), path.get("interface_mtu")
    below = isinstance(mtu, int) and isinstance(interface_mtu, int) and mtu < interface_mtu
    return (path.get("status") == "black_hole" or below or path.get("id") in flagged
            or (path.get("source"), path.get("target"), path.get("family")) in worst)


def _watch_target(path: dict) -> str:
    """The path's target; with the port tcp answered on (probe_method tcp/auto keeps using it)."""
    target, port = str(path["target"]), path.get("port")
    if path.get("method") != "tcp" or not port:
        return target
    return f"[{target}]:{port}" if ":" in target else f"{target}:{port}"


def watch_targets(previous: Any) -> dict[str, list[str]]:
    """Source host -> targets to probe again: the previous report's black holes, paths below their interface
    MTU, paths a finding names and its worst paths (as extra targets, beside ``tunnels_only``)."""
    doc = _check(previous, "previous")
    flagged = {str((f.get("path") or {}).get("id")) for f in doc["findings"] if isinstance(f, dict) and f.get("path")}
    worst = {(p.get("source"), p.get("target"), p.get("family"))
             for p in (doc.get("summary") or {}).get("worst_paths") or [] if isinstance(p, dict)}
    targets: dict[str, list[str]] = {}
    for path in doc["paths"]:
        if isinstance(path, dict) and path.get("source") and path.get("target") and _worth_watching(path, flagged, worst):
            chosen = targets.setdefault(str(path["source"]), [])
            if _watch_target(path) not in chosen:
                chosen.append(_watch_target(path))
    return {source: sorted(found) for source, found in sorted(targets.items())}
