# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The persist dispatch's pure parts: whose files, and what a plan shows as diff.

The dispatch per network manager runs end to end in tests/unit/plugins/modules/test_link_mtu.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host import persist_dispatch

FILES = {
    "/etc/wireguard/wg0.conf": "",
    "/etc/systemd/network/30-vx0.network": "[Match]\nName=vx0\n",
    "/etc/network/interfaces": "auto eth2\n",
    "/etc/network/interfaces.d/eth3": "auto eth3\n",
    "/etc/netplan/50-lab.yaml": "network: {}\n",
}


@pytest.mark.parametrize("manager, paths", [
    ("wg-quick", ["/etc/wireguard/wg0.conf"]),
    ("systemd-networkd", ["/etc/systemd/network/30-vx0.network"]),
    ("ifupdown", ["/etc/network/interfaces", "/etc/network/interfaces.d/eth3"]),
    ("netplan", ["/etc/netplan/50-lab.yaml"]),
    ("ifcfg", []),
])
def test_owner_files(manager, paths):
    assert sorted(persist_dispatch.owner_files(manager, FILES)) == paths


def test_persist_choices():
    assert persist_dispatch.PERSIST_CHOICES[:2] == ["auto", "none"]
    assert {"wg-quick", "systemd-networkd", "NetworkManager", "netplan", "ifupdown", "ifcfg"} <= set(
        persist_dispatch.PERSIST_CHOICES)


def test_diff_items_of_files_are_redacted_and_only_changed_ones():
    plan = {"files": [
        {"path": "/etc/wireguard/wg0.conf", "changed": True, "old": "PrivateKey = secret\nMTU = 1420\n",
         "new": "PrivateKey = secret\nMTU = 1340\n"},
        {"path": "/etc/x", "changed": False, "old": "a\n", "new": "a\n"},
        {"path": "/etc/y", "changed": False, "skipped": "/etc/y: it does not exist"},
    ], "commands": []}
    items = persist_dispatch.diff_items(plan, 1340)
    assert [path for path, before, after in items] == ["/etc/wireguard/wg0.conf"]
    assert "secret" not in items[0][1] + items[0][2] and "MTU = 1340" in items[0][2]


@pytest.mark.parametrize("previous, commands, expected", [
    (None, [["nmcli", "connection", "modify"]], [("nmcli connection U ppp.mtu", "auto\n", "1400\n")]),
    (1492, [["nmcli", "connection", "modify"]], [("nmcli connection U ppp.mtu", "1492\n", "1400\n")]),
    (1400, [], []),
])
def test_diff_items_of_a_networkmanager_profile(previous, commands, expected):
    plan = {"files": [], "commands": commands, "nm": {"uuid": "U", "setting": "ppp.mtu", "previous": previous}}
    assert persist_dispatch.diff_items(plan, 1400) == expected
