# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mss_clamp's backend: typed parameters and the clamps they ask for (end to end: test_firewall_modules.py)."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_backend import FirewallFiles
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.mss_clamp_backend import MssClampParams, empty_report

PARAMS = {"state": "present", "mtu": 1420, "mss": None, "family": "both", "chains": ["forward", "output"],
          "interface": "wg0", "interface_direction": "both", "backend": "auto", "firewalld_zone": None,
          "firewalld_policy": None, "persist": True, "nftables_config": None, "iptables_rules_v4": "/srv/v4",
          "iptables_rules_v6": None, "backup": True}


def test_params_from_module_params():
    params = MssClampParams.from_params(PARAMS, diff=True)
    assert params == MssClampParams(mtu=1420, families=("ipv4", "ipv6"), chains=("forward", "output"), interface="wg0",
                                    interface_direction="both",
                                    files=FirewallFiles(iptables_rules_v4="/srv/v4", backup=True), diff=True)


@pytest.mark.parametrize("family, families", [("both", ("ipv4", "ipv6")), ("ipv4", ("ipv4",)), ("ipv6", ("ipv6",))])
def test_params_family(family, families):
    assert MssClampParams.from_params(dict(PARAMS, family=family)).families == families


def test_clamps_follow_the_params():
    clamps = MssClampParams.from_params(PARAMS).clamps()
    assert [(c.family, c.chain, c.direction, c.mss) for c in clamps] == [
        ("ipv4", "forward", "out", 1380), ("ipv4", "forward", "in", 1380), ("ipv4", "output", "out", 1380),
        ("ipv6", "forward", "out", 1360), ("ipv6", "forward", "in", 1360), ("ipv6", "output", "out", 1360),
    ]
    defaults = MssClampParams().clamps()  # clamp to path MTU, forward, both families
    expected = [("ipv4", "forward", None, None), ("ipv6", "forward", None, None)]
    assert [(c.family, c.chain, c.interface, c.mss) for c in defaults] == expected


@pytest.mark.parametrize("params, message", [
    (MssClampParams(mtu=1000), "IPv6 minimum"),
    (MssClampParams(interface="bad name"), "not a valid Linux interface name"),
    (MssClampParams(mtu=1420, mss=1380), "give either mss or mtu"),
])
def test_clamps_reject(params, message):
    with pytest.raises(ValueError, match=message):
        params.clamps()


def test_empty_report_is_fresh_each_time():
    first = empty_report()
    first["added"].append("x")
    assert empty_report() == {"present": [], "added": [], "removed": [], "misplaced": []}
