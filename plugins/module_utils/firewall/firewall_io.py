# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between the firewall modules and the host: read rulesets, run firewall commands, edit files.

Commands go through ``CommandRunner`` (argv lists, C locale). Everything returned is text, so unit
tests replace ``FirewallHost`` with a fake that serves fixtures and records what would be run.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.host import boot
from ansible_collections.netpath.mtu.plugins.module_utils.links import facts
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.host import gather
from ansible_collections.netpath.mtu.plugins.module_utils.host import validate
from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandError
from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System, backup_copy, write_in_place

SAVE_COMMANDS = {
    ("iptables-nft", "ipv4"): "iptables-nft-save", ("iptables-nft", "ipv6"): "ip6tables-nft-save",
    ("iptables-legacy", "ipv4"): "iptables-legacy-save", ("iptables-legacy", "ipv6"): "ip6tables-legacy-save",
}
LEGACY_PROC = {"ipv4": "/proc/net/ip_tables_names", "ipv6": "/proc/net/ip6_tables_names"}


__all__ = ["CommandError", "FileChange", "FirewallHost", "SAVE_COMMANDS", "boot_persistence", "checked_path",
           "iptables_param", "nft_block_change", "nft_error_line", "restore_files", "saved_rules_change",
           "write_changes"]


class FirewallHost(System):
    """Reads and changes the firewall of the network namespace the module runs in."""

    def must(self, argv: list, data: str | None = None) -> str:
        path = self.which(argv[0]) or argv[0]
        return self.runner.run([path] + list(argv[1:]), data=data)[1]

    def interfaces(self) -> list:
        """Interface names of this namespace (if_nameindex asks the kernel of the current netns)."""
        try:
            return sorted(name for dummy, name in socket.if_nameindex())
        except OSError:
            return []

    def snapshot(self, warn) -> tuple[fw_plan.Snapshot, dict[str, Any]]:
        """Everything the evaluator needs, plus what facts.firewall_facts says about the frameworks."""
        snap = fw_plan.Snapshot(interfaces=self.interfaces())
        nft = self.which("nft")
        nft_tables = None
        if nft:
            rc, out, err = self.run([nft, "-j", "list", "ruleset"])
            if rc == 0:
                snap.nft = out if out.strip() else '{"nftables": []}'
                snap.listing = gather.output(self, ["nft", "-a", "list", "ruleset"])
                nft_tables = gather.output(self, ["nft", "list", "tables"])
            else:
                warn(f"'nft -j list ruleset' failed (rc={rc}): {err.strip()}; nftables rules are not evaluated")
        for family in ("ipv4", "ipv6"):
            text = gather.output(self, [SAVE_COMMANDS[("iptables-nft", family)]])
            if text and "*" in text:
                snap.iptables[("iptables-nft", family)] = text
            # Only read legacy tables the kernel already has: the save command would load x_tables.
            if (self.read_text(LEGACY_PROC[family]) or "").strip():
                text = gather.output(self, [SAVE_COMMANDS[("iptables-legacy", family)]])
                if text and "*" in text:
                    snap.iptables[("iptables-legacy", family)] = text
        legacy = "\n".join(t for (fw, dummy), t in snap.iptables.items() if fw == "iptables-legacy")
        state = gather.output(self, ["firewall-cmd", "--state"])
        info = facts.firewall_facts(firewalld_state=state, nft_tables=nft_tables,
                                    iptables_version=gather.output(self, ["iptables", "-V"]), legacy_save=legacy or None)
        return snap, info

    def nft_apply(self, transaction: str) -> None:
        self.must(["nft", "-j", "-f", "-"], data=transaction)

    def nft_check(self, text: str) -> str | None:
        """None when ``nft -c -f`` accepts the configuration text, else its error."""
        nft = self.which("nft")
        if not nft:
            return "nft is not installed"
        fd, path = tempfile.mkstemp(prefix="netpath-mtu-", suffix=".nft")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            rc, out, err = self.run([nft, "-c", "-f", path])
        finally:
            os.unlink(path)
        return None if rc == 0 else (err or out).strip().replace(path, "<config>")

    def write(self, path: str, text: str, mode: int = 0o640) -> None:
        """Write atomically: a temporary file next to ``path`` (a full or read-only disk fails there, before
        ``path`` is touched), then a rename; a bind-mounted file (EBUSY on rename) is written in place and put
        back when that write fails. Raises OSError.

        Planning refused a given path whose directory is missing (checked_path); only a default one (the
        distribution's /etc/iptables) is created here.
        """
        data = text.encode("utf-8")
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
        old = os.stat(path) if os.path.exists(path) else None
        fd, tmp = tempfile.mkstemp(prefix=".netpath-mtu-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, old.st_mode & 0o7777 if old else mode)
            if old:
                os.chown(tmp, old.st_uid, old.st_gid)
            try:
                os.rename(tmp, path)
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                write_in_place(path, data)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def remove(self, path: str) -> None:
        os.unlink(path)

    def path_kind(self, path: str) -> str:
        return validate.path_kind(path)

    def backup(self, path: str) -> str | None:
        return backup_copy(path) if os.path.exists(path) else None

    def iptables(self, argv: list) -> None:
        """Run one iptables command; a lock timeout is reported as such, not as a bad rule."""
        path = self.which(argv[0]) or argv[0]
        rc, out, err = self.run([path] + list(argv[1:]))
        if rc == 4 or "xtables lock" in err:
            raise CommandError([path] + list(argv[1:]), rc, out,
                               "another program held the xtables lock for the whole wait; nothing was changed by "
                               "this command, run the task again " + err.strip())
        if rc != 0:
            raise CommandError([path] + list(argv[1:]), rc, out, err)


class FileChange:
    """A configuration file to rewrite: the text before and after, for check mode, diff and writing."""

    def __init__(self, path: str, before: str | None, after: str, param: str = "file"):
        self.path, self.before, self.after, self.param = path, before, after, param

    def diff(self) -> dict:
        return {"before_header": self.path, "after_header": self.path, "before": self.before or "", "after": self.after}


def checked_path(host: Any, param: str, path: str, default: bool = False) -> str:
    """``path`` when this module can keep ``param``'s file there (see validate.config_file), else ValueError.

    A ``default`` path (the distribution's, not given) may lack its directory: writing creates it.
    """
    if default and host.path_kind(path) == "missing" and host.path_kind(os.path.dirname(path)) == "missing":
        return path
    return validate.config_file(param, path, host.path_kind)


def iptables_param(family: str) -> str:
    return "iptables_rules_v4" if family == "ipv4" else "iptables_rules_v6"


def saved_rules_change(host: Any, family: str, path: str, plan: Callable[[str | None], str | None]) -> FileChange | None:
    """The saved iptables rules at ``path`` changed by ``plan(text)``; a file that is no iptables-save output
    fails naming the parameter."""
    param = iptables_param(family)
    checked_path(host, param, path, default=True)
    text = host.read_text(path)
    try:
        new = plan(text)
    except iptables_eval.SaveError as exc:
        raise ValueError(f"{param} {path} is not iptables-save output ({exc}); fix it first") from exc
    return FileChange(path, text, new, param) if new is not None else None


def nft_error_line(error: str) -> str:
    """The first error of ``nft -c -f`` output, as "line N: message" (nft prints the line and a caret too)."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    first = next((line for line in lines if "Error:" in line), lines[0] if lines else "rejected")
    where, dummy, message = first.partition("Error:")
    number = where.split(":")[1] if where.count(":") >= 2 else ""
    message = message.strip() or first
    return f"line {number}: {message}" if number.isdigit() else message


def nft_block_change(host: FirewallHost, path: str, name: str, body: list) -> FileChange | None:
    """The nftables configuration with this module's managed block set to ``body`` (checked with nft -c)."""
    checked_path(host, "nftables_config", path, default=True)
    current = host.read_text(path)
    new = fw_plan.replace_block(current, name, body)
    if new == (current or "") or (current is None and not body):
        return None
    if body:
        error = host.nft_check(new)
        if error:
            current_error = host.nft_check(current) if current else None
            if current_error:
                raise ValueError(f"nftables_config {path} does not parse ({nft_error_line(current_error)}); fix it first")
            raise ValueError(f"nftables_config {path}: with the {name} block added, 'nft -c -f' rejects it "
                             f"({nft_error_line(error)}); the configuration must build the same tables and chains "
                             "as the live ruleset: fix it, point nftables_config at the right file, or set persist=false")
    return FileChange(path, current, new, "nftables_config")


def write_changes(host: FirewallHost, changes: list, backup: bool) -> list:
    """Write every file, or none: a failed write restores the files written before it and raises ValueError."""
    backups = []
    done: list = []
    for change in changes:
        try:
            if backup:
                saved = host.backup(change.path)
                if saved:
                    backups.append(saved)
            host.write(change.path, change.after)
        except OSError as exc:
            restore_files(host, done)
            reason = exc.strerror or str(exc)
            raise ValueError(f"{change.param} {change.path} could not be written ({reason}); "
                             "nothing was changed") from exc
        done.append(change)
    return backups


def restore_files(host: Any, changes: list) -> list:
    """Put back what ``changes`` overwrote (a file that did not exist is removed); the paths not restored."""
    failed = []
    for change in reversed(changes):
        try:
            if change.before is None:
                host.remove(change.path)
            else:
                host.write(change.path, change.before)
        except OSError:
            failed.append(change.path)
    return failed


def boot_persistence(host: FirewallHost, paths: list, firewalld: bool = False) -> dict:
    """Whether the configuration files in ``paths`` (and firewalld's permanent rules) are loaded at boot."""
    parts = []
    mains = None
    for path in dict.fromkeys(paths):
        units, main = boot.firewall_units(path)
        if not units:
            # A file of its own counts when the main nftables configuration includes it.
            mains = mains if mains is not None else {m: host.read_text(m) for m in boot.NFT_MAIN}
            units, main = boot.firewall_units(path, mains)
        what = f"{path} (included by {main})" if main else path
        parts.append(boot.decide([path], {unit: host.unit_state(unit) for unit in units}, what=what))
    if firewalld:
        parts.append(boot.decide([], {boot.FIREWALLD_UNIT: host.unit_state(boot.FIREWALLD_UNIT)},
                                 what="firewalld's permanent configuration"))
    return boot.combine(parts)
