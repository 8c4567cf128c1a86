# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""icmp_policy's plan: where the accepts go, the exact commands, and the persisted configuration."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import ICMP_COMMENT, Snapshot

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
V4_ACCEPT = ["-p", "icmp", "-m", "icmp", "--icmp-type", "3/4", "-m", "comment", "--comment", ICMP_COMMENT, "-j", "ACCEPT"]
V6_ACCEPT = ["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", "2", "-m", "comment", "--comment", ICMP_COMMENT,
             "-j", "ACCEPT"]
V4_EXPR = [
    {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "destination-unreachable"}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "code"}}, "right": "frag-needed"}},
    {"accept": None},
]
V6_EXPR = [{"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": "packet-too-big"}},
           {"accept": None}]


def read(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def nft(name: str) -> Snapshot:
    return Snapshot(nft=read(f"{name}.nft.json"), listing=read(f"{name}.nft.txt"))


def ipt(host: str, framework: str) -> Snapshot:
    return Snapshot(iptables={(framework, "ipv4"): read(f"{host}.v4.save"), (framework, "ipv6"): read(f"{host}.v6.save")})


def again(plan: dict) -> dict:
    """Plan once more on the planned result: nothing left to do, ever."""
    return fw_plan.plan_icmp(plan["snapshot"])


def test_router_gets_accepts_before_its_drops():
    plan = fw_plan.plan_icmp(nft("rtr"))
    assert plan["nft_commands"] == [
        {"insert": {"rule": {"family": "inet", "table": "filter", "chain": "output", "expr": V4_EXPR,
                             "comment": ICMP_COMMENT, "handle": 4}}},
        {"insert": {"rule": {"family": "inet", "table": "filter", "chain": "output", "expr": V6_EXPR,
                             "comment": ICMP_COMMENT, "handle": 5}}},
    ]
    assert plan["iptables_commands"] == [] and plan["unresolved"] == []
    assert [(c["family"], c["hook"], c["before"]) for c in plan["changes"]] == [
        ("ipv4", "output", "icmp type destination-unreachable icmp code frag-needed drop"),
        ("ipv6", "output", "icmpv6 type packet-too-big drop"),
    ]
    assert plan["diffs"] == [{
        "chain": "nftables inet filter output",
        "before": ["type filter hook output priority 0; policy accept;",
                   "icmp type destination-unreachable icmp code frag-needed drop",
                   "icmpv6 type packet-too-big drop"],
        "after": ["type filter hook output priority 0; policy accept;",
                  f'icmp type destination-unreachable icmp code frag-needed accept comment "{ICMP_COMMENT}"',
                  "icmp type destination-unreachable icmp code frag-needed drop",
                  f'icmpv6 type packet-too-big accept comment "{ICMP_COMMENT}"',
                  "icmpv6 type packet-too-big drop"],
    }]
    assert {(r["family"], r["hook"], r["verdict"]) for r in plan["results"]} == {
        (f, h, "accepted") for f in ("ipv4", "ipv6") for h in ("input", "forward", "output")}
    assert fw_plan.icmp_block(plan["snapshot"]) == [
        f'insert rule inet filter output index 0 icmp type destination-unreachable icmp code frag-needed accept comment "{ICMP_COMMENT}"',
        f'insert rule inet filter output index 2 icmpv6 type packet-too-big accept comment "{ICMP_COMMENT}"',
    ]
    assert json.loads(fw_plan.nft_transaction(plan["nft_commands"])) == {"nftables": plan["nft_commands"]}
    assert again(plan)["nft_commands"] == []


def test_policy_drops_get_an_accept_at_the_end_of_the_chain():
    plan = fw_plan.plan_icmp(nft("nft-pol"))
    commands = [(next(iter(c)), c[next(iter(c))]["rule"]["chain"], c[next(iter(c))]["rule"].get("handle"))
                for c in plan["nft_commands"]]
    # forward: policy drop -> appended ("add"); output: before "meta l4proto { icmp, ipv6-icmp } drop" (handle 8)
    assert commands == [("add", "forward", None), ("insert", "output", 8), ("add", "forward", None), ("insert", "output", 8)]
    # tracked errors are accepted on input already (ct state related); untracked ones are left alone by default
    assert not any(c["hook"] == "input" for c in plan["changes"])
    untracked = fw_plan.plan_icmp(nft("nft-pol"), fix_untracked=True)
    assert [c["hook"] for c in untracked["changes"]].count("input") == 2
    assert all(r["untracked"]["verdict"] == "accepted" for r in untracked["results"])
    assert fw_plan.icmp_block(plan["snapshot"]) == [
        f'add rule inet fw forward {fw_plan.ptb_nft_text("ipv4")}',
        f'add rule inet fw forward {fw_plan.ptb_nft_text("ipv6")}',
        f'insert rule inet fw output index 0 {fw_plan.ptb_nft_text("ipv4")}',
        f'insert rule inet fw output index 1 {fw_plan.ptb_nft_text("ipv6")}',
    ]


def test_the_accept_goes_where_the_drop_is_not_into_another_table():
    plan = fw_plan.plan_icmp(nft("nft-trap"))
    assert [(c["table_family"], c["table"], c["chain"]) for c in plan["changes"]] == [
        ("ip", "other", "output"), ("ip6", "other6", "output")]


def test_drop_behind_a_jump_is_fixed_in_the_chain_it_is_in():
    plan = fw_plan.plan_icmp(nft("nft-rule"), hooks=("output",))
    assert [(c["chain"], c["before"]) for c in plan["changes"]] == [
        ("pmtu", "icmp type destination-unreachable icmp code frag-needed drop"),
        ("pmtu", "icmpv6 type packet-too-big drop")]


@pytest.mark.parametrize("framework, binary, binary6", [
    ("iptables-legacy", "iptables-legacy", "ip6tables-legacy"), ("iptables-nft", "iptables-nft", "ip6tables-nft")])
def test_iptables_commands(framework, binary, binary6):
    host = "leg-pol" if framework == "iptables-legacy" else "xtn-pol"
    plan = fw_plan.plan_icmp(ipt(host, framework))
    assert plan["iptables_commands"] == [
        [binary, "-w", "60", "-t", "filter", "-A", "FORWARD"] + V4_ACCEPT,
        [binary, "-w", "60", "-t", "filter", "-I", "OUTPUT", "1"] + V4_ACCEPT,
        [binary6, "-w", "60", "-t", "filter", "-A", "FORWARD"] + V6_ACCEPT,
        [binary6, "-w", "60", "-t", "filter", "-I", "OUTPUT", "1"] + V6_ACCEPT,
    ]
    assert plan["nft_commands"] == []
    assert again(plan)["iptables_commands"] == []


def test_iptables_position_counts_from_one_in_the_blocking_chain():
    plan = fw_plan.plan_icmp(ipt("leg-rule", "iptables-legacy"), families=("ipv4",), fix_untracked=True)
    assert [argv[4:8] for argv in plan["iptables_commands"]] == [
        ["filter", "-I", "INPUT", "1"], ["filter", "-I", "FORWARD", "1"], ["filter", "-I", "PMTU", "1"]]


def test_firewalld_table_is_not_edited():
    snap = Snapshot(nft=read("cases/firewalld_like.json"), listing=read("cases/firewalld_like.txt"))
    plan = fw_plan.plan_icmp(snap, hooks=("input",), fix_untracked=True)
    assert plan["nft_commands"] == []
    assert {u["family"] for u in plan["unresolved"]} == {"ipv4", "ipv6"}
    # untracked errors die at "ct state invalid drop" in firewalld's base chain, before any zone setting
    assert all(u["reason"].startswith("untracked: dropped by 'ct state invalid drop'") and
               "firewalld's own base chain" in u["reason"] for u in plan["unresolved"])
    # without that rule the zone's icmp-block decides, and that is firewall-cmd's job
    doc = json.loads(read("cases/firewalld_like.json"))
    doc["nftables"] = [o for o in doc["nftables"] if o.get("rule", {}).get("handle") not in (6, 7)]
    plan = fw_plan.plan_icmp(Snapshot(nft=doc), hooks=("input",))
    assert plan["nft_commands"] == []
    assert all("zone or policy public" in u["reason"] and "firewall-cmd" in u["reason"] for u in plan["unresolved"])


def test_iptables_nft_tables_are_not_edited_natively():
    plan = fw_plan.plan_icmp(Snapshot(nft=read("xtn-pol.nft.json")), hooks=("output",))
    assert plan["nft_commands"] == []
    assert any("iptables-nft" in u["reason"] for u in plan["unresolved"])


def test_unknown_verdicts_are_reported_not_fixed():
    plan = fw_plan.plan_icmp(Snapshot(nft=read("cases/queue.json")), hooks=("forward",))
    assert plan["nft_commands"] == []
    assert plan["unresolved"] == [{"family": "ipv4", "hook": "forward",
                                   "reason": "decided by queue to userspace, which cannot be evaluated statically"}]


def test_only_the_requested_families_and_hooks():
    plan = fw_plan.plan_icmp(nft("mixed"), families=("ipv6",), hooks=("forward",))
    assert {(c["family"], c["hook"]) for c in plan["changes"]} == {("ipv6", "forward")}
    # reject, "ip6 nexthdr ipv6-icmp ... drop" and "counter drop": one accept before the first does it
    assert len(plan["changes"]) == 1 and plan["changes"][0]["before"].startswith("icmpv6 type packet-too-big reject")


# --- persistence ----------------------------------------------------------------------------

SAVED = "# Generated by iptables-save v1.8.9 on Mon Nov 23 18:52:50 2026\n" + read("leg-rule.v4.save") + \
    "# Completed on Mon Nov 23 18:52:50 2026\n*mangle\n:PREROUTING ACCEPT [12:3456]\n:INPUT ACCEPT [0:0]\n" \
    ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"


def test_saved_iptables_rules_get_the_same_fix():
    new, changes = fw_plan.plan_icmp_file(SAVED, framework="iptables-legacy", family="ipv4")
    lines = new.splitlines()
    accept = fw_plan.save_line("X", V4_ACCEPT)[len("-A X "):]
    assert lines[lines.index("-A FORWARD -p icmp -m icmp --icmp-type 3 -j DROP") - 1] == f"-A FORWARD {accept}"
    assert lines[lines.index("-A PMTU -p icmp -m icmp --icmp-type 3/4 -j DROP") - 1] == f"-A PMTU {accept}"
    assert lines[0].startswith("# Generated by")  # comments and the untouched mangle table (with counters) stay
    assert ":PREROUTING ACCEPT [12:3456]" in lines
    assert [c["hook"] for c in changes] == ["forward", "output"]
    assert fw_plan.plan_icmp_file(new, framework="iptables-legacy", family="ipv4") == (None, [])
    assert fw_plan.plan_icmp_file(None, framework="iptables-legacy", family="ipv4") == (None, [])


def test_managed_block():
    config = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n"
    body = ["insert rule inet filter input index 0 icmpv6 type packet-too-big accept"]
    first = fw_plan.replace_block(config, "icmp_policy", body)
    assert first.startswith(config)
    assert fw_plan.get_block(first, "icmp_policy") == body
    assert fw_plan.replace_block(first, "icmp_policy", body) == first
    changed = fw_plan.replace_block(first, "icmp_policy", ["add rule inet filter input accept"])
    assert changed.count("# BEGIN netpath.mtu icmp_policy") == 1
    both = fw_plan.replace_block(changed, "mss_clamp", ["table inet netpath_mtu"])
    assert fw_plan.get_block(both, "icmp_policy") == ["add rule inet filter input accept"]
    assert fw_plan.replace_block(fw_plan.replace_block(both, "mss_clamp", []), "icmp_policy", []) == config
    assert fw_plan.replace_block(None, "icmp_policy", []) == ""


def test_two_blocks_keep_their_places():
    # icmp_policy then mss_clamp: icmp_policy's next run must not move its block behind mss_clamp's (it did,
    # so each module reported changed after the other had run; the lab's concurrency case found it).
    config = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n"
    both = fw_plan.replace_block(fw_plan.replace_block(config, "icmp_policy", ["insert rule a"]), "mss_clamp",
                                 ["table inet netpath_mtu"])
    for name, body in (("icmp_policy", ["insert rule a"]), ("mss_clamp", ["table inet netpath_mtu"])):
        assert fw_plan.replace_block(both, name, body) == both
    # a changed body stays where the block was
    moved = fw_plan.replace_block(both, "icmp_policy", ["insert rule b"])
    assert moved.index("insert rule b") < moved.index("netpath_mtu")
    assert moved == both.replace("insert rule a", "insert rule b")


def test_block_appends_when_only_our_rules_follow():
    plan = fw_plan.plan_icmp(nft("nft-pol"), hooks=("forward",))
    block = fw_plan.icmp_block(plan["snapshot"])
    assert [line.split(" icmp")[0] for line in block] == ["add rule inet fw forward", "add rule inet fw forward"]


@pytest.mark.parametrize("present, nft_path, v4, v6", [
    ({"/etc/nftables.conf", "/etc/debian_version"}, "/etc/nftables.conf", "/etc/iptables/rules.v4",
     "/etc/iptables/rules.v6"),
    ({"/etc/sysconfig/nftables.conf", "/etc/sysconfig"}, "/etc/sysconfig/nftables.conf", "/etc/sysconfig/iptables",
     "/etc/sysconfig/ip6tables"),
    (set(), "/etc/nftables.conf", "/etc/iptables/rules.v4", "/etc/iptables/rules.v6"),
])
def test_default_paths(present, nft_path, v4, v6):
    assert fw_plan.nft_config_path(present.__contains__) == nft_path
    assert fw_plan.iptables_rules_path("ipv4", present.__contains__) == v4
    assert fw_plan.iptables_rules_path("ipv6", present.__contains__) == v6
