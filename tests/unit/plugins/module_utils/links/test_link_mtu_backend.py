# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""link_mtu's backend on its own: typed parameters, and how run() ends (result, diff, ModuleFailure)."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.links.link_mtu_backend import LinkMtuParams, run

MODULE_PARAMS = {"name": "wg0", "mtu": None, "path_mtu": 1400, "encapsulation": "wireguard", "outer_family": "ipv4",
                 "overhead_options": None, "persist": "none", "backup": True, "allow_control_interface": False,
                 "interface": "wg0"}  # AnsibleModule keeps the alias key too


def test_params_from_module_params():
    params = LinkMtuParams.from_params(MODULE_PARAMS, check_mode=True, diff=True)
    assert params == LinkMtuParams(name="wg0", path_mtu=1400, encapsulation="wireguard", outer_family="ipv4",
                                   overhead_options={}, persist="none", backup=True, check_mode=True, diff=True)
    assert params.mtu is None and params.allow_control_interface is False


def test_params_copy_overhead_options_and_are_frozen():
    options = {"keys": 1}
    params = LinkMtuParams.from_params(dict(MODULE_PARAMS, overhead_options=options))
    options["keys"] = 2
    assert params.overhead_options == {"keys": 1}
    assert (params.check_mode, params.diff) == (False, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.mtu = 1280  # type: ignore[misc]


def test_params_defaults_match_the_argument_spec():
    params = LinkMtuParams.from_params({"name": "eth0", "mtu": 1400})
    assert (params.persist, params.backup, params.overhead_options) == ("auto", False, {})


class OneLink:
    """A host with one veth, no SSH connection, nothing else: enough for persist=none runs."""

    def __init__(self, mtu=1500):
        self.mtu = mtu
        self.set = []

    def links(self):
        return [self.link("eth0")]

    def link(self, name):
        if name != "eth0":
            return None
        return {"index": 2, "name": "eth0", "ifi_type": 1, "flags": 1, "mtu": self.mtu, "min_mtu": 68,
                "max_mtu": 9000, "operstate": "UP", "address": None, "link": None, "link_netnsid": None,
                "master": None, "kind": "veth", "data": {}}

    def addresses(self):
        return [{"index": 2, "family": "ipv4", "address": "192.0.2.1", "prefixlen": 24, "scope": 0}]

    def environ(self, name):
        return None

    def exists(self, path):
        return False

    def set_mtu(self, index, mtu):
        self.set.append((index, mtu))
        self.mtu = mtu


@pytest.mark.parametrize("diff", [True, False])
def test_run_returns_the_result_and_the_diff_when_asked(diff):
    system = OneLink()
    warnings = []
    params = LinkMtuParams(name="eth0", mtu=1400, persist="none", check_mode=True, diff=diff)
    result = run(params, system, warnings.append)
    assert (result["changed"], result["mtu"], result["previous_mtu"]) == (True, 1400, 1500)
    assert system.set == []  # check mode
    assert result["persist"]["status"] == "disabled" and result["persistence"]["state"] == "runtime_only"
    if diff:
        assert result["diff"] == [{"before_header": "eth0 (runtime)", "after_header": "eth0 (runtime)",
                                   "before": "mtu: 1500\n", "after": "mtu: 1400\n"}]
    else:
        assert "diff" not in result


def test_run_fails_with_module_failure_and_the_result_so_far():
    with pytest.raises(ModuleFailure) as failure:
        run(LinkMtuParams(name="nope0", mtu=1400, diff=True), OneLink(), print)
    assert failure.value.msg == ("no interface named 'nope0' in this host's network namespace (interfaces here: eth0); "
                                 "check the name, or create the interface first")
    assert failure.value.result == {"changed": False, "interface": "nope0", "rolled_back": False,
                                    "control_connection": None}


def test_run_rejects_a_bad_name_before_touching_the_host():
    with pytest.raises(ModuleFailure) as failure:
        run(LinkMtuParams(name="a/b", mtu=1400), None, print)
    assert "not a valid interface name" in failure.value.msg and failure.value.result["changed"] is False


def test_run_sets_the_mtu_outside_check_mode():
    system = OneLink()
    result = run(LinkMtuParams(name="eth0", mtu=1400, persist="none"), system, print)
    assert system.set == [(2, 1400)] and result["changed"] is True and result["runtime_changed"] is True
    assert run(LinkMtuParams(name="eth0", mtu=1400, persist="none"), system, print)["changed"] is False
