# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters remediation_plan, remediation_step, remediation_host and remediation_report: thin
wrappers over module_utils/audit/remediation.py (docs in the .yml files). They run on the controller."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.module_utils.audit import remediation

ERRORS = (ValueError, KeyError, TypeError)


def remediation_plan(findings: Any, host: Any, types: Any = None, steps: Any = None) -> dict:
    try:
        return remediation.host_plan(findings, str(host), remediation.TYPES if types is None else types,
                                     remediation.STEPS if steps is None else steps)
    except ERRORS as exc:
        raise AnsibleFilterError(f"remediation_plan: {exc}") from exc


def remediation_step(result: Any, step: Any, fix: Any = None) -> dict:
    try:
        return remediation.step_record(str(step), result, fix)
    except ERRORS as exc:
        raise AnsibleFilterError(f"remediation_step: {exc}") from exc


def remediation_host(steps: Any, advice: Any = None, transfers: Any = None, failed_result: Any = None,
                     failed_task: Any = None, allow_control_interface: Any = False) -> dict:
    try:
        error = None
        if failed_result is not None:
            error = remediation.failure(failed_task, failed_result, bool(allow_control_interface))
        return remediation.host_record(steps, error=error, advice=advice, transfers=transfers)
    except ERRORS as exc:
        raise AnsibleFilterError(f"remediation_host: {exc}") from exc


def remediation_report(data: Any, format: str = "data", **options: Any) -> Any:  # pylint: disable=redefined-builtin
    try:
        if format not in remediation.FORMATS:
            raise ValueError(f"format must be one of {', '.join(remediation.FORMATS)}; got {format!r}")
        if format == "data":
            if not isinstance(data, dict):
                raise ValueError(f"the input must be a dict with before, after and hosts, got {type(data).__name__}")
            return remediation.build_report(data.get("before"), data.get("after"), data.get("hosts"), **options)
        return remediation.render(data, format)
    except ERRORS as exc:
        raise AnsibleFilterError(f"remediation_report: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"remediation_plan": remediation_plan, "remediation_step": remediation_step,
                "remediation_host": remediation_host, "remediation_report": remediation_report}
