# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every two-host check (ptb_check, transfer_check) shares: its parameters and its responder's life.

Both checks run as a pair: ``mode=check`` on the host under test, ``mode=responder`` on its peer.
``RunParams`` is the typed form of the options they share, with the one validation that says what
to change; each check subclasses it with its own options. ``Responder`` is the skeleton of the
responding side: it serves until every client said goodbye, its budget is spent or its lifetime
is over, and reports that in one result shape. ``guarded`` turns a run's failures into the
module's failure message. No system access here: the seams are passed in.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, ClassVar, Iterable, Mapping, TypeVar

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import check_address, check_local_address
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import validate_token

MAX_RESPONDER_TIMEOUT = 600.0
MAX_BUDGET = 10000
MAX_RATE = 1000
TIMEOUT, CLIENTS = "timeout", "clients"  # exit reasons; the budget's is the budget option's name

Params = TypeVar("Params", bound="RunParams")


@dataclass(frozen=True)
class RunParams:
    """The options both checks share. Subclasses add theirs and set the class settings below."""

    mode: str
    peer: str | None
    address: str | None
    source: str | None
    port: int
    token: str
    timeout: float | None
    clients: int
    rate: float

    BUDGET: ClassVar[str] = ""  # the option that caps the responder's answers (max_replies, max_exchanges)
    SOURCE_CHOOSES: ClassVar[str] = "the local address"  # for "address is for mode=responder; use source ..."
    DEFAULT_TIMEOUT: ClassVar[Mapping[str, float]] = {"check": 10.0, "responder": 60.0}

    @classmethod
    def from_params(cls: type[Params], params: Mapping[str, Any]) -> Params:
        """The typed parameters from ``module.params`` (only the fields this class declares; those with a
        default may be absent)."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params or f.default is MISSING})

    @property
    def run_timeout(self) -> float:
        """The check's deadline or the responder's lifetime, in seconds."""
        return self.timeout or self.DEFAULT_TIMEOUT[self.mode]

    @property
    def budget(self) -> int:
        return getattr(self, self.BUDGET)

    def check_errors(self) -> list[str]:
        """Problems with the options only ``mode=check`` of this check has."""
        return []

    def responder_errors(self) -> list[str]:
        """Problems with the options only ``mode=responder`` of this check has (the budget aside)."""
        return []

    def validate(self, is_local: Callable[[str], bool] | None = None) -> list[str]:
        """Every problem with the parameters, as messages that say what to do.

        Addresses must be global or unique-local unicast; ``is_local`` (when given) says whether an
        address is this host's, for the ones that must be (source, address).
        """
        return self.shared_errors() + self.mode_errors(is_local)

    def shared_errors(self) -> list[str]:
        """Problems with the options every mode reads (token, port, timeout)."""
        errors = []
        try:
            validate_token(self.token)
        except ValueError as exc:
            errors.append(str(exc))
        if not 1 <= self.port <= 65535:
            errors.append(f"port {self.port} must be between 1 and 65535")
        if self.timeout is not None and not 0 < self.timeout <= MAX_RESPONDER_TIMEOUT:
            errors.append(f"timeout {self.timeout:g} must be above 0 and at most {MAX_RESPONDER_TIMEOUT:g} seconds")
        return errors

    def mode_errors(self, is_local: Callable[[str], bool] | None = None) -> list[str]:
        """Problems with the options of this run's mode (check or responder)."""
        if self.mode == "check":
            return self._check_mode_errors(is_local)
        return self._responder_mode_errors(is_local)

    def _local(self, key: str, is_local: Callable[[str], bool] | None) -> list[str]:
        value = getattr(self, key)
        error = check_local_address(value, key, is_local) if value else None
        return [error] if error else []

    def _check_mode_errors(self, is_local: Callable[[str], bool] | None) -> list[str]:
        errors = [] if self.peer else ["mode=check needs peer: the address the responder listens on"]
        peer_error = check_address(self.peer, "peer") if self.peer else None
        errors += ([peer_error] if peer_error else []) + self._local("source", is_local)
        if self.peer and self.source and (":" in self.peer) != (":" in self.source):
            errors.append(f"source {self.source} and peer {self.peer} are of different address families")
        errors += self.check_errors()
        if self.address:
            errors.append(f"address is for mode=responder; use source to choose {self.SOURCE_CHOOSES}")
        return errors

    def _responder_mode_errors(self, is_local: Callable[[str], bool] | None) -> list[str]:
        errors = self._local("address", is_local)
        if not self.address:
            errors.append("mode=responder needs address: the one local address to listen on")
        if self.peer or self.source:
            errors.append("peer and source are for mode=check")
        if self.clients < 1:
            errors.append(f"clients {self.clients} must be at least 1")
        errors += self.responder_errors()
        if not 1 <= self.budget <= MAX_BUDGET:
            errors.append(f"{self.BUDGET} {self.budget} must be between 1 and {MAX_BUDGET}")
        if not 0 < self.rate <= MAX_RATE:
            errors.append(f"rate {self.rate:g} must be above 0 and at most {MAX_RATE} per second")
        return errors

    def ensure_valid(self, is_local: Callable[[str], bool] | None = None) -> None:
        """Raises ModuleFailure naming every problem, before any socket is opened."""
        errors = self.validate(is_local)
        if errors:
            raise ModuleFailure("; ".join(errors))


class Responder:
    """The responding side's life: serve events until done, then one result.

    It stops when ``clients`` checking hosts (by address) said goodbye, when the check's own
    handler calls ``stop`` (its budget is spent), or at its deadline even if nobody is left.
    """

    def __init__(self, now: Callable[[], float], lifetime: float, clients: int) -> None:
        self.now = now
        self.start = now()
        self.deadline = self.start + lifetime
        self.clients = clients
        self.byes: set[str] = set()
        self.clients_seen: list[str] = []
        self.exit_reason = TIMEOUT

    @property
    def running(self) -> bool:
        return self.exit_reason == TIMEOUT

    def stop(self, reason: str) -> None:
        self.exit_reason = reason

    def said_bye(self, client: str) -> None:
        """A checking host is done; the last one ends the run."""
        self.byes.add(client)
        if len(self.byes) >= self.clients:
            self.stop(CLIENTS)

    def served(self, client: str) -> None:
        if client not in self.clients_seen:
            self.clients_seen.append(client)

    def serve(self, wait: Callable[[float], Iterable[tuple]], handle: Callable[[tuple], None],
              tick: Callable[[float], None] | None = None, max_wait: float | None = None) -> None:
        """Hand each event ``wait`` returns to ``handle`` until stopped or the deadline passes.

        ``tick`` runs before each wait (housekeeping such as idle connections); ``max_wait`` caps
        a wait so that it runs often enough.
        """
        while self.running:
            now = self.now()
            if now >= self.deadline:
                break
            if tick is not None:
                tick(now)
            left = self.deadline - now
            for event in wait(left if max_wait is None else min(max_wait, left)):
                handle(event)
                if not self.running:
                    break

    def result(self, address: str, port: int, **account: Any) -> dict[str, Any]:
        """The responder's result: where it listened, why it stopped, ``account``, whom it served, how long."""
        return {"address": address, "port": port, "exit_reason": self.exit_reason, **account,
                "clients_seen": self.clients_seen, "elapsed": round(self.now() - self.start, 3)}


def guarded(mode: str, run: Callable[[], dict], close: Callable[[], None],
            failures: tuple[type[Exception], ...] = (ValueError,)) -> dict:
    """``run``'s result with ``changed=False``; ``failures`` and OSError become ModuleFailure; ``close`` always runs."""
    try:
        result = run()
    except failures as exc:
        raise ModuleFailure(str(exc)) from exc
    except OSError as exc:  # e.g. a source address this host does not have
        raise ModuleFailure(f"{mode} failed: {exc.strerror or exc}") from exc
    finally:
        close()
    return {"changed": False, **result}
