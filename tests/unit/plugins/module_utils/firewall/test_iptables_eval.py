# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The iptables evaluator on iptables-save output: the lab's rulesets (firewall/fixtures, dumped from
iptables-nft and iptables-legacy 1.8.9) and small rulesets per semantic case."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import Snapshot, evaluate

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def read(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def verdicts(v4: str = "", v6: str = "", framework: str = "iptables-legacy", interfaces=None) -> dict:
    snap = Snapshot(iptables={(framework, "ipv4"): v4, (framework, "ipv6"): v6}, interfaces=interfaces)
    results, fragments, dummy = evaluate(snap)
    got = {(r["family"], r["hook"]): r for r in results}
    got["fragments"] = {(f["family"], f["hook"]) for f in fragments}
    return got


def table(body: str, policies: str = "INPUT ACCEPT,FORWARD ACCEPT,OUTPUT ACCEPT", name: str = "filter") -> str:
    chains = "\n".join(f":{p.split()[0]} {p.split()[1]} [0:0]" for p in policies.split(","))
    return f"*{name}\n{chains}\n{body.strip()}\nCOMMIT\n"


LAB = [
    # host, family, hook, tracked, untracked, deciding rule (tracked, else untracked) fields
    ("pol", "ipv4", "input", "accepted", "dropped", {"position": 1, "chain": "INPUT"}),
    ("pol", "ipv4", "forward", "dropped", "dropped", {"policy": "drop", "chain": "FORWARD"}),
    ("pol", "ipv4", "output", "dropped", "dropped", {"text": "-A OUTPUT -p icmp -j DROP"}),
    ("pol", "ipv6", "output", "dropped", "dropped", {"text": "-A OUTPUT -p ipv6-icmp -j DROP"}),
    ("rule", "ipv4", "input", "accepted", "dropped", None),
    ("rule", "ipv4", "forward", "dropped", "dropped", {"text": "-A FORWARD -p icmp -m icmp --icmp-type 3 -j DROP"}),
    ("rule", "ipv6", "forward", "dropped", "dropped", {"text": "-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j DROP"}),
    ("rule", "ipv4", "output", "dropped", "dropped", {"chain": "PMTU", "position": 1}),
    ("rule", "ipv6", "output", "dropped", "dropped", {"chain": "PMTU", "position": 1}),
]


@pytest.mark.parametrize("variant, framework", [("xtn", "iptables-nft"), ("leg", "iptables-legacy")])
@pytest.mark.parametrize("host, family, hook, tracked, untracked, rule", LAB)
def test_lab_rulesets(variant, framework, host, family, hook, tracked, untracked, rule):
    got = verdicts(read(f"{variant}-{host}.v4.save"), read(f"{variant}-{host}.v6.save"), framework)
    entry = got[(family, hook)]
    assert (entry["verdict"], entry["untracked"]["verdict"]) == (tracked, untracked)
    if rule:
        assert {k: entry["rule"].get(k) for k in rule} == rule
        assert entry["rule"]["framework"] == framework
    if host == "rule" and hook == "input":
        assert entry["untracked"]["rule"]["text"] == "-A INPUT -m conntrack --ctstate INVALID -j DROP"


PTB_V4 = [
    ("-A INPUT -p icmp -m icmp --icmp-type fragmentation-needed -j DROP", "dropped"),
    ("-A INPUT -p icmp -m icmp --icmp-type 3/4 -j REJECT --reject-with icmp-port-unreachable", "dropped"),
    ("-A INPUT -p icmp -m icmp --icmp-type 3/3 -j DROP", "accepted"),
    ("-A INPUT -p icmp -m icmp --icmp-type any -j DROP", "dropped"),
    ("-A INPUT -p icmp -m icmp ! --icmp-type echo-request -j DROP", "dropped"),
    ("-A INPUT -p icmp -m icmp ! --icmp-type destination-unreachable -j DROP", "accepted"),
    ("-A INPUT ! -p icmp -j DROP", "accepted"),
    ("-A INPUT -p 1 -j DROP", "dropped"),
    ("-A INPUT -p all -j DROP", "dropped"),
    ("-A INPUT -p tcp -m tcp --dport 22 -j DROP", "accepted"),
    ("-A INPUT -m multiport --dports 22,80 -j DROP", "accepted"),
    ("-A INPUT -f -j DROP", "accepted"),
    ("-A INPUT ! -f -j DROP", "dropped"),
    ("-A INPUT -m pkttype --pkt-type unicast -j DROP", "dropped"),
    ("-A INPUT -m pkttype --pkt-type broadcast -j DROP", "accepted"),
    ("-A INPUT -m state --state RELATED -j DROP", "dropped"),
    ("-A INPUT -m conntrack ! --ctstate RELATED -j DROP", "accepted"),
    ("-A INPUT -m comment --comment \"-j DROP here\" -j DROP", "dropped"),
    ("[3:180] -A INPUT -p icmp -j DROP", "dropped"),
    ("-A INPUT -m set --match-set bad src -j DROP", "accepted"),  # only some sources
    ("-A INPUT -s 192.0.2.0/24 -j DROP", "accepted"),
    ("-A INPUT ! -s 10.0.0.0/8 -j DROP", "dropped"),  # everything but a whitelist
    ("-A INPUT -m addrtype --dst-type BROADCAST -j DROP", "accepted"),
    ("-A INPUT -m owner --uid-owner 0 -j DROP", "unknown"),
    ("-A INPUT -m u32 --u32 \"0>>22&0x3C@4=0x29\" -j DROP", "unknown"),
    ("-A INPUT -p icmp -j NFQUEUE --queue-num 1", "unknown"),
    ("-A INPUT -p icmp -j LOG --log-prefix \"x \"", "accepted"),
    ("-A INPUT -p icmp -j FROBNICATE", "unknown"),
]


@pytest.mark.parametrize("rule, verdict", PTB_V4)
def test_matches_on_frag_needed(rule, verdict):
    got = verdicts(table(rule))
    assert got[("ipv4", "input")]["verdict"] == verdict


@pytest.mark.parametrize("rule, verdict", [
    ("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type packet-too-big -j DROP", "dropped"),
    ("-A INPUT -p icmpv6 -m icmp6 --icmpv6-type 2 -j DROP", "dropped"),
    ("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable -j DROP", "accepted"),
    ("-A INPUT -p 58 -j DROP", "dropped"),
    ("-A INPUT -p icmp -j DROP", "accepted"),
    ("-A INPUT -m frag -j DROP", "accepted"),
    ("-A INPUT -m rt --rt-type 0 -j DROP", "accepted"),
])
def test_matches_on_packet_too_big(rule, verdict):
    got = verdicts(v6=table(rule))
    assert got[("ipv6", "input")]["verdict"] == verdict


def test_jumps_returns_and_gotos():
    v4 = table("""
-A INPUT -j A
-A INPUT -p icmp -j DROP
-A A -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-A FORWARD -g B
-A FORWARD -j ACCEPT
-A B -p tcp -j ACCEPT
-A OUTPUT -j C
-A C -p icmp -j RETURN
-A C -j DROP
""", "INPUT ACCEPT,FORWARD DROP,OUTPUT ACCEPT,A -,B -,C -")
    got = verdicts(v4)
    assert got[("ipv4", "input")]["verdict"] == "accepted"
    assert got[("ipv4", "input")]["rule"]["chain"] == "A"
    # goto B: falling off its end goes to FORWARD's policy, not back to FORWARD's next rule
    assert got[("ipv4", "forward")]["rule"]["policy"] == "drop"
    assert got[("ipv4", "output")]["verdict"] == "accepted"


def test_marks_carry_across_tables():
    v4 = table("-A PREROUTING -p icmp -j MARK --set-xmark 0x5/0xffffffff",
               "PREROUTING ACCEPT,INPUT ACCEPT,FORWARD ACCEPT,OUTPUT ACCEPT,POSTROUTING ACCEPT", "mangle")
    v4 += table("-A INPUT -m mark --mark 0x5 -j DROP")
    got = verdicts(v4)
    assert got[("ipv4", "input")]["verdict"] == "dropped"
    assert got[("ipv4", "input")]["rule"]["table"] == "filter"
    assert got[("ipv4", "output")]["verdict"] == "accepted"  # PREROUTING never sees what this host sends


def test_raw_table_runs_before_conntrack():
    v4 = table("-A PREROUTING -m conntrack --ctstate INVALID -j DROP", "PREROUTING ACCEPT,OUTPUT ACCEPT", "raw")
    got = verdicts(v4)
    assert got[("ipv4", "input")]["verdict"] == "dropped"  # not tracked yet: every packet is INVALID there
    v4 = table("-A PREROUTING -m conntrack --ctstate INVALID -j DROP",
               "PREROUTING ACCEPT,INPUT ACCEPT,FORWARD ACCEPT,OUTPUT ACCEPT,POSTROUTING ACCEPT", "mangle")
    assert verdicts(v4)[("ipv4", "input")]["verdict"] == "accepted"


def test_notrack_makes_untracked():
    v4 = table("-A PREROUTING -p icmp -j CT --notrack", "PREROUTING ACCEPT,OUTPUT ACCEPT", "raw")
    v4 += table("-A INPUT -m conntrack --ctstate UNTRACKED -j DROP")
    assert verdicts(v4)[("ipv4", "input")]["verdict"] == "dropped"


def test_nat_chains_never_see_icmp_errors():
    v4 = table("-A PREROUTING -p icmp -j DROP", "PREROUTING ACCEPT,INPUT ACCEPT,OUTPUT ACCEPT,POSTROUTING ACCEPT", "nat")
    assert verdicts(v4)[("ipv4", "input")]["verdict"] == "accepted"


def test_interfaces():
    v4 = table("-A FORWARD -i wg+ -p icmp -j DROP")
    got = verdicts(v4, interfaces=["eth0", "wg0", "wg1"])
    assert got[("ipv4", "forward")]["verdict"] == "dropped"
    assert got[("ipv4", "forward")]["reason"].endswith("when arriving on wg0 or wg1")
    assert verdicts(v4, interfaces=["eth0"])[("ipv4", "forward")]["verdict"] == "accepted"
    # output has no input interface: "-i" never matches there
    v4 = table("-A OUTPUT -i eth0 -p icmp -j DROP")
    assert verdicts(v4, interfaces=["eth0"])[("ipv4", "output")]["verdict"] == "accepted"


def test_limit_is_assumed_not_exceeded():
    v4 = table("-A INPUT -p icmp -m limit --limit 5/sec -j ACCEPT", "INPUT DROP,FORWARD ACCEPT,OUTPUT ACCEPT")
    got = verdicts(v4)[("ipv4", "input")]
    assert got["verdict"] == "accepted"
    assert got["notes"] == ["-m limit --limit 5/sec: assumed under the limit"]


@pytest.mark.parametrize("v4, drops", [
    (table("-A FORWARD -f -j DROP"), {("ipv4", "forward")}),
    (table("-A INPUT -f -j DROP"), set()),  # IPv4 reassembles before INPUT
    (table("-A FORWARD -m state --state INVALID -j DROP\n-A FORWARD -f -j DROP"), set()),  # conntrack defragments
    (table("-A PREROUTING -f -j DROP", "PREROUTING ACCEPT,OUTPUT ACCEPT", "raw"), {("ipv4", "input"), ("ipv4", "forward")}),
])
def test_fragment_drops(v4, drops):
    assert verdicts(v4)["fragments"] == drops


def test_ipv6_fragments():
    v6 = table("-A FORWARD -m frag -j DROP")
    assert verdicts(v6=v6)["fragments"] == {("ipv6", "forward")}


@pytest.mark.parametrize("text, message", [
    ("-A INPUT -j DROP\n", "outside a table"),
    ("*filter\n:\nCOMMIT\n", "empty chain declaration"),
    ("*filter\n-I INPUT 1 -j DROP\nCOMMIT\n", "is not a rule"),
    ('*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n', "cannot split"),
])
def test_bad_save_text(text, message):
    with pytest.raises(iptables_eval.SaveError, match=message):
        verdicts(text)


def test_parse_and_render_round_trip():
    text = read("leg-rule.v4.save")
    tables = iptables_eval.parse_save(text)
    assert tables["filter"]["chains"] == {"INPUT": "ACCEPT", "FORWARD": "ACCEPT", "OUTPUT": "ACCEPT", "PMTU": None}
    assert tables["filter"]["rules"]["PMTU"] == ["-A PMTU -p icmp -m icmp --icmp-type 3/4 -j DROP"]
    assert iptables_eval.parse_save(iptables_eval.render_save(tables)) == tables


def test_ruleset_knows_conntrack():
    rs, names = iptables_eval.parse(table("-A INPUT -i eth0 -m state --state INVALID -j DROP"), family="ipv4",
                                    framework="iptables-nft")
    assert rs.conntrack and names == {"eth0"}
    assert [b.label for b in rs.bases] == ["iptables-nft ipv4 filter INPUT", "iptables-nft ipv4 filter FORWARD",
                                           "iptables-nft ipv4 filter OUTPUT"]
    assert fw_eval.HOOKS == ("input", "forward", "output")
