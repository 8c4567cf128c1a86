# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The catalog is the one table of finding types and fix kinds: the code reads it, and the literal
copies YAML and the docs need are checked against it here."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from ansible_collections.netpath.mtu.plugins.module_utils.audit import catalog, findings, remediation, report

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..")


def _read(*path: str) -> str:
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return handle.read()


def _yaml(*path: str):
    return yaml.safe_load(_read(*path))


# --- the table itself ---------------------------------------------------------------------------

def test_every_type_has_a_known_severity_and_fix_kinds():
    for name, ftype in catalog.FINDING_TYPES.items():
        assert ftype.severity in catalog.SEVERITIES, name
        assert set(ftype.fixes) <= set(catalog.FIX_KINDS), name
        assert ftype.doc and ftype.subject, name
        # Only a type whose fix can be a module the remediate role runs is fixed by default.
        assert not ftype.remediate or ftype.fixes, name


def test_every_fix_kind_is_named_by_some_type():
    named = {kind for t in catalog.FINDING_TYPES.values() for kind in t.fixes}
    assert named == set(catalog.FIX_KINDS)


def test_modules_are_unique_so_a_fix_names_one_kind():
    assert len(set(catalog.MODULES.values())) == len(catalog.MODULES)
    assert catalog.STEP_OF == {f.module: kind for kind, f in catalog.FIX_KINDS.items()}


def test_as_data_is_the_table():
    data = catalog.as_data()
    assert data["types"] == list(catalog.FINDING_TYPES)
    assert data["steps"] == ["link_mtu", "icmp_policy", "mss_clamp", "sysctl"]
    assert data["remediate_types"] == ["tunnel_mtu_too_large", "pmtud_black_hole", "icmp_blocked", "mss_clamp_missing",
                                       "pmtud_disabled", "tcp_mtu_probing_off"]
    assert data["finding_types"]["icmp_blocked"]["fixes"] == ["icmp_policy"]
    assert data["fix_kinds"]["sysctl"]["module"] == "ansible.posix.sysctl"


# --- the code reads it --------------------------------------------------------------------------

def test_findings_remediation_and_report_read_the_catalog():
    assert findings.TYPES is catalog.SEVERITY
    assert findings.SEVERITIES is catalog.SEVERITIES
    assert remediation.TYPES is catalog.SEVERITY
    assert remediation.STEPS is catalog.STEPS and remediation.STEP_OF is catalog.STEP_OF
    assert report.SEVERITIES is catalog.SEVERITIES


def test_fix_builders_name_the_catalog_modules():
    tunnel = {"name": "wg0", "manager": None}
    assert findings.link_mtu_fix("gw", tunnel, 1420)["module"] == catalog.module("link_mtu")
    assert findings.sysctl_fix("gw", "net.ipv4.tcp_mtu_probing", 1)["module"] == catalog.module("sysctl")
    audit = findings.Audit({"hosts": {}})
    assert findings.mss_clamp_fix(audit, "gw")["module"] == catalog.module("mss_clamp")
    assert findings.icmp_fix(audit, "gw")["module"] == catalog.module("icmp_policy")


def test_a_plan_routes_each_fix_kind_to_its_step():
    fixes = {"link_mtu": findings.link_mtu_fix("gw", {"name": "wg0"}, 1420),
             "sysctl": findings.sysctl_fix("gw", "net.ipv4.tcp_mtu_probing", 1),
             "mss_clamp": findings.mss_clamp_fix(findings.Audit({"hosts": {}}), "gw"),
             "icmp_policy": findings.icmp_fix(findings.Audit({"hosts": {}}), "gw")}
    types = {kind: next(n for n, t in catalog.FINDING_TYPES.items() if kind in t.fixes) for kind in fixes}
    found = [{"id": f"{types[kind]}/gw/x{i}", "type": types[kind], "fix": fix} for i, (kind, fix) in enumerate(fixes.items())]
    plan = remediation.host_plan(found, "gw")
    assert all(plan[kind] for kind in catalog.FIX_KINDS)
    assert plan["advice"] == []


# --- the literal copies YAML and the docs need ----------------------------------------------------

def test_remediate_role_has_a_task_file_and_switch_per_fix_kind_in_order():
    apply = _read("roles", "remediate", "tasks", "apply.yml")
    imported = re.findall(r"import_tasks: (\w+\.yml)", apply)
    assert [t for t in imported if t != "plan.yml"] == [f.tasks for f in catalog.FIX_KINDS.values()]
    defaults = _yaml("roles", "remediate", "defaults", "main.yml")
    options = _yaml("roles", "remediate", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for kind, fix in catalog.FIX_KINDS.items():
        assert os.path.isfile(os.path.join(ROOT, "roles", "remediate", "tasks", fix.tasks)), kind
        assert isinstance(defaults[fix.switch], bool), kind
        assert options[fix.switch]["type"] == "bool", kind


def test_remediate_types_come_from_the_catalog():
    defaults = _yaml("roles", "remediate", "defaults", "main.yml")
    assert "netpath.mtu.audit_catalog" in defaults["netpath_mtu_remediate_types"]
    assert "'remediate_types'" in defaults["netpath_mtu_remediate_types"]
    spec = _yaml("roles", "remediate", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    option = spec["netpath_mtu_remediate_types"]
    # Literal copies, where any, must be the table's.
    assert option.get("choices", list(catalog.FINDING_TYPES)) == list(catalog.FINDING_TYPES)
    assert option.get("default", list(catalog.REMEDIATE_TYPES)) == list(catalog.REMEDIATE_TYPES)


def test_audit_fail_severity_choices_are_the_catalog_severities():
    spec = _yaml("roles", "audit", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["netpath_mtu_audit_fail_severity"]["choices"] == list(catalog.SEVERITIES)


def _docs_table() -> list[list[str]]:
    text = _read("docs", "audit.md")
    section = text.split("\n## Findings\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def test_docs_table_lists_every_type_with_its_severity_subject_and_fix():
    expected = [[name, t.severity, t.subject, ", ".join(catalog.module(k) for k in t.fixes) or "by hand"]
                for name, t in catalog.FINDING_TYPES.items()]
    got = [[row[0], row[1].split(",")[0].strip(), row[2], row[3].replace("`", "")] for row in _docs_table()]
    assert got == expected, "docs/audit.md, section Findings: one row per catalog type, in its order: " + \
        "; ".join(f"| `{n}` | {s} | `{sub}` | {fix} |" for n, s, sub, fix in expected)


@pytest.mark.parametrize("path", [("roles", "audit", "README.md"), ("docs", "awx.md"),
                                  ("plugins", "filter", "audit_findings.yml")])
def test_other_docs_do_not_repeat_the_list(path):
    """Only docs/audit.md lists every type (checked above); a second full list would drift."""
    text = _read(*path)
    named = [name for name in catalog.FINDING_TYPES if f"`{name}`" in text or f"V({name})" in text]
    assert len(named) < len(catalog.FINDING_TYPES), f"{'/'.join(path)} lists every finding type; point at docs/audit.md"
