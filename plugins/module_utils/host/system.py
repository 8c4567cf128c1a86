# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between the modules and the host: netlink, argv commands, small files.

Everything returned is plain data (dicts, str, int), so unit tests replace ``System`` with a
fake that serves fixtures. pyroute2 is imported lazily: callers run ``require_pyroute2(module)``
(module_utils/host/deps.py) first, which reports a missing library properly. The few writes
(``set_mtu``, ``replace_file``) live here too, so a fake records them instead of doing them.
Route lookups go through wire/netlink.py (raw rtnetlink, shared with the probers).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from typing import Any, Sequence

from ansible_collections.netpath.mtu.plugins.module_utils.host import boot
from ansible_collections.netpath.mtu.plugins.module_utils.host import lock as host_lock
from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandRunner
from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink

_SCALARS = (int, str, bool, float, type(None))
SYSTEMD_UNIT_DIR = "/etc/systemd/system"
SYSTEMD_MARKERS = ("/run/systemd/system", SYSTEMD_UNIT_DIR)
MAX_FILE_BYTES = 256 * 1024  # configuration files only; anything bigger is not one


def _attr_key(name: str) -> str | None:
    """IFLA_VXLAN_GROUP6 -> group6, IFLA_IP6GRE_OFLAGS -> oflags (pyroute2 spellings vary by kind)."""
    parts = name.split("_", 2)
    if len(parts) < 3 or parts[0] != "IFLA":
        return None
    return parts[2].lower()


def _swap16(value: int) -> int:
    return ((value & 0xFF) << 8) | (value >> 8)


def info_data(nla: Any, kind: str | None) -> dict[str, Any]:
    """IFLA_INFO_DATA as {short_name: scalar}; nested attributes are dropped."""
    data: dict[str, Any] = {}
    if nla is None or not hasattr(nla, "get"):
        return data
    for name, value in nla.get("attrs") or []:
        key = _attr_key(name)
        if key is not None and isinstance(value, _SCALARS) and key not in data:
            data[key] = value
    if kind in ("ip6gre", "ip6gretap"):
        # pyroute2 decodes ip6gre's __be16 GRE flags as little-endian; gre's it decodes right.
        for key in ("iflags", "oflags"):
            value = data.get(key)
            if isinstance(value, int) and not value & 0xFF00 and value & 0x00F8:
                data[key] = _swap16(value)
    return data


def link_from_msg(msg: Any) -> dict[str, Any]:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return {
        "index": msg["index"],
        "name": msg.get_attr("IFLA_IFNAME"),
        "ifi_type": msg["ifi_type"],
        "flags": msg["flags"],
        "mtu": msg.get_attr("IFLA_MTU"),
        "min_mtu": msg.get_attr("IFLA_MIN_MTU"),
        "max_mtu": msg.get_attr("IFLA_MAX_MTU"),
        "operstate": msg.get_attr("IFLA_OPERSTATE"),
        "address": msg.get_attr("IFLA_ADDRESS"),
        "link": msg.get_attr("IFLA_LINK"),
        "link_netnsid": msg.get_attr("IFLA_LINK_NETNSID"),
        "master": msg.get_attr("IFLA_MASTER"),
        "kind": kind,
        "data": info_data(info.get_attr("IFLA_INFO_DATA") if info is not None else None, kind),
    }


def address_from_msg(msg: Any) -> dict[str, Any]:
    # On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
    address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    return {
        "index": msg["index"],
        "family": "ipv6" if msg["family"] == 10 else "ipv4",
        "address": address,
        "prefixlen": msg["prefixlen"],
        "scope": msg["scope"],
    }


def backup_copy(path: str) -> str:
    """A copy of ``path`` next to it, named as ansible's ``backup_local`` names it (FILE.PID.TIMESTAMP~);
    raises OSError (backup_local would end the module with fail_json, skipping the caller's clean-up)."""
    backup = f"{path}.{os.getpid()}.{time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime())}"
    try:
        shutil.copy2(path, backup)
    except OSError:
        if os.path.exists(backup):
            os.unlink(backup)
        raise
    return backup


def write_in_place(path: str, data: bytes) -> None:
    """Overwrite ``path`` in place (a bind-mounted file cannot be renamed over); its old content is put
    back when the write fails half-way (a full disk), then the OSError is raised."""
    with open(path, "r+b") as handle:
        old = handle.read()
        try:
            handle.seek(0)
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            handle.seek(0)
            handle.write(old)
            handle.truncate()
            handle.flush()
            raise


class System:
    """Access to this host (the network namespace the module runs in)."""

    def __init__(self, module):
        self.module = module
        self.runner = CommandRunner(module)
        self._ipr = None

    def _netlink(self):
        if self._ipr is None:
            from pyroute2 import IPRoute  # guarded by require_pyroute2()

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def links(self) -> list[dict[str, Any]]:
        return [link_from_msg(msg) for msg in self._netlink().get_links()]

    def link(self, name: str) -> dict[str, Any] | None:
        """One link by name, or None when this namespace has no such interface."""
        ipr = self._netlink()
        indexes = ipr.link_lookup(ifname=name)
        if not indexes:
            return None
        return link_from_msg(ipr.get_links(indexes[0])[0])

    def set_mtu(self, index: int, mtu: int) -> None:
        """RTM_NEWLINK with IFLA_MTU, as ``ip link set dev X mtu N`` does; raises on refusal."""
        self._netlink().link("set", index=index, mtu=mtu)

    def addresses(self) -> list[dict[str, Any]]:
        return [address_from_msg(msg) for msg in self._netlink().get_addr()]

    def route_get(self, dst: str, mark: int | None = None) -> dict[str, Any] | None:
        """The kernel's route lookup (``ip route get``); includes a cached PMTU as ``mtu``. No packet is sent."""
        try:
            # wg-quick routes the tunnel's own packets by fwmark
            found = netlink.route_get(6 if ":" in dst else 4, dst, mark=mark or None)
        except Exception:  # pylint: disable=broad-exception-caught
            return None  # unreachable, or an address the kernel will not look up
        return {"oif": found.oif, "gateway": found.gateway, "prefsrc": found.prefsrc, "mtu": found.metric_mtu}

    def which(self, name: str) -> str | None:
        return self.module.get_bin_path(name)

    def run(self, argv: Sequence[str], data: str | None = None) -> tuple[int, str, str]:
        return self.runner.run(argv, data=data, check=False)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def unit_state(self, unit: str) -> str:
        """Whether a systemd unit starts at boot, as ``systemctl is-enabled`` says (``enabled``, ``disabled``,
        ``not-found``, ...; ``unknown`` without systemd). systemctl answers from the unit files even when
        systemd is not running; without systemctl the ``*.wants/`` links under /etc/systemd/system decide."""
        systemctl = self.which("systemctl")
        if systemctl:
            return boot.systemctl_state(*self.run([systemctl, "is-enabled", unit]))
        wants = [entry for directory in self.listdir(SYSTEMD_UNIT_DIR) if directory.endswith((".wants", ".requires"))
                 for entry in self.listdir(f"{SYSTEMD_UNIT_DIR}/{directory}")]
        return boot.wants_state(unit, wants, any(self.exists(path) for path in SYSTEMD_MARKERS))

    def environ(self, name: str) -> str | None:
        return os.environ.get(name)

    def read_config(self, path: str) -> str | None:
        """A configuration file to edit: None when absent; ValueError when it is not small UTF-8 text."""
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read it: {exc.strerror}") from exc
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"it is larger than {MAX_FILE_BYTES} bytes, too large for a configuration file")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("it is not UTF-8 text") from exc

    def replace_file(self, path: str, text: str, backup: bool = False) -> str | None:
        """Write ``text`` to ``path`` atomically (temporary file next to it + ``module.atomic_move``, which
        keeps the owner, mode and SELinux context of the file it replaces). Returns the backup's path.

        Raises OSError, never leaves ``path`` half-written: a full or read-only disk fails while writing
        the temporary file or the backup, before ``path`` is touched.
        """
        directory, base = os.path.split(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory or ".")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            backup_file = backup_copy(path) if backup and os.path.exists(path) else None
            try:
                self.module.atomic_move(tmp, path)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # ansible-core raises a bare Exception (its cause the OSError) when the rename fails
                cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
                raise OSError(cause.errno if cause else errno.EIO, f"{exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return backup_file

    def read_text(self, path: str) -> str | None:
        try:
            with open(path, "rb") as handle:
                return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            return None

    def lock(self, name: str) -> Any:
        """The host's lock ``name`` (host/lock.py) as a context manager: one changing task at a time."""
        return host_lock.hold(name)
