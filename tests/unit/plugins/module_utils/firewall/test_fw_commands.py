# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The by-hand commands for icmp_policy's plan (one table row per firewall layout the evaluator knows)
and for mss_clamp's (its nftables transaction line by line, its iptables and firewall-cmd argv).

The cmd-* fixtures are the rulesets of the icmp_commands integration target's hosts (nft -j list
ruleset, nft -a list ruleset, iptables-save), where the same commands are run as printed.
"""

from __future__ import annotations

import json
import os
import shlex

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import firewalld
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_commands
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import mss_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval
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


# --- mss_clamp ------------------------------------------------------------------------------

def mss_clamps(**options) -> list:
    return mss_plan.desired(families=["ipv4", "ipv6"], chains=options.pop("chains", ["forward"]), **options)


@pytest.mark.parametrize("command, expected", [
    ({"add": {"table": {"family": "inet", "name": "netpath_mtu"}}}, "nft add table inet netpath_mtu"),
    ({"delete": {"table": {"family": "inet", "name": "netpath_mtu"}}}, "nft delete table inet netpath_mtu"),
    ({"add": {"chain": {"family": "inet", "table": "netpath_mtu", "name": "postrouting", "type": "filter",
                        "hook": "postrouting", "prio": -150, "policy": "accept"}}},
     "nft add chain inet netpath_mtu postrouting '{ type filter hook postrouting priority -150; policy accept; }'"),
])
def test_nft_cli_argv(command, expected):
    assert fw_commands.shell(fw_commands.nft_cli_argv(command)) == expected


@pytest.mark.parametrize("command", [{"flush": {"ruleset": None}}, {"delete": {"chain": {"name": "x"}}}])
def test_nft_cli_argv_refuses_what_it_cannot_render(command):
    with pytest.raises(ValueError):
        fw_commands.nft_cli_argv(command)


def test_mss_nft_lines_are_the_transaction_and_list_as_nft_lists_them():
    clamps = mss_clamps(interface="wg0", chains=["forward", "output"]) + mss_clamps(interface="wg9", mtu=1420)
    plan = mss_plan.plan_nft([], [], clamps=clamps, state="present")
    fix = fw_commands.mss_fix("nftables", {"nft": plan["commands"]}, plan["report"])
    assert len(fix["commands"]) == len(plan["commands"]) == len(fix["argv"])
    assert fix["commands"][:3] == ["nft add table inet netpath_mtu", "nft delete table inet netpath_mtu",
                                   "nft add table inet netpath_mtu"]
    # Each printed rule, as the shell hands it to nft, is the rule as `nft list ruleset` shows it afterwards
    # (mss-ours.nft.txt is that listing of these very clamps).
    listed = [line.split(" # handle")[0].strip() for line in read("mss-ours.nft.txt").splitlines() if "maxseg" in line]
    printed = []
    for line in fix["commands"]:
        argv = shlex.split(line)
        if argv[:3] == ["nft", "add", "rule"]:
            printed.append(" ".join(argv[6:]))
    assert printed == listed
    assert {c["action"] for c in fix["changes"]} == {"added"} and len(fix["changes"]) == 6


def test_mss_nothing_to_do_prints_nothing():
    rs_rules, bases = nft_rules("mss-ours.nft.json")
    clamps = mss_clamps(interface="wg0", chains=["forward", "output"]) + mss_clamps(interface="wg9", mtu=1420)
    plan = mss_plan.plan_nft(rs_rules, bases, clamps=clamps, state="present")
    fix = fw_commands.mss_fix("nftables", {"nft": plan["commands"]}, plan["report"])
    assert fix == {"backend": "nftables", "commands": [], "argv": [], "changes": [], "unresolved": []}


def nft_rules(name: str) -> tuple:
    rs, dummy, rules = nft_eval.parse(read(name))
    return rules, rs.bases


def test_mss_iptables_lines_replace_a_stale_clamp_per_family_binary():
    stale = ("*mangle\n:FORWARD ACCEPT [0:0]\n-A FORWARD -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN "
             f"-m comment --comment \"{fw_plan.MSS_COMMENT}\" -j TCPMSS --set-mss 1300\nCOMMIT\n")
    commands: list = []
    report: dict = {"added": [], "removed": [], "misplaced": []}
    for family, binary in (("ipv4", "iptables-nft"), ("ipv6", "ip6tables-nft")):
        clamps = [c for c in mss_clamps(interface="wg0", mtu=1420) if c.family == family]
        plan = mss_plan.plan_iptables(stale, family=family, clamps=clamps, state="present", binary=binary)
        commands += plan["commands"]
        for key in report:
            report[key] += plan["report"][key]
    fix = fw_commands.mss_fix("iptables-nft", {"iptables": commands}, report)
    tail = "-p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment 'netpath.mtu mss_clamp' -j TCPMSS --set-mss"
    assert fix["commands"] == [
        f"iptables-nft -w 60 -t mangle -D FORWARD -o wg0 {tail} 1300",
        f"iptables-nft -w 60 -t mangle -I FORWARD 1 -o wg0 {tail} 1380",
        f"ip6tables-nft -w 60 -t mangle -D FORWARD -o wg0 {tail} 1300",
        f"ip6tables-nft -w 60 -t mangle -I FORWARD 1 -o wg0 {tail} 1360",
    ]
    assert [shlex.split(line) for line in fix["commands"]] == fix["argv"] == commands
    assert [c["action"] for c in fix["changes"]] == ["added", "added", "removed", "removed"]


def test_mss_firewalld_lines_name_the_policy():
    clamps = mss_clamps(mtu=1420)
    plan = firewalld.plan_mss(kind="policy", name="to-tunnel", clamps=clamps, state="present",
                              runtime=['rule family="ipv4" tcp-mss-clamp value="1380"'], permanent=[])
    fix = fw_commands.mss_fix("firewalld", {"firewalld": plan["commands"]}, {"added": ["x"]})
    assert fix["commands"] == [
        "firewall-cmd --permanent --policy=to-tunnel '--add-rich-rule=rule family=\"ipv4\" tcp-mss-clamp value=\"1380\"'",
        "firewall-cmd --policy=to-tunnel '--add-rich-rule=rule family=\"ipv6\" tcp-mss-clamp value=\"1360\"'",
        "firewall-cmd --permanent --policy=to-tunnel '--add-rich-rule=rule family=\"ipv6\" tcp-mss-clamp value=\"1360\"'",
    ]
