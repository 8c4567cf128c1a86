# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nftables evaluator on real ``nft -j list ruleset`` output (firewall/fixtures, dumped from
network namespaces with nftables 1.0.6: the lab's rulesets and one small ruleset per semantic case)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import Snapshot, evaluate

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def read(name: str) -> str | None:
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def case(name: str, interfaces=None) -> dict:
    """Verdicts of cases/NAME.json (with its listing), keyed by (family, hook)."""
    snap = Snapshot(nft=read(f"cases/{name}.json"), listing=read(f"cases/{name}.txt"), interfaces=interfaces)
    results, fragments, dummy = evaluate(snap)
    return {(r["family"], r["hook"]): r for r in results}, fragments


def lab(name: str) -> dict:
    snap = Snapshot(nft=read(f"{name}.nft.json"), listing=read(f"{name}.nft.txt"))
    results, dummy, dummy2 = evaluate(snap)
    return {(r["family"], r["hook"]): r for r in results}


ALL_ACCEPTED = {(f, h): ("accepted", "accepted") for f in fw_eval.FAMILIES for h in fw_eval.HOOKS}


def expect(**changes) -> dict:
    """ALL_ACCEPTED with some entries changed: v4_input=("dropped", "dropped")."""
    table = dict(ALL_ACCEPTED)
    for key, value in changes.items():
        family, hook = key.split("_")
        table[("ipv4" if family == "v4" else "ipv6", hook)] = value
    return table


DROPPED = ("dropped", "dropped")
RELATED_ONLY = ("accepted", "dropped")

CASES = [
    # accept-all, the lab's router, and each semantic trap
    ("code_ne", expect()),
    ("nat_only", expect()),  # nat chains never see ICMP errors
    ("rpfilter", expect()),  # assumed to pass, with a note
    ("limit", expect()),  # rate limited accept: accepted, with a note
    ("saddr_drop", expect()),  # a drop for one source address is not a PMTUD black hole
    ("raw_invalid", expect(v4_input=DROPPED, v4_forward=DROPPED, v6_input=DROPPED, v6_forward=DROPPED)),
    ("goto_return", expect(v4_input=DROPPED, v6_input=DROPPED)),
    ("jump_return", expect(v4_input=DROPPED)),
    ("l4proto_set", expect(v4_output=DROPPED, v6_output=DROPPED)),
    ("mark", expect(v4_input=DROPPED)),
    ("named_set", expect(v4_input=DROPPED)),
    ("netdev", expect(v4_input=DROPPED, v4_forward=DROPPED)),
    ("iface", expect(v4_forward=DROPPED, v6_forward=DROPPED)),
    ("saddr_allow", expect(v4_input=DROPPED, v6_input=DROPPED)),
    ("vmap_state", expect(v4_input=RELATED_ONLY, v6_input=RELATED_ONLY)),
    ("firewalld_like", expect(v4_input=RELATED_ONLY, v6_input=RELATED_ONLY)),
    ("ctmark", expect(v4_input=("unknown", "accepted"), v6_input=("unknown", "accepted"))),
    ("queue", expect(v4_forward=("unknown", "unknown"))),
    ("frag_pre", expect(v4_input=RELATED_ONLY, v6_input=RELATED_ONLY)),  # the input chain drops invalid
]


@pytest.mark.parametrize("name, table", CASES, ids=[c[0] for c in CASES])
def test_case_verdicts(name, table):
    got, dummy = case(name)
    assert {key: (r["verdict"], r["untracked"]["verdict"]) for key, r in got.items()} == table


@pytest.mark.parametrize("name, family, hook, rule", [
    ("raw_invalid", "ipv4", "input", {"chain": "pre", "handle": 3, "text": "ct state invalid drop"}),
    ("goto_return", "ipv4", "input", {"chain": "input", "policy": "drop"}),
    ("jump_return", "ipv4", "input", {"chain": "input", "handle": 4}),
    ("mark", "ipv4", "input", {"chain": "input", "text": "meta mark 0x00000002 drop"}),
    ("named_set", "ipv4", "input", {"text": "icmp type @errors drop"}),
    ("netdev", "ipv4", "input", {"family": "netdev", "table": "d", "chain": "ing"}),
    ("l4proto_set", "ipv6", "output", {"text": "meta l4proto { icmp, ipv6-icmp } drop"}),
])
def test_deciding_rule(name, family, hook, rule):
    got, dummy = case(name)
    ref = got[(family, hook)]["rule"]
    assert {k: ref.get(k) for k in rule} == rule
    assert ref["framework"] == "nftables"


def test_conditions_name_interfaces_and_addresses():
    got, dummy = case("iface", interfaces=["eth0", "eth1", "wg0", "lo"])
    assert got[("ipv4", "forward")]["reason"].endswith("when arriving on eth1")
    assert got[("ipv6", "forward")]["reason"].endswith("when leaving by wg0")  # "wg*" matched
    assert got[("ipv4", "forward")]["conditional"]
    # Without an eth1 on the host the drop never applies.
    got, dummy = case("iface", interfaces=["eth0", "wg1"])
    assert got[("ipv4", "forward")]["verdict"] == "accepted"
    assert got[("ipv6", "forward")]["reason"].endswith("when leaving by wg1")

    got, dummy = case("saddr_allow")
    assert got[("ipv4", "input")]["reason"].endswith("when not ip saddr 10.0.0.0/8")
    assert not got[("ipv6", "input")]["conditional"]  # ip saddr cannot match IPv6: plain policy drop
    got, dummy = case("saddr_drop")
    assert got[("ipv4", "input")]["conditional"]
    assert "dropped only when ip saddr 192.0.2.1" in got[("ipv4", "input")]["reason"]


def test_unknown_says_why():
    got, dummy = case("ctmark")
    assert "cannot be evaluated statically" in got[("ipv4", "input")]["reason"]
    got, dummy = case("queue")
    assert "queue" in got[("ipv4", "forward")]["reason"]


def test_notes_record_assumptions():
    got, dummy = case("rpfilter")
    assert got[("ipv4", "input")]["notes"] == ["assumed the reverse path check (fib) passes"]
    got, dummy = case("limit")
    assert any("assumed under the limit" in n for n in got[("ipv4", "input")]["notes"])


@pytest.mark.parametrize("name, drops", [
    ("frag_pre", {("ipv4", "input"), ("ipv4", "forward"), ("ipv6", "input"), ("ipv6", "forward")}),
    ("frag_forward", {("ipv4", "forward")}),  # no conntrack, so no defragmentation before forward
    ("frag_forward_ct", set()),  # conntrack reassembles before the forward chain
    ("code_ne", set()),
    # Without conntrack an IPv6 fragment reaches the input chain and its policy; IPv4 reassembles first.
    ("goto_return", {("ipv6", "input")}),
])
def test_fragment_drops(name, drops):
    dummy, fragments = case(name)
    assert {(f["family"], f["hook"]) for f in fragments} == drops


def test_lab_router_drops_its_own_frag_needed():
    got = lab("rtr")
    assert got[("ipv4", "output")]["verdict"] == "dropped"
    assert got[("ipv4", "output")]["rule"]["handle"] == 4
    assert got[("ipv6", "output")]["rule"]["text"] == "icmpv6 type packet-too-big drop"
    assert got[("ipv4", "forward")]["verdict"] == "accepted"
    assert got[("ipv4", "output")]["chains"] == ["nftables inet filter output"]


def test_an_accept_in_one_table_does_not_undo_a_drop_in_another():
    got = lab("nft-trap")
    out4 = got[("ipv4", "output")]
    assert out4["verdict"] == "dropped"
    assert (out4["rule"]["family"], out4["rule"]["table"]) == ("ip", "other")
    # Walked in priority order: the lab's table (0)... mine (-10) first, then filter (0), then other (10).
    assert out4["chains"] == ["nftables inet mine output", "nftables inet filter output", "nftables ip other output"]
    assert got[("ipv6", "output")]["rule"]["table"] == "other6"


def test_policy_and_related():
    got = lab("nft-pol")
    assert got[("ipv4", "input")]["verdict"] == "accepted"
    assert got[("ipv4", "input")]["rule"]["text"] == "ct state established,related accept"
    assert got[("ipv4", "input")]["untracked"]["rule"]["policy"] == "drop"
    assert got[("ipv4", "forward")]["rule"] == {"framework": "nftables", "family": "inet", "table": "fw",
                                                "chain": "forward", "policy": "drop", "text": "policy drop"}


def test_jump_into_a_chain_that_drops():
    got = lab("nft-rule")
    assert got[("ipv4", "output")]["rule"]["chain"] == "pmtu"
    assert got[("ipv6", "output")]["rule"]["handle"] == 10


def test_mixed_ruleset():
    got = lab("mixed")
    # input: policy drop, but related is accepted first; untracked: ct state invalid drop
    assert got[("ipv4", "input")]["verdict"] == "accepted"
    assert got[("ipv4", "input")]["untracked"]["rule"]["handle"] == 6
    # forward: "icmp type destination-unreachable drop" (handle 22); IPv6: reject counts as drop
    assert got[("ipv4", "forward")]["rule"]["handle"] == 22
    assert got[("ipv6", "forward")]["rule"]["handle"] == 23
    assert got[("ipv6", "forward")]["reason"].startswith("rejected by")
    # output: the drop is in table ip x at priority filter + 10
    assert got[("ipv4", "output")]["rule"]["table"] == "x"
    assert got[("ipv6", "output")]["verdict"] == "accepted"


def test_xtables_tables_are_left_to_iptables_eval():
    doc = read("xtn-pol.nft.json")
    assert nft_eval.xtables_tables(doc) == {("ip", "filter"), ("ip6", "filter")}
    ruleset, dummy, dummy2 = nft_eval.parse(doc, skip_xtables=("ip", "ip6"))
    assert {b.ref["table"] for b in ruleset.bases} == {"filter"} and {b.ref["family"] for b in ruleset.bases} == {"inet"}
    # Read natively, iptables-nft's xt matches cannot be evaluated.
    results = fw_eval.evaluate(nft_eval.parse(doc)[0])
    out4 = next(r for r in results if (r["family"], r["hook"]) == ("ipv4", "output"))
    assert out4["verdict"] == "dropped"  # "meta l4proto icmp counter drop" is native even there
    in4 = next(r for r in results if (r["family"], r["hook"]) == ("ipv4", "input"))
    assert in4["verdict"] == "unknown" and "xt match conntrack" in in4["reason"]


def test_listing_and_devices():
    texts = nft_eval.parse_listing(read("mixed.nft.txt"))
    assert texts[("inet", "filter", "foo", 15)] == "icmp type destination-unreachable counter packets 0 bytes 0 goto bar"
    assert texts[("ip", "x", "output", 2)] == "icmp type destination-unreachable icmp code frag-needed drop"
    assert nft_eval.parse_devices(read("cases/netdev.txt")) == {("netdev", "d", "ing"): ("eth5",)}


@pytest.mark.parametrize("stmt, text", [
    ({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, 'iifname "eth0"'),
    ({"match": {"op": "!=", "left": {"payload": {"protocol": "icmp", "field": "code"}}, "right": "frag-needed"}},
     "icmp code != frag-needed"),
    ({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
     "ct state established,related"),
    ({"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "rst"]]},
                "right": "syn"}}, "tcp flags syn / syn,rst"),
    ({"vmap": {"key": {"ct": {"key": "state"}}, "data": {"set": [["invalid", {"drop": None}]]}}},
     "ct state vmap { invalid : drop }"),
    ({"jump": {"target": "x"}}, "jump x"),
    ({"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": {"rt": {"key": "mtu"}}}},
     "tcp option maxseg size set rt mtu"),
])
def test_render(stmt, text):
    assert nft_eval.render_stmt(stmt) == text


@pytest.mark.parametrize("value, number", [(0, 0), ("filter", 0), ("mangle", -150), ("filter + 10", 10),
                                           ("raw", -300), ("dstnat - 5", -105), ("weird", 0)])
def test_priority(value, number):
    assert nft_eval.priority(value) == number


@pytest.mark.parametrize("doc", ["not json", "[]", '{"other": 1}'])
def test_bad_documents(doc):
    with pytest.raises(nft_eval.RulesetError):
        nft_eval.load(doc)


def test_empty_ruleset_accepts_everything():
    assert nft_eval.load("") == []
    results = fw_eval.evaluate(nft_eval.parse(json.dumps({"nftables": []}))[0])
    assert {r["verdict"] for r in results} == {"accepted"}
