# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The by-hand commands for icmp_policy's plan: one table row per firewall layout the evaluator knows.

The cmd-* fixtures are the rulesets of the icmp_commands integration target's hosts (nft -j list
ruleset, nft -a list ruleset, iptables-save), where the same commands are run as printed.
"""

from __future__ import annotations

import json
import os
import shlex

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_commands
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import Snapshot

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
COMMENT = "'\"netpath.mtu icmp_policy\"'"  # the nft comment string, quoted for the shell
V4 = f"icmp type destination-unreachable icmp code frag-needed accept comment {COMMENT}"
V6 = f"icmpv6 type packet-too-big accept comment {COMMENT}"
IPT4 = "-p icmp -m icmp --icmp-type 3/4 -m comment --comment 'netpath.mtu icmp_policy' -j ACCEPT"
IPT6 = "-p ipv6-icmp -m icmp6 --icmpv6-type 2 -m comment --comment 'netpath.mtu icmp_policy' -j ACCEPT"


def read(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def host(name: str, framework: str | None = None) -> Snapshot:
    """A lab host's firewall as icmp_policy reads it."""
    snap = Snapshot(nft=read(f"cmd-{name}.nft.json"), listing=read(f"cmd-{name}.nft.txt"))
    if framework:
        snap.iptables = {(framework, "ipv4"): read(f"cmd-{name}.v4.save"), (framework, "ipv6"): read(f"cmd-{name}.v6.save")}
    return snap


LAYOUTS = [
    pytest.param("native", None, {}, [
        f"nft insert rule inet filter input handle 4 {V4}",
        f"nft insert rule inet filter input handle 5 {V6}",
    ], id="nftables-drop-in-its-table"),
    pytest.param("hard", None, {}, [
        f"nft insert rule inet hardening input handle 3 {V4}",
        f"nft insert rule inet hardening input handle 4 {V6}",
    ], id="accept-in-filter-drop-in-hardening"),
    pytest.param("rtr", None, {}, [
        f"nft insert rule inet hardening output handle 2 {V4}",
        f"nft insert rule inet hardening output handle 3 {V6}",
    ], id="router-output-drop-in-hardening"),
    pytest.param("pol", None, {}, [
        f"nft add rule inet fw input {V4}",
        f"nft add rule inet fw input {V6}",
    ], id="input-policy-drop-without-related"),
    pytest.param("inval", None, {"fix_untracked": True}, [
        f"nft insert rule inet fw input handle 4 {V4}",
        f"nft insert rule inet fw input handle 4 {V6}",
    ], id="invalid-drop-untracked"),
    pytest.param("xtn", "iptables-nft", {}, [
        f"iptables-nft -w 60 -t filter -I INPUT 1 {IPT4}",
        f"ip6tables-nft -w 60 -t filter -I INPUT 1 {IPT6}",
    ], id="iptables-nft-input"),
    pytest.param("leg", "iptables-legacy", {}, [
        f"iptables-legacy -w 60 -t filter -I INPUT 1 {IPT4}",
        f"ip6tables-legacy -w 60 -t filter -I INPUT 1 {IPT6}",
    ], id="iptables-legacy-input"),
    pytest.param("hard", None, {"families": ("ipv6",)}, [
        f"nft insert rule inet hardening input handle 4 {V6}",
    ], id="ipv6-packet-too-big-only"),
]


@pytest.mark.parametrize("name, framework, options, expected", LAYOUTS)
def test_commands_come_from_the_deciding_rule(name, framework, options, expected):
    snap = host(name, framework)
    before, dummy, dummy_rs = fw_plan.evaluate(snap)
    fix = fw_commands.icmp_fix(fw_plan.plan_icmp(snap, **options))
    assert fix["commands"] == expected
    assert fix["unresolved"] == []
    # The printed line is the argv, quoted: the shell gives nft / iptables exactly these words.
    assert [shlex.split(line) for line in fix["commands"]] == fix["argv"]
    assert [c for change in fix["changes"] for c in change["commands"]] == expected
    # Each command names the chain (and table) of the rule that decided, never a fixed one.
    deciding = {(r["family"], r["hook"]): r["untracked"]["rule"] if options.get("fix_untracked") and r["verdict"] == "accepted"
                else r["rule"] for r in before}
    for change, argv in zip(fix["changes"], fix["argv"]):
        rule = deciding[(change["family"], change["hook"])]
        assert rule["chain"] in argv and rule["table"] in argv
        if "policy" in rule:  # the end of the chain whose policy drops
            assert argv[1] == "add" or "-A" in argv
        elif argv[0] == "nft":  # right before the dropping rule
            assert argv[1:3] == ["insert", "rule"] and argv[argv.index("handle") + 1] == str(rule["handle"])
        else:
            assert argv[argv.index("-I") + 1:argv.index("-I") + 3] == [rule["chain"], str(rule["position"])]


def test_iptables_legacy_input_drop_is_fixed_in_input_not_output():
    fix = fw_commands.icmp_fix(fw_plan.plan_icmp(host("leg", "iptables-legacy"), hooks=("input", "output")))
    assert [argv[:7] for argv in fix["argv"]] == [
        ["iptables-legacy", "-w", "60", "-t", "filter", "-I", "INPUT"],
        ["ip6tables-legacy", "-w", "60", "-t", "filter", "-I", "INPUT"],
    ]


def test_an_accept_in_filter_is_not_the_fix():
    """The fixed-template command (an accept in inet filter) would change nothing on "hard"."""
    fix = fw_commands.icmp_fix(fw_plan.plan_icmp(host("hard"), families=("ipv4",)))
    assert fix["changes"][0]["table"] == "hardening"
    assert not any("filter" in argv for argv in fix["argv"])


def test_nothing_to_do_prints_nothing():
    plan = fw_plan.plan_icmp(host("hard"))
    fixed = fw_plan.plan_icmp(plan["snapshot"])
    assert fw_commands.icmp_fix(fixed) == {"commands": [], "argv": [], "changes": [], "unresolved": []}


def test_unresolved_is_kept_and_nothing_printed_for_it():
    plan = fw_plan.plan_icmp(Snapshot(nft=read("cases/queue.json")), hooks=("forward",))
    fix = fw_commands.icmp_fix(plan)
    assert fix["commands"] == [] and fix["unresolved"] == plan["unresolved"] != []


@pytest.mark.parametrize("command, expected", [
    ({"add": {"rule": {"family": "ip6", "table": "t", "chain": "c",
                       "expr": fw_plan.ptb_nft_expr("ipv6", "ip6"), "comment": fw_plan.ICMP_COMMENT}}},
     f"nft add rule ip6 t c {V6}"),
    ({"insert": {"rule": {"family": "netdev", "table": "edge", "chain": "ingress", "handle": 9,
                          "expr": fw_plan.ptb_nft_expr("ipv4", "netdev"), "comment": fw_plan.ICMP_COMMENT}}},
     f"nft insert rule netdev edge ingress handle 9 meta protocol ip {V4}"),
    # A name nft would read as a keyword is quoted for nft, then for the shell.
    ({"insert": {"rule": {"family": "inet", "table": "table", "chain": "in put", "handle": 3,
                          "expr": fw_plan.ptb_nft_expr("ipv4", "inet"), "comment": fw_plan.ICMP_COMMENT}}},
     f"nft insert rule inet '\"table\"' '\"in put\"' handle 3 {V4}"),
])
def test_nft_argv(command, expected):
    assert fw_commands.shell(fw_commands.nft_argv(command)) == expected


def test_nft_argv_refuses_other_commands():
    with pytest.raises(ValueError):
        fw_commands.nft_argv({"delete": {"rule": {}}})


def firewalld_results() -> list:
    """firewalld's zone drops frag-needed / PTB (without its "ct state established,related accept")."""
    doc = json.loads(read("cases/firewalld_like.json"))
    doc["nftables"] = [o for o in doc["nftables"] if o.get("rule", {}).get("handle") not in (6, 7)]
    return fw_plan.plan_icmp(Snapshot(nft=doc), hooks=("input",))


@pytest.mark.parametrize("inversion, option", [(False, "--remove-icmp-block"), (True, "--add-icmp-block")])
def test_firewalld_rendering(inversion, option):
    plan = firewalld_results()
    assert {u["hook"] for u in plan["unresolved"]} == {"input"}
    changes = fw_commands.firewalld_fixes(plan["results"], False, {"public": inversion})
    fix = fw_commands.icmp_fix(plan, changes)
    assert fix["commands"] == [
        f"firewall-cmd --zone=public {option}=fragmentation-needed",
        f"firewall-cmd --permanent --zone=public {option}=fragmentation-needed",
        f"firewall-cmd --zone=public {option}=packet-too-big",
        f"firewall-cmd --permanent --zone=public {option}=packet-too-big",
    ]
    assert fix["unresolved"] == []
    assert [(c["family"], c["framework"], c["zone"]) for c in fix["changes"]] == [
        ("ipv4", "firewalld", "public"), ("ipv6", "firewalld", "public")]
