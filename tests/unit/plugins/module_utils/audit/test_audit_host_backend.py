# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""audit_host: the facts and the two read-only firewall checks in one run, with the modules' own parameters."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import audit_host_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure

TUNNEL = {"wg0": {"mtu": 1420}}


@pytest.mark.parametrize("facts, expected", [
    ({"tunnels": TUNNEL, "sysctls": {"ipv4_forwarding": 1, "ipv6_forwarding": 0}}, True),
    ({"tunnels": TUNNEL, "sysctls": {"ipv4_forwarding": 0, "ipv6_forwarding": 1}}, True),
    ({"tunnels": TUNNEL, "sysctls": {"ipv4_forwarding": 0, "ipv6_forwarding": 0}}, False),
    ({"tunnels": {}, "sysctls": {"ipv4_forwarding": 1}}, False),
    ({"tunnels": TUNNEL}, False),
    ({}, False),
])
def test_mss_matters_where_the_host_forwards_into_a_tunnel(facts, expected):
    assert backend.forwards_into_a_tunnel(facts) is expected


@pytest.fixture
def calls(monkeypatch):
    seen: dict = {"facts": {"interfaces": {}, "tunnels": TUNNEL, "sysctls": {"ipv4_forwarding": 1}}}
    monkeypatch.setattr(backend, "gather", lambda host, subset, warn: seen.setdefault("subset", subset) and seen["facts"])

    def icmp(params, host, warn):
        seen["icmp"] = params
        if seen.get("icmp_fails"):
            raise ModuleFailure("nft -j list ruleset failed: boom", changed=False)
        return {"changed": False, "results": []}

    def mss(params, host, warn):
        seen["mss"] = params
        return {"changed": True, "report": {"added": ["ipv4 forward: clamp to pmtu"]}}

    monkeypatch.setattr(backend.icmp_policy_backend, "run", icmp)
    monkeypatch.setattr(backend.mss_clamp_backend, "run", mss)
    return seen


def test_one_run_returns_the_facts_and_both_checks_with_the_modules_parameters(calls):
    result = backend.run(["ipv6"], True, object(), lambda msg: None)
    assert calls["subset"] == ["all"]
    assert result["ansible_facts"] == {"netpath_mtu_facts": calls["facts"]} and result["changed"] is False
    assert (calls["icmp"].state, calls["icmp"].families, calls["icmp"].check_mode) == ("evaluate", ("ipv6",), False)
    assert (calls["mss"].state, calls["mss"].check_mode, calls["mss"].chains) == ("present", True, ("forward",))
    assert result["icmp_policy"] == {"changed": False, "results": []}
    assert result["mss_clamp"]["report"]["added"] == ["ipv4 forward: clamp to pmtu"]


def test_a_check_that_fails_is_reported_in_its_place(calls):
    calls["icmp_fails"] = True
    result = backend.run(["ipv4", "ipv6"], True, object(), lambda msg: None)
    assert result["icmp_policy"] == {"changed": False, "failed": True, "msg": "nft -j list ruleset failed: boom"}
    assert result["mss_clamp"]["report"] and "failed" not in result


def test_no_mss_check_without_forwarding_and_no_checks_when_switched_off(calls):
    calls["facts"]["sysctls"] = {"ipv4_forwarding": 0}
    result = backend.run(["ipv4"], True, object(), lambda msg: None)
    assert result["mss_clamp"] is None and "mss" not in calls and result["icmp_policy"] is not None
    calls.pop("icmp")
    result = backend.run(["ipv4"], False, object(), lambda msg: None)
    assert (result["icmp_policy"], result["mss_clamp"]) == (None, None) and "icmp" not in calls


def test_no_families_is_a_mistake():
    with pytest.raises(ModuleFailure, match="families must name at least one of ipv4, ipv6"):
        backend.run([], True, object(), lambda msg: None)
