# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Merging the reports of AWX job slices: the merge of a split equals the unsplit report."""

from __future__ import annotations

import copy
import json
import random

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.filter import audit as audit_filters
from ansible_collections.netpath.mtu.plugins.module_utils.audit import merge, probe_plan, report
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_findings import (
    RTR_OUTPUT_DROP, SEED_FINDINGS, result, seed_data)
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import (
    host_facts, iface, vxlan_pair, wireguard, endpoint, addr)

OPTIONS = {"families": ["ipv4", "ipv6"], "groups": [], "scope": "full", "tunnels_only": False}
WHEN = "2025-01-02T03:04:05Z"


def fleet_data() -> dict:
    """The seed lab with the router's firewall read: gw-a's black hole is blamed on another host's evidence."""
    data = seed_data()
    data["hosts"]["rtr"]["icmp_policy"] = {"changed": False, "results": RTR_OUTPUT_DROP}
    data["sites"] = {"client-a": "a", "gw-a": "a", "rtr": "core"}
    data["groups"] = {"gw-b": ["site_b", "gateways"], "server-b": ["site_b"]}
    return data


def slice_of(data: dict, names: list[str], when: str = WHEN, options: dict | None = None, check_mode: bool = True) -> dict:
    """What one slice's audit_data.json holds: its hosts only, and the inventory every slice sees."""
    part = {"hosts": {n: copy.deepcopy(data["hosts"][n]) for n in names}, "inventory": copy.deepcopy(data["inventory"]),
            "sites": {n: s for n, s in data.get("sites", {}).items() if n in names},
            "groups": {n: g for n, g in data.get("groups", {}).items() if n in names}}
    return merge.data_document(part, generated_at=when, check_mode=check_mode, options=OPTIONS if options is None else options)


def slices(data: dict, parts: list[list[str]]) -> list[dict]:
    return [{"path": f"/r/slice{i}/audit_data.json", "data": slice_of(data, names)} for i, names in enumerate(parts)]


def round_robin(names: list[str], count: int) -> list[list[str]]:
    """AWX's slicing: host i goes to slice i mod count."""
    ordered = sorted(names)
    return [ordered[i::count] for i in range(count)]


def without_meta(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("generated_at", "merge")}


# --- a split merges back into the unsplit report --------------------------------------------------

@pytest.mark.parametrize("parts", [
    round_robin(["client-a", "gw-a", "rtr", "gw-b", "server-b"], 2),
    round_robin(["client-a", "gw-a", "rtr", "gw-b", "server-b"], 3),
    [["client-a"], ["gw-a"], ["rtr"], ["gw-b"], ["server-b"]],
    [["client-a", "gw-a", "rtr", "gw-b", "server-b"]],
])
def test_merge_of_a_split_equals_the_unsplit_report(parts):
    data = fleet_data()
    whole = report.build(data, generated_at=WHEN, check_mode=True, options=OPTIONS)
    merged = merge.merged_report(slices(data, parts), generated_at="2025-01-02T04:00:00Z")
    assert without_meta(merged["report"]) == without_meta(whole)
    assert merged["report"]["generated_at"] == "2025-01-02T04:00:00Z"
    assert [s["hosts"] for s in merged["report"]["merge"]["slices"]] == [sorted(p) for p in parts]
    assert merged["report"]["merge"]["duplicates"] == [] and merged["report"]["merge"]["notes"] == []
    assert sorted(f["id"] for f in merged["report"]["findings"]) == sorted(SEED_FINDINGS + ["icmp_blocked/rtr/firewall"])


def test_a_slice_alone_misses_what_rests_on_other_hosts_evidence():
    """Why the raw data are merged, not the findings: gw-a's slice does not know the router's firewall."""
    data = fleet_data()
    alone = report.build({k: v for k, v in slice_of(data, ["client-a", "gw-a"]).items() if k in merge.DATA_KEYS})
    whole = report.build(data)
    hole = "pmtud_black_hole/gw-a/198.18.2.2/ipv4"
    by_id = {f["id"]: f for f in whole["findings"]}
    alone_by_id = {f["id"]: f for f in alone["findings"]}
    assert "icmp_blocked/rtr/firewall" in by_id[hole]["related"]
    assert "icmp_blocked/rtr/firewall" not in alone_by_id[hole]["related"]
    # Concatenating the slices' findings would not give the fleet's either.
    rest = report.build({k: v for k, v in slice_of(data, ["rtr", "gw-b", "server-b"]).items() if k in merge.DATA_KEYS})
    concatenated = {f["id"]: f for f in alone["findings"] + rest["findings"]}
    assert concatenated.keys() == by_id.keys() and concatenated != by_id


def test_the_order_of_the_slices_does_not_matter():
    data = fleet_data()
    given = slices(data, round_robin(list(data["hosts"]), 3))
    first = merge.merged_report(given, generated_at=WHEN)
    rng = random.Random(7)
    for dummy in range(5):
        shuffled = given[:]
        rng.shuffle(shuffled)
        assert merge.merged_report(shuffled, generated_at=WHEN) == first


def test_a_merged_report_merges_again_to_itself():
    data = fleet_data()
    once = merge.merged_report(slices(data, round_robin(list(data["hosts"]), 2)), generated_at=WHEN)
    again = merge.merged_report([{"path": "/r/fleet/audit_data.json", "data": json.loads(report.render_json(once["data"]))}],
                                generated_at=WHEN)
    assert without_meta(again["report"]) == without_meta(once["report"])


def synthetic_fleet(n: int, seed: int) -> dict:
    """n hosts on one /24 and /64, each with a WireGuard tunnel to the next; some paths black-holed."""
    rng = random.Random(seed)
    facts, inventory = {}, {}
    for i in range(n):
        peer = (i + 1) % n
        mtu = rng.choice([1420, 1500])
        wg = wireguard(f"wg{i}", mtu, [endpoint(f"192.0.2.{peer + 1}", "eth0", 1500, 60, peer=f"k{peer}=")],
                       [[f"10.9.{min(i, peer)}.{2 if i < peer else 1}/32"]], underlay_device="eth0")
        facts[f"n{i:02d}"] = host_facts([iface("eth0", 1500, [f"192.0.2.{i + 1}", f"2001:db8::{i + 1:x}"]),
                                         iface(f"wg{i}", mtu, [addr(f"10.9.{min(i, peer)}.{1 if i < peer else 2}", 30)],
                                               kind="wireguard")],
                                        [wg], forwarding=rng.choice([0, 1]), tcp_mtu_probing=rng.choice([0, 1]))
        inventory[f"n{i:02d}"] = [f"192.0.2.{i + 1}", f"2001:db8::{i + 1:x}"]
    plan = probe_plan.plan(facts, inventory)
    hosts = {}
    for name, entries in plan.items():
        probes = []
        for entry in entries:
            status = rng.choice(["ok", "ok", "ok", "black_hole", "ptb", "unreachable"])
            size = {"ok": 1500, "black_hole": 1400, "ptb": 1420, "unreachable": None}[status]
            probes.append(result(entry["target"], "eth0", 1500, status, size,
                                 ptb_source="192.0.2.1" if status == "ptb" else None,
                                 ptb_mtu=1420 if status == "ptb" else None,
                                 hop=(2, f"192.0.2.{rng.randrange(1, n + 1)}") if status == "black_hole" else None))
        hosts[name] = {"facts": facts[name], "targets": entries, "probes": probes, "error": None, "deps": "present"}
    hosts["n03"] = {"facts": None, "targets": [], "probes": [], "error": "unreachable, or failed before it could be audited"}
    return {"hosts": hosts, "inventory": inventory, "sites": {n: f"s{int(n[1:]) // 5}" for n in hosts}}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("count", [2, 3, 7])
def test_synthetic_fleets_merge_back(seed, count):
    data = synthetic_fleet(24, seed)
    whole = report.build(data, generated_at=WHEN, check_mode=True, options=OPTIONS)
    merged = merge.merged_report(slices(data, round_robin(list(data["hosts"]), count)), generated_at=WHEN)
    assert report.render_json(without_meta(merged["report"])) == report.render_json(without_meta(whole))
    assert whole["summary"]["findings"] > 0 and whole["summary"]["hosts_failed"] == ["n03"]


# --- duplicates ---------------------------------------------------------------------------------

def test_a_host_in_two_slices_is_kept_once_by_a_fixed_rule():
    data = fleet_data()
    given = slices(data, [["client-a", "gw-a", "rtr"], ["gw-b", "server-b", "gw-a"]])
    # In the second slice gw-a failed: the audited copy wins whichever slice is newer or given first.
    failed = {"facts": None, "targets": [], "probes": [], "error": "unreachable, or failed before it could be audited"}
    given[1]["data"]["hosts"]["gw-a"] = failed
    given[1]["data"]["generated_at"] = "2025-01-03T00:00:00Z"
    for order in (given, given[::-1]):
        merged = merge.merged_report(order, generated_at=WHEN)
        assert without_meta(merged["report"]) == without_meta(report.build(data, check_mode=True, options=OPTIONS))
        assert merged["report"]["merge"]["duplicates"] == [
            {"host": "gw-a", "slices": ["/r/slice0/audit_data.json", "/r/slice1/audit_data.json"],
             "kept": "/r/slice0/audit_data.json"}]
        assert merged["report"]["merge"]["notes"] == [
            "gw-a is in 2 slices (/r/slice0/audit_data.json, /r/slice1/audit_data.json): the copy of "
            "/r/slice0/audit_data.json is kept (audited before not audited, then the most probes, then the newest)"]
        assert "gw-a is in 2 slices" in report.render_markdown(merged["report"])
        assert "gw-a is in 2 slices" in report.render_html(merged["report"])


def test_between_two_audited_copies_the_newest_slice_wins():
    data = fleet_data()
    given = slices(data, [["gw-a"], ["gw-a", "gw-b"]])
    changed = copy.deepcopy(data["hosts"]["gw-a"])
    changed["facts"]["sysctls"]["tcp_mtu_probing"] = 1
    given[0]["data"]["hosts"]["gw-a"] = changed
    given[0]["data"]["generated_at"] = "2025-01-05T00:00:00Z"
    merged = merge.merged_report(given, generated_at=WHEN)
    assert merged["report"]["merge"]["duplicates"][0]["kept"] == "/r/slice0/audit_data.json"
    assert merged["report"]["hosts"]["gw-a"]["sysctls"]["tcp_mtu_probing"] == 1


# --- one run family ------------------------------------------------------------------------------

def test_mismatched_schema_is_rejected_with_a_clear_message():
    data = fleet_data()
    given = slices(data, [["client-a", "gw-a"], ["rtr", "gw-b", "server-b"]])
    given[1]["data"]["schema_version"] = 2
    with pytest.raises(ValueError, match=r"/r/slice1/audit_data.json: report schema version 2, this collection merges "
                                         r"version 1 only: audit every slice with the same netpath.mtu version"):
        merge.merge(given)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(options=dict(OPTIONS, families=["ipv4"])),
     r"are not slices of one audit: their audit options differ \(families differ\)"),
    (lambda d: d.update(check_mode=False), r"are not slices of one audit: their check modes differ"),
    (lambda d: d.update(generator="netpath.mtu audit"), r"not a netpath.mtu audit_data.json \(generator 'netpath.mtu audit'"),
    (lambda d: d.update(hosts=None), r"audit data without 'hosts'"),
    (lambda d: d.update(inventory=["x"]), r"'inventory' must be a dict"),
])
def test_slices_of_different_runs_are_rejected(change, message):
    given = slices(fleet_data(), [["client-a", "gw-a"], ["rtr", "gw-b", "server-b"]])
    change(given[1]["data"])
    with pytest.raises(ValueError, match=message):
        merge.merge(given)


@pytest.mark.parametrize("value, message", [
    ([], "non-empty list of slices"),
    ("x", "non-empty list of slices"),
    ([{"path": "a"}], r"slice 1: expected a dict with 'data'"),
])
def test_bad_input(value, message):
    with pytest.raises(ValueError, match=message):
        merge.merge(value)


def test_the_same_report_twice_is_refused():
    given = slices(fleet_data(), [["client-a"], ["gw-a"]])
    given[1]["path"] = given[0]["path"]
    with pytest.raises(ValueError, match="the same report is given twice: /r/slice0/audit_data.json"):
        merge.merge(given)


# --- what the union plans and no slice probed ------------------------------------------------------

def test_a_tunnel_peer_in_another_slice_is_listed_as_not_probed():
    facts = vxlan_pair()
    inventory = {"a": ["198.18.1.1"], "b": ["198.18.2.2"]}
    whole_plan = probe_plan.plan(facts, inventory, tunnels_only=True)
    sliced = {name: probe_plan.plan({name: facts[name]}, inventory, tunnels_only=True)[name] for name in facts}
    assert len(sliced["a"]) < len(whole_plan["a"])
    given = []
    for name in sorted(facts):
        host = {"facts": facts[name], "targets": sliced[name],
                "probes": [result(t["target"], "eth0", 1500, "ok", 1500) for t in sliced[name]], "error": None}
        doc = merge.data_document({"hosts": {name: host}, "inventory": inventory}, options=OPTIONS)
        given.append({"path": f"/r/{name}", "data": doc})
    merged = merge.merged_report(given)
    assert merged["report"]["merge"]["unplanned"] == {"a": ["198.19.5.2", "fd00:198:19:5::2"],
                                                      "b": ["198.19.5.1", "fd00:198:19:5::1"]}
    status = {(p["source"], p["target"]): p["status"] for p in merged["report"]["paths"]}
    assert status[("a", "198.19.5.2")] == "not_probed" and status[("a", "198.18.2.2")] == "ok"
    assert any("a: 198.19.5.2, fd00:198:19:5::2 planned only with the facts of hosts in other slices" in n
               for n in merged["report"]["merge"]["notes"])
    # The merged data carries them: merging the merge adds nothing more.
    again = merge.merged_report([{"path": "/r/m", "data": merged["data"]}])
    assert again["report"]["merge"]["unplanned"] == {}


# --- the filters ----------------------------------------------------------------------------------

def test_filters():
    data = fleet_data()
    given = slices(data, round_robin(list(data["hosts"]), 2))
    merged = audit_filters.audit_merge(given, generated_at=WHEN)
    assert merged["report"]["summary"] == report.build(data)["summary"]
    text = audit_filters.audit_report({k: data[k] for k in merge.DATA_KEYS}, "audit_data", generated_at=WHEN,
                                      check_mode=True, options=OPTIONS)
    assert json.loads(text) == json.loads(report.render_json(slice_of(data, list(data["hosts"]))))
    assert audit_filters.audit_report(merged["data"], "audit_data") == report.render_compact_json(merged["data"])
    assert json.loads(report.render_compact_json(merged["data"])) == merged["data"] and "\n" not in text.rstrip("\n")
    with pytest.raises(AnsibleFilterError, match="audit_merge: merge needs a non-empty list"):
        audit_filters.audit_merge([])


def test_sites_come_from_the_site_variable_then_the_first_group():
    doc = report.build(fleet_data())
    assert {n: h["site"] for n, h in doc["hosts"].items()} == {
        "client-a": "a", "gw-a": "a", "rtr": "core", "gw-b": "gateways", "server-b": "site_b"}
    data = fleet_data()
    data["groups"]["client-a"] = ["ungrouped"]
    del data["sites"]["client-a"]
    assert report.build(data)["hosts"]["client-a"]["site"] is None
    with pytest.raises(ValueError, match="audit data 'sites' must be a dict"):
        report.build(dict(data, sites=["a"]))
