# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit report: the JSON document, its Markdown and HTML renderings, and the filters."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.filter import audit as audit_filters
from ansible_collections.netpath.mtu.plugins.module_utils.audit import catalog, report
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_findings import SEED_FINDINGS, seed_data
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import (
    SEED_FACTS,
    SEED_INVENTORY,
    host_facts,
    iface,
)

TOP_KEYS = ["check_mode", "findings", "generated_at", "generator", "hosts", "matrix", "options", "paths",
            "schema_version", "summary", "tunnels"]
SUMMARY_KEYS = ["clean", "findings", "findings_at_or_above", "findings_by_severity", "findings_by_type", "hosts",
                "hosts_audited", "hosts_failed", "paths", "paths_by_status", "tunnels", "tunnels_too_large", "worst_paths"]


def seed_doc(**meta):
    meta.setdefault("generated_at", "2025-01-02T03:04:05Z")
    meta.setdefault("check_mode", True)
    return report.build(seed_data(), **meta)


class Tags(HTMLParser):
    """Collects tags and checks that every non-void element is closed in order."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


# --- the document ------------------------------------------------------------------------------

def test_document_keys_and_summary():
    doc = seed_doc()
    assert sorted(doc) == TOP_KEYS
    assert doc["schema_version"] == report.SCHEMA_VERSION == 1
    assert sorted(doc["summary"]) == SUMMARY_KEYS
    s = doc["summary"]
    assert s["hosts"] == s["hosts_audited"] == 5
    assert s["paths"] == 45
    assert s["paths_by_status"] == {"black_hole": 14, "unreachable": 6, "filtered": 0, "ptb": 2, "ok": 23, "not_probed": 0}
    assert s["findings"] == len(SEED_FINDINGS)
    assert s["findings_by_severity"] == {"critical": 16, "warning": 2, "info": 4}
    assert s["findings_at_or_above"] == {"critical": 16, "warning": 18, "info": 22}
    assert list(s["findings_by_type"]) == ["tunnel_mtu_too_large", "pmtud_black_hole", "fragments_dropped", "icmp_blocked",
                                           "ptb_lost_in_transit", "path_mtu_below_interface", "mss_clamp_missing", "pmtud_disabled",
                                           "tcp_mtu_probing_off"]
    assert s["tunnels"] == s["tunnels_too_large"] == 2
    assert not s["clean"]
    assert doc["generated_at"] == "2025-01-02T03:04:05Z"
    assert doc["check_mode"] is True


def test_worst_paths_black_holes_first_largest_loss_first():
    worst = seed_doc()["summary"]["worst_paths"]
    assert len(worst) == report.WORST_PATHS
    assert all(p["status"] == "black_hole" for p in worst)
    losses = [p["interface_mtu"] - p["path_mtu"] for p in worst]
    assert losses == sorted(losses, reverse=True)
    assert worst[0] == {"source": "client-a", "target": "198.18.3.2", "peer": "server-b", "family": "ipv4",
                        "status": "black_hole", "path_mtu": 1328, "interface_mtu": 1500}


# (source, peer, cell status, smallest path MTU)
MATRIX = [
    ("client-a", "gw-a", "ok", 1500),
    ("client-a", "gw-b", "unreachable", None),
    ("client-a", "server-b", "black_hole", 1328),
    ("gw-a", "gw-b", "black_hole", 1328),
    ("rtr", "gw-b", "ok", 1400),
    ("server-b", "rtr", "ptb", 1400),
]


@pytest.mark.parametrize("source, peer, status, path_mtu", MATRIX)
def test_matrix_cells(source, peer, status, path_mtu):
    matrix = seed_doc()["matrix"]
    assert matrix["rows"] == ["client-a", "gw-a", "gw-b", "rtr", "server-b"]
    assert matrix["columns"] == matrix["rows"]
    cell = matrix["cells"][source][peer]
    assert (cell["status"], cell["path_mtu"]) == (status, path_mtu)


def test_gw_a_to_gw_b_cell_lists_every_path():
    cell = seed_doc()["matrix"]["cells"]["gw-a"]["gw-b"]
    assert [(p["target"], p["roles"]) for p in cell["paths"]] == [
        ("198.18.2.2", ["underlay", "host"]), ("198.19.0.2", ["tunnel"]),
        ("fd00:198:18:2::2", ["host"]), ("fd00:198:19::2", ["tunnel"])]


def test_clean_audit():
    data = {"hosts": {"a": {"facts": host_facts([iface("eth0", 1500, ["192.0.2.1"])]), "targets": [], "probes": []}}}
    doc = report.build(data)
    assert doc["summary"]["clean"]
    assert doc["findings"] == []
    assert "**No findings.**" in report.render_markdown(doc)
    assert '<p class="clean">No findings.</p>' in report.render_html(doc)


def test_hosts_not_audited_are_listed():
    data = seed_data()
    data["hosts"]["rtr"] = {"facts": None, "targets": [], "probes": [], "error": "mtu_facts failed: pyroute2 <missing>",
                            "deps": "missing"}
    doc = report.build(data)
    assert doc["summary"]["hosts_failed"] == ["rtr"]
    assert doc["hosts"]["rtr"]["audited"] is False
    assert "## Hosts not audited" in report.render_markdown(doc)
    assert "pyroute2 &lt;missing&gt;" in report.render_html(doc)


# --- JSON ----------------------------------------------------------------------------------------

def test_json_round_trip_sorted_and_stable():
    doc = seed_doc()
    text = report.render_json(doc)
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert text == report.render_json(seed_doc())
    assert text.endswith("\n")
    assert list(json.loads(text)) == TOP_KEYS  # keys are sorted


# --- Markdown ------------------------------------------------------------------------------------

def test_markdown_for_the_terminal():
    md = report.render_markdown(seed_doc())
    assert md.startswith("# Path MTU audit\n")
    assert "22 findings (16 critical, 2 warning, 4 info)" in md
    assert "check mode" in md
    assert "### Critical (16)" in md
    # One cause, one bullet: the 8 black holes behind gw-b's tunnel share the fix.
    assert "- **pmtud\\_black\\_hole**, 8 paths with one cause: tunnel seed-wg0b on gw-b is larger than its underlay carries" in md
    assert "  - by hand: `ip link set dev seed-wg0b mtu 1340`" in md
    assert "| gw-a | seed-wg0a | wireguard | 1420 | ipv4 | gw-b | 1500 | 1400 | 1340 | too\\_large |" in md
    assert "| gw-a | ok 1500 |  | BH 1328 | ok 1500 | unr - |" in md


def test_markdown_escapes_table_cells_and_code():
    data = seed_data()
    data["hosts"]["a|b_*c*"] = data["hosts"].pop("client-a")
    data["hosts"]["gw-a"]["facts"]["interfaces"]["seed-wg0a"]["manager"] = "none"
    md = report.render_markdown(report.build(data))
    assert "a\\|b\\_\\*c\\*" in md
    assert "a|b_*c*" not in re.sub(r"`[^`]*`", "", md)  # only inside code spans, where it is literal
    assert report._code("x `y` z") == "``x `y` z``"  # pylint: disable=protected-access
    assert report._code("`a`") == "`` `a` ``"  # pylint: disable=protected-access


def test_markdown_skips_wide_matrices():
    facts = {f"h{n:02d}": host_facts([iface("eth0", 1500, [f"192.0.2.{n}"])]) for n in range(1, 20)}
    data = {"hosts": {h: {"facts": f, "targets": [], "probes": []} for h, f in facts.items()}}
    assert "19 hosts: see report.html for the matrix." in report.render_markdown(report.build(data))


# --- HTML ----------------------------------------------------------------------------------------

def test_html_is_self_contained_and_well_formed():
    page = report.render_html(seed_doc())
    tags = parse(page)
    assert tags.errors == []
    assert tags.stack == []  # html, body, every section and table closed
    assert page.startswith("<!DOCTYPE html>")
    names = [tag for tag, dummy in tags.starts]
    assert "script" not in names and "link" not in names and "img" not in names and "iframe" not in names
    for dummy, attrs in tags.starts:
        for value in attrs.values():
            assert "http:" not in (value or "") and "https:" not in (value or "")
    csp = [a for t, a in tags.starts if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [{"http-equiv": "Content-Security-Policy", "content": "default-src 'none'; style-src 'unsafe-inline'"}]
    assert names.count("article") == len(SEED_FINDINGS)
    assert ("table", {"class": "matrix"}) in tags.starts
    assert ("table", {"class": "tunnels"}) in tags.starts


def test_html_matrix_colours_cells_by_status():
    tags = parse(report.render_html(seed_doc()))
    classes = [a.get("class") for t, a in tags.starts if t == "td"]
    assert classes.count("s-black_hole") >= 5
    assert "s-ptb" in classes and "s-ok" in classes and "s-unreachable" in classes
    chips = [a.get("class") for t, a in tags.starts if t == "span" and (a.get("class") or "").startswith("chip")]
    assert len(chips) == 45  # one per path with a known peer


HOSTILE = '<script>alert("x")</script>&"\''


def test_html_escapes_everything():
    data = seed_data()
    data["hosts"][HOSTILE] = data["hosts"].pop("client-a")
    data["hosts"][HOSTILE]["error"] = HOSTILE
    data["inventory"][HOSTILE] = data["inventory"].pop("client-a")
    page = report.render_html(report.build(data, generated_at=HOSTILE, options={"x": HOSTILE}))
    tags = parse(page)
    assert tags.errors == []
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in page
    assert any(HOSTILE in text for text in tags.text)  # the parser reads back the original


def test_html_fix_as_a_task():
    page = report.render_html(seed_doc())
    assert "netpath.mtu.link_mtu:\n  mtu: 1340\n  name: &quot;seed-wg0a&quot;" in page
    assert report.task_snippet({"module": None}) is None


# --- render and errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", report.FORMATS)
def test_render_builds_from_data_or_takes_a_document(fmt):
    doc = seed_doc(generated_at=None, check_mode=None)
    assert report.render(seed_data(), fmt) == report.render(doc, fmt)


RENDER_ERRORS = [
    (lambda: report.render(seed_doc(), "pdf"), "report format must be one of json, markdown, html"),
    (lambda: report.render_html({"schema_version": 99}), "schema version 1"),
    (lambda: report.render_markdown({"schema_version": 1, "summary": {}}), "lacks hosts, tunnels, paths, matrix, findings"),
    (lambda: report.build(seed_data(), options=[1]), "report options must be a dict"),
    (lambda: report.build({"hosts": None}), "audit data must be a dict"),
]


@pytest.mark.parametrize("call, message", RENDER_ERRORS)
def test_render_errors(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


# --- the filters ---------------------------------------------------------------------------------

def test_filters_are_registered():
    assert sorted(audit_filters.FilterModule().filters()) == [
        "audit_catalog", "audit_findings", "audit_merge", "audit_report", "deprecated_vars", "probe_plan", "ptb_plan"]


def test_filters_wrap_the_pure_code():
    plan = audit_filters.probe_plan(copy.deepcopy(SEED_FACTS), SEED_INVENTORY, tunnels_only=True, families=["ipv4"])
    assert [e["target"] for e in plan["gw-a"]] == ["198.18.2.2", "198.19.0.2"]
    assert sorted(f["id"] for f in audit_filters.audit_findings(seed_data())) == sorted(SEED_FINDINGS)
    doc = audit_filters.audit_report(seed_data(), "data", generated_at="t", check_mode=False, options={"a": 1})
    assert doc["options"] == {"a": 1} and doc["check_mode"] is False
    assert audit_filters.audit_report(doc, "data") is doc
    assert json.loads(audit_filters.audit_report(doc))["generated_at"] == "t"
    assert audit_filters.audit_report(doc, "markdown").startswith("# Path MTU audit")


def test_audit_catalog_filter_returns_the_table_or_a_part():
    assert audit_filters.audit_catalog() == catalog.as_data()
    assert audit_filters.audit_catalog("remediate_types") == list(catalog.REMEDIATE_TYPES)
    assert audit_filters.audit_catalog("fix_kinds")["mss_clamp"]["tasks"] == "mss_clamp.yml"


def test_deprecated_vars_warns_once_per_old_name_in_use(monkeypatch):
    shown = []
    monkeypatch.setattr(audit_filters.Display, "deprecated", lambda self, msg, **kw: shown.append((msg, kw)))
    renamed = {"netpath_mtu_report_dir": "netpath_mtu_audit_report_dir", "netpath_mtu_fail_severity": "netpath_mtu_audit_fail_severity"}
    messages = audit_filters.deprecated_vars(renamed, ["netpath_mtu_report_dir", "netpath_mtu_other"])
    assert len(messages) == 1 and messages[0].startswith("The variable netpath_mtu_report_dir is deprecated, use netpath_mtu_audit_report_dir")
    assert shown == [(messages[0].rsplit(";", 1)[0], {"version": "0.2.0", "collection_name": "netpath.mtu"})]
    assert audit_filters.deprecated_vars(renamed, []) == []


FILTER_ERRORS = [
    (lambda: audit_filters.probe_plan("x"), "probe_plan: facts must be a dict"),
    (lambda: audit_filters.probe_plan(SEED_FACTS, tunnels_only="yes"), "tunnels_only must be true or false"),
    (lambda: audit_filters.probe_plan(SEED_FACTS, families="ipv4"), "families must be a list"),
    (lambda: audit_filters.ptb_plan([]), "ptb_plan: hosts must be a dict"),
    (lambda: audit_filters.ptb_plan({}, families="ipv4"), "ptb_plan: families must be a list"),
    (lambda: audit_filters.audit_findings({"hosts": 1}), "audit_findings: audit data must be a dict"),
    (lambda: audit_filters.audit_report(seed_data(), "pdf"), "format must be one of data, audit_data, json, markdown, html"),
    (lambda: audit_filters.audit_report({"schema_version": 7}, "data"), "schema version 1"),
    (lambda: audit_filters.audit_catalog("kinds"), "audit_catalog: part must be one of all, severities"),
    (lambda: audit_filters.deprecated_vars(["a"], []), "deprecated_vars: expects a dict"),
    (lambda: audit_filters.deprecated_vars({}, "a"), "deprecated_vars: expects a dict"),
]


@pytest.mark.parametrize("call, message", FILTER_ERRORS)
def test_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError) as err:
        call()
    assert message in str(err.value)


def test_hosts_list_their_checks_and_ptb_results():
    data = seed_data()
    data["hosts"]["client-a"]["ptb_check"] = [
        {"name": "gw-a", "peer": "198.18.0.2", "family": "ipv4", "status": "accepted",
         "reason": "EMSGSIZE with the announced MTU", "changed": False}]
    data["hosts"]["client-a"]["icmp_policy"] = {"results": []}
    doc = report.build(data)
    assert doc["hosts"]["client-a"]["checks"] == ["icmp_policy", "ptb_check"]
    assert doc["hosts"]["client-a"]["ptb_checks"] == [{"peer": "gw-a", "address": "198.18.0.2", "family": "ipv4",
                                                       "status": "accepted", "reason": "EMSGSIZE with the announced MTU"}]
    assert doc["hosts"]["gw-a"]["checks"] == [] and doc["hosts"]["gw-a"]["ptb_checks"] == []


# --- HTML past 20 hosts: a matrix of sites with drill-down -----------------------------------------

def _large_doc() -> dict:
    from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_merge import synthetic_fleet
    return report.build(synthetic_fleet(24, 5))


def test_small_fleets_keep_the_host_matrix():
    page = report.render_html(seed_doc())
    tags = parse(page)
    assert [a for t, a in tags.starts if t == "table" and "matrix" in (a.get("class") or "")] == [{"class": "matrix"}]
    assert not [a for t, a in tags.starts if t == "details" and a.get("class") == "pair"]
    # Exactly the host matrix of before: a row per audited host, a column per host.
    assert page.count('<th class="row">') == 5


def test_large_fleets_get_a_matrix_of_sites_linking_to_host_matrices_worst_first():
    doc = _large_doc()
    assert len(doc["matrix"]["columns"]) > report.HTML_FLAT_MATRIX_HOSTS
    page = report.render_html(doc)
    tags = parse(page)
    assert tags.errors == [] and tags.stack == []
    assert ("table", {"class": "matrix sites"}) in tags.starts
    pairs = report.site_pairs(doc["matrix"])
    details = [a["id"] for t, a in tags.starts if t == "details" and a.get("class") == "pair"]
    links = [a["href"] for t, a in tags.starts if t == "a" and a.get("href", "").startswith("#pair-")]
    assert len(details) == len(pairs) == len(links) and sorted(details) == sorted(h[1:] for h in links)
    # The site pairs come worst first: their summaries' statuses in CELL_ORDER.
    summaries = [a["class"][2:] for t, a in tags.starts if t == "summary" and (a.get("class") or "").startswith("s-")]
    assert summaries == sorted(summaries, key=report.CELL_ORDER.index)
    assert summaries[0] == "black_hole"
    # Every host pair's cell is in exactly one site pair's matrix: one chip per path with a known peer.
    chips = sum(1 for t, a in tags.starts if t == "span" and (a.get("class") or "").startswith("chip"))
    assert chips == sum(1 for p in doc["paths"] if p["peer"])
    assert sum(pair["paths"] for pair in pairs.values()) == chips
    # Within a site pair, the hosts with the worst cells lead.
    first = page.index('<details id="pair-0"')
    block = page[first:page.index("</details>", first)]
    assert re.search(r'<tbody><tr><th class="row">[^<]+</th>', block)


def test_sites_in_the_matrix_come_from_the_data():
    doc = _large_doc()
    assert doc["matrix"]["sites"]["n07"] == "s1" and doc["hosts"]["n07"]["site"] == "s1"
    pairs = report.site_pairs(doc["matrix"])
    assert ("s0", "s1") in pairs and all(key[0] != report.NO_SITE for key in pairs)
    # Without sites, every host is in one site: the drill-down is the whole host matrix.
    doc["matrix"]["sites"] = {}
    assert list(report.site_pairs(doc["matrix"])) == [(report.NO_SITE, report.NO_SITE)]
    assert parse(report.render_html(doc)).errors == []


def test_large_fleets_list_the_paths_not_clean_first_and_fold_the_clean_ones():
    doc = _large_doc()
    page = report.render_html(doc)
    section = page[page.index('<section id="paths">'):]
    clean = sum(1 for p in doc["paths"] if report._status(p) in ("ok", "ptb"))  # pylint: disable=protected-access
    assert f"<summary>{clean} clean paths (ok, or reduced with working PMTUD)</summary>" in section
    folded = section.index("<details>")
    statuses = re.findall(r'<td class="s-([a-z_]+)">', section[:folded])
    assert statuses and "s-ok" not in statuses and statuses == sorted(statuses, key=report.CELL_ORDER.index)
