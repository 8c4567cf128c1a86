# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.filter.mtu import FilterModule

FILTERS = FilterModule().filters()


def test_filter_names():
    assert sorted(FILTERS) == ["mss", "tunnel_mtu"]


# The values documented in plugins/filter/tunnel_mtu.yml's EXAMPLES.
@pytest.mark.parametrize("path, args, kwargs, expected", [
    (1500, ("wireguard",), {}, 1440),
    (1500, ("wireguard", "ipv6"), {}, 1420),
    (1400, ("wireguard",), {}, 1340),
    (1500, ("vxlan",), {}, 1450),
    (1500, ("vxlan",), {"outer_family": "ipv6"}, 1430),
    (1500, ("gre",), {"key": True}, 1472),
    (1500, ("esp",), {"cipher": "aes-gcm", "nat_t": False}, 1446),
    (1500, ("pppoe",), {}, 1492),
    ("1500", ("wg", "inet"), {}, 1440),  # values from facts or inventory may be strings
])
def test_tunnel_mtu(path, args, kwargs, expected):
    assert FILTERS["tunnel_mtu"](path, *args, **kwargs) == expected


@pytest.mark.parametrize("mtu, args, expected", [
    (1420, (), 1380),
    (1420, ("ipv6",), 1360),
    (1500, ("inet",), 1460),
])
def test_mss(mtu, args, expected):
    assert FILTERS["mss"](mtu, *args) == expected


def test_chained_as_in_docs():
    assert FILTERS["mss"](FILTERS["tunnel_mtu"](1500, "wireguard")) == 1400


@pytest.mark.parametrize("name, args, kwargs, message", [
    ("tunnel_mtu", (1500, "ipip", "ipv6"), {}, "use kind 'ip6tnl'"),
    ("tunnel_mtu", (1500, "bogus"), {}, "unknown encapsulation kind 'bogus'"),
    ("tunnel_mtu", (1500, "vxlan"), {"csum": True}, "option csum does not apply to vxlan"),
    ("tunnel_mtu", (1300, "wireguard", "ipv6"), {"inner_ipv6": True}, "at least 1360"),
    ("tunnel_mtu", ("x", "wireguard"), {}, "whole number"),
    ("mss", (1200, "ipv6"), {}, "below 1280"),
    ("mss", (70000,), {}, "above 65535"),
    ("mss", (1500, "ipx"), {}, "'ipv4' or 'ipv6'"),
])
def test_errors_become_filter_errors(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError) as exc:
        FILTERS[name](*args, **kwargs)
    assert message in str(exc.value)
    assert isinstance(exc.value.__cause__, ValueError)
