# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What counts as loaded at boot, per manager and per firewall file."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host import boot


@pytest.mark.parametrize("rc, out, err, state", [
    (0, "enabled\n", "", "enabled"),
    (1, "disabled\n", "", "disabled"),
    (1, "masked\n", "", "masked"),
    (0, "static\n", "", "static"),
    (1, "not-found\n", "", "not-found"),  # systemd >= 253
    (1, "", "Failed to get unit file state for netfilter-persistent.service: No such file or directory\n", "not-found"),
    (1, "", "System has not been booted with systemd\n", "unknown"),
])
def test_systemctl_state(rc, out, err, state):
    assert boot.systemctl_state(rc, out, err) == state


@pytest.mark.parametrize("wants, systemd, state", [
    (["nftables.service", "ssh.service"], True, "enabled"),
    (["ssh.service"], True, "disabled"),
    ([], False, "unknown"),
])
def test_wants_state(wants, systemd, state):
    assert boot.wants_state("nftables.service", wants, systemd) == state


@pytest.mark.parametrize("state, verdict", [
    ("enabled", "enabled"), ("disabled", "off"), ("masked", "off"), ("not-found", "off"),
    ("enabled-runtime", "off"),  # /run is gone after a reboot
    ("static", "unknown"), ("indirect", "unknown"), ("generated", "unknown"), ("unknown", "unknown"),
])
def test_verdict(state, verdict):
    assert boot.verdict(state) == verdict


@pytest.mark.parametrize("manager, texts, units", [
    ("wg-quick", [], ("wg-quick@wg0.service",)),
    ("systemd-networkd", [], ("systemd-networkd.service",)),
    ("NetworkManager", [], ("NetworkManager.service",)),
    ("netplan", ["network:\n  version: 2\n  ethernets: {}\n"], ("systemd-networkd.service",)),
    ("netplan", ["network:\n  renderer: NetworkManager\n"], ("NetworkManager.service",)),
    ("netplan", ["network:\n  renderer: NetworkManager\n", "network:\n  renderer: networkd\n"], ("systemd-networkd.service",)),
    ("ifupdown", [], ("networking.service",)),
    ("ifcfg", [], ("network.service", "NetworkManager.service")),
    ("none", [], ()),
])
def test_manager_units(manager, texts, units):
    assert boot.manager_units(manager, "wg0", texts) == units


@pytest.mark.parametrize("text, up", [
    ("auto eth2\niface eth2 inet static\n", True),
    ("allow-hotplug lo eth2\niface eth2 inet dhcp\n", True),
    ("iface eth2 inet static\n    mtu 1400\n", False),
    ("auto eth20\niface eth2 inet static\n", False),
    ("# auto eth2\niface eth2 inet static\n", False),
])
def test_ifupdown_auto(text, up):
    assert boot.ifupdown_auto(text, "eth2") is up


MAIN = '#!/usr/sbin/nft -f\nflush ruleset\ninclude "/etc/nftables.d/*.nft"\n'


@pytest.mark.parametrize("path, mains, units, main", [
    ("/etc/nftables.conf", None, ("nftables.service",), None),
    ("/etc/sysconfig/nftables.conf", None, ("nftables.service",), None),
    ("/etc/iptables/rules.v4", None, ("netfilter-persistent.service",), None),
    ("/etc/iptables/rules.v6", None, ("netfilter-persistent.service",), None),
    ("/etc/sysconfig/iptables", None, ("iptables.service",), None),
    ("/etc/sysconfig/ip6tables", None, ("ip6tables.service",), None),
    ("/etc/nftables.d/mtu.nft", {"/etc/nftables.conf": MAIN}, ("nftables.service",), "/etc/nftables.conf"),
    ("/etc/nftables.d/mtu.conf", {"/etc/nftables.conf": MAIN}, (), None),  # the glob does not match
    ("/srv/fw.nft", {"/etc/nftables.conf": MAIN, "/etc/sysconfig/nftables.conf": None}, (), None),
])
def test_firewall_units(path, mains, units, main):
    assert boot.firewall_units(path, mains) == (units, main)


@pytest.mark.parametrize("units, state, loaded_by, reason", [
    ({"nftables.service": "enabled"}, "boot", "nftables.service", "nftables.service is enabled and loads /etc/nftables.conf"),
    ({"nftables.service": "disabled"}, "runtime_only", None, "'systemctl enable nftables.service' to keep it"),
    ({"nftables.service": "not-found"}, "runtime_only", None, "install and enable the service"),
    ({"nftables.service": "enabled-runtime"}, "runtime_only", None, "lost at reboot"),
    ({"nftables.service": "static"}, "unknown", None, "cannot tell whether /etc/nftables.conf is loaded at boot"),
    ({"nftables.service": "unknown"}, "unknown", None, "nftables.service is unknown"),
    ({}, "unknown", None, "nothing this module knows loads /etc/nftables.conf at boot"),
    ({"network.service": "not-found", "NetworkManager.service": "enabled"}, "boot", "NetworkManager.service", "is enabled"),
    ({"network.service": "disabled", "NetworkManager.service": "static"}, "unknown", None, "network.service is disabled"),
])
def test_decide(units, state, loaded_by, reason):
    result = boot.decide(["/etc/nftables.conf"], units)
    assert (result["state"], result["loaded_by"], result["files"]) == (state, loaded_by, ["/etc/nftables.conf"])
    assert reason in result["reason"]


def test_combine_takes_the_weakest():
    v4 = boot.decide(["/etc/iptables/rules.v4"], {"netfilter-persistent.service": "enabled"})
    v6 = boot.decide(["/etc/iptables/rules.v6"], {"netfilter-persistent.service": "disabled"})
    unknown = boot.decide(["/srv/x"], {})
    assert boot.combine([v4]) == v4
    both = boot.combine([v4, v4])
    assert (both["state"], both["loaded_by"], both["files"]) == ("boot", "netfilter-persistent.service",
                                                                 ["/etc/iptables/rules.v4", "/etc/iptables/rules.v4"])
    assert boot.combine([v4, unknown])["state"] == "unknown"
    worst = boot.combine([v4, unknown, v6])
    assert (worst["state"], worst["loaded_by"]) == ("runtime_only", None)
    assert worst["reason"] == v6["reason"]
    assert boot.combine([])["state"] == "runtime_only"


def test_several_files_read_as_plural():
    files = ["/etc/systemd/network/30-vx0.netdev", "/etc/systemd/network/30-vx0.network"]
    result = boot.decide(files, {"systemd-networkd.service": "disabled"})
    assert result["reason"].startswith(f"{files[0]}, {files[1]} are not loaded at boot (systemd-networkd.service is disabled)")
