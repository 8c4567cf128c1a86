# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PTB check pairs: who checks with whom that a real packet-too-big is accepted."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import ptb_plan
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import host_facts, iface, mgmt


def ptb_host(*paths: tuple) -> dict:
    """(target, family, peer, roles, status) rows -> the targets and probes of one host."""
    return {"targets": [{"target": t, "family": f, "peer": p, "roles": r, "tunnels": []} for t, f, p, r, s in paths],
            "probes": [{"target": path[0], "status": path[4]} for path in paths if path[4] is not None]}


PTB_HOSTS = {
    "a": ptb_host(("10.0.0.2", "ipv4", "b", ["host"], "ok"), ("10.0.0.3", "ipv4", "c", ["host"], "black_hole"),
                  ("fd00::2", "ipv6", "b", ["host"], "unreachable"), ("fd00::3", "ipv6", "c", ["host"], "ptb"),
                  ("10.9.0.2", "ipv4", "b", ["tunnel"], "ok")),
    "b": ptb_host(("10.0.0.1", "ipv4", "a", ["host"], "ok"), ("10.0.0.3", "ipv4", "c", ["host"], "ok"),
                  ("198.51.100.1", "ipv4", "outside", ["host"], "ok")),
    # c reached b only inside a tunnel, a not at all: the tunnel address is better than nothing.
    "c": ptb_host(("10.0.0.1", "ipv4", "a", ["host"], "unreachable"), ("10.9.0.2", "ipv4", "b", ["tunnel"], "ok"),
                  ("10.0.0.2", "ipv4", "b", ["host"], None)),
}


def test_ptb_plan_pairs_round_the_ring():
    plan = ptb_plan.ptb_plan(PTB_HOSTS)
    assert plan["a"]["checks"] == [{"peer": "10.0.0.2", "name": "b"},
                                   {"peer": "fd00::3", "name": "c"}]
    # b's next host round the ring is c; the host outside the play is never a peer.
    assert plan["b"]["checks"] == [{"peer": "10.0.0.3", "name": "c"}]
    assert plan["c"]["checks"] == [{"peer": "10.9.0.2", "name": "b"}]
    assert plan["a"]["responders"] == []
    assert plan["b"]["responders"] == [{"address": "10.0.0.2", "clients": 1},
                                       {"address": "10.9.0.2", "clients": 1}]
    assert plan["c"]["responders"] == [{"address": "10.0.0.3", "clients": 1},
                                       {"address": "fd00::3", "clients": 1}]


def test_ptb_plan_counts_the_clients_of_a_shared_responder():
    hosts = {name: ptb_host(("10.0.0.9", "ipv4", "hub", ["host"], "ok")) for name in ("s1", "s2", "s3")}
    hosts["hub"] = ptb_host()
    plan = ptb_plan.ptb_plan(hosts)
    assert plan["hub"]["responders"] == [{"address": "10.0.0.9", "clients": 3}]
    assert plan["hub"]["checks"] == []


def test_ptb_plan_avoids_a_peer_that_drops_its_own_icmp_errors():
    hosts = copy.deepcopy(PTB_HOSTS)
    hosts["b"]["icmp_policy"] = {"results": [
        {"family": "ipv4", "hook": "output", "verdict": "dropped"},
        {"family": "ipv6", "hook": "input", "verdict": "dropped"}]}
    plan = ptb_plan.ptb_plan(hosts)
    # a's next peer on IPv4 would be b: it goes to c instead; c reached only b, so it has no IPv4 check.
    assert plan["a"]["checks"] == [{"peer": "10.0.0.3", "name": "c"}, {"peer": "fd00::3", "name": "c"}]
    assert plan["c"]["checks"] == [] and plan["b"]["responders"] == []
    assert ptb_plan.drops_own_icmp(hosts["b"], "ipv4") and not ptb_plan.drops_own_icmp(hosts["b"], "ipv6")
    assert not ptb_plan.drops_own_icmp({"icmp_policy": None}, "ipv4")


@pytest.mark.parametrize("facts, hops, expected", [
    (None, {}, "b"),  # nothing known: round the ring (b comes after a)
    (host_facts([iface("eth0", 1500, ["10.0.0.1"], index=3)]), {}, "c"),  # c shares a's link: no router between
    (None, {"10.1.0.2": 3, "10.0.0.3": 1}, "c"),  # fewer hops to c
    (host_facts([iface("eth0", 1500, ["10.1.0.1"], index=3)]), {"10.1.0.2": 3, "10.0.0.3": 1}, "b"),  # the link wins
])
def test_ptb_plan_picks_the_nearest_peer(facts, hops, expected):
    hosts = {"a": ptb_host(("10.1.0.2", "ipv4", "b", ["host"], "ok"), ("10.0.0.3", "ipv4", "c", ["host"], "ok")),
             "b": ptb_host(), "c": ptb_host()}
    hosts["a"]["facts"] = facts
    for probe in hosts["a"]["probes"]:
        probe["hops"] = hops.get(probe["target"])
    assert [c["name"] for c in ptb_plan.ptb_plan(hosts)["a"]["checks"]] == [expected]


def test_ptb_plan_checks_with_a_peer_address_on_the_link_the_paths_leave_by():
    # a's probes leave by eth0 (10.0.0.0/24); b has an address there that nobody probed, c only shares
    # the management network with a (no data path leaves by it).
    hosts = {"a": ptb_host(("10.1.0.2", "ipv4", "b", ["host"], "ok"), ("10.2.0.3", "ipv4", "c", ["host"], "ok")),
             "b": ptb_host(), "c": ptb_host()}
    hosts["a"]["facts"] = host_facts([mgmt(1), iface("eth0", 1500, ["10.0.0.1"], index=3)])
    hosts["b"]["facts"] = host_facts([mgmt(2), iface("eth1", 1500, ["10.0.0.7"], index=4), iface("eth0", 1500, ["10.1.0.2"])])
    hosts["c"]["facts"] = host_facts([mgmt(3), iface("eth0", 1500, ["10.2.0.3"], index=3)])
    for probe in hosts["a"]["probes"]:
        probe.update(interface="eth0", hops={"10.1.0.2": 3, "10.2.0.3": 2}[probe["target"]])
    plan = ptb_plan.ptb_plan(hosts)
    assert plan["a"]["checks"] == [{"peer": "10.0.0.7", "name": "b"}]
    assert plan["b"]["responders"] == [{"address": "10.0.0.7", "clients": 1}]


def test_ptb_plan_families_and_errors():
    assert all(":" in c["peer"] for h in ptb_plan.ptb_plan(PTB_HOSTS, families=["ipv6"]).values() for c in h["checks"])
    assert ptb_plan.ptb_plan({}) == {}
    with pytest.raises(ValueError, match="hosts must be a dict"):
        ptb_plan.ptb_plan([])
