# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ptb_check's work behind its seams: the checking host's probe run and the responder's answers.

The module builds ``PtbParams`` and a ``PtbIO`` (sockets and netlink) and calls ``run``; the unit
tests pass a fake seam with a virtual clock instead. The packets, messages and the verdict are
in ptb_packets; the responder's skeleton and the shared validation in wire/responder.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.ptb.ptb_io import PtbIOError
from ansible_collections.netpath.mtu.plugins.module_utils.wire.ratelimit import RateLimiter, ReplyBudget
from ansible_collections.netpath.mtu.plugins.module_utils.wire.responder import (
    MAX_RESPONDER_TIMEOUT, Responder, RunParams, guarded)
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

INTERVAL = 0.25  # seconds between probes while answers are missing
NEEDED = 2  # acknowledged PTBs that must all go missing to call it dropped
GRACE = 0.3  # seconds to wait for a PTB after its acknowledgement, plus twice the worst round trip
ACK_WAIT = 0.2  # seconds to wait for the acknowledgement of an accepted PTB (for the report)
MAX_PROBES = 64
# A responder still starting answers with port unreachable (a loaded host takes seconds to start an
# async module): while that is all the peer says, the check waits for it this long, whatever timeout.
START_GRACE = 15.0
BURST = 5
MAX_CAPTURED = 256  # probes remembered for quoting


@dataclass(frozen=True)
class PtbParams(RunParams):
    """ptb_check's options, typed."""

    probe_size: int
    announce_mtu: int | None
    max_replies: int
    checks: tuple = ()  # mode=both: ({peer, source, name}, ...)
    responders: tuple = ()  # mode=both: ({address, clients}, ...)
    lifetime: float | None = None  # mode=both: the responders' lifetime

    BUDGET: ClassVar[str] = "max_replies"
    SOURCE_CHOOSES: ClassVar[str] = "the probe flow's address"
    DEFAULT_TIMEOUT: ClassVar[Mapping[str, float]] = {"check": 10.0, "responder": 30.0, "both": 10.0}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "PtbParams":
        typed = super().from_params(params)
        return replace(typed, checks=tuple(typed.checks or ()), responders=tuple(typed.responders or ()))

    def parts(self) -> list[tuple[str, "PtbParams"]]:
        """mode=both: (label, its mode=responder or mode=check parameters) per entry, responders first."""
        lifetime = self.lifetime or self.DEFAULT_TIMEOUT["responder"]
        responders = [(f"responders[{i}]", self._part("responder", address=r.get("address"), timeout=lifetime,
                                                      clients=1 if r.get("clients") is None else r["clients"]))
                      for i, r in enumerate(self.responders)]
        checks = [(f"checks[{i}]", self._part("check", peer=c.get("peer"), source=c.get("source")))
                  for i, c in enumerate(self.checks)]
        return responders + checks

    def _part(self, mode: str, **entry: Any) -> "PtbParams":
        return replace(self, mode=mode, checks=(), responders=(), lifetime=None, **entry)

    def mode_errors(self, is_local: Callable[[str], bool] | None = None) -> list[str]:
        if self.mode != "both":
            return super().mode_errors(is_local) + [f"{key} is for mode=both" for key in ("checks", "responders", "lifetime")
                                                    if getattr(self, key)]
        errors = [f"mode=both takes no {key}; give it in each entry of checks or responders"
                  for key in ("peer", "address", "source") if getattr(self, key)]
        if not self.checks and not self.responders:
            errors.append("mode=both needs checks, responders or both")
        if self.lifetime is not None and not 0 < self.lifetime <= MAX_RESPONDER_TIMEOUT:
            errors.append(f"lifetime {self.lifetime:g} must be above 0 and at most {MAX_RESPONDER_TIMEOUT:g} seconds")
        shape = entry_errors("checks", self.checks, ENTRY_KEYS["checks"]) + \
            entry_errors("responders", self.responders, ENTRY_KEYS["responders"])
        if shape:
            return errors + shape
        for label, part in self.parts():
            errors += [f"{label}: {error}" for error in part.mode_errors(is_local)]
        return errors

    def check_errors(self) -> list[str]:
        errors = self._announce_errors(self.peer)
        if not 256 <= self.probe_size <= 65535:
            errors.append(f"probe_size {self.probe_size} must be between 256 and 65535")
        return errors

    def responder_errors(self) -> list[str]:
        return self._announce_errors(self.address)

    def _announce_errors(self, address: str | None) -> list[str]:
        """An MTU no IP packet can have (whether it is harmless here is known only from the route)."""
        mtu = self.announce_mtu
        low = 1280 if address and ":" in address else 68
        if mtu is not None and not low <= mtu <= pp.MAX_MTU:
            return [f"announce_mtu {mtu} must be 68 to {pp.MAX_MTU} (1280 or more for IPv6)"]
        return []


# mode=both's entries: their keys, the first one required.
ENTRY_KEYS = {"checks": ("peer", "source", "name"), "responders": ("address", "clients")}


def entry_errors(option: str, entries: tuple, keys: tuple[str, ...]) -> list[str]:
    """What is wrong with the shape of ``option``'s entries (dictionaries of ``keys``, the first required)."""
    errors = []
    for index, entry in enumerate(entries):
        label = f"{option}[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{label} must be a dictionary with {', '.join(keys)}, got {str(entry)[:40]!r}")
            continue
        unknown = sorted(str(key) for key in entry if key not in keys)
        if unknown:
            errors.append(f"{label} has unknown keys {', '.join(unknown)[:80]} (it takes {', '.join(keys)})")
        if not isinstance(entry.get(keys[0]), str) or not entry.get(keys[0]):
            errors.append(f"{label} needs {keys[0]}, a string")
        clients = entry.get("clients")
        if clients is not None and (isinstance(clients, bool) or not isinstance(clients, int)):
            errors.append(f"{label}: clients must be an integer, got {clients!r}")
        for key in keys[1:]:
            if key != "clients" and entry.get(key) is not None and not isinstance(entry.get(key), str):
                errors.append(f"{label}: {key} must be a string, got {entry.get(key)!r}")
    if len(errors) > 1:  # one sentence, not thousands
        return [f"{errors[0]} (and {len(errors) - 1} more problems in {option})"]
    return errors


def run(params: PtbParams, make_io: Callable[[], Any], warn: Callable[[str], None]) -> dict:
    """The module's result for ``params``; failures raise ModuleFailure. ``make_io`` makes a seam per run."""
    if params.mode == "both":
        return run_both(params, make_io, warn)
    io = make_io()
    work = (lambda: run_responder(io, params)) if params.mode == "responder" else (lambda: run_check(io, params, warn))
    return guarded(params.mode, work, io.close, failures=(PtbIOError, ValueError))


def run_both(params: PtbParams, make_io: Callable[[], Any], warn: Callable[[str], None]) -> dict:
    """This host's share of a fleet's checks in one process: every responder and every check at once.

    Each runs in its own thread with its own seam (responders first, so peers find them early). One
    that fails is reported in its entry (``failed``, ``msg``) and does not stop the others; checks
    carry their entry's ``name``. The run ends when the last check is done and every responder has
    exited (its clients said goodbye, or its lifetime is over).
    """
    parts = params.parts()
    seams = [make_io() for dummy in parts]  # made here, in order, not by the threads
    results: list[dict] = [{} for dummy in parts]

    def work(index: int, part: PtbParams) -> None:
        try:
            results[index] = run(part, lambda: seams[index], warn)
        except ModuleFailure as exc:
            results[index] = {"failed": True, "msg": exc.msg}
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a thread must not lose its error
            results[index] = {"failed": True, "msg": f"{type(exc).__name__}: {exc}"}

    threads = [threading.Thread(target=work, args=(i, part), daemon=True) for i, (dummy, part) in enumerate(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    split = len(params.responders)
    checks = [{"name": entry.get("name"), "peer": entry.get("peer"), **result}
              for entry, result in zip(params.checks, results[split:])]
    return {"changed": False, "responders": results[:split], "checks": checks}


# -- the checking host ------------------------------------------------------------------------

def error_rows(errors: list[dict]) -> list[dict]:
    """Queued ICMP errors for the result; repeats of the same error collapse into one row with a count."""
    rows: list[dict] = []
    for err in errors:
        code = err.get("errno")
        row = {
            "offender": err.get("offender"),
            "type": err.get("type"),
            "code": err.get("code"),
            "mtu": err.get("info") if pp.is_ptb(err) else None,
            "errno": errno.errorcode.get(code, str(code)),
        }
        same = next((r for r in rows if all(r[k] == row[k] for k in row)), None)
        if same is None:
            rows.append({**row, "count": 1})
        else:
            same["count"] += 1
    return rows


def run_check(io: Any, params: PtbParams, warn: Callable[[str], None]) -> dict:
    peer = str(ipaddress.ip_address(params.peer))
    family = 6 if ":" in peer else 4
    timeout = params.run_timeout
    start = io.now()
    result: dict[str, Any] = {
        "status": pp.INCONCLUSIVE, "reason": "", "peer": peer, "family": f"ipv{family}", "port": params.port,
        "source": None, "interface": None, "path_mtu": None, "announced_mtu": None, "probe_size": None,
        "probes_sent": 0, "acks": {}, "icmp_errors": [],
        "pmtu_exception": {"before": None, "after": None, "removed": False, "left": None},
    }
    route = io.route(peer, params.source)
    if route is None:
        raise PtbIOError(f"no route to {peer}")
    current = route["exception_mtu"] or route["route_mtu"] or route["device_mtu"]
    result.update(interface=route["interface"], path_mtu=current)
    result["pmtu_exception"]["before"] = route["exception_mtu"]
    try:
        announced = pp.announce_mtu(family, current, params.announce_mtu)
    except ValueError as exc:
        if params.announce_mtu is not None:
            raise
        result.update(reason=str(exc), elapsed=round(io.now() - start, 3))
        return result
    size = min(params.probe_size, current)
    result.update(announced_mtu=announced, probe_size=size)
    digest = token_digest(params.token)
    src, sport = io.open_checker(family, peer, params.port, params.source)
    result["source"] = {"address": src, "port": sport}
    obs = pp.Observation(peer=peer, port=params.port, announced=announced, timeout=timeout)
    seq = _probe_until_settled(io, obs, digest, src, sport, size, start + timeout, start + max(timeout, START_GRACE))
    if _responder_not_up(obs):
        obs.timeout = round(io.now() - start, 1)
    # Tell the responder this client is done; it exits when all its clients are.
    bye = pp.encode_message(pp.KIND_BYE, digest, seq)
    for dummy in range(2):
        io.send_datagram(bye)
    _clean_up_exception(io, params, obs, family, result["pmtu_exception"], warn)
    obs.elapsed = io.now() - start
    status, reason = pp.classify(obs, NEEDED)
    result.update(
        status=status, reason=reason, probes_sent=obs.probes_sent, acks=pp.ack_counts(obs.acks),
        icmp_errors=error_rows(obs.errors), elapsed=round(obs.elapsed, 3),
    )
    return result


def _responder_not_up(obs: pp.Observation) -> bool:
    """Whether all the peer said so far is that nothing listens on the port (the responder is starting)."""
    return (not obs.acks and not pp.ptb_from_peer(obs)
            and any(pp.is_port_unreachable(e) and e.get("offender") == obs.peer for e in obs.errors))


def _probe_until_settled(io: Any, obs: pp.Observation, digest: bytes, src: str, sport: int, size: int,
                         check_deadline: float, start_deadline: float) -> int:
    """Probe and collect answers into ``obs`` until the verdict is clear or the deadline (``start_deadline``
    while the responder is still starting, else ``check_deadline``); the next sequence."""
    peer, port, announced = obs.peer, obs.port, obs.announced
    first_seq = random.randint(1, 1 << 30)
    seq = first_seq
    sent_at: dict[int, float] = {}
    next_send = io.now()
    last_ack = None
    accepted_at = None
    rtt = 0.0
    while True:
        now = io.now()
        deadline = start_deadline if _responder_not_up(obs) else check_deadline
        statuses = list(obs.acks.values())
        if pp.ptb_from_peer(obs):
            accepted_at = accepted_at or now
            if obs.acks or now >= min(deadline, accepted_at + ACK_WAIT):
                break
            wake = min(deadline, accepted_at + ACK_WAIT)  # its acknowledgement follows the PTB
        else:
            settled = (statuses.count(pp.ACK_PTB_SENT) >= NEEDED
                       or statuses.count(pp.ACK_PTB_BLOCKED) >= NEEDED or pp.ACK_BAD_MTU in statuses)
            # Once settled, wait a little longer for a PTB overtaken by its acknowledgement.
            grace_end = (last_ack or now) + GRACE + 2 * rtt
            if now >= deadline or (settled and now >= grace_end):
                break
            if not settled and now >= next_send and seq - first_seq < MAX_PROBES:
                packet = pp.build_probe(src, peer, sport, port, size, digest, seq, announced,
                                        ident=random.randint(1, 0xFFFF))
                err = io.send_raw(packet, peer)
                if err is None:
                    obs.probes_sent += 1
                    sent_at[seq] = now
                else:
                    obs.send_errors.append(err)
                seq += 1
                next_send = now + INTERVAL
            more = not settled and seq - first_seq < MAX_PROBES
            wake = min(deadline, grace_end if settled else (next_send if more else deadline))
        for event in io.wait_checker(max(0.0, wake - io.now())):
            if event[0] == "error":
                try:
                    obs.errors.append(pp.parse_extended_err(event[1]))
                except ValueError:
                    pass
                continue
            msg = pp.decode_message(event[1], digest)
            if msg is None or msg.kind != pp.KIND_ACK or msg.seq not in sent_at or msg.seq in obs.acks:
                continue
            obs.acks[msg.seq] = msg.status
            last_ack = io.now()
            rtt = max(rtt, last_ack - sent_at[msg.seq])
    return seq


def _clean_up_exception(io: Any, params: PtbParams, obs: pp.Observation, family: int, exc_state: dict,
                        warn: Callable[[str], None]) -> None:
    """Record the PMTU exception the run left for the peer, and remove it (IPv6) or say why not (IPv4)."""
    peer, announced = obs.peer, obs.announced
    after = io.route(peer, params.source)
    obs.route_mtu_after = after["exception_mtu"] if after else None
    exc_state["after"] = obs.route_mtu_after
    exc_state["left"] = obs.route_mtu_after
    if obs.route_mtu_after is None or obs.route_mtu_after != announced:
        return
    if family == 4:
        warn(f"the kernel cached path MTU {announced} for {peer} although the probe socket does not learn"
             " path MTUs; Linux cannot remove one IPv4 exception alone. It is harmless and expires by"
             " itself (net.ipv4.route.mtu_expires), or run 'ip route flush cache'")
        return
    try:
        io.delete_exception(peer, after.get("table"))
        exc_state["removed"] = True
    except Exception as exc:  # pylint: disable=broad-exception-caught
        warn(f"could not remove the PMTU exception for {peer}: {exc}; it expires by itself"
             " (net.ipv6.route.mtu_expires)")
    left = io.route(peer, params.source)
    exc_state["left"] = left["exception_mtu"] if left else None


# -- the responder ----------------------------------------------------------------------------

class PtbResponder:
    """Answers each probe with a token once: a genuine PTB quoting its captured bytes, then an acknowledgement."""

    def __init__(self, io: Any, params: PtbParams) -> None:
        self.io = io
        self.address = str(ipaddress.ip_address(params.address))
        self.family = 6 if ":" in self.address else 4
        self.port = params.port
        self.digest = token_digest(params.token)
        self.life = Responder(io.now, params.run_timeout, params.clients)
        self.limiter = RateLimiter(params.rate, BURST, self.life.start)
        self.budget = ReplyBudget(params.max_replies)
        self.captured: OrderedDict = OrderedDict()
        self.answered: set = set()
        self.counts = {"probes_received": 0, "ptbs_sent": 0, "ptbs_blocked": 0, "ignored": 0}
        self.ack_len = pp.HEADER_LEN[self.family] + pp.UDP_HEADER_LEN + pp.MESSAGE.size

    def run(self) -> dict:
        self.io.open_responder(self.address, self.port)
        try:
            self.life.serve(self.io.wait_responder, self.on_event)
        finally:
            self.io.close()
        return self.life.result(self.address, self.port, **self.counts, bytes_received=self.budget.received,
                                bytes_sent=self.budget.sent)

    def on_event(self, event: tuple) -> None:
        if event[0] == "captured":
            self._remember(event[1])
            return
        data, (src, sport) = event[1], event[2]
        msg = pp.decode_message(data, self.digest)
        if msg is None or msg.kind == pp.KIND_ACK:
            self.counts["ignored"] += 1
        elif msg.kind == pp.KIND_BYE:
            self.life.said_bye(src)
        elif (src, sport, msg.seq) in self.answered or not self.limiter.allow(self.io.now()):
            self.counts["ignored"] += 1
        else:
            self._answer(msg, data, src, sport)

    def _remember(self, packet: bytes) -> None:
        """Keep a captured probe's exact bytes for the quote (the newest MAX_CAPTURED)."""
        pkt = pp.parse_udp(packet)
        if pkt is None or pkt.dst != self.address or pkt.dport != self.port:
            return
        msg = pp.decode_message(pkt.payload, self.digest)
        if msg is not None and msg.kind == pp.KIND_PROBE:
            self.captured[(pkt.src, pkt.sport, msg.seq)] = (packet, pkt.length)
            while len(self.captured) > MAX_CAPTURED:
                self.captured.popitem(last=False)

    def _answer(self, msg: pp.Message, data: bytes, src: str, sport: int) -> None:
        family, budget, key = self.family, self.budget, (src, sport, msg.seq)
        self.counts["probes_received"] += 1
        self.answered.add(key)
        packet, length = self.captured.pop(key, (None, None))
        budget.take_in(length or pp.HEADER_LEN[family] + pp.UDP_HEADER_LEN + len(data))
        status = pp.ACK_PTB_SENT
        if not pp.ANNOUNCE_FLOOR[family] <= msg.mtu <= pp.MAX_MTU:
            status = pp.ACK_BAD_MTU
        elif packet is None:
            status = pp.ACK_NOT_QUOTABLE
        else:
            status = self._send_ptb(packet, msg.mtu, src)
        if budget.spend(self.ack_len):
            self.io.send_reply(pp.encode_message(pp.KIND_ACK, self.digest, msg.seq, msg.mtu, status), src, sport)
        budget.replies += 1
        self.life.served(src)
        if budget.exhausted():
            self.life.stop("max_replies")

    def _send_ptb(self, packet: bytes, mtu: int, src: str) -> int:
        """Send the PTB when it fits the budget; the acknowledgement's status."""
        try:
            ptb = pp.build_ptb(packet, self.address, mtu, budget=self.budget.room() - self.ack_len,
                               ident=random.randint(1, 0xFFFF))
        except ValueError:
            return pp.ACK_LIMITED
        if len(ptb) > self.budget.room():
            return pp.ACK_PTB_SENT
        if self.io.send_raw(ptb, src) is None:
            self.budget.spend(len(ptb))
            self.counts["ptbs_sent"] += 1
            return pp.ACK_PTB_SENT
        self.counts["ptbs_blocked"] += 1
        return pp.ACK_PTB_BLOCKED


def run_responder(io: Any, params: PtbParams) -> dict:
    return PtbResponder(io, params).run()
