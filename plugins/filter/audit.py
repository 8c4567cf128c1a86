# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters probe_plan, ptb_plan, audit_findings, audit_report, audit_merge and audit_catalog: thin wrappers over
module_utils/audit/probe_plan.py, findings.py, report.py, merge.py and catalog.py; deprecated_vars warns about the
roles' old variable names (docs in the .yml files). They run on the controller."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.netpath.mtu.plugins.module_utils.audit import catalog, findings, merge
from ansible_collections.netpath.mtu.plugins.module_utils.audit import probe_plan as plan_mod
from ansible_collections.netpath.mtu.plugins.module_utils.audit import ptb_plan as ptb_plan_mod
from ansible_collections.netpath.mtu.plugins.module_utils.audit import report


def probe_plan(facts: Any, inventory: Any = None, sources: Any = None, host_paths: Any = None,
               tunnels_only: Any = False, families: Any = None, extra_targets: Any = None, ports: Any = None) -> dict:
    try:
        if not isinstance(tunnels_only, bool):
            raise ValueError(f"tunnels_only must be true or false, got {tunnels_only!r}")
        for name, value in (("sources", sources), ("host_paths", host_paths), ("families", families)):
            if value is not None and (isinstance(value, (str, dict)) or not hasattr(value, "__iter__")):
                raise ValueError(f"{name} must be a list, got {value!r}")
        return plan_mod.plan(facts, inventory, sources=sources, host_paths=host_paths, tunnels_only=tunnels_only,
                             families=plan_mod.FAMILIES if families is None else list(families),
                             extra_targets=extra_targets, ports=ports)
    except ValueError as exc:
        raise AnsibleFilterError(f"probe_plan: {exc}") from exc


def ptb_plan(hosts: Any, families: Any = None) -> dict:
    try:
        if families is not None and (isinstance(families, (str, dict)) or not hasattr(families, "__iter__")):
            raise ValueError(f"families must be a list, got {families!r}")
        return ptb_plan_mod.ptb_plan(hosts, plan_mod.FAMILIES if families is None else list(families))
    except ValueError as exc:
        raise AnsibleFilterError(f"ptb_plan: {exc}") from exc


def audit_findings(data: Any) -> list:
    try:
        return findings.findings(data)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_findings: {exc}") from exc


def audit_report(data: Any, format: str = "json", generated_at: Any = None, check_mode: Any = None,  # pylint: disable=redefined-builtin
                 options: Any = None) -> Any:
    try:
        if format not in ("data", "audit_data") + report.FORMATS:
            raise ValueError(f"format must be one of data, audit_data, {', '.join(report.FORMATS)}; got {format!r}")
        if format == "audit_data":
            if isinstance(data, dict) and data.get("generator") == merge.DATA_GENERATOR:
                return report.render_compact_json(data)
            return report.render_compact_json(merge.data_document(data, generated_at=generated_at, check_mode=check_mode,
                                                                  options=options))
        if format == "data":
            if isinstance(data, dict) and "schema_version" in data:
                return report.check_document(data)
            return report.build(data, generated_at=generated_at, check_mode=check_mode, options=options)
        meta = {"generated_at": generated_at, "check_mode": check_mode, "options": options}
        return report.render(data, format, **meta)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_report: {exc}") from exc


def audit_merge(slices: Any, generated_at: Any = None) -> dict:
    try:
        return merge.merged_report(slices, generated_at=generated_at)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_merge: {exc}") from exc


def audit_catalog(part: Any = "all") -> Any:
    """The finding types and fix kinds table (catalog.py), whole or one part of it."""
    data = catalog.as_data()
    if part == "all":
        return data
    if part not in data:
        raise AnsibleFilterError(f"audit_catalog: part must be one of all, {', '.join(data)}; got {part!r}")
    return data[part]


# The release that drops the old variable names the roles still read (a literal in the call: sanity checks it).
DEPRECATED_VARS_REMOVED_IN = "0.2.0"


def deprecated_vars(renamed: Any, used: Any) -> list:
    """A deprecation warning for each old variable name of ``renamed`` (old -> new) that ``used`` lists;
    returns the messages (the role prints them too)."""
    if not isinstance(renamed, dict) or isinstance(used, (str, dict)) or not hasattr(used, "__iter__"):
        raise AnsibleFilterError("deprecated_vars: expects a dict of old -> new names and a list of the old names in use")
    messages = []
    for old in sorted(set(map(str, used)) & set(renamed)):
        message = (f"The variable {old} is deprecated, use {renamed[old]} (the value of {old} is used while "
                   f"{renamed[old]} is not set)")
        Display().deprecated(message, version="0.2.0", collection_name="netpath.mtu")
        messages.append(f"{message}; {old} is removed in {DEPRECATED_VARS_REMOVED_IN}")
    return messages


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_plan": probe_plan, "ptb_plan": ptb_plan, "audit_findings": audit_findings,
                "audit_report": audit_report, "audit_merge": audit_merge, "audit_catalog": audit_catalog,
                "deprecated_vars": deprecated_vars}
