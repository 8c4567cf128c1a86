# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit report: one JSON document (``build``) and its renderings. Pure: no system access.

``build(data)`` turns the audit data (see ``findings``) into the document written as
``report.json``; ``render_json``, ``render_markdown`` and ``render_html`` render a document.
The schema is documented in ``docs/audit.md``; ``SCHEMA_VERSION`` changes whenever a key is
removed or changes meaning (new keys may be added without a change).

The HTML page is one self-contained file: inline CSS, no script, no external resource (a
Content-Security-Policy forbids them), every value escaped.
"""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.audit import findings as findings_mod
from ansible_collections.netpath.mtu.plugins.module_utils.audit import catalog
from ansible_collections.netpath.mtu.plugins.module_utils.audit.catalog import SEVERITIES
from ansible_collections.netpath.mtu.plugins.module_utils.audit.findings import STATUSES

SCHEMA_VERSION = 1
GENERATOR = "netpath.mtu audit"
FORMATS = ("json", "markdown", "html")
WORST_PATHS = 10
MARKDOWN_MATRIX_COLUMNS = 16  # wider matrices only in the HTML report
HTML_FLAT_MATRIX_HOSTS = 20  # more hosts than this: report.html's matrix goes by site, with drill-down
NO_SITE = "(no site)"
JSON_BATCH = 1 << 16  # pieces of report.json joined at a time

STATUS_LABELS = {
    "black_hole": "black hole",
    "mismatch": "wrong ICMP",
    "unreachable": "unreachable",
    "filtered": "filtered",
    "ptb": "reduced, PMTUD works",
    "ok": "ok",
    "not_probed": "not probed",
}
ROLE_LETTERS = {"underlay": "u", "tunnel": "t", "host": "h", "extra": "x"}
# Cell colour: the worst path between two hosts decides.
CELL_ORDER = ("black_hole", "mismatch", "unreachable", "filtered", "ptb", "ok", "not_probed")
CELL_PATH_KEYS = ("id", "target", "family", "roles", "status", "ptb_mismatch", "path_mtu", "interface_mtu")
MARKDOWN_CELL = {"black_hole": "BH", "mismatch": "BAD", "unreachable": "unr", "filtered": "flt", "ptb": "ptb",
                 "ok": "ok", "not_probed": "-"}


# --- the document -----------------------------------------------------------------------------

def _status(path: dict) -> str:
    return "mismatch" if path["status"] == "ptb" and path["ptb_mismatch"] else path["status"]


def _host_entry(name: str, host: dict, audit: findings_mod.Audit) -> dict:
    facts = host["facts"] or {}
    sysctls = facts.get("sysctls") or {}
    interfaces = facts.get("interfaces") or {}
    return {
        "name": name,
        "site": audit.sites.get(name),
        "audited": host["facts"] is not None,
        "error": host["error"],
        "deps": host.get("deps"),
        "interfaces": {
            n: {"kind": i.get("kind"), "mtu": i.get("mtu"), "state": i.get("state")}
            for n, i in sorted(interfaces.items()) if i.get("kind") != "loopback"
        },
        "tunnels": sorted(facts.get("tunnels") or {}),
        "forwarding": [fam for fam, key in (("ipv4", "ipv4_forwarding"), ("ipv6", "ipv6_forwarding")) if sysctls.get(key)],
        "sysctls": {key: sysctls.get(key) for key in ("tcp_mtu_probing", "ip_no_pmtu_disc", "min_pmtu")},
        "firewall": (facts.get("firewall") or {}).get("framework"),
        "targets": len(host["targets"]),
        "paths": len(audit.paths_from(name)),
        "checks": sorted(key for key in findings_mod.SECTIONS if host.get(key) is not None),
        "ptb_checks": findings_mod.ptb_results(host),
    }


def _matrix(audit: findings_mod.Audit) -> dict:
    cells: dict[str, dict[str, dict]] = {}
    states: dict[tuple[str, str], list[str]] = {}
    for path in audit.paths:
        if not path["peer"]:
            continue
        cell = cells.setdefault(path["source"], {}).setdefault(path["peer"], {"status": None, "path_mtu": None, "paths": []})
        cell["paths"].append({key: path[key] for key in CELL_PATH_KEYS})
        states.setdefault((path["source"], path["peer"]), []).append(_status(path))
    for source, row in cells.items():
        for peer, cell in row.items():
            cell["status"] = min(states[(source, peer)], key=CELL_ORDER.index)
            sizes = [ref["path_mtu"] for ref in cell["paths"] if ref["path_mtu"] is not None]
            cell["path_mtu"] = min(sizes) if sizes else None
    rows = sorted(audit.facts)
    columns = sorted(set(rows) | {peer for row in cells.values() for peer in row})
    sites = {name: audit.sites.get(name) for name in columns}
    return {"rows": rows, "columns": columns, "cells": cells, "sites": sites}


def _worst(paths: list[dict]) -> list[dict]:
    bad = [p for p in paths if p["status"] == "black_hole"
           or (p["path_mtu"] is not None and p["interface_mtu"] is not None and p["path_mtu"] < p["interface_mtu"])]

    def key(path: dict) -> tuple:
        loss = (path["interface_mtu"] or 0) - (path["path_mtu"] or 0)
        return (CELL_ORDER.index(_status(path)), -loss, path["source"], path["target"])

    keys = ("source", "target", "peer", "family", "status", "path_mtu", "interface_mtu")
    return [{k: p[k] for k in keys} for p in sorted(bad, key=key)[:WORST_PATHS]]


def summarize(doc_findings: list[dict], paths: list[dict], hosts: dict[str, dict], tunnels: list[dict]) -> dict:
    by_severity = {sev: sum(1 for f in doc_findings if f["severity"] == sev) for sev in SEVERITIES}
    return {
        "clean": not doc_findings,
        "hosts": len(hosts),
        "hosts_audited": sum(1 for h in hosts.values() if h["audited"]),
        "hosts_failed": sorted(name for name, h in hosts.items() if not h["audited"]),
        "paths": len(paths),
        "paths_by_status": {status: sum(1 for p in paths if p["status"] == status) for status in STATUSES},
        "tunnels": len(tunnels),
        "tunnels_too_large": sum(1 for t in tunnels if t["status"] == "too_large"),
        "findings": len(doc_findings),
        "findings_by_severity": by_severity,
        "findings_by_type": {ftype: sum(1 for f in doc_findings if f["type"] == ftype) for ftype in catalog.FINDING_TYPES},
        "findings_at_or_above": {sev: sum(by_severity[s] for s in SEVERITIES[:i + 1]) for i, sev in enumerate(SEVERITIES)},
        "worst_paths": _worst(paths),
    }


def build(data: Any, *, generated_at: Any = None, check_mode: Any = None, options: Any = None) -> dict:
    """The report document for the audit data (findings computed here)."""
    audit = findings_mod.Audit(data)
    found = findings_mod.from_audit(audit)
    hosts = {name: _host_entry(name, host, audit) for name, host in audit.hosts.items()}
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"report options must be a dict, got {type(options).__name__}")
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "generated_at": None if generated_at is None else str(generated_at),
        "check_mode": None if check_mode is None else bool(check_mode),
        "options": dict(options or {}),
        "summary": summarize(found, audit.paths, hosts, audit.tunnels),
        "hosts": hosts,
        "tunnels": audit.tunnels,
        "paths": audit.paths,
        "matrix": _matrix(audit),
        "findings": found,
    }


def check_document(doc: Any) -> dict:
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"not a netpath.mtu audit report of schema version {SCHEMA_VERSION}: build it from the audit data first")
    missing = [k for k in ("summary", "hosts", "tunnels", "paths", "matrix", "findings") if k not in doc]
    if missing:
        raise ValueError(f"audit report lacks {', '.join(missing)}")
    return doc


def render(doc_or_data: Any, fmt: str = "json", **meta: Any) -> str:
    """Render a report document (or build one from audit data first) as json, markdown or html."""
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(doc_or_data, dict) and "schema_version" in doc_or_data:
        doc = check_document(doc_or_data)
    else:
        doc = build(doc_or_data, **meta)
    return {"json": render_json, "markdown": render_markdown, "html": render_html}[fmt](doc)


def render_json(doc: dict) -> str:
    """The same text as ``json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)``, plus a newline.

    json.dumps joins a list of every small piece of the document (tens of millions on a large fleet,
    several times the size of the text); here the pieces are joined in batches as they come."""
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False)
    out = io.StringIO()
    batch: list[str] = []
    for chunk in encoder.iterencode(doc):
        batch.append(chunk)
        if len(batch) >= JSON_BATCH:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch) + "\n")
    return out.getvalue()


def render_compact_json(doc: dict) -> str:
    """``doc`` as one line of JSON, keys sorted, plus a newline: for files only programs read (audit_data.json).

    Without indentation json uses its C encoder, several times faster than the indented one above."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- shared wording -----------------------------------------------------------------------------

def _who(address: Any, host: Any) -> str:
    return f"{host} ({address})" if host and address and host != address else str(host or address or "?")


def _probed_by(path: dict) -> str:
    """The probe that answered: ``icmp``, ``tcp/22``; ``-`` for a path not probed."""
    method = path.get("method")
    if not method:
        return "-"
    return f"{method}/{path['port']}" if path.get("port") else str(method)


def _size(value: Any) -> str:
    return "-" if value is None else str(value)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def task_snippet(fix: dict) -> str | None:
    """The fix as an Ansible task body, or None when no module can apply it."""
    if not fix.get("module"):
        return None
    lines = [f"{fix['module']}:"]
    for key, value in sorted((fix.get("args") or {}).items()):
        lines.append(f"  {key}: {_yaml_scalar(value)}")
    return "\n".join(lines)


def _headline(doc: dict) -> str:
    s = doc["summary"]
    st = s["paths_by_status"]
    sev = s["findings_by_severity"]
    return (f"{s['hosts_audited']} of {s['hosts']} hosts audited, {s['paths']} paths probed "
            f"({st['ok']} ok, {st['ptb']} reduced with working PMTUD, {st['black_hole']} black holes, "
            f"{st['unreachable'] + st['filtered']} unreachable or filtered, {st['not_probed']} not probed); "
            f"{s['findings']} findings ({sev['critical']} critical, {sev['warning']} warning, {sev['info']} info)")


def merge_lines(doc: dict) -> list[str]:
    """What a merged report says about its slices (none for the report of one run)."""
    merge = doc.get("merge")
    if not merge:
        return []
    slices = merge.get("slices") or []
    hosts = sum(len(s.get("hosts") or []) for s in slices)
    lines = [f"Merged from {len(slices)} slice reports ({hosts} host entries): "
             + ", ".join(f"{s.get('path')} ({len(s.get('hosts') or [])} hosts)" for s in slices)]
    return lines + [str(note) for note in merge.get("notes") or []]


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(value: Any) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _code(value: Any) -> str:
    text = " ".join(str(value).split())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell if isinstance(cell, _Raw) else _md(cell) for cell in row) + " |" for row in rows]
    return lines


class _Raw(str):
    """Markdown that is already escaped (code spans)."""


def _clusters(group: list[dict]) -> list[list[dict]]:
    """Findings of one type with the same fix, together (many black holes share one cause)."""
    clusters: dict[str, list[dict]] = {}
    for finding in group:
        key = finding["type"] + json.dumps(finding["fix"], sort_keys=True)
        clusters.setdefault(key, []).append(finding)
    return list(clusters.values())


def _md_fix(fix: dict) -> list[str]:
    out = []
    if fix.get("module"):
        args = json.dumps(fix.get("args") or {}, sort_keys=True)
        out.append(f"  - fix on {_md(fix.get('host') or '?')}: {_code(fix['module'])} {_code(args)}")
    if fix.get("command"):
        out.append(f"  - by hand: {_code(fix['command'])}")
    if fix.get("note"):
        out.append(f"  - {_md(fix['note'])}")
    return out


def _md_finding(cluster: list[dict]) -> list[str]:
    first = cluster[0]
    if len(cluster) == 1:
        return ([f"- **{_md(first['type'])}** on {_md(first['host'])}: {_md(first['message'])}"]
                + _md_fix(first["fix"]) + [f"  - id: {_code(first['id'])}"])
    out = [f"- **{_md(first['type'])}**, {len(cluster)} paths with one cause: {_md(first['evidence'].get('cause') or '')}"]
    out += _md_fix(first["fix"])
    out += [f"  - {_md(f['message'])} ({_code(f['id'])})" for f in cluster]
    return out


def render_markdown(doc: dict) -> str:
    check_document(doc)
    s = doc["summary"]
    out = ["# Path MTU audit", ""]
    meta = []
    if doc.get("generated_at"):
        meta.append(f"generated {doc['generated_at']}")
    if doc.get("check_mode") is not None:
        meta.append("check mode" if doc["check_mode"] else "normal mode")
    if meta:
        out += [_md(", ".join(meta)), ""]
    out += [_md(_headline(doc)) + ".", ""]
    out += [f"- {_md(line)}" for line in merge_lines(doc)] + ([""] if doc.get("merge") else [])
    if s["clean"]:
        out += ["**No findings.**", ""]

    out += ["## Findings", ""]
    if not doc["findings"]:
        out += ["None.", ""]
    for severity in SEVERITIES:
        group = [f for f in doc["findings"] if f["severity"] == severity]
        if not group:
            continue
        out += [f"### {severity.capitalize()} ({len(group)})", ""]
        for cluster in _clusters(group):
            out += _md_finding(cluster)
        out.append("")

    out += ["## Tunnels", ""]
    if doc["tunnels"]:
        rows = []
        for t in doc["tunnels"]:
            rows.append([t["host"], t["name"], t["kind"], _size(t["mtu"]), t["outer_family"] or "-",
                         ", ".join(t["peers"]) or "-", _size(t["underlay_mtu"]), _size(t["underlay_path_mtu"]),
                         _size(t["max_tunnel_mtu"]), t["status"]])
        out += _md_table(["host", "tunnel", "kind", "MTU", "outer", "peer", "underlay MTU", "underlay path MTU",
                          "fits", "status"], rows)
    else:
        out.append("No tunnels.")
    out.append("")

    matrix = doc["matrix"]
    out += ["## Path MTU matrix", ""]
    if not matrix["rows"]:
        out.append("No paths.")
    elif len(matrix["columns"]) > MARKDOWN_MATRIX_COLUMNS:
        out.append(f"{len(matrix['columns'])} hosts: see report.html for the matrix.")
    else:
        rows = []
        for source in matrix["rows"]:
            row: list[Any] = [source]
            for peer in matrix["columns"]:
                cell = matrix["cells"].get(source, {}).get(peer)
                row.append(f"{MARKDOWN_CELL[cell['status']]} {_size(cell['path_mtu'])}" if cell else "")
            rows.append(row)
        out += _md_table(["from \\ to"] + matrix["columns"], rows)
        out += ["", "BH black hole, BAD wrong ICMP, unr unreachable, flt filtered, ptb reduced with working PMTUD; "
                "the number is the smallest path MTU between the two hosts."]
    out.append("")

    out += ["## Paths that are not clean", ""]
    bad = [p for p in doc["paths"] if p["status"] != "ok"]
    if bad:
        rows = []
        for p in bad:
            hop = p["hop"] or {}
            rows.append([p["source"], _who(p["target"], p["peer"]), p["family"] or "-", ", ".join(p["roles"]) or "-",
                         STATUS_LABELS[_status(p)], _probed_by(p), _size(p["path_mtu"]), _size(p["interface_mtu"]),
                         _who(hop.get("address"), hop.get("host")) if hop.get("address") else "-"])
        out += _md_table(["from", "to", "family", "why probed", "status", "probed by", "path MTU", "interface MTU", "hop"],
                         rows)
    else:
        out.append("All paths are clean.")
    out.append("")

    failed = [h for h in doc["hosts"].values() if not h["audited"]]
    if failed:
        out += ["## Hosts not audited", ""]
        out += [f"- {_md(h['name'])}: {_md(h['error'] or 'no facts')}" for h in failed]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- HTML ---------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _anchor(value: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", value)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{margin:0 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#555}.headline{font-size:15px}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right}
table.matrix td{min-width:5.5em}table.matrix th.row{text-align:right}
.s-ok{background:#cdeccd}.s-ptb{background:#fff1a8}.s-black_hole{background:#f5a3a3}.s-mismatch{background:#ffc27a}
.s-unreachable,.s-filtered{background:#d9d9d9}.s-not_probed{background:#fff}.s-self{background:#f6f6f6}
.chip{display:block;font-size:12px;white-space:nowrap;padding:0 .2em;margin:.1em 0;border:1px solid rgba(0,0,0,.15)}
.legend span{display:inline-block;padding:.1em .5em;margin-right:.4em;border:1px solid #bbb}
.finding{border-left:6px solid #999;padding:.3em .8em;margin:.8em 0;background:#fafafa}
.sev-critical{border-color:#c62828}.sev-warning{border-color:#ef8f00}.sev-info{border-color:#1e6fbf}
.sev{font-weight:bold;text-transform:uppercase;font-size:12px}
pre{background:#f3f3f3;padding:.5em;overflow:auto;margin:.3em 0}code{background:#f3f3f3;padding:0 .2em}
.badge{display:inline-block;padding:.2em .6em;margin:.2em .3em .2em 0;border:1px solid #bbb;border-radius:3px}
.clean{color:#1b5e20;font-weight:bold}
details.pair{margin:.3em 0}details.pair>summary{cursor:pointer;padding:.2em .4em;border:1px solid #bbb}
table.sites td{min-width:8em}
"""


def _cell(cell: dict | None, source: str, peer: str) -> str:
    if source == peer:
        return '<td class="s-self"></td>'
    if cell is None:
        return '<td class="s-not_probed"></td>'
    chips = []
    titles = []
    for ref in cell["paths"]:
        family = {"ipv4": "v4", "ipv6": "v6"}.get(ref["family"] or "", "?")
        roles = "".join(ROLE_LETTERS[r] for r in ref["roles"] if r in ROLE_LETTERS)
        label = f"{family} {_size(ref['path_mtu'])} {roles}".rstrip()
        status = _status(ref)
        chips.append(f'<span class="chip s-{_e(status)}">{_e(label)}</span>')
        titles.append(f"{ref['target']} ({', '.join(ref['roles']) or '-'}): {STATUS_LABELS.get(status, status)}, "
                      f"path MTU {_size(ref['path_mtu'])} of {_size(ref['interface_mtu'])}")
    return (f'<td class="s-{_e(cell["status"])}" title="{_e("; ".join(titles))}">'
            f'{"".join(chips)}</td>')


def _host_matrix(matrix: dict, rows: list[str], columns: list[str]) -> str:
    head = "<tr><th>from \\ to</th>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"
    body = []
    for source in rows:
        cells = "".join(_cell(matrix["cells"].get(source, {}).get(peer), source, peer) for peer in columns)
        body.append(f'<tr><th class="row">{_e(source)}</th>{cells}</tr>')
    return f'<table class="matrix"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def site_pairs(matrix: dict) -> dict[tuple[str, str], dict]:
    """(source site, peer site) -> worst status, counts and smallest path MTU of the host cells between them."""
    sites = matrix.get("sites") or {}
    pairs: dict[tuple[str, str], dict] = {}
    for source, row in matrix["cells"].items():
        for peer, cell in row.items():
            key = (sites.get(source) or NO_SITE, sites.get(peer) or NO_SITE)
            pair = pairs.setdefault(key, {"status": "not_probed", "cells": 0, "paths": 0, "not_clean": 0,
                                          "path_mtu": None, "sources": set(), "peers": set(), "worst": {}})
            pair["cells"] += 1
            pair["sources"].add(source)
            pair["peers"].add(peer)
            pair["worst"][source] = min(pair["worst"].get(source, cell["status"]), cell["status"], key=CELL_ORDER.index)
            pair["worst"][peer] = min(pair["worst"].get(peer, cell["status"]), cell["status"], key=CELL_ORDER.index)
            pair["status"] = min(pair["status"], cell["status"], key=CELL_ORDER.index)
            pair["paths"] += len(cell["paths"])
            pair["not_clean"] += sum(1 for ref in cell["paths"] if _status(ref) not in ("ok", "ptb"))
            if cell["path_mtu"] is not None:
                pair["path_mtu"] = cell["path_mtu"] if pair["path_mtu"] is None else min(pair["path_mtu"], cell["path_mtu"])
    return pairs


def _pair_order(item: tuple[tuple[str, str], dict]) -> tuple:
    (source, peer), pair = item
    return (CELL_ORDER.index(pair["status"]), -pair["not_clean"], source, peer)


def _site_matrix(matrix: dict) -> list[str]:
    """A matrix of sites, each cell the worst of its host pairs and a link to their host matrix; the site
    pairs' host matrices follow, worst first, each folded in a <details>."""
    pairs = site_pairs(matrix)
    ordered = sorted(pairs.items(), key=_pair_order)
    anchors = {key: f"pair-{i}" for i, (key, _pair) in enumerate(ordered)}
    sources = sorted({key[0] for key in pairs})
    peers = sorted({key[1] for key in pairs})
    out = [f"<p>{len(matrix['columns'])} hosts in {len(set(sources) | set(peers))} sites: each cell is the worst path "
           "between two sites, with the number of paths not clean (anything but ok or reduced with working PMTUD) "
           "and the smallest path MTU; follow it to the hosts. Site pairs with the worst paths come first below.</p>"]
    head = "<tr><th>from \\ to</th>" + "".join(f"<th>{_e(p)}</th>" for p in peers) + "</tr>"
    rows = []
    for source in sources:
        cells = []
        for peer in peers:
            pair = pairs.get((source, peer))
            if pair is None:
                cells.append('<td class="s-not_probed"></td>')
                continue
            cells.append(f'<td class="s-{_e(pair["status"])}"><a href="#{anchors[(source, peer)]}">'
                         f'{_e(STATUS_LABELS[pair["status"]])}</a><br>{pair["not_clean"]} of {pair["paths"]} not clean'
                         f'<br>min {_e(_size(pair["path_mtu"]))}</td>')
        rows.append(f'<tr><th class="row">{_e(source)}</th>{"".join(cells)}</tr>')
    out.append(f'<table class="matrix sites"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')
    for key, pair in ordered:

        def worst_first(names: set[str], pair: dict = pair) -> list[str]:
            return sorted(names, key=lambda n: (CELL_ORDER.index(pair["worst"][n]), n))

        summary = (f"{key[0]} \u2192 {key[1]}: {STATUS_LABELS[pair['status']]}, {pair['not_clean']} of {pair['paths']} "
                   f"paths not clean, {len(pair['sources'])} \u00d7 {len(pair['peers'])} hosts")
        out.append(f'<details id="{anchors[key]}" class="pair"><summary class="s-{_e(pair["status"])}">{_e(summary)}</summary>'
                   f'{_host_matrix(matrix, worst_first(pair["sources"]), worst_first(pair["peers"]))}</details>')
    return out


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    cls_attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _paths_table(paths: list[dict]) -> str:
    rows = []
    for p in paths:
        hop = p["hop"] or {}
        rows.append([_td(p["source"]), _td(_who(p["target"], p["peer"])), _td(p["family"] or "-"),
                     _td(", ".join(p["roles"]) or "-"), _td(STATUS_LABELS[_status(p)], f"s-{_status(p)}"),
                     _td(_probed_by(p)), _td(_size(p["path_mtu"]), "num"), _td(_size(p["interface_mtu"]), "num"),
                     _td(p["interface"] or "-"),
                     _td(_who(hop.get("address"), hop.get("host")) if hop.get("address") else "-"), _td(p["reason"])])
    return _table(["from", "to", "family", "why probed", "status", "probed by", "path MTU", "interface MTU", "interface",
                   "hop", "reason"], rows, "paths")


def _td(value: Any, cls: str = "") -> str:
    cls_attr = f' class="{_e(cls)}"' if cls else ""
    return f"<td{cls_attr}>{_e(value)}</td>"


def _html_findings(doc: dict) -> list[str]:
    out = []
    if not doc["findings"]:
        return ['<p class="clean">No findings.</p>']
    for finding in doc["findings"]:
        fix = finding["fix"]
        parts = [f'<article class="finding sev-{_e(finding["severity"])}" id="{_e(_anchor(finding["id"]))}">',
                 f'<div><span class="sev">{_e(finding["severity"])}</span> <strong>{_e(finding["type"])}</strong> '
                 f'on <strong>{_e(finding["host"])}</strong></div>',
                 f"<p>{_e(finding['message'])}</p>"]
        snippet = task_snippet(fix)
        if snippet:
            parts.append(f"<div>Fix on <strong>{_e(fix.get('host') or '?')}</strong>:</div><pre>{_e(snippet)}</pre>")
        if fix.get("command"):
            parts.append(f"<div>By hand:</div><pre>{_e(fix['command'])}</pre>")
        if fix.get("note"):
            parts.append(f"<p>{_e(fix['note'])}</p>")
        if finding["related"]:
            links = ", ".join(f'<a href="#{_e(_anchor(r))}">{_e(r)}</a>' for r in finding["related"])
            parts.append(f"<p>Related: {links}</p>")
        parts.append(f"<details><summary>Evidence ({_e(finding['id'])})</summary>"
                     f"<pre>{_e(json.dumps(finding['evidence'], indent=2, sort_keys=True))}</pre></details>")
        parts.append("</article>")
        out.append("".join(parts))
    return out


def render_html(doc: dict) -> str:
    check_document(doc)
    s = doc["summary"]
    matrix = doc["matrix"]
    meta = []
    if doc.get("generated_at"):
        meta.append(f"generated {doc['generated_at']}")
    if doc.get("check_mode") is not None:
        meta.append("check mode" if doc["check_mode"] else "normal mode")
    meta.append(f"{doc['generator']}, report schema {doc['schema_version']}")

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Path MTU audit</title>",
        f"<style>{CSS}</style></head><body>",
        '<header><h1>Path MTU audit</h1>',
        f'<p class="meta">{_e(", ".join(meta))}</p>',
        f'<p class="headline" id="headline">{_e(_headline(doc))}.</p>',
    ]
    if doc.get("merge"):
        out.append('<ul id="merge">' + "".join(f"<li>{_e(line)}</li>" for line in merge_lines(doc)) + "</ul>")
    badges = [f'<span class="badge sev-{_e(sev)}">{_e(sev)}: {s["findings_by_severity"][sev]}</span>' for sev in SEVERITIES]
    badges += [f'<span class="badge">{_e(t)}: {n}</span>' for t, n in s["findings_by_type"].items() if n]
    out.append(f'<div id="summary">{"".join(badges)}</div></header>')

    out.append('<section id="matrix"><h2>Path MTU matrix</h2>')
    out.append('<p class="legend">' + "".join(f'<span class="s-{_e(k)}">{_e(v)}</span>' for k, v in STATUS_LABELS.items())
               + "</p><p>Rows probe, columns are probed. Each chip is one path: address family, path MTU in bytes and "
               "why it was probed (u tunnel underlay, t inside a tunnel, h host to host, x extra target); "
               "hover a cell for details.</p>")
    if not matrix["rows"]:
        out.append("<p>No paths.</p>")
    elif len(matrix["columns"]) <= HTML_FLAT_MATRIX_HOSTS:
        out.append(_host_matrix(matrix, matrix["rows"], matrix["columns"]))
    else:
        out += _site_matrix(matrix)
    out.append("</section>")

    out.append('<section id="tunnels"><h2>Tunnels</h2>')
    if doc["tunnels"]:
        rows = [[_td(t["host"]), _td(t["name"]), _td(t["kind"]), _td(_size(t["mtu"]), "num"), _td(t["outer_family"] or "-"),
                 _td(", ".join(t["peers"]) or "-"), _td(_size(t["underlay_mtu"]), "num"),
                 _td(_size(t["underlay_path_mtu"]), "num"), _td(_size(t["max_tunnel_mtu"]), "num"),
                 _td(t["status"], "s-black_hole" if t["status"] == "too_large" else "s-ok" if t["status"] == "ok" else "")]
                for t in doc["tunnels"]]
        out.append(_table(["host", "tunnel", "kind", "MTU", "outer", "peer", "underlay MTU", "underlay path MTU",
                           "MTU that fits", "status"], rows, "tunnels"))
    else:
        out.append("<p>No tunnels.</p>")
    out.append("</section>")

    out.append(f'<section id="findings"><h2>Findings ({s["findings"]})</h2>')
    out += _html_findings(doc)
    out.append("</section>")

    out.append('<section id="paths"><h2>All paths</h2>')
    if not doc["paths"]:
        out.append("<p>No paths.</p>")
    elif len(matrix["columns"]) <= HTML_FLAT_MATRIX_HOSTS:
        out.append(_paths_table(doc["paths"]))
    else:
        # Worst first; the clean ones (most of a large fleet) folded away.
        ordered = sorted(doc["paths"], key=lambda p: (CELL_ORDER.index(_status(p)), p["source"], p["target"]))
        bad = [p for p in ordered if _status(p) not in ("ok", "ptb")]
        clean = [p for p in ordered if _status(p) in ("ok", "ptb")]
        out.append(f"<p>{len(bad)} paths not clean, worst first; {len(clean)} clean paths below them.</p>")
        if bad:
            out.append(_paths_table(bad))
        if clean:
            out.append(f"<details><summary>{len(clean)} clean paths (ok, or reduced with working PMTUD)</summary>"
                       f"{_paths_table(clean)}</details>")
    out.append("</section>")

    out.append('<section id="hosts"><h2>Hosts</h2>')
    rows = [[_td(h["name"]), _td("yes" if h["audited"] else "no", "s-ok" if h["audited"] else "s-black_hole"),
             _td(", ".join(h["tunnels"]) or "-"), _td(", ".join(h["forwarding"]) or "no"), _td(h["firewall"] or "-"),
             _td(_size(h["sysctls"].get("tcp_mtu_probing")), "num"), _td(_size(h["paths"]), "num"), _td(h["error"] or "")]
            for h in doc["hosts"].values()]
    out.append(_table(["host", "audited", "tunnels", "forwards", "firewall", "tcp_mtu_probing", "paths", "error"],
                      rows, "hosts"))
    out.append("</section></body></html>")
    return "\n".join(out) + "\n"
