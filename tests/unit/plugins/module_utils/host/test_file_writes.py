# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Writing configuration files on a full disk: the file is never left cut off, the error is an OSError.

ansible's atomic_move(unsafe_writes=True), used before, truncated the file in place and then failed on a
full disk (the lab's fault suite found it: tests/reliability/faults.py).
"""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FirewallHost
from ansible_collections.netpath.mtu.plugins.module_utils.host import system
from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System, backup_copy, write_in_place


class Module:
    tmpdir = "/nonexistent"

    def atomic_move(self, src, dest):
        os.rename(src, dest)


def full_disk(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("write", [
    lambda path, text: FirewallHost(Module()).write(path, text),
    lambda path, text: System(Module()).replace_file(path, text),
])
def test_full_disk_leaves_the_file_and_no_temporary(tmp_path, monkeypatch, write):
    path = tmp_path / "nftables.conf"
    path.write_text("old\n")
    full_disk(monkeypatch)
    with pytest.raises(OSError) as caught:
        write(str(path), "new\n" * 100)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["nftables.conf"]


def test_write_keeps_mode_and_replaces(tmp_path):
    path = tmp_path / "rules.v4"
    path.write_text("old\n")
    os.chmod(path, 0o600)
    FirewallHost(Module()).write(str(path), "new\n")
    assert path.read_text() == "new\n" and os.stat(path).st_mode & 0o777 == 0o600
    FirewallHost(Module()).write(str(tmp_path / "d" / "rules.v6"), "six\n")
    assert os.stat(tmp_path / "d" / "rules.v6").st_mode & 0o777 == 0o640


def test_in_place_write_puts_the_old_text_back_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "bind-mounted.conf"
    path.write_text("old text\n")
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        write_in_place(str(path), b"new text, longer than the old one\n")
    assert path.read_text() == "old text\n"


def test_backup_copy_is_named_like_backup_local_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "wg0.conf"
    path.write_text("[Interface]\n")
    backup = backup_copy(str(path))
    assert backup.startswith(f"{path}.{os.getpid()}.") and backup.endswith("~")
    assert open(backup, encoding="utf-8").read() == "[Interface]\n"

    def copy2(src, dst):
        open(dst, "w", encoding="utf-8").close()
        raise OSError(errno.ENOSPC, "No space left on device")

    other = tmp_path / "wg1.conf"
    other.write_text("[Interface]\n")
    monkeypatch.setattr(system.shutil, "copy2", copy2)
    with pytest.raises(OSError):
        backup_copy(str(other))
    assert sorted(os.listdir(tmp_path)) == sorted(["wg0.conf", "wg1.conf", os.path.basename(backup)])
