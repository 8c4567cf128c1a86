# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One fleet report from the reports of AWX job slices. Pure: no system access.

Each slice writes, beside its ``report.json``, the raw audit data the report was built from
(``audit_data.json``, ``data_document``): every host's facts, plan, probe results and checks, and the
inventory's addresses. A finding may rest on several hosts' evidence (a black hole is blamed on the
router whose firewall drops the ICMP; a tunnel's peer is named from the other end's facts), and a
slice only sees its own hosts, so findings are not merged: the slices' data are, and the report is
built again from the union. Built that way, the merged report is the report of one unsliced run over
the same data.

What the union cannot restore is what a slice never measured:

- an in-tunnel target a slice could only find in the peer host's facts (a VXLAN or GRE peer's inner
  address, when the peer was in another slice) was not probed; the merge plans the tunnels again with
  every host's facts and lists such targets as planned but not probed, with a note;
- the PTB check pairs each host with a peer of its own slice, so its verdicts are the slice's.

``merge(slices)`` checks that the slices are of one run family (same data schema, same audit options,
same check mode) and raises ``ValueError`` with a message that says which slice differs otherwise.
A host found in several slices is kept once, by a fixed rule, and listed in ``merge.duplicates``.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.audit import probe_plan
from ansible_collections.netpath.mtu.plugins.module_utils.audit import report as report_mod

DATA_GENERATOR = "netpath.mtu audit data"
DATA_KEYS = ("hosts", "inventory", "sites", "groups")


def data_document(data: Any, *, generated_at: Any = None, check_mode: Any = None, options: Any = None) -> dict:
    """What ``audit_data.json`` holds: the audit data as the role collected it, with the run's settings."""
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise ValueError("audit data must be a dict with 'hosts' (host name -> facts, targets, probes, error)")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"audit data options must be a dict, got {type(options).__name__}")
    doc = {
        "schema_version": report_mod.SCHEMA_VERSION,
        "generator": DATA_GENERATOR,
        "generated_at": None if generated_at is None else str(generated_at),
        "check_mode": None if check_mode is None else bool(check_mode),
        "options": dict(options or {}),
    }
    doc.update({key: data.get(key) or {} for key in DATA_KEYS})
    return doc


def _check_slice(index: int, item: Any) -> dict:
    if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
        raise ValueError(f"slice {index + 1}: expected a dict with 'data' (an audit_data.json document) and 'path'")
    path = str(item.get("path") or f"slice {index + 1}")
    doc = item["data"]
    if doc.get("generator") != DATA_GENERATOR:
        raise ValueError(f"{path}: not a netpath.mtu audit_data.json (generator {doc.get('generator')!r}, "
                         f"expected {DATA_GENERATOR!r})")
    if doc.get("schema_version") != report_mod.SCHEMA_VERSION:
        raise ValueError(f"{path}: report schema version {doc.get('schema_version')!r}, this collection merges version "
                         f"{report_mod.SCHEMA_VERSION} only: audit every slice with the same netpath.mtu version")
    if not isinstance(doc.get("hosts"), dict):
        raise ValueError(f"{path}: audit data without 'hosts'")
    for key in ("inventory", "sites", "groups"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise ValueError(f"{path}: '{key}' must be a dict of host name -> value")
    return {"path": path, "doc": doc}


def _same(slices: list[dict], key: str, what: str) -> Any:
    first = slices[0]
    for other in slices[1:]:
        if other["doc"].get(key) != first["doc"].get(key):
            detail = ""
            if key == "options":
                a, b = first["doc"].get(key) or {}, other["doc"].get(key) or {}
                detail = " (" + ", ".join(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))) + " differ)"
            raise ValueError(f"{other['path']} and {first['path']} are not slices of one audit: their {what}"
                             f"{detail}; merge only the slices of one run")
    return first["doc"].get(key)


def _rank(host: dict, item: dict) -> tuple:
    """Which copy of a host found in several slices is kept: audited, most probes, newest, last path."""
    audited = host.get("facts") is not None and not host.get("error")
    return (audited, host.get("facts") is not None, len(host.get("probes") or []),
            item["doc"].get("generated_at") or "", item["path"])


def _union_lists(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        for entry in [value] if isinstance(value, str) else (value or []):
            if str(entry) not in out:
                out.append(str(entry))
    return out


def _unplanned_tunnel_targets(hosts: dict[str, dict], inventory: dict, families: Any) -> dict[str, list[dict]]:
    """Per host, the underlay and in-tunnel targets the union of facts plans that its slice did not."""
    facts = {name: host.get("facts") for name, host in hosts.items() if isinstance(host.get("facts"), dict)}
    fams = [f for f in (families or probe_plan.FAMILIES) if f in probe_plan.FAMILIES] or list(probe_plan.FAMILIES)
    try:
        planned = probe_plan.plan(facts, inventory, tunnels_only=True, families=fams)
    except ValueError:
        return {}
    missing: dict[str, list[dict]] = {}
    for name, entries in planned.items():
        host = hosts[name]
        if host.get("error") or not (host.get("targets") or host.get("probes")):
            continue  # a host that probed nothing missed nothing for lack of its peers' facts
        have = {str(t.get("target")) for t in host.get("targets") or []}
        lost = [e for e in entries if e["target"] not in have]
        if lost:
            missing[name] = lost
    return missing


def merge(slices: Any) -> dict:
    """The merged audit data and what the merge did, from the slices' ``audit_data.json`` documents.

    ``slices``: a list of ``{"path": <where it was read>, "data": <audit_data.json document>}``.
    Returns ``{"data": <audit data for report.build>, "options", "check_mode", "generated_at" (the
    newest slice's), "merge": {"slices", "duplicates", "unplanned", "notes"}}``.
    """
    if not isinstance(slices, list) or not slices:
        raise ValueError("merge needs a non-empty list of slices (audit_data.json documents)")
    checked = [_check_slice(i, item) for i, item in enumerate(slices)]
    paths = [c["path"] for c in checked]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ValueError(f"the same report is given twice: {', '.join(repeated)}")
    # Slices in a fixed order, whatever order they were given in: the result depends on their content only.
    checked.sort(key=lambda c: (c["doc"].get("generated_at") or "", c["path"]))
    options = _same(checked, "options", "audit options differ")
    check_mode = _same(checked, "check_mode", "check modes differ")

    hosts: dict[str, dict] = {}
    origin: dict[str, dict] = {}
    copies: dict[str, list[str]] = {}
    inventory: dict[str, list] = {}
    sites: dict[str, Any] = {}
    groups: dict[str, list] = {}
    for item in checked:
        doc = item["doc"]
        for name, host in sorted(doc["hosts"].items()):
            copies.setdefault(name, []).append(item["path"])
            if name not in hosts or _rank(host, item) > _rank(hosts[name], origin[name]):
                hosts[name], origin[name] = host, item
        for name, addresses in sorted((doc.get("inventory") or {}).items()):
            inventory[name] = _union_lists([inventory.get(name), addresses])
        for name, value in sorted((doc.get("groups") or {}).items()):
            groups[name] = _union_lists([groups.get(name), value])
        for name, value in sorted((doc.get("sites") or {}).items()):
            if value and not sites.get(name):
                sites[name] = value
    duplicates = [{"host": name, "slices": found, "kept": origin[name]["path"]}
                  for name, found in sorted(copies.items()) if len(found) > 1]

    notes = [f"{d['host']} is in {len(d['slices'])} slices ({', '.join(d['slices'])}): the copy of {d['kept']} is "
             "kept (audited before not audited, then the most probes, then the newest)" for d in duplicates]
    unplanned = _unplanned_tunnel_targets(hosts, inventory, (options or {}).get("families"))
    merged_hosts = {}
    for name, host in hosts.items():
        lost = unplanned.get(name)
        if lost:
            host = dict(host, targets=list(host.get("targets") or []) + lost)
            notes.append(f"{name}: {', '.join(e['target'] for e in lost)} planned only with the facts of hosts in other "
                         "slices (a tunnel peer's inner address); not probed - keep both ends of such tunnels in one slice")
        merged_hosts[name] = host
    return {
        "data": {"hosts": merged_hosts, "inventory": inventory, "sites": sites, "groups": groups},
        "options": options,
        "check_mode": check_mode,
        "generated_at": max((c["doc"].get("generated_at") or "" for c in checked), default="") or None,
        "merge": {
            "slices": [{"path": c["path"], "generated_at": c["doc"].get("generated_at"),
                        "hosts": sorted(c["doc"]["hosts"])} for c in checked],
            "duplicates": duplicates,
            "unplanned": {name: [e["target"] for e in lost] for name, lost in sorted(unplanned.items())},
            "notes": notes,
        },
    }


def merged_report(slices: Any, *, generated_at: Any = None) -> dict:
    """``{"report": <report document, with a "merge" key>, "data": <audit_data.json document of the union>}``."""
    merged = merge(slices)
    doc = report_mod.build(merged["data"], generated_at=generated_at, check_mode=merged["check_mode"],
                           options=merged["options"])
    doc["merge"] = merged["merge"]
    data = data_document(merged["data"], generated_at=generated_at, check_mode=merged["check_mode"],
                         options=merged["options"])
    return {"report": doc, "data": data}
