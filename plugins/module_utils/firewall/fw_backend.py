# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The skeleton icmp_policy and mss_clamp share: snapshot -> plan -> diff -> apply -> verify -> persist.

A backend plans a ``RulesetChange`` (live commands per framework, configuration file changes and
per-chain before/after) inside ``planning()``, then ``carry_out`` reports it, applies it unless in
check mode, and runs the backend's verification on the live ruleset. Host access only through the
``FirewallHost`` seam handed in (firewall/firewall_io.py, or a test's fake).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import (
    FileChange,
    checked_path,
    restore_files,
    write_changes,
)
from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandError
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure

FRAMEWORK_KEYS = ("framework", "frameworks", "firewalld")


@dataclass(frozen=True)
class FirewallFiles:
    """Where a firewall module keeps its rules for the next boot (the options both modules share)."""

    persist: bool = True
    nftables_config: str | None = None
    iptables_rules_v4: str | None = None
    iptables_rules_v6: str | None = None
    backup: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FirewallFiles:
        return cls(persist=bool(params["persist"]), nftables_config=params.get("nftables_config"),
                   iptables_rules_v4=params.get("iptables_rules_v4"),
                   iptables_rules_v6=params.get("iptables_rules_v6"), backup=bool(params.get("backup")))

    def nft_path(self, exists: Callable[[str], bool]) -> str:
        """The nftables configuration: the one given, else the one this host's nftables service loads."""
        return self.nftables_config or fw_plan.nft_config_path(exists)

    def iptables_path(self, family: str, exists: Callable[[str], bool]) -> str:
        """The iptables-save file of ``family``: the one given, else the distribution's."""
        given = self.iptables_rules_v4 if family == "ipv4" else self.iptables_rules_v6
        return given or fw_plan.iptables_rules_path(family, exists)

    def check(self, host: Any) -> None:
        """Every path given is one a configuration file can be kept at (ValueError naming it otherwise).

        Checked whether or not this host's framework uses it: a wrong path is a mistake on every host.
        """
        if not self.persist:
            return
        for param in ("nftables_config", "iptables_rules_v4", "iptables_rules_v6"):
            path = getattr(self, param)
            if path is not None:
                checked_path(host, param, path)


@dataclass
class RulesetChange:
    """What one task changes: live commands per framework, files, and each touched chain's rules before/after."""

    nft: list = field(default_factory=list)  # nft JSON commands, applied as one transaction
    iptables: list = field(default_factory=list)  # argv lists
    firewalld: list = field(default_factory=list)  # firewall-cmd argv lists
    files: list[FileChange] = field(default_factory=list)
    chains: list[dict] = field(default_factory=list)  # {"chain": header, "before": [line], "after": [line]}

    @property
    def changed(self) -> bool:
        return bool(self.nft or self.iptables or self.firewalld or self.files)

    def transaction(self) -> str | None:
        return fw_plan.nft_transaction(self.nft) if self.nft else None

    def commands(self) -> dict[str, Any]:
        return {"nft": self.transaction(), "iptables": self.iptables, "firewalld": self.firewalld}

    def diff(self) -> list[dict[str, str]]:
        chains = [{"before_header": d["chain"], "after_header": d["chain"],
                   "before": "".join(f"{line}\n" for line in d["before"]),
                   "after": "".join(f"{line}\n" for line in d["after"])} for d in self.chains]
        return chains + [f.diff() for f in self.files]

    def apply_live(self, host: Any, done: list) -> None:
        """The live ruleset: nft (one transaction), then iptables, then firewall-cmd; each step that ran is
        appended to ``done`` (("nft", transaction), ("iptables", argv), ("firewalld", argv))."""
        transaction = self.transaction()
        if transaction:
            host.nft_apply(transaction)
            done.append(("nft", transaction))
        for argv in self.iptables:
            host.iptables(argv)
            done.append(("iptables", argv))
        for argv in self.firewalld:
            host.must(argv)
            done.append(("firewalld", argv))


def undo_argv(argv: list) -> list | None:
    """The iptables command that takes back an insert or append (``-I CHAIN [N] rule`` / ``-A CHAIN rule`` ->
    ``-D CHAIN rule``); None for anything else (a deleted rule's position is not known)."""
    for index, arg in enumerate(argv):
        if arg in ("-I", "--insert", "-A", "--append") and index + 1 < len(argv):
            rest = list(argv[index + 2:])
            if arg in ("-I", "--insert") and rest and rest[0].isdigit():
                rest = rest[1:]
            return list(argv[:index]) + ["-D", argv[index + 1]] + rest
    return None


def undo_live(host: Any, done: list) -> list:
    """Take back the live steps in ``done`` that can be (iptables inserts), newest first; what stays changed."""
    stays = []
    for kind, step in reversed(done):
        inverse = undo_argv(step) if kind == "iptables" else None
        try:
            if inverse is None:
                raise ValueError("no inverse")
            host.iptables(inverse)
        except (CommandError, OSError, ValueError):
            stays.append(" ".join(step) if kind != "nft" else "the nft transaction")
    return list(reversed(stays))


def failure_note(stays: list, kept: list) -> tuple[bool, str]:
    """Whether anything stays changed after a failed apply, and the sentence saying what."""
    parts = []
    if stays:
        parts.append(f"these live changes stay applied: {'; '.join(stays)}")
    if kept:
        parts.append(f"{', '.join(kept)} could not be restored and keep the new rules")
    if not parts:
        return False, "nothing was changed (the live steps that ran were taken back and the files restored)"
    return True, "; ".join(parts)


@contextmanager
def planning() -> Iterator[None]:
    """A command or a plan that fails before anything changed fails the task with its message alone."""
    try:
        yield
    except (CommandError, ValueError) as exc:
        raise ModuleFailure(str(exc)) from exc


def framework_facts(info: Mapping[str, Any]) -> dict[str, Any]:
    return {key: info[key] for key in FRAMEWORK_KEYS}


def carry_out(host: Any, change: RulesetChange, result: dict[str, Any], *, check_mode: bool, diff: bool,
              backup: bool, verify: Callable[[], Any] | None = None) -> Any:
    """Report ``change`` in ``result``, apply it unless in check mode, then ``verify()`` on the live ruleset.

    Returns what ``verify`` returned (None when nothing was applied). A failure while applying or
    verifying raises ``ModuleFailure`` carrying ``result``, which says what was meant to change.
    """
    result.update(changed=change.changed, commands=change.commands(), persisted=[f.path for f in change.files])
    if diff:
        result["diff"] = change.diff()
    if not change.changed or check_mode:
        return None
    # Files first: a file that cannot be written (read-only, full disk) then changes nothing at all.
    try:
        backups = write_changes(host, change.files, backup)
    except ValueError as exc:
        raise ModuleFailure(str(exc), **dict(result, changed=False)) from exc
    if backups:
        result["backup_files"] = backups
    done: list = []
    try:
        change.apply_live(host, done)
    except (CommandError, OSError, ValueError) as exc:
        # Live and boot configuration must agree: take back what ran, restore the files, say what stays.
        stays = undo_live(host, done)
        kept = restore_files(host, change.files)
        changed, note = failure_note(stays, kept)
        raise ModuleFailure(f"applying the change failed: {exc}; {note}", **dict(result, changed=changed)) from exc
    try:
        return verify() if verify else None
    except (CommandError, OSError, ValueError) as exc:
        raise ModuleFailure(f"applying the change failed: {exc}", **result) from exc
