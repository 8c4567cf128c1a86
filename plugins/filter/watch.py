# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters audit_metrics, audit_drift and audit_watch_targets: thin wrappers over module_utils/audit/metrics.py and drift.py
(docs in the .yml files)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.module_utils.audit import drift
from ansible_collections.netpath.mtu.plugins.module_utils.audit import metrics

DRIFT_FORMATS = ("data", "markdown")


def audit_metrics(report: Any, duration_seconds: Any = None, host: Any = None) -> str:
    try:
        return metrics.render(report, duration_seconds, host)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_metrics: {exc}") from exc


def audit_drift(report: Any, previous: Any, format: str = "data") -> Any:  # pylint: disable=redefined-builtin
    try:
        if format not in DRIFT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(DRIFT_FORMATS)}; got {format!r}")
        result = drift.compare(report, previous)
        return result if format == "data" else drift.render_markdown(result)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_drift: {exc}") from exc


def audit_watch_targets(previous: Any) -> dict:
    try:
        return drift.watch_targets(previous)
    except ValueError as exc:
        raise AnsibleFilterError(f"audit_watch_targets: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"audit_metrics": audit_metrics, "audit_drift": audit_drift, "audit_watch_targets": audit_watch_targets}
