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

DEFAULTS = {"targets": ["198.18.2.2"], "family": "any", "method": "icmp", "port": 33434, "timeout": 1.0, "retries": 2,
            "min_size": None, "max_size": None, "source": None, "interface": None, "locate_hop": True, "max_hops": 30,
            "rate_limit": 10000, "max_rounds": None, "unresolved": "fail", "recheck": False}


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
                         sleep=lambda seconds: None)
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
        backend.run(backend.Params.from_module(dict(DEFAULTS, retries=11, port=0)), seams())
    assert exc.value.msg == "retries must be between 0 and 10, got 11; port must be between 1 and 65535, got 0"
    assert exc.value.result == {}

    def missing(name):
        raise OSError(19, "No such device")

    with pytest.raises(ModuleFailure) as exc:
        backend.run(backend.Params.from_module(dict(DEFAULTS, interface="nope0")), seams(if_index=missing))
    assert exc.value.msg == "interface 'nope0' does not exist on this host"


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
