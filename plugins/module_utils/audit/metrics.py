# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An audit report as Prometheus metrics (text exposition format 0.0.4). Pure.

Written to a node_exporter textfile collector file (``*.prom``) or pushed to a Pushgateway, so the day
a path MTU drops or a black hole comes back is a graph and an alert, not a ticket. Conventions: the
``netpath_mtu_`` prefix, base units (``_bytes``, ``_seconds``), 0/1 gauges for states (``status`` as a
state set: one series per status, 1 for the current one), ``_info`` for labels only. Every series of a
family is written together, sorted, so two renderings of one report are the same text.
"""

from __future__ import annotations

import calendar
import time
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.audit.catalog import SEVERITIES, SEVERITY as TYPES
from ansible_collections.netpath.mtu.plugins.module_utils.audit.findings import STATUSES

PREFIX = "netpath_mtu_"
PATH_LABELS = ("source", "target", "family", "peer")
TUNNEL_LABELS = ("host", "tunnel", "kind")


def escape_label(value: Any) -> str:
    """A label value as the exposition format quotes it: backslash, double quote and newline escaped."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    """Metric families in the order they are declared, each with its samples."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._families[PREFIX + name] = (kind, help_text, [])

    def add(self, name: str, value: float | int | bool | None, **labels: Any) -> None:
        """One sample; a value of None (not measured) is left out rather than written as a number."""
        if value is None:
            return
        rendered = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels.items())
        self._families[PREFIX + name][2].append((f"{{{rendered}}}" if rendered else "", _number(float(value))))

    def render(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self._families.items():
            lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{labels} {value}" for labels, value in sorted(samples)]
        return "\n".join(lines) + "\n"


def _timestamp(generated_at: Any) -> float | None:
    if not isinstance(generated_at, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(generated_at, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _path_labels(path: dict) -> dict:
    return {key: path.get(key) or "" for key in PATH_LABELS}


def _tunnel_labels(tunnel: dict) -> dict:
    return {"host": tunnel.get("host"), "tunnel": tunnel.get("name"), "kind": tunnel.get("kind") or ""}


def _declare(out: Exposition) -> None:
    families = [
        ("audit_timestamp_seconds", "gauge", "When the audit report was generated (Unix time)."),
        ("audit_duration_seconds", "gauge", "How long the audit took, from its first task to the report."),
        ("audit_hosts", "gauge", "Hosts of the audit by state (audited: facts gathered; failed: unreachable or no facts)."),
        ("audit_findings", "gauge", "Findings of the audit by severity."),
        ("host_findings", "gauge", "Findings addressed to a host (the host whose change fixes them), by type."),
        ("path_mtu_bytes", "gauge", "Measured path MTU in bytes (largest IP packet that crosses the path unfragmented)."),
        ("path_interface_mtu_bytes", "gauge", "MTU in bytes of the interface the path leaves by."),
        ("path_status", "gauge", "Path status as a state set: 1 for the current status, 0 for the others."),
        ("path_black_hole", "gauge", "1 when packets above the path MTU vanish without an ICMP error (PMTUD black hole)."),
        ("tunnel_mtu_bytes", "gauge", "Tunnel interface MTU in bytes."),
        ("tunnel_max_mtu_bytes", "gauge", "Largest tunnel MTU in bytes that its underlay carries (measured or from facts)."),
        ("tunnel_too_large", "gauge", "1 when the tunnel MTU is above what its underlay carries."),
    ]
    for name, kind, help_text in families:
        out.family(name, kind, help_text)


def _hosts(out: Exposition, doc: dict) -> None:
    summary = doc.get("summary") or {}
    out.add("audit_hosts", summary.get("hosts_audited"), state="audited")
    out.add("audit_hosts", len(summary.get("hosts_failed") or []), state="failed")
    for severity in SEVERITIES:
        out.add("audit_findings", (summary.get("findings_by_severity") or {}).get(severity, 0), severity=severity)
    _host_findings(out, doc, None)


def _host_findings(out: Exposition, doc: dict, hosts: list[str] | None) -> None:
    """Findings per host they are addressed to; ``hosts`` None: every host of the report or of a fix."""
    counts: dict[tuple[str, str], int] = {}
    for finding in doc.get("findings") or []:
        key = (str((finding.get("fix") or {}).get("host") or finding.get("host")), str(finding.get("type")))
        counts[key] = counts.get(key, 0) + 1
    entries = doc.get("hosts") or {}
    for host in sorted(set(entries) | {h for h, dummy in counts}) if hosts is None else hosts:
        # Every audited host gets every type, 0 included: a series that disappears is not a series at 0.
        kinds = TYPES if (entries.get(host) or {}).get("audited") else []
        for kind in list(kinds) + sorted(k for (h, k) in counts if h == host and k not in kinds):
            out.add("host_findings", counts.get((host, kind), 0), host=host, type=kind)


def _paths(out: Exposition, paths: Iterable[dict]) -> None:
    for path in paths:
        labels = _path_labels(path)
        out.add("path_mtu_bytes", path.get("path_mtu"), **labels)
        out.add("path_interface_mtu_bytes", path.get("interface_mtu"), **labels)
        for status in STATUSES:
            out.add("path_status", status == path.get("status"), **labels, status=status)
        out.add("path_black_hole", bool(path.get("black_hole")), **labels)


def _tunnels(out: Exposition, tunnels: Iterable[dict]) -> None:
    for tunnel in tunnels:
        labels = _tunnel_labels(tunnel)
        out.add("tunnel_mtu_bytes", tunnel.get("mtu"), **labels)
        out.add("tunnel_max_mtu_bytes", tunnel.get("max_tunnel_mtu"), **labels)
        out.add("tunnel_too_large", tunnel.get("status") == "too_large", **labels)


def render(doc: dict, duration_seconds: Any = None, host: Any = None) -> str:
    """The report document (``report.build``) as exposition text; ``duration_seconds`` when known.

    With ``host``, only what concerns that host (its paths, its tunnels, the findings it fixes): the file
    a node_exporter on that host serves, without the fleet-wide families every host would repeat."""
    if not isinstance(doc, dict) or "summary" not in doc:
        raise ValueError("the input must be an audit report document (netpath.mtu.audit_report('data'), or report.json read back)")
    if duration_seconds is not None and (isinstance(duration_seconds, bool)
                                         or not isinstance(duration_seconds, (int, float)) or duration_seconds < 0):
        raise ValueError(f"duration_seconds must be a number of seconds >= 0, got {duration_seconds!r}")
    if host is not None and (not isinstance(host, str) or host not in (doc.get("hosts") or {})):
        raise ValueError(f"host must be one of the report's hosts, got {host!r}")
    out = Exposition()
    _declare(out)
    out.add("audit_timestamp_seconds", _timestamp(doc.get("generated_at")))
    out.add("audit_duration_seconds", duration_seconds)
    if host is None:
        _hosts(out, doc)
    else:
        _host_findings(out, doc, [host])
    _paths(out, [p for p in doc.get("paths") or [] if host is None or p.get("source") == host])
    _tunnels(out, [t for t in doc.get("tunnels") or [] if host is None or t.get("host") == host])
    return out.render()
