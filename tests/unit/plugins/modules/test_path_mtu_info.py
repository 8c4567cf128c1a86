# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import socket

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import path_mtu_info_backend as backend
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink
from ansible_collections.netpath.mtu.plugins.modules import path_mtu_info
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.pmtu.test_pmtu import SimPath


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def _exit_json(self, **kwargs):
    raise ExitJson(kwargs)


def _fail_json(self, **kwargs):
    kwargs["failed"] = True
    raise FailJson(kwargs)


class FakeProber:
    """Stands in for probe_io.Prober: answers from simulated paths keyed by target address."""

    instances: list = []
    paths: dict = {}
    open_errors: list = []

    def __init__(self, method="icmp", port=33434, interface=None, rate=0, burst=256):
        self.method, self.port, self.interface, self.rate = method, port, interface, rate
        self.rounds = 0
        self.batches: list = []
        self.closed = False
        FakeProber.instances.append(self)

    def open(self, families):
        self.families = families
        if FakeProber.open_errors:
            raise FakeProber.open_errors[0]

    def close(self):
        self.closed = True

    def send_round(self, batch, settled, timeout):
        self.rounds += 1
        self.batches.append(batch)
        outcomes: dict = {}
        for key, probe in batch:
            outcomes.setdefault(key, []).append((probe, FakeProber.paths[key.target].answer(probe)))
        settled(outcomes)
        return outcomes


class FakeGuard:
    def __init__(self, keys):
        self.keys = keys

    def cleanup(self):
        return [k.target for k in self.keys if k.family == 6]


def fake_route_get(family, target, source=None, oif=None):
    if target.endswith(".99"):
        raise netlink.NoRoute(f"no route to {target}: Network is unreachable")
    return netlink.Route(oif=2, interface="eth0", device_mtu=1500, prefsrc=source or "src", table=254)


@pytest.fixture(autouse=True)
def seam(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    monkeypatch.setattr(probe_io, "Prober", FakeProber)
    monkeypatch.setattr(probe_io, "PmtuCacheGuard", FakeGuard)
    monkeypatch.setattr(netlink, "route_get", fake_route_get)
    monkeypatch.setattr(netlink, "is_local", lambda address: address in ("198.18.1.2", "fd00::1"))
    monkeypatch.setattr(probe_io, "source_for", lambda fam, target, iface: "198.18.1.2" if fam == 4 else "fd00::1")
    FakeProber.instances = []
    FakeProber.open_errors = []
    FakeProber.paths = {
        "198.18.3.2": SimPath(mtu=1500, target="198.18.3.2"),
        "198.18.2.2": SimPath(mtu=1400, ptb=True, target="198.18.2.2", hops=("198.18.1.1", "198.18.4.2")),
        "198.18.2.3": SimPath(mtu=1400, target="198.18.2.3", hops=("198.18.1.1", "198.18.4.2")),
        "198.18.9.9": SimPath(reachable=False, target="198.18.9.9"),
        "fd00:3:2::2": SimPath(mtu=1400, target="fd00:3:2::2", hops=("fd00:3:1::1", "fd00:3:4::2")),
        "198.18.100.2": SimPath(mtu=1328, target="198.18.100.2", hops=(), bottleneck=0),
    }


def run(args: dict, check: bool = False) -> dict:
    if check:
        args = {**args, "_ansible_check_mode": True}
    with patch_module_args(args):
        with pytest.raises((ExitJson, FailJson)) as exc:
            path_mtu_info.main()
    return exc.value.args[0]


def by_target(result: dict) -> dict:
    return {r["target"]: r for r in result["results"]}


@pytest.mark.parametrize("target, expected", [
    ("198.18.3.2", {"status": "ok", "path_mtu": 1500, "mss": 1460, "black_hole": False, "hop": None}),
    ("198.18.2.2", {"status": "ptb", "path_mtu": 1400, "ptb_seen": True, "ptb_mtu": 1400, "ptb_source": "198.18.4.2"}),
    ("198.18.2.3", {"status": "black_hole", "path_mtu": 1400, "black_hole": True,
                    "hop": {"ttl": 2, "address": "198.18.4.2", "located": True, "method": "ttl",
                            "last_answered": {"ttl": 2, "address": "198.18.4.2"}, "silent_ttls": [],
                            "route": [{"ttl": 1, "address": "198.18.1.1"}, {"ttl": 2, "address": "198.18.4.2"}]},
                    "fragments_lost": None}),
    ("198.18.9.9", {"status": "unreachable", "path_mtu": None, "mss": None}),
    ("fd00:3:2::2", {"status": "black_hole", "path_mtu": 1400, "mss": 1340, "family": "ipv6"}),
    ("198.18.100.2", {"status": "black_hole", "path_mtu": 1328,
                      "hop": {"ttl": 0, "address": None, "located": True, "method": "ttl", "last_answered": None, "silent_ttls": [],
                              "route": []}}),
])
def test_results(target, expected):
    res = run({"targets": [target]})
    assert res["changed"] is False
    (entry,) = res["results"]
    for key, value in expected.items():
        assert entry[key] == value, key
    for key in ("target", "family", "path_mtu", "status", "black_hole", "ptb_seen", "ptb_mtu", "ptb_source",
                "hop", "probes_sent", "duration_s"):
        assert key in entry
    assert entry["probes_sent"] > 0
    json.dumps(res)


def test_all_targets_share_rounds_and_the_seam_is_closed():
    res = run({"targets": ["198.18.3.2", "198.18.2.2", "198.18.2.3", "fd00:3:2::2"]})
    assert len(res["results"]) == 4
    (prober,) = FakeProber.instances
    assert prober.closed and prober.rounds == 2
    assert prober.families == {4, 6}
    assert res["pmtu_exceptions_removed"] == ["fd00:3:2::2"]


def test_check_mode_probes_too():
    res = run({"targets": ["198.18.2.3"]}, check=True)
    assert by_target(res)["198.18.2.3"]["status"] == "black_hole"
    assert res["changed"] is False


def test_no_local_route_is_unreachable_without_probing():
    res = run({"targets": ["198.18.7.99"]})
    entry = by_target(res)["198.18.7.99"]
    assert entry["status"] == "unreachable" and "no local route" in entry["reason"]
    assert entry["probes_sent"] == 0
    assert not FakeProber.instances


def test_udp_method_uses_an_answer_budget_and_more_rounds(monkeypatch):
    seen = {}
    real = backend.PathSearch

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(backend, "PathSearch", spy)
    monkeypatch.setattr(backend.time, "sleep", lambda s: None)  # pacing for the target's rate limit
    res = run({"targets": ["198.18.2.3"], "method": "udp", "port": 53})
    assert seen["answer_budget"] == 6 and seen["max_rounds"] == 12
    assert FakeProber.instances[0].method == "udp" and FakeProber.instances[0].port == 53
    assert by_target(res)["198.18.2.3"]["path_mtu"] == 1400


def test_sizes_are_passed_through():
    res = run({"targets": ["198.18.3.2"], "max_size": 1400, "retries": 0})
    entry = by_target(res)["198.18.3.2"]
    assert (entry["status"], entry["path_mtu"]) == ("ok", 1400)


def test_names_resolve(monkeypatch):
    def fake_getaddrinfo(name, port, family, socktype):
        assert name == "backend.lab"
        return [(socket.AF_INET6, socktype, 17, "", ("fd00:3:2::2", 0, 0, 0)),
                (socket.AF_INET, socktype, 17, "", ("198.18.2.2", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    res = run({"targets": ["backend.lab"], "family": "both"})
    assert [(r["target"], r["address"], r["family"]) for r in res["results"]] == [
        ("backend.lab", "198.18.2.2", "ipv4"), ("backend.lab", "fd00:3:2::2", "ipv6")]
    res = run({"targets": ["backend.lab"]})
    assert [r["address"] for r in res["results"]] == ["fd00:3:2::2"]


def test_unresolvable_target_fails_clearly(monkeypatch):
    def fake_getaddrinfo(*args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    res = run({"targets": ["nope.invalid"]})
    assert res["failed"] and "nope.invalid" in res["msg"] and "does not resolve" in res["msg"]


def test_unresolved_names_are_reported_when_asked(monkeypatch):
    def fake_getaddrinfo(*args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    res = run({"targets": ["nope.invalid", "198.18.3.2"], "unresolved": "report"})
    gone, probed = by_target(res)["nope.invalid"], by_target(res)["198.18.3.2"]
    assert (gone["status"], gone["address"], gone["path_mtu"], gone["probes_sent"]) == ("unresolved", None, None, 0)
    assert "does not resolve" in gone["reason"]
    assert probed["status"] == "ok"


def test_a_literal_of_the_wrong_family_fails_even_when_unresolved_names_are_reported():
    res = run({"targets": ["198.18.3.2"], "family": "ipv6", "unresolved": "report"})
    assert res["failed"] and "family is ipv6" in res["msg"]
    assert not FakeProber.instances


class WakingPath(SimPath):
    """Silent during the first run, like a WireGuard tunnel that is still handshaking."""

    def answer(self, probe):
        if len(FakeProber.instances) < 2:
            self.sent.append(probe)
            return []
        return super().answer(probe)


@pytest.mark.parametrize("recheck, status, rechecked, runs", [
    (False, "unreachable", False, 1),
    (True, "black_hole", True, 2),
])
def test_recheck_probes_only_the_unclear_paths_again(recheck, status, rechecked, runs):
    FakeProber.paths["198.18.5.5"] = WakingPath(mtu=1420, target="198.18.5.5")
    res = run({"targets": ["198.18.3.2", "198.18.2.3", "198.18.5.5"], "recheck": recheck})
    waking = by_target(res)["198.18.5.5"]
    assert (waking["status"], waking["rechecked"]) == (status, rechecked)
    assert len(FakeProber.instances) == runs
    # The clear answers (ok, exact black hole) are kept from the first run.
    assert [by_target(res)[t]["rechecked"] for t in ("198.18.3.2", "198.18.2.3")] == [False, False]
    if recheck:
        assert waking["path_mtu"] == 1420 and waking["exact"]
        assert {key.target for key, _probe in FakeProber.instances[1].batches[0]} == {"198.18.5.5"}


def test_missing_privileges_fail_clearly():
    FakeProber.open_errors = [probe_io.ProbeError("raw sockets need root or CAP_NET_RAW")]
    res = run({"targets": ["198.18.3.2"]})
    assert res["failed"] and "CAP_NET_RAW" in res["msg"]


@pytest.mark.parametrize("args, msg", [
    ({"timeout": 0}, "timeout"),
    ({"timeout": 120}, "timeout"),
    ({"retries": -1}, "retries"),
    ({"max_hops": 0}, "max_hops"),
    ({"rate_limit": -5}, "rate_limit"),
    ({"port": 0}, "port"),
    ({"min_size": 20}, "min_size"),
    ({"min_size": 1500, "max_size": 1400}, "larger than max_size"),
    ({"source": "not-an-ip"}, "source"),
    ({"family": "ipv6"}, "IPv4 address but family is ipv6"),
    ({"source": "fd00::1"}, "differ in family"),
    ({"interface": "nonexistent-if0"}, "does not exist"),
    ({"targets": []}, "at least one"),
    # issue 16
    ({"targets": ["fe80::1"]}, "targets: fe80::1 is link-local; give a unicast address with global or unique-local"),
    ({"targets": ["198.18.0"]}, "targets: '198.18.0' is not a valid IP address"),
    ({"source": "198.51.100.7"}, "source 198.51.100.7 is not an address of this host"),
    ({"source": "0.0.0.0"}, "source 0.0.0.0 is unspecified"),
    ({"interface": "x\x00y"}, "interface 'x\\x00y' is not a valid Linux interface name"),
])
def test_bad_values_fail_clearly(args, msg):
    res = run({"targets": ["198.18.3.2"], **args})
    assert res["failed"]
    assert msg in res["msg"]
