# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host/lock.py: one holder at a time, a clear failure after the timeout, SIGHUP deferred while held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host import lock
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure


def test_second_holder_times_out_naming_the_file_and_the_holder(tmp_path):
    with lock.hold("firewall", directory=str(tmp_path)) as path:
        assert path.startswith(str(tmp_path)) and os.path.basename(path).startswith("firewall")
        # flock is per open file description: a second open in this process conflicts like another process
        start = time.monotonic()
        with pytest.raises(lock.LockTimeout) as caught:
            with lock.hold("firewall", timeout=0.3, directory=str(tmp_path)):
                pass
        assert time.monotonic() - start >= 0.3
    assert isinstance(caught.value, ModuleFailure)
    assert path in caught.value.msg and f"PID {os.getpid()}" in caught.value.msg
    assert "nothing was changed" in caught.value.msg
    # released: the next one gets it at once, and other names never conflicted
    with lock.hold("firewall", timeout=0, directory=str(tmp_path)):
        with lock.hold("links", timeout=0, directory=str(tmp_path)):
            pass


def test_a_waiting_run_gets_the_lock_when_the_holder_dies(tmp_path):
    code = ("import sys, time; from ansible_collections.netpath.mtu.plugins.module_utils.host import lock\n"
            f"with lock.hold('firewall', directory={str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(lock.LockTimeout):
            with lock.hold("firewall", timeout=0.2, directory=str(tmp_path)):
                pass
        child.kill()
        child.wait()
        with lock.hold("firewall", timeout=5, directory=str(tmp_path)):
            pass
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_hangup_is_deferred_until_the_lock_is_released(tmp_path):
    seen = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with lock.hold("links", directory=str(tmp_path)):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert seen == []  # the change in progress is not interrupted
        assert seen == [signal.SIGHUP]  # delivered once the change is complete
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_unusable_lock_directory_fails_cleanly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(lock.LockTimeout) as caught:
        with lock.hold("firewall", directory=str(blocker / "sub")):
            pass
    assert "cannot open the lock file" in caught.value.msg


def test_lock_name_carries_the_namespace_only_outside_pid_1s(monkeypatch):
    inodes = {"/proc/self/ns/net": 7, "/proc/1/ns/net": 7}
    monkeypatch.setattr(lock.os, "stat", lambda path: type("St", (), {"st_ino": inodes[path]}))
    assert lock.lock_name("firewall") == "firewall"
    inodes["/proc/self/ns/net"] = 9
    assert lock.lock_name("firewall") == "firewall.netns-9"
    assert lock.lock_path("links", "/run/lock/x") == "/run/lock/x/links.netns-9.lock"
