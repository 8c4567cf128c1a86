# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""firewalld cannot run on the lab machines (it needs D-Bus and systemd): its configuration and
commands are tested as data here."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import firewalld
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.mss_plan import Clamp

ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>Public</short>
  <service name="ssh"/>
  {extra}
</zone>
"""


@pytest.mark.parametrize("extra, v4, v6", [
    ("", False, False),
    ('<icmp-block name="fragmentation-needed"/>', True, False),
    ('<icmp-block name="packet-too-big"/><icmp-block name="echo-request"/>', False, True),
    ("<icmp-block-inversion/>", True, True),
    ('<icmp-block-inversion/><icmp-block name="packet-too-big"/>', True, False),
    ('<rule family="ipv4"><icmp-block name="fragmentation-needed"/></rule>', True, False),
    ('<rule family="ipv6"><icmp-block name="fragmentation-needed"/></rule>', False, False),
    ('<rule><icmp-type name="packet-too-big"/><drop/></rule>', False, True),
    ('<rule><icmp-type name="packet-too-big"/><accept/></rule>', False, False),
])
def test_zone_blocks(extra, v4, v6):
    zone = firewalld.parse_zone(ZONE.format(extra=extra))
    blocked = firewalld.ptb_blocked(zone)
    assert (blocked["ipv4"]["blocked"], blocked["ipv6"]["blocked"]) == (v4, v6)
    assert zone["target"] == "DROP"


def test_parse_policy_with_mss_clamp():
    policy = firewalld.parse_zone('<policy target="CONTINUE"><ingress-zone name="internal"/><egress-zone name="wg"/>'
                                  '<rule family="ipv4"><tcp-mss-clamp value="pmtu"/></rule></policy>')
    assert policy["kind"] == "policy"
    assert policy["rich_rules"] == [{"family": "ipv4", "tcp_mss_clamp": "pmtu"}]


def test_bad_xml():
    with pytest.raises(ValueError, match="not firewalld XML"):
        firewalld.parse_zone("<zone>")


@pytest.mark.parametrize("chain, zone", [
    ("filter_IN_public_deny", "public"), ("filter_IN_public", "public"), ("filter_FWD_internal_allow", "internal"),
    ("filter_IN_my_zone_pre", "my_zone"), ("filter_INPUT", None), ("input", None),
])
def test_zone_of_chain(chain, zone):
    assert firewalld.zone_of_chain(chain) == zone


def test_icmp_fix_commands():
    assert firewalld.icmp_fix_commands("public", "ipv4", inversion=False) == [
        ["firewall-cmd", "--zone=public", "--remove-icmp-block=fragmentation-needed"],
        ["firewall-cmd", "--permanent", "--zone=public", "--remove-icmp-block=fragmentation-needed"]]
    assert firewalld.icmp_fix_commands("dmz", "ipv6", inversion=True, permanent=False) == [
        ["firewall-cmd", "--zone=dmz", "--add-icmp-block=packet-too-big"]]
    with pytest.raises(ValueError):
        firewalld.icmp_fix_commands("pub lic; rm", "ipv4", inversion=False)


PMTU = [Clamp("ipv4", "forward", None, None, None), Clamp("ipv6", "forward", None, None, None)]
FIXED = [Clamp("ipv4", "forward", "out", "wg0", 1380), Clamp("ipv6", "forward", "out", "wg0", 1360)]


def test_mss_rich_rules():
    plan = firewalld.plan_mss(kind="policy", name="lan-to-wg", clamps=FIXED, state="present", runtime=[], permanent=[])
    assert plan["rules"] == ['rule family="ipv4" tcp-mss-clamp value="1380"', 'rule family="ipv6" tcp-mss-clamp value="1360"']
    assert plan["commands"] == [
        ["firewall-cmd", "--policy=lan-to-wg", '--add-rich-rule=rule family="ipv4" tcp-mss-clamp value="1380"'],
        ["firewall-cmd", "--permanent", "--policy=lan-to-wg", '--add-rich-rule=rule family="ipv4" tcp-mss-clamp value="1380"'],
        ["firewall-cmd", "--policy=lan-to-wg", '--add-rich-rule=rule family="ipv6" tcp-mss-clamp value="1360"'],
        ["firewall-cmd", "--permanent", "--policy=lan-to-wg", '--add-rich-rule=rule family="ipv6" tcp-mss-clamp value="1360"'],
    ]


def test_mss_idempotent_and_absent():
    listed = firewalld.parse_rich_rules('rule family="ipv4"  tcp-mss-clamp value="pmtu"\nrule family="ipv6" tcp-mss-clamp value="pmtu"\n')
    plan = firewalld.plan_mss(kind="zone", name="public", clamps=PMTU, state="present", runtime=listed, permanent=listed)
    assert not plan["changed"]
    plan = firewalld.plan_mss(kind="zone", name="public", clamps=PMTU, state="present", runtime=listed, permanent=[])
    assert [c[1] for c in plan["commands"]] == ["--permanent", "--permanent"]
    plan = firewalld.plan_mss(kind="zone", name="public", clamps=PMTU, state="absent", runtime=listed, permanent=[])
    assert plan["commands"] == [["firewall-cmd", "--zone=public", f"--remove-rich-rule={listed[0]}"],
                                ["firewall-cmd", "--zone=public", f"--remove-rich-rule={listed[1]}"]]
    with pytest.raises(ValueError):
        firewalld.plan_mss(kind="service", name="x", clamps=PMTU, state="present", runtime=[], permanent=[])


@pytest.mark.parametrize("name", ["public\n", "", "a" * 65, "zone;id", None])
def test_bad_zone_and_policy_names(name):
    with pytest.raises(ValueError, match="must be 1-64 letters"):
        firewalld.validate_name(name, "zone")


def test_good_zone_name():
    assert firewalld.validate_name("public", "zone") == "public"
