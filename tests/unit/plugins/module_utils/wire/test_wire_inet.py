# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wire/inet: the shared address, host-name and interface-name checks (issue 16, "Bad input")."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.wire import inet

HINT = "give a unicast address with global or unique-local scope"
LOCAL_HINT = "give a unicast address of this host with global or unique-local scope"


@pytest.mark.parametrize("value, problem", [
    ("fe80::1", "link-local"), ("169.254.1.1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.1.1.1", "multicast"), ("ff02::1", "multicast"),
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("255.255.255.255", "the broadcast address"),
    ("::ffff:198.18.0.1", "IPv4-mapped (give the IPv4 address itself)"),
    # what a routed path can end at: global, private, benchmark (the lab's), unique-local
    ("198.18.0.1", None), ("10.1.2.3", None), ("8.8.8.8", None), ("fd00:198:18::1", None), ("2001:db8::1", None),
])
def test_scope_problem(value, problem):
    assert inet.scope_problem(ipaddress.ip_address(value)) == problem
    expected = None if problem is None else f"peer {value} is {problem}; {HINT}"
    assert inet.check_address(value, "peer") == expected
    assert inet.check_address(value, "peer", scoped=False) is None


@pytest.mark.parametrize("value", ["", "not an address", "300.1.1.1", "198.18.0", "1.2.3.4;id", "198.18.1.1/24"])
def test_check_address_refuses_what_is_no_address(value):
    assert inet.check_address(value, "peer") == f"peer {value!r} is not an IP address"


def test_check_local_address():
    local = {"198.18.0.2", "fd00::2"}.__contains__
    asked = []

    def spy(address):
        asked.append(address)
        return local(address)

    assert inet.check_local_address("198.18.0.2", "source", spy) is None
    assert inet.check_local_address("FD00:0::2", "source", spy) is None  # asked in its normal form
    assert inet.check_local_address("198.51.100.7", "source", spy) == "source 198.51.100.7 is not an address of this host"
    assert inet.check_local_address("224.0.0.1", "source", spy) == f"source 224.0.0.1 is multicast; {LOCAL_HINT}"
    assert inet.check_local_address("x", "address", spy) == "address 'x' is not an IP address"
    assert inet.check_local_address("198.51.100.7", "source", None) is None  # syntax and scope only
    assert asked == ["198.18.0.2", "fd00::2", "198.51.100.7"]


@pytest.mark.parametrize("name, valid", [
    ("eth0", True), ("eth0.100", True), ("br-lan", True), ("wg0", True), ("veth@if2", True), ("a+b", True),
    ("eth0:1", True), ("x" * 15, True), ("eth0.", False),
    ("", False), ("x" * 16, False), ("-x", False), (".", False), ("..", False), ("a/b", False), ("x y", False),
    (" eth0", False), ("eth0 ", False), ("\t", False), ("x\ny", False), ("x\x00y", False), ("\u00e9th0", False),
    ("\u0435th0", False), ("x;reboot", False), ("$(reboot)", False), ("*", False),
])
def test_check_interface_name(name, valid):
    message = inet.check_interface_name(name)
    if valid:
        assert message is None
    else:
        assert message.startswith(f"interface {name!r} is not a valid Linux interface name")


@pytest.mark.parametrize("name, error", [
    ("backend.lab", None), ("b\u00fccher.example", None), ("x" * 63 + ".lab", None), ("localhost", None),
    ("1e100.net", None), ("host.", None), ("nonexistent.invalid", None),
    ("", "is not a host name or IP address"), ("x y", "is not a host name or IP address"),
    ("x\ny", "is not a host name or IP address"),
    ("x" * 254, "is not a host name (at most 253"), ("x" * 64 + ".lab", "is not a host name (at most 253"),
    ("a..b", "is not a host name (at most 253"),
    ("198.18.0", "is not a valid IP address (IPv4 has four parts"), ("10", "is not a valid IP address (IPv4 has four parts"),
    ("0x7f.1", "is not a valid IP address (IPv4 has four parts"),
])
def test_check_host_name(name, error):
    message = inet.check_host_name(name, "targets:")
    if error is None:
        assert message is None
    else:
        assert message.startswith(f"targets: {name!r} {error}")
