# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which editor of ``persist`` (or which ``nmcli`` commands) keeps an interface's MTU, per network manager.

``persist`` edits text; this module decides which files of the owning manager to read and edit,
plans the NetworkManager profile change, writes the plan, and says whether the host applies it at
boot. Host access only through the ``System`` seam handed in (host/system.py, or a test's fake).
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.host import boot
from ansible_collections.netpath.mtu.plugins.module_utils.host import gather
from ansible_collections.netpath.mtu.plugins.module_utils.host import persist
from ansible_collections.netpath.mtu.plugins.module_utils.links import facts

PERSIST_CHOICES = ["auto", "none"] + list(facts.MANAGERS)
NETPLAN_EDITABLE = "/etc/netplan/"


class PersistError(Exception):
    """Writing the plan failed; the message says what, and what was restored."""


def owner_files(manager: str, files: dict[str, str]) -> dict[str, str]:
    """The subset of ``files`` that belongs to ``manager``'s directories."""
    dirs = facts.MANAGER_DIRS[manager]
    extra = facts.MANAGER_FILES if manager == "ifupdown" else ()
    return {path: text for path, text in files.items()
            if path in extra or any(path.startswith(d.rstrip("/") + "/") for d in dirs)}


def diff_items(plan: dict[str, Any], mtu: int) -> list[tuple[str, str, str]]:
    """(header, before, after) of what the plan changes: the files (secrets redacted) or the NetworkManager profile."""
    items = [(entry["path"], persist.redact(entry["old"]), persist.redact(entry["new"]))
             for entry in plan["files"] if entry.get("changed")]
    nm = plan.get("nm")
    if nm and plan["commands"]:
        items.append((f"nmcli connection {nm['uuid']} {nm['setting']}", f"{nm['previous'] or 'auto'}\n", f"{mtu}\n"))
    return items


class MtuPersistence:
    """Plans, writes and judges the persistent MTU of one interface for the manager that owns it."""

    def __init__(self, system: Any, warn: Callable[[str], None]):
        self.system = system
        self.warn = warn
        self.manager_files: dict[str, str] = {}

    def manager_inputs(self) -> tuple[dict[str, str], dict[str, dict[str, str]] | None, str | None]:
        self.manager_files = gather.manager_files(self.system)
        return self.manager_files, gather.nm_devices(self.system), self.system.which("nmcli")

    def _edit(self, entries: list[dict[str, Any]], path: str, edit, *, optional: bool = False) -> None:
        """Read ``path`` and plan ``edit(text)``; record why when it cannot be edited."""
        entry: dict[str, Any] = {"path": path, "changed": False, "backup_file": None, "skipped": None}
        try:
            text = self.system.read_config(path)
            if text is None:
                raise ValueError("it does not exist")
            new = edit(text)
        except persist.AmbiguousConfig as exc:
            # Not skipped: a file that contradicts itself must be fixed before anything changes.
            entry.update(skipped=f"{path}: {exc}", refused=f"{path} {exc}")
            entries.append(entry)
            return
        except ValueError as exc:
            if optional:
                return
            entry["skipped"] = f"{path}: {exc}"
            entries.append(entry)
            return
        entry.update(changed=new != text, old=text, new=new)
        entries.append(entry)

    def plan(self, name: str, mtu: int, mode: str) -> dict[str, Any]:
        result: dict[str, Any] = {"manager": None, "status": "disabled", "reason": None, "files": [], "commands": []}
        if mode == "none":
            result["reason"] = "persist=none: the MTU is set at runtime only"
            return result
        files, devices, nmcli = self.manager_inputs()
        owners = facts.network_managers([name], files, devices)[name]
        manager = owners["manager"] if mode == "auto" else mode
        result["manager"] = None if manager == "none" else manager
        result["status"] = "not_persisted"
        if manager == "none":
            result["reason"] = (f"no network configuration on this host defines {name} (looked for wg-quick, "
                                "systemd-networkd, NetworkManager, netplan, ifupdown and ifcfg configuration); the MTU "
                                "is set at runtime only and is lost when the interface is re-created")
            return result
        if manager not in owners["managers"]:
            found = ", ".join(owners["managers"]) or "none"
            result["reason"] = f"{manager} does not configure {name} on this host (owners found: {found})"
            return result
        if manager == "NetworkManager":
            self.plan_nmcli(result, nmcli, name, mtu)
            return result
        claimed = facts.network_managers([name], owner_files(manager, files), None)[name]["manager_files"]
        entries: list[dict[str, Any]] = result["files"]
        self.plan_files(entries, manager, claimed, files, name, mtu)
        usable = [e for e in entries if not e["skipped"]]
        skipped = [e["skipped"] for e in entries if e["skipped"]]
        if not usable:
            result["reason"] = "; ".join(skipped) or f"{manager} has no file for {name}"
            return result
        if skipped:
            self.warn(f"{name}: not persisted in every file of {manager}: " + "; ".join(skipped))
        result["status"] = "persisted" if any(e["changed"] for e in usable) else "unchanged"
        return result

    def plan_files(self, entries: list[dict[str, Any]], manager: str, claimed: list[str], files: dict[str, str],
                   name: str, mtu: int) -> None:
        """The file editor of ``persist`` for each file ``manager`` configures ``name`` in."""
        if manager == "wg-quick":
            self._edit(entries, f"/etc/wireguard/{name}.conf", lambda text: persist.wg_quick(text, mtu))
        elif manager == "systemd-networkd":
            for path in claimed:
                shared = persist.networkd_unshared(files[path], path, name)
                if shared:
                    entries.append({"path": path, "changed": False, "backup_file": None, "skipped": f"{path}: {shared}"})
                    continue
                self._edit(entries, path, lambda text, p=path: persist.networkd(text, p, mtu))
                dropins = f"{path}.d"
                for entry in self.system.listdir(dropins):
                    if entry.endswith(".conf"):
                        self._edit(entries, f"{dropins}/{entry}",
                                   lambda text, p=f"{dropins}/{entry}": persist.networkd(text, p, mtu, insert=False),
                                   optional=True)
            entries[:] = [e for e in entries if e["skipped"] or e["changed"] or "MTUBytes" in e["old"]
                          or not e["path"].endswith(".conf")]
        elif manager == "netplan":
            for path in claimed:
                if not path.startswith(NETPLAN_EDITABLE):
                    entries.append({"path": path, "changed": False, "backup_file": None,
                                    "skipped": f"{path}: netplan files outside {NETPLAN_EDITABLE} are generated or "
                                               "shipped by packages; define the MTU in /etc/netplan"})
                    continue
                self._edit(entries, path, lambda text: persist.netplan(text, name, mtu))
        elif manager == "ifupdown":
            for path in claimed:
                self._edit(entries, path, lambda text: persist.ifupdown(text, name, mtu))
        elif manager == "ifcfg":
            for path in claimed:
                self._edit(entries, path, lambda text: persist.ifcfg(text, mtu))

    def plan_nmcli(self, result: dict[str, Any], nmcli: str | None, name: str, mtu: int) -> None:
        if not nmcli:
            result["reason"] = "NetworkManager owns the interface but nmcli is not installed"
            return
        rc, out, err = self.system.run([nmcli, "-g", "GENERAL.CON-UUID", "device", "show", name])
        uuid = out.strip().splitlines()[0] if rc == 0 and out.strip() else ""
        if not uuid:
            result["reason"] = f"NetworkManager has no active connection profile on {name} ({(err or out).strip() or 'none'})"
            return
        rc, out, err = self.system.run([nmcli, "-g", "connection.type", "connection", "show", "uuid", uuid])
        try:
            setting = persist.nm_mtu_setting(out.strip() if rc == 0 else "")
        except ValueError as exc:
            result["reason"] = f"profile {uuid}: {exc}"
            return
        rc, out, err = self.system.run([nmcli, "-g", setting, "connection", "show", "uuid", uuid])
        if rc != 0:
            result["reason"] = f"cannot read {setting} of profile {uuid}: {(err or out).strip()}"
            return
        current = persist.nm_mtu_value(out)
        result["nm"] = {"uuid": uuid, "setting": setting, "previous": current}
        result["status"] = "unchanged"
        if current != mtu:
            result["status"] = "persisted"
            result["commands"] = persist.nm_commands(nmcli, uuid, name, setting, mtu)

    def boot_persistence(self, name: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Whether the MTU is in what the host applies at boot: the files (or profile) and the unit that loads them."""
        if plan["status"] not in ("persisted", "unchanged"):
            return boot.runtime_only(plan["reason"])
        manager = plan["manager"]
        written = [e["path"] for e in plan["files"] if not e["skipped"]]
        texts = [text for path, text in sorted(owner_files(manager, self.manager_files).items())]
        texts += [e["new"] for e in plan["files"] if not e["skipped"]]
        if manager == "ifupdown" and not any(boot.ifupdown_auto(text, name) for text in texts):
            return boot.runtime_only(f"{', '.join(written)} has no 'auto {name}' or 'allow-hotplug {name}' line: ifupdown "
                                     f"does not bring {name} up at boot, only 'ifup {name}' applies the MTU", written)
        what = f"NetworkManager profile {plan['nm']['uuid']}" if manager == "NetworkManager" else None
        units = {unit: self.system.unit_state(unit) for unit in boot.manager_units(manager, name, texts)}
        return boot.decide(written, units, what=what)

    def apply_files(self, entries: list[dict[str, Any]], backup: bool) -> None:
        written: list[dict[str, Any]] = []
        try:
            for entry in entries:
                if entry.get("changed"):
                    entry["backup_file"] = self.system.replace_file(entry["path"], entry["new"], backup)
                    written.append(entry)
        except (OSError, ValueError) as exc:
            for done in reversed(written):
                try:
                    self.system.replace_file(done["path"], done["old"])
                except (OSError, ValueError):
                    pass
            raise PersistError(f"writing {entry['path']} failed: {exc}; files already written were restored") from exc

    def apply_commands(self, plan: dict[str, Any]) -> None:
        for argv in plan["commands"]:
            rc, out, err = self.system.run(argv)
            if rc != 0:
                detail = (err or out).strip()
                nm = plan.get("nm") or {}
                if nm and argv[1:3] != ["connection", "modify"]:
                    self.system.run(argv[:1] + ["connection", "modify", nm["uuid"], nm["setting"], str(nm["previous"] or 0)])
                raise PersistError(f"{' '.join(argv)} failed (rc={rc}): {detail}")
