# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mss_clamp's rules per backend: rendering, recognising what is there, plans, persisted files."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import mss_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import MSS_COMMENT, Snapshot
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.mss_plan import Clamp

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
C = f'-m comment --comment "{MSS_COMMENT}"'


def read(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def want(**kwargs) -> list:
    kwargs.setdefault("families", ["ipv4", "ipv6"])
    kwargs.setdefault("chains", ["forward"])
    return mss_plan.desired(**kwargs)


@pytest.mark.parametrize("kwargs, clamps", [
    ({}, [Clamp("ipv4", "forward", None, None, None), Clamp("ipv6", "forward", None, None, None)]),
    ({"mtu": 1420, "interface": "wg0"},
     [Clamp("ipv4", "forward", "out", "wg0", 1380), Clamp("ipv6", "forward", "out", "wg0", 1360)]),
    ({"mss": 1300, "families": ["ipv4"], "interface": "wg0", "direction": "both"},
     [Clamp("ipv4", "forward", "out", "wg0", 1300), Clamp("ipv4", "forward", "in", "wg0", 1300)]),
    ({"mss": 1400, "families": ["inet6"]}, [Clamp("ipv6", "forward", None, None, 1380)]),
    ({"chains": ["output", "POSTROUTING"], "interface": "tun0", "direction": "in", "families": ["4"]},
     [Clamp("ipv4", "output", "out", "tun0", None), Clamp("ipv4", "postrouting", "out", "tun0", None)]),
])
def test_desired(kwargs, clamps):
    assert want(**kwargs) == clamps


@pytest.mark.parametrize("kwargs, message", [
    ({"mss": 1300, "mtu": 1340}, "either mss or mtu"),
    ({"mtu": 1000}, "below 1280, the IPv6 minimum"),
    ({"mtu": 60, "families": ["ipv4"]}, "below 68"),
    ({"mss": 1200}, "IPv6 uses mss - 20"),
    ({"mss": 40, "families": ["ipv4"]}, "outside 88..65495"),
    ({"chains": ["prerouting"]}, "chain 'prerouting' must be one of"),
    ({"chains": []}, "at least one"),
    ({"families": []}, "family must name"),
    ({"families": ["ipx"]}, "'ipv4' or 'ipv6'"),
    ({"interface": "eth 0"}, "not a valid Linux interface name"),
    ({"interface": "a-very-long-interface"}, "at most 15 characters"),
    ({"direction": "sideways", "interface": "wg0"}, "interface_direction"),
    ({"mss": "lots"}, "whole number"),
])
def test_desired_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        want(**kwargs)


# --- iptables -------------------------------------------------------------------------------

@pytest.mark.parametrize("clamp, line", [
    (Clamp("ipv4", "forward", None, None, None),
     f"-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN {C} -j TCPMSS --clamp-mss-to-pmtu"),
    (Clamp("ipv6", "postrouting", "out", "wg0", 1360),
     f"-A POSTROUTING -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN {C} -j TCPMSS --set-mss 1360"),
    (Clamp("ipv4", "forward", "in", "wg0", 1380),
     f"-A FORWARD -i wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN {C} -j TCPMSS --set-mss 1380"),
])
def test_iptables_line_is_what_iptables_save_prints(clamp, line):
    assert mss_plan.iptables_line(clamp) == line
    assert mss_plan.parse_iptables_clamp(line, clamp.family) == {"clamp": clamp, "ours": True, "pure": True}


@pytest.mark.parametrize("line, clamp, ours, pure", [
    ("-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu",
     Clamp("ipv4", "forward", None, None, None), False, True),
    ("-A FORWARD -o wg0 -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380",
     Clamp("ipv4", "forward", "out", "wg0", 1380), False, True),
    ("-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment other -j TCPMSS --set-mss 1380",
     Clamp("ipv4", "forward", None, None, 1380), False, True),
    ("-A FORWARD -s 10.0.0.0/8 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu",
     Clamp("ipv4", "forward", None, None, None), False, False),
    ("-A FORWARD -p tcp --syn -j TCPMSS --clamp-mss-to-pmtu", Clamp("ipv4", "forward", None, None, None), False, False),
])
def test_parse_existing_tcpmss_rules(line, clamp, ours, pure):
    assert mss_plan.parse_iptables_clamp(line, "ipv4") == {"clamp": clamp, "ours": ours, "pure": pure}


def test_parse_other_rules():
    assert mss_plan.parse_iptables_clamp("-A FORWARD -j ACCEPT", "ipv4") is None


MANGLE = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
         ":POSTROUTING ACCEPT [0:0]\n{rules}COMMIT\n"
WG = Clamp("ipv4", "forward", "out", "wg0", 1380)
ARGS = ["-o", "wg0", "-p", "tcp", "-m", "tcp", "--tcp-flags", "SYN,RST", "SYN", "-m", "comment", "--comment", MSS_COMMENT,
        "-j", "TCPMSS", "--set-mss", "1380"]


def ipt(rules: str = "", extra: str = "") -> str:
    return MANGLE.format(rules=rules) + extra


def plan(text, state="present", clamps=(WG,)):
    return mss_plan.plan_iptables(text, family="ipv4", clamps=list(clamps), state=state, binary="iptables-legacy")


def test_iptables_add_then_nothing():
    first = plan("")
    assert first["commands"] == [["iptables-legacy", "-w", "60", "-t", "mangle", "-I", "FORWARD", "1"] + ARGS]
    assert first["report"]["added"] == ["ipv4 forward to wg0: clamp to 1380"]
    assert first["diffs"] == [{"chain": "ipv4 mangle FORWARD", "before": [], "after": [mss_plan.iptables_line(WG)]}]
    second = plan(first["text"])
    assert second["commands"] == [] and not second["changed"]
    assert second["report"]["present"] == ["ipv4 forward to wg0: clamp to 1380"]


def test_an_equivalent_rule_without_our_comment_counts():
    existing = "-A FORWARD -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380\n"
    assert plan(ipt(existing))["commands"] == []


def test_our_rule_with_another_value_is_replaced():
    stale = mss_plan.iptables_line(Clamp("ipv4", "forward", "out", "wg0", 1400)) + "\n"
    result = plan(ipt(stale))
    assert [c[5] for c in result["commands"]] == ["-D", "-I"]
    assert result["commands"][0][4:7] == ["mangle", "-D", "FORWARD"]
    assert result["commands"][0][7:] == iptables_eval.tokens(stale)[2:]
    assert MSS_COMMENT in result["commands"][0]  # the comment is one argv element, unquoted
    assert result["report"]["removed"] == [f"mangle {stale.strip()}"]


def test_a_rule_behind_an_accept_is_misplaced_and_moved():
    rules = "-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n" + mss_plan.iptables_line(WG) + "\n"
    result = plan(ipt(rules))
    assert [c[5] for c in result["commands"]] == ["-D", "-I"]
    assert result["report"]["misplaced"] == [f"mangle {mss_plan.iptables_line(WG)}"]
    assert iptables_lines(result["text"]) == [mss_plan.iptables_line(WG), "-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT"]


def test_a_clamp_in_the_filter_table_is_moved_to_mangle():
    filt = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
           "-A FORWARD -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380\nCOMMIT\n"
    result = plan(ipt(extra=filt))
    assert [c[4:7] for c in result["commands"]] == [["filter", "-D", "FORWARD"], ["mangle", "-I", "FORWARD"]]


def test_duplicates_of_ours_are_removed():
    line = mss_plan.iptables_line(WG) + "\n"
    result = plan(ipt(line + line))
    assert [c[5] for c in result["commands"]] == ["-D"]
    assert plan(result["text"])["commands"] == []


def test_absent_removes_equivalents_and_ours_in_that_slot():
    rules = mss_plan.iptables_line(Clamp("ipv4", "forward", "out", "wg0", 1400)) + "\n" + \
        "-A FORWARD -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380\n" + \
        "-A FORWARD -o wg1 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380\n"
    result = plan(ipt(rules), state="absent")
    assert len(result["commands"]) == 2 and all(c[5] == "-D" for c in result["commands"])
    assert iptables_lines(result["text"]) == ["-A FORWARD -o wg1 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380"]
    assert plan(result["text"], state="absent")["commands"] == []
    assert plan("", state="absent")["commands"] == []


def iptables_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith("-A ")]


def test_persisted_file():
    created = mss_plan.plan_iptables_file(None, family="ipv4", clamps=[WG], state="present")
    assert created == ipt(mss_plan.iptables_line(WG) + "\n")
    assert mss_plan.plan_iptables_file(created, family="ipv4", clamps=[WG], state="present") is None
    saved = "# Generated by iptables-save\n*filter\n:INPUT DROP [5:300]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
    edited = mss_plan.plan_iptables_file(saved, family="ipv4", clamps=[WG], state="present")
    assert edited.startswith(saved)  # the filter table (with its counters) and the comment are kept
    assert mss_plan.iptables_line(WG) in edited
    removed = mss_plan.plan_iptables_file(edited, family="ipv4", clamps=[WG], state="absent")
    assert mss_plan.iptables_line(WG) not in removed and removed.startswith(saved)
    assert mss_plan.plan_iptables_file(None, family="ipv4", clamps=[WG], state="absent") is None


# --- nftables -------------------------------------------------------------------------------

def nft_state(name: str):
    rs, dummy, rules = nft_eval.parse(read(name))
    return rules, rs.bases


def test_nft_transaction_builds_our_table():
    clamps = want(interface="wg0", chains=["forward", "output"]) + want(interface="wg9", mtu=1420)
    result = mss_plan.plan_nft([], [], clamps=clamps, state="present")
    kinds = [(next(iter(c)), next(iter(c[next(iter(c))]))) for c in result["commands"]]
    assert kinds == [("add", "table"), ("delete", "table"), ("add", "table"), ("add", "chain"), ("add", "rule"),
                     ("add", "rule"), ("add", "rule"), ("add", "chain"), ("add", "rule")]
    chain = result["commands"][3]["add"]["chain"]
    assert (chain["hook"], chain["prio"], chain["policy"]) == ("forward", -150, "accept")
    assert result["block"] == [
        "table inet netpath_mtu", "delete table inet netpath_mtu", "table inet netpath_mtu {",
        "\tchain forward {", "\t\ttype filter hook forward priority mangle; policy accept;",
        f'\t\toifname "wg0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu comment "{MSS_COMMENT}"',
        f'\t\tmeta nfproto ipv4 oifname "wg9" tcp flags syn / syn,rst tcp option maxseg size set 1380 comment "{MSS_COMMENT}"',
        f'\t\tmeta nfproto ipv6 oifname "wg9" tcp flags syn / syn,rst tcp option maxseg size set 1360 comment "{MSS_COMMENT}"',
        "\t}", "\tchain output {", "\t\ttype filter hook output priority mangle; policy accept;",
        f'\t\toifname "wg0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu comment "{MSS_COMMENT}"',
        "\t}", "}",
    ]
    assert sorted(result["report"]["added"]) == sorted(c.describe() for c in clamps)


def test_nft_recognises_its_table_as_nft_lists_it():
    rules, bases = nft_state("mss-ours.nft.json")
    clamps = want(interface="wg0", chains=["forward", "output"]) + want(interface="wg9", mtu=1420)
    result = mss_plan.plan_nft(rules, bases, clamps=clamps, state="present")
    assert not result["changed"] and result["commands"] == []
    assert len(result["report"]["present"]) == 6
    # The persisted block is the same whether or not anything changed.
    assert result["block"] == mss_plan.plan_nft([], [], clamps=clamps, state="present")["block"]


def test_nft_other_value_replaces_ours_and_absent_removes():
    rules, bases = nft_state("mss-ours.nft.json")
    result = mss_plan.plan_nft(rules, bases, clamps=want(interface="wg9", mtu=1400), state="present")
    assert result["changed"]
    assert sorted(result["report"]["removed"]) == ["ipv4 forward to wg9: clamp to 1380", "ipv6 forward to wg9: clamp to 1360"]
    assert f"meta nfproto ipv4 oifname \"wg9\" tcp flags syn / syn,rst tcp option maxseg size set 1360 comment \"{MSS_COMMENT}\"" \
        in "\n".join(result["block"])
    gone = mss_plan.plan_nft(rules, bases, clamps=want(interface="wg0", chains=["forward", "output"]), state="absent")
    assert gone["changed"] and "wg0" not in "\n".join(gone["block"]) and "wg9" in "\n".join(gone["block"])
    everything = mss_plan.plan_nft(rules, bases, clamps=want(interface="wg0", chains=["forward", "output"])
                                   + want(interface="wg9", mtu=1420), state="absent")
    assert everything["block"] == []
    assert everything["commands"] == [{"add": {"table": {"family": "inet", "name": "netpath_mtu"}}},
                                      {"delete": {"table": {"family": "inet", "name": "netpath_mtu"}}}]
    assert not mss_plan.plan_nft([], [], clamps=want(), state="absent")["changed"]


def test_nft_clamps_elsewhere_count_as_present():
    rules, bases = nft_state("mixed.nft.json")
    # "tcp flags syn tcp option maxseg size set rt mtu" in table inet filter, forward base chain
    result = mss_plan.plan_nft(rules, bases, clamps=want(), state="present")
    assert not result["changed"] and result["block"] == []
    assert all("outside netpath_mtu" in line for line in result["report"]["present"])
    # 'oifname "wg0" ... set 1380' covers IPv4 (1420 - 40) but not IPv6 (1360 wanted)
    result = mss_plan.plan_nft(rules, bases, clamps=want(interface="wg0", mtu=1420), state="present")
    assert result["report"]["added"] == ["ipv6 forward to wg0: clamp to 1360"]


@pytest.mark.parametrize("exprs, spec", [
    ([{"match": {"op": "in", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": "syn"}},
      {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": {"rt": {"key": "mtu"}}}}],
     {"families": {"ipv4", "ipv6"}, "direction": None, "interface": None, "mss": None}),
    ([{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}},
      {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "wg0"}},
      {"counter": {"packets": 1, "bytes": 60}},
      {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": 1360}}],
     {"families": {"ipv6"}, "direction": "in", "interface": "wg0", "mss": 1360}),
    ([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.1"}},
      {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": 1360}}], None),
    ([{"accept": None}], None),
])
def test_parse_nft_clamp(exprs, spec):
    assert mss_plan.parse_nft_clamp(exprs) == spec


# --- which backend --------------------------------------------------------------------------

ALL_TOOLS = {"nftables": True, "iptables-nft": True, "iptables-legacy": True, "firewalld": True}


@pytest.mark.parametrize("requested, info, snap, tools, backend", [
    ("auto", {"firewalld": True}, Snapshot(), ALL_TOOLS, "firewalld"),
    ("auto", {}, Snapshot(nft=read("rtr.nft.json")), ALL_TOOLS, "nftables"),
    # the lab's iptables host: an empty inet filter table does not make it an nftables host
    ("auto", {}, Snapshot(nft=read("xtn-pol.nft.json"), iptables={("iptables-nft", "ipv4"): read("xtn-pol.v4.save")}),
     ALL_TOOLS, "iptables-nft"),
    ("auto", {}, Snapshot(nft='{"nftables": []}', iptables={("iptables-legacy", "ipv4"): read("leg-pol.v4.save")}),
     ALL_TOOLS, "iptables-legacy"),
    ("auto", {}, Snapshot(nft=read("mss-ours.nft.json")), ALL_TOOLS, "nftables"),
    ("auto", {}, Snapshot(), {"iptables-legacy": True}, "iptables-legacy"),
    ("iptables-nft", {}, Snapshot(nft=read("rtr.nft.json")), ALL_TOOLS, "iptables-nft"),
])
def test_choose_backend(requested, info, snap, tools, backend):
    assert mss_plan.choose_backend(requested, info, snap, tools) == backend


@pytest.mark.parametrize("requested, info, tools, message", [
    ("iptables-legacy", {}, {"nftables": True}, "not installed"),
    ("firewalld", {"firewalld": False}, ALL_TOOLS, "not running"),
    ("auto", {}, {}, "no firewall framework"),
])
def test_choose_backend_fails_clearly(requested, info, tools, message):
    with pytest.raises(ValueError, match=message):
        mss_plan.choose_backend(requested, info, Snapshot(), tools)
