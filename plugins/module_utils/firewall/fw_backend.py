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
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FileChange, write_changes
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

    def apply(self, host: Any, backup: bool) -> list[str]:
        """Live ruleset first (nft, iptables, firewall-cmd), then the files; returns the backups written."""
        transaction = self.transaction()
        if transaction:
            host.nft_apply(transaction)
        for argv in self.iptables:
            host.iptables(argv)
        for argv in self.firewalld:
            host.must(argv)
        return write_changes(host, self.files, backup)


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
    try:
        backups = change.apply(host, backup)
        if backups:
            result["backup_files"] = backups
        return verify() if verify else None
    except (CommandError, OSError, ValueError) as exc:
        raise ModuleFailure(f"applying the change failed: {exc}", **result) from exc
