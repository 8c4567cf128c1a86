# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Metrics of an audit report: read back by two independent parsers (prometheus_client's and promtool's
lint), with the values of the seed lab's report."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.netpath.mtu.plugins.filter import watch
from ansible_collections.netpath.mtu.plugins.module_utils.audit import metrics
from ansible_collections.netpath.mtu.plugins.module_utils.audit.findings import TYPES
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_report import seed_doc


def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value, as prometheus_client parses the text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def path_key(name: str, source: str, target: str, family: str, peer: str, **extra: str) -> tuple:
    labels = {"source": source, "target": target, "family": family, "peer": peer, **extra}
    return (f"netpath_mtu_{name}", tuple(sorted(labels.items())))


def test_seed_report_metrics_carry_the_report_values():
    doc = seed_doc()
    got = samples(metrics.render(doc, duration_seconds=12.5))
    assert got[("netpath_mtu_audit_timestamp_seconds", ())] == 1735787045.0  # 2025-01-02T03:04:05Z
    assert got[("netpath_mtu_audit_duration_seconds", ())] == 12.5
    assert got[("netpath_mtu_audit_hosts", (("state", "audited"),))] == doc["summary"]["hosts_audited"]
    for severity, count in doc["summary"]["findings_by_severity"].items():
        assert got[("netpath_mtu_audit_findings", (("severity", severity),))] == count
    black_hole = next(p for p in doc["paths"] if p["status"] == "black_hole")
    peer = black_hole["peer"] or ""
    labels = (black_hole["source"], black_hole["target"], black_hole["family"], peer)
    assert got[path_key("path_mtu_bytes", *labels)] == black_hole["path_mtu"]
    assert got[path_key("path_black_hole", *labels)] == 1
    assert got[path_key("path_status", *labels, status="black_hole")] == 1
    assert got[path_key("path_status", *labels, status="ok")] == 0
    tunnel = doc["tunnels"][0]
    tunnel_labels = (("host", tunnel["host"]), ("kind", tunnel["kind"]), ("tunnel", tunnel["name"]))
    assert got[("netpath_mtu_tunnel_mtu_bytes", tunnel_labels)] == tunnel["mtu"]
    assert got[("netpath_mtu_tunnel_too_large", tunnel_labels)] == (tunnel["status"] == "too_large")


def test_every_audited_host_has_every_finding_type_and_the_counts_add_up():
    doc = seed_doc()
    got = samples(metrics.render(doc))
    host_series = {k: v for k, v in got.items() if k[0] == "netpath_mtu_host_findings"}
    audited = [h for h, e in doc["hosts"].items() if e["audited"]]
    assert len(host_series) == len(audited) * len(TYPES)
    assert sum(host_series.values()) == len(doc["findings"])
    assert ("netpath_mtu_audit_duration_seconds", ()) not in got  # not measured, not written


def test_rendering_is_stable_and_every_path_has_one_status():
    doc = seed_doc()
    text = metrics.render(doc)
    assert text == metrics.render(doc)
    got = samples(text)
    for path in doc["paths"]:
        states = [v for (name, labels), v in got.items() if name == "netpath_mtu_path_status"
                  and ("source", path["source"]) in labels and ("target", path["target"]) in labels
                  and ("family", path["family"]) in labels]
        assert sorted(states) == [0] * 5 + [1], path["id"]


def test_promtool_finds_nothing_to_lint():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: tests/utils/apt-deps.sh installs Debian's prometheus package"
    proc = subprocess.run([promtool, "check", "metrics"], input=metrics.render(seed_doc(), 3),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == ""


@pytest.mark.parametrize("value, expected", [
    ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), (None, ""), ("gw-ä", "gw-ä")])
def test_label_escaping_round_trips(value, expected):
    assert metrics.escape_label(value) == expected
    out = metrics.Exposition()
    out.family("x", "gauge", "x")
    out.add("x", 1, host=value)
    assert samples(out.render())[("netpath_mtu_x", (("host", "" if value is None else value),))] == 1


@pytest.mark.parametrize("doc, duration, message", [
    ([], None, "the input must be an audit report document"),
    ({"paths": []}, None, "the input must be an audit report document"),
    (None, None, "the input must be an audit report document"),
])
def test_bad_input(doc, duration, message):
    with pytest.raises(ValueError, match=message):
        metrics.render(doc, duration)


@pytest.mark.parametrize("duration", [-1, "10", True])
def test_bad_duration(duration):
    with pytest.raises(ValueError, match="duration_seconds must be a number"):
        metrics.render(seed_doc(), duration)


def test_filter_wraps_errors():
    assert watch.audit_metrics(seed_doc()).startswith("# HELP netpath_mtu_audit_timestamp_seconds")
    with pytest.raises(AnsibleFilterError, match="audit_metrics: the input must be an audit report document"):
        watch.audit_metrics({})


def test_a_host_file_has_only_that_hosts_series():
    doc = seed_doc()
    got = samples(metrics.render(doc, host="gw-a"))
    names = {name for name, dummy in got}
    assert "netpath_mtu_audit_hosts" not in names and "netpath_mtu_audit_findings" not in names
    for name, labels in got:
        labels = dict(labels)
        assert labels.get("source", "gw-a") == "gw-a" and labels.get("host", "gw-a") == "gw-a", (name, labels)
    assert sum(v for (n, dummy), v in got.items() if n == "netpath_mtu_host_findings") == sum(
        1 for f in doc["findings"] if (f["fix"]["host"] or f["host"]) == "gw-a")
    assert any(n == "netpath_mtu_tunnel_mtu_bytes" for n, dummy in got)
    with pytest.raises(ValueError, match="host must be one of the report's hosts"):
        metrics.render(doc, host="nowhere")


def test_the_documented_alert_rules_load_in_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: tests/utils/apt-deps.sh installs Debian's prometheus package"
    rules = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "docs", "examples", "prometheus-alerts.yml")
    proc = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "SUCCESS: 4 rules found" in proc.stdout, proc.stdout + proc.stderr
