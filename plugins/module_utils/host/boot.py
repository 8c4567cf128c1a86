# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Does what a module wrote come back at boot? Pure: unit states and file texts in, a verdict out.

A file is only persistence when something loads it at boot: ``nftables.service`` reads
``/etc/nftables.conf``, ``netfilter-persistent`` restores ``/etc/iptables/rules.v4``, ``wg-quick@NAME``
brings up ``/etc/wireguard/NAME.conf``. The verdict (``persistence``) has ``state`` ``boot`` (written
and loaded at boot), ``runtime_only`` (lost at reboot: nothing written, or nothing loads it) or
``unknown`` (cannot tell: never counted as persisted), with ``files``, ``loaded_by`` and ``reason``.

Unit states are what ``systemctl is-enabled`` prints (the host seam reads them, ``System.unit_state``).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Iterable

STATES = ("boot", "runtime_only", "unknown")
ENABLED = frozenset({"enabled"})
# Not started at boot: explicitly off, gone, or enabled only until the next reboot (/run).
OFF = frozenset({"disabled", "masked", "masked-runtime", "not-found", "linked", "linked-runtime",
                 "enabled-runtime", "bad"})

NFT_MAIN = ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf")
FIREWALL_UNITS = {
    "/etc/nftables.conf": ("nftables.service",),  # Debian, Ubuntu, Arch
    "/etc/sysconfig/nftables.conf": ("nftables.service",),  # RHEL, Fedora
    "/etc/iptables/rules.v4": ("netfilter-persistent.service",),  # iptables-persistent
    "/etc/iptables/rules.v6": ("netfilter-persistent.service",),
    "/etc/sysconfig/iptables": ("iptables.service",),  # iptables-services
    "/etc/sysconfig/ip6tables": ("ip6tables.service",),
}
FIREWALLD_UNIT = "firewalld.service"


# --- reading unit states ---------------------------------------------------------------------

def systemctl_state(rc: int, out: str, err: str) -> str:
    """``systemctl is-enabled UNIT`` -> its state word; ``not-found`` for a unit that is not installed."""
    words = (out or "").split()
    if words:
        return words[0]
    if "no such file" in (err or "").lower() or "not found" in (err or "").lower():
        return "not-found"
    return "unknown"


def wants_state(unit: str, wants: Iterable[str], systemd: bool) -> str:
    """The state without systemctl: ``enabled`` when a ``*.wants/`` or ``*.requires/`` link names the
    unit; ``disabled`` when systemd's directories exist but none does; ``unknown`` without systemd."""
    if unit in set(wants):
        return "enabled"
    return "disabled" if systemd else "unknown"


def verdict(state: str) -> str:
    """enabled / off / unknown (static, indirect, generated, ...: started by something else, or not)."""
    if state in ENABLED:
        return "enabled"
    return "off" if state in OFF else "unknown"


# --- which units load what ---------------------------------------------------------------------

def netplan_renderer(texts: Iterable[str]) -> str:
    """The renderer netplan hands its configuration to (the last ``renderer:`` wins; networkd by default)."""
    renderer = "networkd"
    for text in texts:
        for match in re.finditer(r"^\s*renderer\s*:\s*[\"']?(\w+)", text, re.M):
            renderer = match.group(1)
    return renderer


def manager_units(manager: str, name: str, texts: Iterable[str] = ()) -> tuple[str, ...]:
    """The units that apply ``manager``'s configuration of interface ``name`` at boot (any one will do)."""
    if manager == "wg-quick":
        return (f"wg-quick@{name}.service",)
    if manager == "systemd-networkd":
        return ("systemd-networkd.service",)
    if manager == "NetworkManager":
        return ("NetworkManager.service",)
    if manager == "netplan":
        renderer = netplan_renderer(texts)
        return ("NetworkManager.service",) if renderer == "NetworkManager" else ("systemd-networkd.service",)
    if manager == "ifupdown":
        return ("networking.service",)
    if manager == "ifcfg":
        return ("network.service", "NetworkManager.service")  # initscripts, or NM's ifcfg-rh plugin
    return ()


def ifupdown_auto(text: str, name: str) -> bool:
    """Whether interfaces(5) brings ``name`` up at boot (``auto`` / ``allow-auto`` / ``allow-hotplug``)."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] in ("auto", "allow-auto", "allow-hotplug") and name in words[1:]:
            return True
    return False


def nft_includes(main: str | None, path: str) -> bool:
    """Whether the nftables configuration ``main`` includes ``path`` (``include "..."``, globs allowed)."""
    for match in re.finditer(r"^\s*include\s+\"([^\"]+)\"", main or "", re.M):
        if fnmatch.fnmatchcase(path, match.group(1)):
            return True
    return False


def firewall_units(path: str, mains: dict[str, str | None] | None = None) -> tuple[tuple[str, ...], str | None]:
    """(units that load ``path`` at boot, the main file that includes it or None).

    ``mains`` maps the nftables main configurations to their text, for files they include.
    """
    if path in FIREWALL_UNITS:
        return FIREWALL_UNITS[path], None
    for main, text in (mains or {}).items():
        if main in NFT_MAIN and nft_includes(text, path):
            return FIREWALL_UNITS[main], main
    return (), None


# --- the verdict ---------------------------------------------------------------------------------

def runtime_only(reason: str, files: Iterable[str] = ()) -> dict[str, Any]:
    return {"state": "runtime_only", "files": list(files), "loaded_by": None, "reason": reason}


def decide(files: Iterable[str], units: dict[str, str], *, what: str | None = None) -> dict[str, Any]:
    """The verdict for ``files`` that the units in ``units`` (unit -> is-enabled state) would load.

    Any enabled unit makes it ``boot``; all of them off makes it ``runtime_only``; otherwise (no
    unit known, or a state that does not say) ``unknown``.
    """
    files = list(files)
    what = what or (", ".join(files) or "the configuration")
    if not units:
        return {"state": "unknown", "files": files, "loaded_by": None,
                "reason": f"nothing this module knows loads {what} at boot"}
    enabled = [unit for unit, state in units.items() if verdict(state) == "enabled"]
    if enabled:
        return {"state": "boot", "files": files, "loaded_by": enabled[0],
                "reason": f"{enabled[0]} is enabled and loads {what} at boot"}
    seen = ", ".join(f"{unit} is {state}" for unit, state in units.items())
    if all(verdict(state) == "off" for state in units.values()):
        enable = " or ".join(f"'systemctl enable {unit}'" for unit in units if units[unit] != "not-found")
        hint = f"; {enable} to keep it" if enable else "; install and enable the service that loads it to keep it"
        verb = "are" if len(files) > 1 and what == ", ".join(files) else "is"
        return {"state": "runtime_only", "files": files, "loaded_by": None,
                "reason": f"{what} {verb} not loaded at boot ({seen}): lost at reboot{hint}"}
    return {"state": "unknown", "files": files, "loaded_by": None,
            "reason": f"cannot tell whether {what} is loaded at boot ({seen})"}


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One verdict for several files: the weakest state wins (runtime_only, then unknown, then boot)."""
    if not parts:
        return runtime_only("nothing was persisted")
    if len(parts) == 1:
        return parts[0]
    rank = {"runtime_only": 0, "unknown": 1, "boot": 2}
    state = min((part["state"] for part in parts), key=rank.__getitem__)
    loaders = sorted({part["loaded_by"] for part in parts if part["loaded_by"]})
    reasons = [part["reason"] for part in parts if part["state"] == state]
    return {"state": state, "files": [f for part in parts for f in part["files"]],
            "loaded_by": ", ".join(loaders) if state == "boot" and loaders else None, "reason": "; ".join(reasons)}
