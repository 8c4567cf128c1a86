# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""path_mtu_info's backend driven through its seams alone: no AnsibleModule, no monkeypatching.
The module's behaviour end to end is tested in tests/unit/plugins/modules/test_path_mtu_info.py."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import path_mtu_info_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.pmtu.test_pmtu import SimPath
from ansible_collections.netpath.mtu.tests.unit.plugins.modules.test_path_mtu_info import FakeGuard, FakeProber

DEFAULTS = {"targets": ["198.18.2.2"], "family": "any", "method": "icmp", "port": None, "timeout": 1.0, "retries": 2,
            "min_size": None, "max_size": None, "source": None, "interface": None, "locate_hop": True, "max_hops": 30,
            "rate_limit": 10000, "max_rounds": None, "unresolved": "fail", "recheck": False}


LOCAL = {"198.18.1.2", "fd00::1"}  # the is_local seam's view: addresses of "this host"


@pytest.fixture(autouse=True)
def one_path(monkeypatch):
    """The prober answers from one simulated 1400-byte path that announces its MTU."""
    monkeypatch.setattr(FakeProber, "instances", [])
    monkeypatch.setattr(FakeProber, "open_errors", [])
    monkeypatch.setattr(FakeProber, "paths", {
        "198.18.2.2": SimPath(mtu=1400, ptb=True, target="198.18.2.2", hops=("198.18.1.1", "198.18.4.2"))})


def eth0(family, target, source=None, oif=None):
    return netlink.Route(oif=2, interface="eth0", device_mtu=1500, table=254)


def seams(**changes) -> backend.Seams:
    fake = backend.Seams(route=eth0, source_for=lambda fam, target, iface: "198.18.1.2", prober=FakeProber,
                         cache_guard=FakeGuard, getaddrinfo=None, if_index=lambda name: 7, clock=time.monotonic,
                         sleep=lambda seconds: None, is_local=lambda address: address in LOCAL)
    return replace(fake, **changes)


@pytest.mark.parametrize("method, rounds", [("icmp", 5), ("udp", 12)])
def test_max_rounds_defaults_by_method(method, rounds):
    assert backend.Params.from_module(dict(DEFAULTS, method=method)).max_rounds == rounds
    assert backend.Params.from_module(dict(DEFAULTS, method=method, max_rounds=3)).max_rounds == 3


def test_run_through_the_seams():
    routes: list = []

    def route(family, target, source=None, oif=None):
        routes.append((family, target, source, oif))
        return netlink.Route(oif=2, interface="eth0", device_mtu=1500, table=254)

    result = backend.run(backend.Params.from_module(dict(DEFAULTS, interface="eth0")), seams(route=route))
    assert routes == [(4, "198.18.2.2", None, 7)]  # the interface's index from the if_index seam
    ((entry,),) = [result["results"]]
    assert (entry["status"], entry["path_mtu"], entry["source"], entry["interface"], entry["interface_mtu"]) == (
        "ptb", 1400, "198.18.1.2", "eth0", 1500)
    assert result["changed"] is False and result["pmtu_exceptions_removed"] == []
    ((prober,),) = [FakeProber.instances]
    assert prober.closed and (prober.method, prober.interface, prober.rate) == ("icmp", "eth0", 10000)


def test_names_resolve_through_the_getaddrinfo_seam():
    def getaddrinfo(name, port, family, socktype):
        return [(socket.AF_INET, socktype, 17, "", ("198.18.2.2", 0))]

    result = backend.run(backend.Params.from_module(dict(DEFAULTS, targets=["backend.lab"])), seams(getaddrinfo=getaddrinfo))
    assert [(r["target"], r["address"], r["status"]) for r in result["results"]] == [("backend.lab", "198.18.2.2", "ptb")]


def test_failures_are_module_failures_with_the_message_only():
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, method="udp", retries=11, port=0)), seams())
    assert exc.value.msg == "retries must be between 0 and 10, got 11; port must be between 1 and 65535, got 0"
    assert exc.value.result == {}

    def missing(name):
        raise OSError(19, "No such device")

    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, interface="nope0")), seams(if_index=missing))
    assert exc.value.msg == "interface 'nope0' does not exist on this host"


HINT = "give a unicast address with global or unique-local scope"


@pytest.mark.parametrize("target, message", [
    ("fe80::1", f"targets: fe80::1 is link-local; {HINT}"),
    ("fe80::1%eth0", f"targets: fe80::1 is link-local; {HINT}"),
    ("169.254.1.1", f"targets: 169.254.1.1 is link-local; {HINT}"),
    ("224.0.0.1", f"targets: 224.0.0.1 is multicast; {HINT}"),
    ("ff02::1", f"targets: ff02::1 is multicast; {HINT}"),
    ("239.1.1.1", f"targets: 239.1.1.1 is multicast; {HINT}"),
    ("127.0.0.1", f"targets: 127.0.0.1 is loopback; {HINT}"),
    ("::1", f"targets: ::1 is loopback; {HINT}"),
    ("0.0.0.0", f"targets: 0.0.0.0 is unspecified; {HINT}"),
    ("::", f"targets: :: is unspecified; {HINT}"),
    ("255.255.255.255", f"targets: 255.255.255.255 is the broadcast address; {HINT}"),
    ("198.18.0", "targets: '198.18.0' is not a valid IP address (IPv4 has four parts of 0 to 255) nor a host name"),
    ("300.1.1.1", "targets: '300.1.1.1' is not a valid IP address (IPv4 has four parts of 0 to 255) nor a host name"),
    ("x" * 300, f"targets: {'x' * 300!r} is not a host name (at most 253 characters, dot-separated labels of 1 to"
                " 63)"),
    ("", "targets: '' is not a host name or IP address"),
])
def test_targets_no_path_leads_to_fail_before_anything_is_sent(target, message):
    for unresolved in ("fail", "report"):
        with pytest.raises(ModuleFailure) as exc:
            backend.run(backend.Params.from_module(dict(DEFAULTS, targets=[target], unresolved=unresolved)),
                        seams(getaddrinfo=None, route=None))
        assert exc.value.msg == message
    assert not FakeProber.instances


def test_many_bad_targets_make_one_short_message():
    targets = ["127.0.0.1", "127.0.0.1", "::1", "0.0.0.0", "224.0.0.1", "ff02::1", "198.18.2.2"]
    assert backend.target_errors(targets) == [f"targets: 127.0.0.1 is loopback; {HINT}", f"targets: ::1 is loopback; {HINT}",
                                              f"targets: 0.0.0.0 is unspecified; {HINT}", "targets: 2 more like these"]


@pytest.mark.parametrize("family, addresses, message", [
    ("any", ["127.0.1.1"], f"targets: lab.local resolves to 127.0.1.1, which is loopback; {HINT}"),
    ("both", ["198.18.2.2", "fe80::7"], f"targets: lab.local resolves to fe80::7, which is link-local; {HINT}"),
])
def test_names_that_resolve_to_no_path_fail_naming_the_name(family, addresses, message):
    def getaddrinfo(name, port, af, socktype):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socktype, 17, "", (a, 0)) for a in addresses]

    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, targets=["lab.local"], family=family,
                                                    unresolved="report")), seams(getaddrinfo=getaddrinfo))
    assert exc.value.msg == message
    assert not FakeProber.instances


def test_a_name_idna_refuses_is_named():
    def getaddrinfo(name, port, af, socktype):
        raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)")

    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, targets=["b\u00fccher.lab"])),
                    seams(getaddrinfo=getaddrinfo))
    assert exc.value.msg == "target 'b\u00fccher.lab' is not a valid host name"


@pytest.mark.parametrize("source, message", [
    ("198.51.100.7", "source 198.51.100.7 is not an address of this host"),
    ("224.0.0.1", "source 224.0.0.1 is multicast; give a unicast address of this host with global or unique-local"
                  " scope"),
    ("0.0.0.0", "source 0.0.0.0 is unspecified; give a unicast address of this host with global or unique-local"
                " scope"),
    ("255.255.255.255", "source 255.255.255.255 is the broadcast address; give a unicast address of this host with"
                        " global or unique-local scope"),
    ("bogus", "source 'bogus' is not an IP address"),
])
def test_source_must_be_an_address_of_this_host(source, message):
    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, source=source)), seams())
    assert exc.value.msg == message
    assert not FakeProber.instances


def test_interface_names_are_checked_before_the_lookup():
    def if_index(name):
        raise AssertionError("not looked up")

    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, interface="x\x00y")), seams(if_index=if_index))
    assert exc.value.msg.startswith("interface 'x\\x00y' is not a valid Linux interface name")


def test_a_missing_route_is_reported_not_probed():
    def no_route(family, target, source=None, oif=None):
        raise netlink.NoRoute(f"no route to {target}: Network is unreachable")

    result = backend.run(backend.Params.from_module(DEFAULTS), seams(route=no_route))
    assert not FakeProber.instances  # nothing to probe
    ((entry,),) = [result["results"]]
    assert (entry["status"], entry["reason"]) == ("unreachable", "no local route: no route to 198.18.2.2: Network is unreachable")


def test_host_seams_are_the_real_ones():
    real = backend.host_seams()
    assert (real.route, real.prober, real.cache_guard) == (netlink.route_get, probe_io.Prober, probe_io.PmtuCacheGuard)
    assert (real.getaddrinfo, real.if_index, real.clock) == (socket.getaddrinfo, socket.if_nametoindex, time.monotonic)
    assert real.is_local is netlink.is_local
