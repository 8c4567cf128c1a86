# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""icmp_policy's backend: typed parameters and what counts as unresolved (end to end: test_firewall_modules.py)."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_backend import FirewallFiles
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.icmp_policy_backend import (
    IcmpPolicyParams,
    ordered,
    unresolved_entries,
)

PARAMS = {"state": "present", "families": ["ipv6", "ipv4", "ipv6"], "hooks": ["output", "input"],
          "fix_untracked": True, "interfaces": None, "persist": False, "nftables_config": "/srv/fw.nft",
          "iptables_rules_v4": None, "iptables_rules_v6": None, "backup": False}


def test_params_from_module_params():
    params = IcmpPolicyParams.from_params(PARAMS, check_mode=True)
    assert params == IcmpPolicyParams(state="present", families=("ipv4", "ipv6"), hooks=("input", "output"),
                                      fix_untracked=True, interfaces=None,
                                      files=FirewallFiles(persist=False, nftables_config="/srv/fw.nft"),
                                      check_mode=True, diff=False)


@pytest.mark.parametrize("given, expected", [(None, None), ([], None), (["wg0", "eth0"], ("wg0", "eth0"))])
def test_params_interfaces(given, expected):
    assert IcmpPolicyParams.from_params(dict(PARAMS, interfaces=given)).interfaces == expected


def test_defaults_cover_everything():
    params = IcmpPolicyParams()
    assert (params.state, params.families, params.hooks) == ("evaluate", ("ipv4", "ipv6"), ("input", "forward", "output"))
    assert params.files.persist is True


@pytest.mark.parametrize("values, expected", [
    (["output", "input"], ("input", "output")), ([], ()), (["forward", "forward"], ("forward",)),
])
def test_ordered(values, expected):
    assert ordered(values, ("input", "forward", "output")) == expected


def entry(verdict, untracked="accepted", reason="dropped by rule 4", family="ipv4", hook="input"):
    return {"family": family, "hook": hook, "verdict": verdict, "reason": reason,
            "untracked": {"verdict": untracked, "reason": "ct state invalid drop"}}


@pytest.mark.parametrize("final, fix_untracked, plan_unresolved, expected", [
    ([entry("accepted")], False, [], []),
    ([entry("dropped")], False, [], [{"family": "ipv4", "hook": "input", "reason": "dropped by rule 4"}]),
    ([entry("accepted", untracked="dropped")], False, [], []),
    ([entry("accepted", untracked="dropped")], True, [],
     [{"family": "ipv4", "hook": "input", "reason": "untracked: ct state invalid drop"}]),
    # the plan's own reason (why it could not change the rule) wins over the evaluator's
    ([entry("dropped")], False, [{"family": "ipv4", "hook": "input", "reason": "in firewalld's table"}],
     [{"family": "ipv4", "hook": "input", "reason": "in firewalld's table"}]),
    ([entry("dropped", hook="forward")], False, [{"family": "ipv4", "hook": "input", "reason": "other"}],
     [{"family": "ipv4", "hook": "forward", "reason": "dropped by rule 4"}]),
])
def test_unresolved_entries(final, fix_untracked, plan_unresolved, expected):
    assert unresolved_entries(final, {"unresolved": plan_unresolved}, fix_untracked) == expected
