# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The merged reports against the unsliced one (runme.sh): the same findings, the same report.json but
for generated_at and the merge's own account; each slice alone differs, or the test would prove nothing."""

import json
import os
import sys


def load(work, name, file="report.json"):
    with open(os.path.join(work, name, file), encoding="utf-8") as handle:
        return json.load(handle)


def strip(doc):
    return {k: v for k, v in doc.items() if k not in ("generated_at", "merge")}


def main(work):
    whole = load(work, "whole")
    ids = sorted(f["id"] for f in whole["findings"])
    assert "icmp_blocked/rtr/firewall" in ids and "tunnel_mtu_too_large/gw-a/slm-wg0a" in ids, ids
    for name in ("merged", "listed"):
        merged = load(work, name)
        assert sorted(f["id"] for f in merged["findings"]) == ids, (name, [f["id"] for f in merged["findings"]])
        assert merged["findings"] == whole["findings"], name
        for key in sorted(set(strip(whole)) | set(strip(merged))):
            assert merged.get(key) == whole.get(key), f"{name}: {key} differs from the unsliced report"
        assert len(merged["merge"]["slices"]) == (3 if name == "merged" else 4), merged["merge"]["slices"]
        assert merged["merge"]["unplanned"] == {}, merged["merge"]["unplanned"]
        data = load(work, name, "audit_data.json")
        assert sorted(data["hosts"]) == sorted(whole["hosts"])
        for fmt in ("report.md", "report.html"):
            assert os.path.getsize(os.path.join(work, name, fmt)) > 0
    listed = load(work, "listed")
    again = sorted(load(work, os.path.join("slices", "job1"), "audit_data.json")["hosts"])
    assert [d["host"] for d in listed["merge"]["duplicates"]] == again, listed["merge"]["duplicates"]
    # The slices alone: fewer hosts, and findings that rest on other hosts' evidence are missing or different.
    slices = [load(work, os.path.join("slices", f"job{s}")) for s in range(3)]
    assert sum(s["summary"]["hosts"] for s in slices) == whole["summary"]["hosts"]
    concatenated = sorted((f for s in slices for f in s["findings"]), key=lambda f: f["id"])
    assert concatenated != sorted(whole["findings"], key=lambda f: f["id"]), "the slices alone already agree"
    print(f"merged == unsliced: {len(ids)} findings, {whole['summary']['paths']} paths, {whole['summary']['hosts']} hosts")


if __name__ == "__main__":
    main(sys.argv[1])
