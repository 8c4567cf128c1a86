# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Remediation: the per-host plan from the seed audit's findings, step records, the report and the filters."""

from __future__ import annotations

import copy
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.filter import remediate as filters
from ansible_collections.netpath.mtu.plugins.module_utils.audit import remediation
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_report import seed_doc

FIXABLE = ["tunnel_mtu_too_large", "pmtud_black_hole", "mss_clamp_missing", "pmtud_disabled", "tcp_mtu_probing_off"]
SEED_GW_A_LINK_FINDINGS = [
    "tunnel_mtu_too_large/gw-a/seed-wg0a",
    "pmtud_black_hole/client-a/198.18.3.2/ipv4",
    "pmtud_black_hole/client-a/fd00:198:18:3::2/ipv6",
    "pmtud_black_hole/gw-a/198.19.0.2/ipv4",
    "pmtud_black_hole/gw-a/fd00:198:19::2/ipv6",
]


@pytest.fixture(scope="module")
def seed_findings():
    return seed_doc()["findings"]


def finding(fid: str, host: str, module: str | None, **args) -> dict:
    return {"id": fid, "type": fid.split("/")[0], "fix": {"host": host, "module": module, "args": args}}


def test_filters_are_registered():
    assert sorted(filters.FilterModule().filters()) == ["remediation_host", "remediation_plan", "remediation_report",
                                                        "remediation_step"]


# --- plan -------------------------------------------------------------------------------------

@pytest.mark.parametrize("host, steps, expected", [
    ("gw-a", remediation.STEPS, {
        "link_mtu": [{"name": "seed-wg0a", "mtu": 1340, "findings": SEED_GW_A_LINK_FINDINGS}],
        "icmp_policy": [], "mss_clamp": ["mss_clamp_missing/gw-a/forward"],
        "sysctl": [{"name": "net.ipv4.tcp_mtu_probing", "value": "1",
                    "findings": ["tcp_mtu_probing_off/gw-a/net.ipv4.tcp_mtu_probing"]}],
        "advice": []}),
    # The router's ICMP drop explains both families' black holes: one icmp_policy step.
    ("rtr", remediation.STEPS, {
        "link_mtu": [], "icmp_policy": ["pmtud_black_hole/gw-a/198.18.2.2/ipv4", "pmtud_black_hole/gw-a/fd00:198:18:2::2/ipv6"],
        "mss_clamp": [], "sysctl": [], "advice": []}),
    # Steps switched off leave their findings as advice.
    ("gw-a", ["icmp_policy"], {
        "link_mtu": [], "icmp_policy": [], "mss_clamp": [], "sysctl": [],
        "advice": SEED_GW_A_LINK_FINDINGS + ["mss_clamp_missing/gw-a/forward",
                                             "tcp_mtu_probing_off/gw-a/net.ipv4.tcp_mtu_probing"]}),
    ("client-a", ["link_mtu", "icmp_policy", "mss_clamp"], {
        "link_mtu": [], "icmp_policy": [], "mss_clamp": [], "sysctl": [],
        "advice": ["tcp_mtu_probing_off/client-a/net.ipv4.tcp_mtu_probing"]}),
    ("not-in-the-audit", remediation.STEPS, {"link_mtu": [], "icmp_policy": [], "mss_clamp": [], "sysctl": [], "advice": []}),
])
def test_seed_plan(seed_findings, host, steps, expected):
    plan = remediation.host_plan(seed_findings, host, FIXABLE, steps)
    assert {k: sorted(v, key=str) for k, v in plan.items()} == {k: sorted(v, key=str) for k, v in expected.items()}


def test_types_filter_the_findings(seed_findings):
    plan = remediation.host_plan(seed_findings, "gw-a", ["mss_clamp_missing"], remediation.STEPS)
    assert plan == {"link_mtu": [], "icmp_policy": [], "mss_clamp": ["mss_clamp_missing/gw-a/forward"], "sysctl": [],
                    "advice": []}


@pytest.mark.parametrize("mtus, expected", [([1340], 1340), ([1400, 1340, 1380], 1340), ([1280, 1420], 1280)])
def test_smallest_mtu_of_an_interface_wins(mtus, expected):
    found = [finding(f"tunnel_mtu_too_large/h/wg{i}", "h", "netpath.mtu.link_mtu", name="wg0", mtu=m)
             for i, m in enumerate(mtus)]
    assert remediation.host_plan(found, "h")["link_mtu"] == [
        {"name": "wg0", "mtu": expected, "findings": [f["id"] for f in found]}]


def test_interfaces_are_sorted_and_advice_without_module_is_kept():
    found = [finding("tunnel_mtu_too_large/h/wg1", "h", "netpath.mtu.link_mtu", name="wg1", mtu=1340),
             finding("tunnel_mtu_too_large/h/wg0", "h", "netpath.mtu.link_mtu", name="wg0", mtu=1380),
             finding("pmtud_black_hole/h/x/ipv4", "h", None)]
    plan = remediation.host_plan(found, "h")
    assert [e["name"] for e in plan["link_mtu"]] == ["wg0", "wg1"]
    assert plan["advice"] == ["pmtud_black_hole/h/x/ipv4"]


@pytest.mark.parametrize("findings, types, steps, message", [
    ({"findings": []}, FIXABLE, remediation.STEPS, "findings must be the list"),
    ([{"id": "x"}], FIXABLE, remediation.STEPS, "each finding needs id, type and fix"),
    ([], ["tunnel_mtu_too_large", "nope"], remediation.STEPS, "types: unknown nope"),
    ([], "tunnel_mtu_too_large", remediation.STEPS, "types must be a list"),
    ([], FIXABLE, ["link_mtu", "reboot"], "steps: unknown reboot"),
    ([finding("pmtud_disabled/h/a", "h", "ansible.posix.sysctl", name="n", value=0),
      finding("pmtud_disabled/h/b", "h", "ansible.posix.sysctl", name="n", value=1)], FIXABLE, remediation.STEPS,
     "findings ask for two values of n: 0 and 1"),
])
def test_plan_errors(findings, types, steps, message):
    with pytest.raises(ValueError, match=message):
        remediation.host_plan(findings, "h", types, steps)
    with pytest.raises(AnsibleFilterError, match="remediation_plan: " + message):
        filters.remediation_plan(findings, "h", types, steps)


# --- step records -----------------------------------------------------------------------------

LINK_FIX = {"name": "wg0", "mtu": 1340, "findings": ["tunnel_mtu_too_large/h/wg0"]}


@pytest.mark.parametrize("step, result, fix, expected", [
    ("link_mtu", {"changed": True, "previous_mtu": 1420, "mtu": 1340, "persist": {"status": "persisted", "manager": "wg-quick"}},
     LINK_FIX, {"target": "wg0", "changed": True, "summary": "MTU 1420 -> 1340; persisted: persisted (wg-quick)",
                "findings": ["tunnel_mtu_too_large/h/wg0"]}),
    ("link_mtu", {"changed": False, "previous_mtu": 1340, "mtu": 1340,
                  "persist": {"status": "not_persisted", "manager": None, "reason": "no configuration found"}},
     LINK_FIX, {"target": "wg0", "changed": False,
                "summary": "MTU 1340 -> 1340; persisted: not_persisted (no manager), no configuration found",
                "findings": ["tunnel_mtu_too_large/h/wg0"]}),
    ("icmp_policy", {"changed": True, "changes": [{"family": "ipv4", "hook": "forward", "reason": "dropped by rule 3"}],
                     "persisted": ["/etc/nftables.conf"]},
     ["b/1"], {"target": "firewall", "changed": True,
               "summary": "accept inserted in ipv4 forward, was dropped by rule 3; persisted in /etc/nftables.conf",
               "findings": ["b/1"]}),
    ("icmp_policy", {"changed": False, "changes": []}, ["b/1"],
     {"target": "firewall", "changed": False, "summary": "already accepted", "findings": ["b/1"]}),
    ("mss_clamp", {"changed": True, "backend": "iptables-nft",
                   "report": {"added": ["ipv4 forward: clamp to pmtu"], "removed": ["ipv4 forward: 1400"]}},
     ["m/1"], {"target": "iptables-nft", "changed": True,
               "summary": "added ipv4 forward: clamp to pmtu; removed ipv4 forward: 1400", "findings": ["m/1"]}),
    ("mss_clamp", {"changed": False, "backend": "nftables", "report": {"added": [], "removed": []}}, ["m/1"],
     {"target": "nftables", "changed": False, "summary": "already clamped", "findings": ["m/1"]}),
    ("sysctl", {"changed": True, "previous": "0", "value": "1", "file": "/etc/sysctl.d/90-netpath-mtu.conf"},
     {"name": "net.ipv4.tcp_mtu_probing", "value": "1", "findings": ["t/1"]},
     {"target": "net.ipv4.tcp_mtu_probing", "changed": True,
      "summary": "0 -> 1, persisted in /etc/sysctl.d/90-netpath-mtu.conf", "findings": ["t/1"]}),
])
def test_step_record(step, result, fix, expected):
    # Results without persistence (older modules, sysctl) make no claim about boot.
    assert remediation.step_record(step, result, fix) == dict(expected, step=step, persistence=None)
    assert filters.remediation_step(result, step, fix) == dict(expected, step=step, persistence=None)


WG_RUNTIME = {"state": "runtime_only", "files": ["/etc/wireguard/wg0.conf"], "loaded_by": None,
              "reason": "/etc/wireguard/wg0.conf is not loaded at boot (wg-quick@wg0.service is disabled): lost at reboot"}
NFT_UNKNOWN = {"state": "unknown", "files": ["/srv/fw.nft"], "loaded_by": None,
               "reason": "nothing this module knows loads /srv/fw.nft at boot"}
NFT_BOOT = {"state": "boot", "files": ["/etc/nftables.conf"], "loaded_by": "nftables.service",
            "reason": "nftables.service is enabled and loads /etc/nftables.conf at boot"}


@pytest.mark.parametrize("step, result, fix, tail", [
    ("link_mtu", {"changed": True, "previous_mtu": 1420, "mtu": 1340, "persistence": WG_RUNTIME,
                  "persist": {"status": "persisted", "manager": "wg-quick"}}, LINK_FIX,
     "persisted: persisted (wg-quick); RUNTIME ONLY: lost at reboot"),
    ("icmp_policy", {"changed": False, "changes": [], "persistence": NFT_UNKNOWN}, ["b/1"],
     "already accepted; NOT PROVEN to survive a reboot"),
    ("mss_clamp", {"changed": False, "backend": "nftables", "report": {}, "persistence": NFT_BOOT}, ["m/1"], "already clamped"),
])
def test_step_record_keeps_persistence(step, result, fix, tail):
    record = remediation.step_record(step, result, fix)
    assert record["persistence"] == result["persistence"] and record["summary"].endswith(tail)


PATH = {"source": "gw-a", "peer": "gw-b", "address": "198.19.0.2", "family": "ipv4", "tunnels": ["seed-wg0a"],
        "size": 1000000}


@pytest.mark.parametrize("result, status, ok, reason", [
    ({"status": "ok", "reason": "small and large complete", "throughput_bps": 8.0e6}, "ok", True, "small and large complete"),
    ({"status": "stalled", "reason": "large stalled after 2 s"}, "stalled", False, "large stalled after 2 s"),
    # The module itself failed (failed_when: false in the role): its msg is the reason.
    ({"failed": True, "msg": "connection refused"}, "failed", False, "connection refused"),
    ({}, "failed", False, "no result"),
])
def test_transfer_record(result, status, ok, reason):
    record = remediation.step_record("transfer", result, PATH)
    assert record == {"source": "gw-a", "peer": "gw-b", "address": "198.19.0.2", "family": "ipv4",
                      "tunnels": ["seed-wg0a"], "size": 1000000, "status": status, "ok": ok, "reason": reason,
                      "throughput_bps": result.get("throughput_bps")}


def test_transfer_record_keeps_the_capture_verdict():
    analysis = {"verdict": "segment_lost", "summary": "the data segment at relative sequence 24 ...",
                "first_lost": {"relative_seq": 24, "size": 1368}, "sender_packets": 40, "icmp_received": []}
    result = {"status": "stalled", "reason": "stalled", "capture": {"local": "/tmp/x.pcap", "analysis": analysis}}
    record = remediation.step_record("transfer", result, PATH)
    assert record["capture"] == {"verdict": "segment_lost", "summary": analysis["summary"],
                                 "first_lost": {"relative_seq": 24, "size": 1368}}
    assert "capture" not in remediation.step_record("transfer", {**result, "capture": None}, PATH)


@pytest.mark.parametrize("step, result, message", [
    ("reboot", {}, "step must be one of link_mtu, icmp_policy, mss_clamp, sysctl, transfer"),
    ("link_mtu", "changed", "must be a dict"),
])
def test_step_errors(step, result, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.remediation_step(result, step)


@pytest.mark.parametrize("task, result, allow, expected", [
    ("Set and persist the tunnel MTU", {"msg": "One or more items failed", "results": [
        {"item": {"name": "wg0"}, "failed": False},
        {"item": {"name": "nope0"}, "failed": True, "msg": "no interface named 'nope0'"}]}, False,
     "Set and persist the tunnel MTU failed: nope0: no interface named 'nope0'"),
    ("Set and persist the tunnel MTU", {"results": [
        {"item": {"name": "eth0"}, "failed": True, "msg": "eth0 carries the control connection", "control_interface": True}]},
     False, "Set and persist the tunnel MTU failed: eth0: eth0 carries the control connection - " + remediation.CONTROL_HINT),
    # With consent the hint would be wrong advice.
    ("Set and persist the tunnel MTU", {"results": [
        {"item": {"name": "eth0"}, "failed": True, "msg": "rolled back", "control_interface": True}]},
     True, "Set and persist the tunnel MTU failed: eth0: rolled back"),
    ("Make ICMP accepted", {"msg": "could not make ipv4 forward accepted: x"}, False,
     "Make ICMP accepted failed: could not make ipv4 forward accepted: x"),
    (None, {}, False, "a step failed: no message"),
])
def test_failure_message(task, result, allow, expected):
    assert remediation.failure(task, result, allow) == expected
    record = filters.remediation_host([], ["advice/1"], failed_result=result, failed_task=task, allow_control_interface=allow)
    assert record == {"steps": [], "changed": False, "error": expected, "advice": ["advice/1"], "transfers": []}


@pytest.mark.parametrize("steps, changed", [
    ([], False),
    ([{"changed": False}], False),
    ([{"changed": False}, {"changed": True}], True),
])
def test_host_record_changed(steps, changed):
    assert filters.remediation_host(steps)["changed"] is changed


def test_host_record_rejects_a_string():
    with pytest.raises(AnsibleFilterError, match="steps must be a list"):
        filters.remediation_host("link_mtu")


# --- report -----------------------------------------------------------------------------------

def _seed_hosts(transfers_ok: bool = True) -> dict:
    step = remediation.step_record("link_mtu", {"changed": True, "previous_mtu": 1420, "mtu": 1340,
                                                "persist": {"status": "persisted", "manager": "wg-quick"}},
                                   {"name": "seed-wg0a", "findings": SEED_GW_A_LINK_FINDINGS})
    transfer = remediation.step_record("transfer", {"status": "ok" if transfers_ok else "stalled", "reason": "r"}, PATH)
    return {"gw-a": remediation.host_record([step], transfers=[transfer]), "rtr": remediation.host_record(),
            "client-a": None}


def after_doc(remaining: list[str]) -> dict:
    doc = copy.deepcopy(seed_doc(check_mode=False))
    doc["findings"] = [f for f in doc["findings"] if f["id"] in remaining]
    doc["summary"]["findings_by_type"] = {t: sum(1 for f in doc["findings"] if f["type"] == t) for t in FIXABLE}
    return doc


def test_report_of_a_verified_run():
    before = seed_doc(check_mode=False)
    advice = "tcp_mtu_probing_off/gw-a/net.ipv4.tcp_mtu_probing"
    doc = remediation.build_report(before, after_doc([advice]), _seed_hosts(), types=FIXABLE[:4],
                                   generated_at="2026-01-01T00:00:00Z", report_dir="/r")
    s = doc["summary"]
    assert s["hosts"] == 3 and s["hosts_changed"] == ["gw-a"] and s["hosts_failed"] == ["client-a"]
    assert doc["hosts"]["client-a"]["error"] == remediation.NOT_RUN
    assert s["changes"] == 1 and s["findings_before"] == 22 and s["findings_after"] == 1
    # tcp_mtu_probing_off is not among the types this run fixes: it remains, but not as "fixable".
    assert s["remaining_fixable"] == [] and doc["findings"]["remaining"] == [advice]
    assert len(doc["findings"]["resolved"]) == 21 and doc["findings"]["new"] == []
    assert s["transfers"] == s["transfers_ok"] == 1 and s["verified"] is True
    assert doc["after_report"] == "/r/after" and doc["before_report"] == "/r/before"
    assert remediation.unproven(doc) is None
    assert json.loads(remediation.render(doc, "json")) == doc


def test_report_in_check_mode_is_not_verified():
    doc = remediation.build_report(seed_doc(), None, _seed_hosts(), check_mode=True, report_dir="/r")
    s = doc["summary"]
    assert s["verified"] is False and s["findings_after"] is None and s["remaining_fixable"] is None
    assert doc["after_report"] is None and doc["findings"]["remaining"] == sorted(doc["findings"]["before"])
    assert remediation.unproven(doc) is None
    md = remediation.render_markdown(doc)
    assert md.startswith("# Path MTU remediation (check mode: nothing was changed)")
    assert "| findings | 22 | not verified |" in md and "## Findings" not in md


@pytest.mark.parametrize("remaining, transfers_ok, expected", [
    (["tunnel_mtu_too_large/gw-a/seed-wg0a"], True,
     "After the changes 1 finding(s) remain (tunnel_mtu_too_large/gw-a/seed-wg0a) and 0 transfer(s) did not complete"),
    ([], False, "After the changes 0 finding(s) remain (none) and 1 transfer(s) did not complete"),
])
def test_unproven(remaining, transfers_ok, expected):
    doc = remediation.build_report(seed_doc(), after_doc(remaining), _seed_hosts(transfers_ok), report_dir="/r")
    assert remediation.render(doc, "unproven").startswith(expected)
    assert filters.remediation_report(doc, "unproven").endswith("see /r/remediation.md")


def test_markdown_and_summary():
    doc = remediation.build_report(seed_doc(), after_doc([]), _seed_hosts(), report_dir="/r",
                                   generated_at="2026-01-01T00:00:00Z")
    md = remediation.render_markdown(doc)
    assert "Generated 2026-01-01T00:00:00Z. 1 change(s) on 1 of 3 hosts; failed: client-a." in md
    assert "| findings | 22 | 0 |" in md and "| tunnel_mtu_too_large | 2 | 0 |" in md
    assert "| transfers through tunnels complete | | 1/1 |" in md
    assert "- CHANGED `link_mtu` seed-wg0a: MTU 1420 -> 1340; persisted: persisted (wg-quick) (fixes 5 finding(s):" in md
    assert "### rtr\n\n- nothing to do" in md
    assert f"**Stopped:** {remediation.NOT_RUN}" in md
    assert "- transfer 1000000 B to gw-b 198.19.0.2 (ipv4, seed-wg0a): **ok** - r" in md
    assert "- resolved (22):" in md and "- remaining (0): none" in md
    assert remediation.summary_lines(doc) == [
        "Remediation: 1 change(s) on 1/3 hosts; FAILED: client-a",
        "Findings: 22 before, 0 after (22 resolved)",
        "Transfers through tunnels: 1/1 complete",
        f"client-a: {remediation.NOT_RUN}",
        "Report: /r/remediation.{json,md}, before/, after/",
    ]


def _runtime_hosts() -> dict:
    link = remediation.step_record("link_mtu", {"changed": True, "previous_mtu": 1420, "mtu": 1340, "persistence": WG_RUNTIME,
                                                "persist": {"status": "persisted", "manager": "wg-quick"}}, LINK_FIX)
    mss = remediation.step_record("mss_clamp", {"changed": True, "backend": "nftables", "report": {}, "persistence": NFT_BOOT},
                                  ["m/1"])
    icmp = remediation.step_record("icmp_policy", {"changed": True, "changes": [], "persistence": NFT_UNKNOWN}, ["b/1"])
    sysctl = remediation.step_record("sysctl", {"changed": True, "previous": "0", "value": "1", "file": "/etc/sysctl.d/x.conf"},
                                     {"name": "net.ipv4.tcp_mtu_probing", "value": "1", "findings": []})
    return {"gw-a": remediation.host_record([link, mss, sysctl]), "rtr": remediation.host_record([icmp]),
            "gw-b": remediation.host_record([mss])}


@pytest.mark.parametrize("check_mode, verb", [(False, "are"), (True, "would be")])
def test_runtime_only_comes_first(check_mode, verb):
    doc = remediation.build_report(seed_doc(), None, _runtime_hosts(), check_mode=check_mode, report_dir="/r")
    assert doc["runtime_only"] == [
        {"host": "gw-a", "step": "link_mtu", "target": "wg0", "state": "runtime_only",
         "files": ["/etc/wireguard/wg0.conf"], "reason": WG_RUNTIME["reason"]},
        {"host": "rtr", "step": "icmp_policy", "target": "firewall", "state": "unknown",
         "files": ["/srv/fw.nft"], "reason": NFT_UNKNOWN["reason"]},
    ]
    assert (doc["summary"]["runtime_only"], doc["summary"]["persistence_unknown"]) == (1, 1)
    assert json.loads(remediation.render(doc, "json"))["summary"]["runtime_only"] == 1
    md = remediation.render_markdown(doc)
    lines = md.splitlines()
    # The heading comes right after the title, before the counts and the per-host details.
    assert lines[2] == remediation.RUNTIME_ONLY_HEADING == "## Runtime only: lost at reboot"
    assert lines[4].startswith(f"**2 change(s) {verb} live but not (provably) loaded at boot")
    assert lines[6] == ("- **gw-a** `link_mtu` wg0 (/etc/wireguard/wg0.conf): **runtime only** - "
                        + WG_RUNTIME["reason"])
    assert lines[7] == ("- **rtr** `icmp_policy` firewall (/srv/fw.nft): **not proven to survive a reboot** - "
                        + NFT_UNKNOWN["reason"])
    assert md.index("## Runtime only") < md.index("Generated") < md.index("## Changes per host")
    assert "gw-b" not in md.split("## Changes per host", maxsplit=1)[0]  # its clamp is loaded at boot
    assert remediation.summary_lines(doc)[1] == ("RUNTIME ONLY - lost at reboot: 1 change(s), not proven to survive it: 1 "
                                                 "(hosts: gw-a, rtr); see remediation.md")


def test_no_runtime_only_section_when_everything_is_loaded_at_boot():
    hosts = _runtime_hosts()
    hosts.pop("rtr")
    hosts["gw-a"]["steps"] = hosts["gw-a"]["steps"][1:]
    doc = remediation.build_report(seed_doc(), None, hosts, report_dir="/r")
    assert doc["runtime_only"] == [] and doc["summary"]["runtime_only"] == 0
    assert "Runtime only" not in remediation.render_markdown(doc)
    assert not any("RUNTIME ONLY" in line for line in remediation.summary_lines(doc))


@pytest.mark.parametrize("data, fmt, message", [
    ({"before": None, "after": None, "hosts": []}, "data", "hosts must be a dict"),
    ([], "data", "the input must be a dict"),
    ({}, "html", "format must be one of data, json, markdown, summary, unproven"),
])
def test_report_errors(data, fmt, message):
    with pytest.raises(AnsibleFilterError, match="remediation_report: " + message):
        filters.remediation_report(data, fmt)
