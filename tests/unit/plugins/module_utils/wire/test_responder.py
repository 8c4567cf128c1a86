# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wire/responder: the two-host checks' shared parameters, validation, responder loop and failure shape."""

from __future__ import annotations

import dataclasses
import errno
from typing import ClassVar

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.ptb.ptb_check_backend import PtbParams
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.transfer_check_backend import TransferParams
from ansible_collections.netpath.mtu.plugins.module_utils.wire import responder as r

TOKEN = "abcdefgh1234"
TOKEN_MESSAGE = ("token must be 8 to 128 printable ASCII characters without spaces, the same on both hosts; generate"
                 " one per run, e.g. lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters',"
                 " 'digits'], length=20)")


@dataclasses.dataclass(frozen=True)
class DemoParams(r.RunParams):
    """A check with one option of its own on each side and a budget called max_answers."""

    size: int
    limit: int
    max_answers: int

    BUDGET: ClassVar[str] = "max_answers"
    SOURCE_CHOOSES: ClassVar[str] = "the demo's address"
    DEFAULT_TIMEOUT: ClassVar[dict] = {"check": 3.0, "responder": 7.0}

    def check_errors(self):
        return [] if self.size > 0 else [f"size {self.size} must be positive"]

    def responder_errors(self):
        return [] if self.limit > 0 else [f"limit {self.limit} must be positive"]


BASE = {"mode": "check", "peer": "198.18.0.1", "address": None, "source": None, "port": 4000, "token": TOKEN,
        "timeout": None, "clients": 1, "rate": 10.0, "size": 1, "limit": 1, "max_answers": 5}


def demo(**changes) -> DemoParams:
    return DemoParams.from_params({**BASE, **changes})


def responder_demo(**changes) -> DemoParams:
    return demo(**{"mode": "responder", "peer": None, "address": "198.18.0.1", **changes})


# -- typed parameters -------------------------------------------------------------------------

def test_from_params_takes_the_declared_fields_only():
    params = DemoParams.from_params({**BASE, "unrelated": 1, "_ansible_check_mode": True})
    assert (params.peer, params.port, params.size, params.max_answers) == ("198.18.0.1", 4000, 1, 5)
    assert not hasattr(params, "unrelated")
    with pytest.raises(KeyError):
        DemoParams.from_params({k: v for k, v in BASE.items() if k != "limit"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.port = 1  # type: ignore[misc]


def test_run_timeout_defaults_per_mode_and_budget_follows_its_option():
    assert demo().run_timeout == 3.0 and responder_demo().run_timeout == 7.0
    assert demo(timeout=1.5).run_timeout == 1.5
    assert responder_demo(max_answers=9).budget == 9


def test_valid_parameters_have_no_errors():
    assert demo().validate() == [] and responder_demo().validate() == []
    demo().ensure_valid()  # does not raise
    assert demo(peer="fd00::1", source="fd00::2").validate() == []


# -- validation: the shared messages ----------------------------------------------------------

@pytest.mark.parametrize("changes,message", [
    ({"token": "short"}, TOKEN_MESSAGE),
    ({"port": 0}, "port 0 must be between 1 and 65535"),
    ({"port": 65536}, "port 65536 must be between 1 and 65535"),
    ({"timeout": 0.0}, "timeout 0 must be above 0 and at most 600 seconds"),
    ({"timeout": 600.5}, "timeout 600.5 must be above 0 and at most 600 seconds"),
    ({"peer": None}, "mode=check needs peer: the address the responder listens on"),
    ({"peer": "backend.example"}, "peer 'backend.example' is not an IP address"),
    ({"source": "nowhere"}, "source 'nowhere' is not an IP address"),
    ({"source": "fd00::1"}, "source fd00::1 and peer 198.18.0.1 are of different address families"),
    ({"size": 0}, "size 0 must be positive"),
    ({"address": "198.18.0.2"}, "address is for mode=responder; use source to choose the demo's address"),
])
def test_check_mode_errors(changes, message):
    assert demo(**changes).validate() == [message]


@pytest.mark.parametrize("changes,message", [
    ({"address": None}, "mode=responder needs address: the one local address to listen on"),
    ({"address": "here"}, "address 'here' is not an IP address"),
    ({"peer": "198.18.0.2"}, "peer and source are for mode=check"),
    ({"source": "198.18.0.2"}, "peer and source are for mode=check"),
    ({"clients": 0}, "clients 0 must be at least 1"),
    ({"limit": 0}, "limit 0 must be positive"),
    ({"max_answers": 0}, "max_answers 0 must be between 1 and 10000"),
    ({"max_answers": 10001}, "max_answers 10001 must be between 1 and 10000"),
    ({"rate": 0.0}, "rate 0 must be above 0 and at most 1000 per second"),
    ({"rate": 1000.5}, "rate 1000.5 must be above 0 and at most 1000 per second"),
    ({"timeout": 601.0}, "timeout 601 must be above 0 and at most 600 seconds"),
])
def test_responder_mode_errors(changes, message):
    assert responder_demo(**changes).validate() == [message]


def test_every_problem_is_reported_in_order():
    params = responder_demo(token="x", port=0, address=None, peer="198.18.0.2", clients=0, limit=0,
                            max_answers=0, rate=0.0)
    assert [e.split(" ")[0] for e in params.validate()] == [
        "token", "port", "mode=responder", "peer", "clients", "limit", "max_answers", "rate"]
    with pytest.raises(ModuleFailure) as failure:
        params.ensure_valid()
    assert failure.value.msg == "; ".join(params.validate()) and failure.value.result == {}


@pytest.mark.parametrize("value", ["fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "127.0.0.1", "::1",
                                   "255.255.255.255"])
def test_addresses_must_carry_the_run_and_be_local_where_they_are_this_hosts(value):
    """peer: scoped unicast; source and address: scoped unicast of this host (issue 16)."""
    for mode, key in (("check", "peer"), ("check", "source"), ("responder", "address")):
        other_peer = "fd00::2" if ":" in value else "198.18.0.2"
        changes = {key: value, "peer": other_peer if key == "source" else value} if mode == "check" else {key: value}
        params = (demo if mode == "check" else responder_demo)(**changes)
        (error,) = [e for e in params.validate() if e.startswith(f"{key} ")]
        assert error.startswith(f"{key} {value} is ") and "with global or unique-local scope" in error


def test_is_local_decides_for_source_and_address():
    local = {"198.18.0.1"}.__contains__
    assert demo(peer="198.18.0.2", source="198.51.100.7").validate(local) == [
        "source 198.51.100.7 is not an address of this host"]
    assert demo(peer="198.18.0.2", source="198.18.0.1").validate(local) == []
    assert responder_demo(address="198.51.100.7").validate(local) == [
        "address 198.51.100.7 is not an address of this host"]
    assert responder_demo(address="198.18.0.1").validate(local) == []
    with pytest.raises(ModuleFailure) as failure:
        responder_demo(address="198.51.100.7").ensure_valid(local)
    assert failure.value.msg == "address 198.51.100.7 is not an address of this host"


def test_ptb_and_transfer_share_the_messages():
    common = {"mode": "responder", "peer": "198.18.0.2", "address": None, "source": None, "port": 0,
              "token": "bad token", "timeout": 700.0, "clients": 0, "rate": 2000.0}
    ptb = PtbParams.from_params({**common, "probe_size": 1280, "announce_mtu": None, "max_replies": 0})
    xfer = TransferParams.from_params({**common, "small_size": 1000, "large_size": 2000, "max_bytes": 1 << 20,
                                       "max_exchanges": 0})
    assert ptb.validate() == [m.replace("max_exchanges", "max_replies") for m in xfer.validate()]
    assert len(ptb.validate()) == 8
    # What differs: the default lifetime.
    # Both need routable unicast addresses (issue 16: transfer_check took link-local ones).
    scope = "peer fe80::1 is link-local; give a unicast address with global or unique-local scope"
    assert PtbParams.from_params({**ptb.__dict__, "mode": "check", "peer": "fe80::1", "port": 1, "token": TOKEN,
                                  "timeout": None}).validate() == [scope]
    assert TransferParams.from_params({**xfer.__dict__, "mode": "check", "peer": "fe80::1", "port": 1,
                                       "token": TOKEN, "timeout": None}).validate() == [scope]
    assert (ptb.DEFAULT_TIMEOUT["responder"], xfer.DEFAULT_TIMEOUT["responder"]) == (30.0, 60.0)


# -- the responder's life ---------------------------------------------------------------------

class Clock:
    def __init__(self, t=50.0):
        self.t = t

    def __call__(self):
        return self.t


class Script:
    """wait(timeout): the events due within timeout (advancing the clock to them), else sleeps it out."""

    def __init__(self, clock, events):
        self.clock, self.events, self.waits = clock, sorted(events, key=lambda e: e[0]), []

    def __call__(self, timeout):
        self.waits.append(round(timeout, 6))
        due = [e for e in self.events if e[0] <= self.clock.t + timeout]
        if not due:
            self.clock.t += timeout
            return []
        self.clock.t = max(self.clock.t, due[0][0])
        ready = [e for e in self.events if e[0] <= self.clock.t]
        self.events = [e for e in self.events if e[0] > self.clock.t]
        return ready


def test_serves_until_its_deadline_and_reports_the_shape():
    clock = Clock()
    life = r.Responder(clock, 5.0, clients=1)
    handled = []
    wait = Script(clock, [(51.0, "hello")])
    life.serve(wait, handled.append)
    assert handled == [(51.0, "hello")]
    assert wait.waits == [5.0, 4.0]
    life.served("198.18.0.9")
    life.served("198.18.0.9")
    assert life.result("198.18.0.1", 4000, extra=3) == {
        "address": "198.18.0.1", "port": 4000, "exit_reason": "timeout", "extra": 3,
        "clients_seen": ["198.18.0.9"], "elapsed": 5.0}
    assert list(life.result("a", 1, x=1, y=2)) == ["address", "port", "exit_reason", "x", "y", "clients_seen",
                                                   "elapsed"]


def test_the_last_goodbye_ends_the_run_mid_batch():
    clock = Clock()
    life = r.Responder(clock, 60.0, clients=2)
    handled = []

    def handle(event):
        handled.append(event)
        life.said_bye(event[1])

    events = [(51.0, "a"), (51.0, "a"), (52.0, "b"), (52.0, "c")]
    life.serve(Script(clock, events), handle)
    assert life.exit_reason == "clients"
    assert handled == [(51.0, "a"), (51.0, "a"), (52.0, "b")]  # "c" came in the same batch: not handled
    assert life.result("x", 1)["elapsed"] == 2.0


def test_a_handler_can_stop_it_and_tick_runs_before_each_capped_wait():
    clock = Clock()
    life = r.Responder(clock, 10.0, clients=1)
    ticks = []
    wait = Script(clock, [(52.5, "last")])
    life.serve(wait, lambda event: life.stop("max_answers"), tick=ticks.append, max_wait=1.0)
    assert life.exit_reason == "max_answers" and not life.running
    assert ticks == [50.0, 51.0, 52.0]
    assert wait.waits == [1.0, 1.0, 1.0]
    assert life.result("x", 1)["elapsed"] == 2.5


def test_nothing_is_served_after_the_deadline():
    clock = Clock()
    life = r.Responder(clock, 1.0, clients=1)
    clock.t += 1.0
    life.serve(lambda timeout: pytest.fail("waited past the deadline"), pytest.fail)
    assert life.exit_reason == "timeout"


# -- failures ---------------------------------------------------------------------------------

class Closer:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def fails(exc):
    def run():
        raise exc
    return run


def test_guarded_adds_changed_false_and_closes():
    close = Closer()
    assert r.guarded("check", lambda: {"status": "ok"}, close) == {"changed": False, "status": "ok"}
    assert close.calls == 1


@pytest.mark.parametrize("exc,failures,msg", [
    (ValueError("announce_mtu 1500 is not below"), (ValueError,), "announce_mtu 1500 is not below"),
    (KeyError("x"), (KeyError, ValueError), "'x'"),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), (ValueError,),
     "check failed: Cannot assign requested address"),
    (OSError("no errno"), (ValueError,), "check failed: no errno"),
])
def test_guarded_turns_failures_into_one_message(exc, failures, msg):
    close = Closer()
    with pytest.raises(ModuleFailure) as failure:
        r.guarded("check", fails(exc), close, failures=failures)
    assert failure.value.msg == msg and failure.value.result == {}
    assert close.calls == 1


def test_guarded_lets_bugs_through_but_still_closes():
    close = Closer()
    with pytest.raises(RuntimeError):
        r.guarded("responder", fails(RuntimeError("bug")), close)
    assert close.calls == 1
