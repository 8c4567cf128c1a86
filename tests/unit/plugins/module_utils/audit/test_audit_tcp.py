# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""probe_method tcp and auto in the audit: the plan's ports, and results matched to plan entries by the
target string whatever method answered (one path per target, never an icmp and a tcp one)."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import drift, findings, probe_plan, report
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_findings import result, seed_data
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import (
    SEED_FACTS,
    SEED_INVENTORY,
)

SSH = {"client-a": 22, "gw-a": 22, "rtr": 22, "gw-b": 2222, "server-b": 22}


def answered_by(res: dict, method: str, port: int | None) -> dict:
    return dict(res, method=method, port=port)


def audit_with(probes: list[dict], extra: list[str]) -> dict:
    """The seed lab's audit data with client-a's plan (extra targets and ports) and probes replaced."""
    data = seed_data()
    data["hosts"]["client-a"]["targets"] = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, extra_targets={"client-a": extra},
                                                           ports=SSH)["client-a"]
    data["hosts"]["client-a"]["probes"] = probes
    return data


# (result of client-a's probe, what the report path says: target, roles, status, method, port, path MTU)
MATCHING = [
    # icmp met a firewall; tcp to gw-b's SSH port found the black hole: one path, answered by tcp
    (answered_by(result("198.18.2.2", "eth0", 1500, "black_hole", 1400, hop=(1, "198.18.1.2")), "tcp", 2222),
     ("198.18.2.2", ["host"], "black_hole", "tcp", 2222, 1400)),
    (answered_by(result("198.18.2.2", "eth0", 1500, "unreachable", None), "icmp", None),
     ("198.18.2.2", ["host"], "unreachable", "icmp", None, None)),
    # an extra target with a port: the plan's target and the module's result carry no port
    (answered_by(result("198.51.100.7", "eth0", 1500, "ok", 1500), "tcp", 443),
     ("198.51.100.7", ["extra"], "ok", "tcp", 443, 1500)),
    (answered_by(dict(result("api.partner.example", "eth0", 1500, "ptb", 1280), address="203.0.113.5"), "tcp", 8443),
     ("api.partner.example", ["extra"], "ptb", "tcp", 8443, 1280)),
    (answered_by(result("fd00:198:18:3::2", "eth0", 1500, "ok", 1500), "tcp", 22),
     ("fd00:198:18:3::2", ["host", "extra"], "ok", "tcp", 22, 1500)),
]
EXTRA = ["198.51.100.7:443", "api.partner.example:8443", "[fd00:198:18:3::2]:22"]


@pytest.mark.parametrize("probe, expected", MATCHING)
def test_a_result_lands_on_its_plan_entry_whatever_answered(probe, expected):
    audit = findings.Audit(audit_with([probe], EXTRA))
    paths = [p for p in audit.paths if p["source"] == "client-a"]
    matched = [p for p in paths if p["target"] == expected[0]]
    assert [(p["target"], p["roles"], p["status"], p["method"], p["port"], p["path_mtu"]) for p in matched] == [expected]
    # every other planned target is a path of its own, not probed; nothing is doubled
    assert len(paths) == len({p["target"] for p in paths}) == len(audit_with([], EXTRA)["hosts"]["client-a"]["targets"])
    assert {p["method"] for p in paths if p["target"] != expected[0]} == {None}


def test_the_tcp_black_hole_is_a_finding_and_the_report_says_what_answered():
    probe = answered_by(result("198.18.2.2", "eth0", 1500, "black_hole", 1400, hop=(1, "198.18.1.2")), "tcp", 2222)
    data = audit_with([probe], [])
    ids = {f["id"] for f in findings.findings(data)}
    assert "pmtud_black_hole/client-a/198.18.2.2/ipv4" in ids
    doc = report.build(data, generated_at="2025-01-02T03:04:05Z", check_mode=False)
    (path,) = [p for p in doc["paths"] if p["id"] == "client-a/198.18.2.2/ipv4"]
    assert (path["method"], path["port"], path["status"], path["path_mtu"]) == ("tcp", 2222, "black_hole", 1400)
    md = report.render_markdown(doc)
    assert "| client-a | gw-b (198.18.2.2) | ipv4 | host | black hole | tcp/2222 | 1400 | 1500 | rtr (198.18.1.2) |" in md
    html = report.render_html(doc)
    assert "<td>tcp/2222</td>" in html


@pytest.mark.parametrize("path, shown", [
    ({"method": "icmp", "port": None}, "icmp"),
    ({"method": "tcp", "port": 22}, "tcp/22"),
    ({"method": "udp", "port": 33434}, "udp/33434"),
    ({"method": None, "port": None}, "-"),
    ({}, "-"),
])
def test_probed_by(path, shown):
    assert report._probed_by(path) == shown  # pylint: disable=protected-access


@pytest.mark.parametrize("path, target", [
    ({"method": "tcp", "port": 2222, "target": "198.18.2.2"}, "198.18.2.2:2222"),
    ({"method": "tcp", "port": 443, "target": "fd00:198:18:2::2"}, "[fd00:198:18:2::2]:443"),
    ({"method": "icmp", "port": None, "target": "198.18.2.2"}, "198.18.2.2"),
    ({"target": "198.18.2.2"}, "198.18.2.2"),
])
def test_watch_scope_probes_again_on_the_port_tcp_answered_on(path, target):
    probe = answered_by(result(path["target"], "eth0", 1500, "black_hole", 1400), path.get("method"), path.get("port"))
    data = audit_with([probe], [])
    if path["target"] not in {t["target"] for t in data["hosts"]["client-a"]["targets"]}:
        data = audit_with([probe], [path["target"]])
    doc = report.build(data, generated_at="2025-01-02T03:04:05Z", check_mode=False)
    watched = drift.watch_targets(doc)["client-a"]
    assert target in watched
    # and the plan turns it back into the same target, with the port
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, extra_targets={"client-a": [target]}, tunnels_only=True)
    assert [(e["target"], e["port"]) for e in plan["client-a"]] == [(path["target"], path.get("port"))]
