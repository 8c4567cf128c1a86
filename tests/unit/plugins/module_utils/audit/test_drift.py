# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Drift between two audit reports of the seed lab: the outage, the fix, and the day it comes back."""

from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.filter import watch
from ansible_collections.netpath.mtu.plugins.module_utils.audit import drift, report
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_findings import replace_path, seed_data
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_report import seed_doc


def test_same_report_has_no_drift():
    doc = seed_doc()
    result = drift.compare(doc, copy.deepcopy(doc))
    assert result["summary"]["drifted"] is False
    assert result["findings"] == {"new": [], "resolved": [], "severity_changed": []}
    assert drift.render_markdown(result).endswith("Nothing changed.\n")


def test_every_finding_is_new_against_a_clean_report_and_resolved_the_other_way():
    doc = seed_doc()
    clean = dict(copy.deepcopy(doc), findings=[])
    ahead = drift.compare(doc, clean)
    assert [f["id"] for f in ahead["findings"]["new"]] == sorted(f["id"] for f in doc["findings"])
    assert ahead["summary"]["new_critical"] == doc["summary"]["findings_by_severity"]["critical"]
    back = drift.compare(clean, doc)
    assert back["summary"]["resolved"] == len(doc["findings"]) and back["summary"]["new"] == 0


def test_a_path_mtu_that_dropped_and_a_tunnel_edited():
    before = seed_doc()
    row = next(p for p in before["paths"] if p["status"] == "ok" and isinstance(p["path_mtu"], int))
    after = copy.deepcopy(before)
    changed = next(p for p in after["paths"] if p["id"] == row["id"])
    changed["path_mtu"] = row["path_mtu"] - 80
    after["tunnels"][0]["mtu"] = before["tunnels"][0]["mtu"] - 100
    result = drift.compare(after, before)
    assert result["paths"]["changed"] == [{
        "id": row["id"], "source": row["source"], "target": row["target"], "family": row["family"],
        "path_mtu": row["path_mtu"] - 80, "previous_path_mtu": row["path_mtu"], "status": "ok",
        "previous_status": "ok", "direction": "dropped"}]
    assert result["summary"]["paths_dropped"] == 1
    assert [t["id"] for t in result["tunnels"]] == [before["tunnels"][0]["id"]]
    text = drift.render_markdown(result)
    assert f"`{row['id']}`: ok {row['path_mtu']} -> ok {row['path_mtu'] - 80}" in text


def test_a_black_hole_that_came_back_after_a_fix():
    # The fix made client-a's path to 198.18.3.2 clean; a later change brought the black hole back.
    fixed = report.build(seed_data(paths=replace_path("client-a", "198.18.3.2", status="ok", path_mtu=1420,
                                                      hop=None)))
    broken = seed_doc()
    result = drift.compare(broken, fixed)
    new = [f["id"] for f in result["findings"]["new"]]
    assert "pmtud_black_hole/client-a/198.18.3.2/ipv4" in new
    status = next(c for c in result["paths"]["changed"] if c["id"] == "client-a/198.18.3.2/ipv4")
    assert (status["previous_status"], status["status"]) == ("ok", "black_hole")
    assert result["summary"]["new_critical"] >= 1


@pytest.mark.parametrize("current, previous, message", [
    ([], {}, "current must be an audit report"),
    ({"findings": [], "paths": []}, "x", "previous must be an audit report"),
])
def test_bad_input(current, previous, message):
    with pytest.raises(ValueError, match=message):
        drift.compare(current, previous)


def test_filter_renders_markdown_and_reports_errors_as_filter_errors():
    doc = seed_doc()
    clean = dict(copy.deepcopy(doc), findings=[])
    text = watch.audit_drift(doc, clean, "markdown")
    assert "## New findings" in text and "CRITICAL" in text
    assert watch.audit_drift(doc, clean)["summary"]["new"] == len(doc["findings"])
    with pytest.raises(AnsibleFilterError, match="audit_drift: format must be one of data, markdown"):
        watch.audit_drift(doc, clean, "html")
    with pytest.raises(AnsibleFilterError, match="audit_drift: previous must be an audit report"):
        watch.audit_drift(doc, None)


def test_watch_targets_are_the_paths_the_last_report_singled_out():
    doc = seed_doc()
    targets = drift.watch_targets(doc)
    black_holes = {(p["source"], p["target"]) for p in doc["paths"] if p["status"] == "black_hole"}
    chosen = {(source, target) for source, found in targets.items() for target in found}
    assert black_holes <= chosen
    clean = [p for p in doc["paths"] if p["status"] == "ok" and p["path_mtu"] == p["interface_mtu"]
             and p["id"] not in {(f["path"] or {}).get("id") for f in doc["findings"]}
             and not any((w["source"], w["target"], w["family"]) == (p["source"], p["target"], p["family"])
                         for w in doc["summary"]["worst_paths"])]
    assert clean, "the seed lab has clean paths"
    assert not {(p["source"], p["target"]) for p in clean} & chosen - black_holes
    assert all(found == sorted(set(found)) for found in targets.values())


def test_a_clean_report_watches_nothing_beyond_the_tunnels():
    doc = seed_doc()
    for path in doc["paths"]:
        path.update(status="ok", black_hole=False, path_mtu=path["interface_mtu"])
    doc.update(findings=[], summary=dict(doc["summary"], worst_paths=[]))
    assert drift.watch_targets(doc) == {}
