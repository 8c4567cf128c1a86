# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One changing task at a time per host: a lock around each read-modify-write of rulesets, MTUs and files.

icmp_policy and mss_clamp both read the live ruleset and /etc/nftables.conf, plan, then write both;
two runs at once (a schedule and a person, two plays) would each write what it read plus its own rule
and lose the other's. ``hold`` takes an exclusive ``flock`` on /run/lock/netpath-mtu/<name>.lock
(released by the kernel when the process dies, so a killed run never leaves it stuck), waiting up to
``timeout`` seconds.

While it is held, SIGHUP and SIGPIPE are blocked: a dropped control connection (the SSH session's
hangup) then cannot stop the module between the runtime change and writing the boot configuration;
the signal is delivered when the lock is released, after the change is complete.

The lock is per network namespace (a lab host, a container): its file name carries the namespace's
inode unless the module runs in the namespace of PID 1.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time
from contextlib import contextmanager
from typing import Iterator

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure

LOCK_DIR = "/run/lock/netpath-mtu"
FIREWALL_LOCK = "firewall"  # icmp_policy and mss_clamp: the same ruleset and nftables.conf
LINKS_LOCK = "links"  # link_mtu: MTUs and the network managers' files
TIMEOUT = 120.0  # seconds: a firewall or MTU task takes a few; two queued behind one still get their turn
POLL = 0.1
DEFERRED_SIGNALS = {signal.SIGHUP, signal.SIGPIPE}


class LockTimeout(ModuleFailure):
    """The lock stayed held by another run for the whole wait; nothing was changed."""


def lock_name(name: str) -> str:
    """``name``, with the network namespace's inode when that is not the one of PID 1."""
    try:
        own = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return name
    try:
        init = os.stat("/proc/1/ns/net").st_ino
    except OSError:
        init = None
    return name if own == init else f"{name}.netns-{own}"


def lock_path(name: str, directory: str = LOCK_DIR) -> str:
    return os.path.join(directory, f"{lock_name(name)}.lock")


def _holder(fd: int) -> str:
    """The PID the current holder wrote into the lock file, for the error message."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (held by PID {text})" if text.isdigit() else ""


@contextmanager
def hold(name: str, timeout: float = TIMEOUT, directory: str = LOCK_DIR) -> Iterator[str]:
    """Hold the host's lock ``name`` for the block; ``LockTimeout`` when it stays taken ``timeout`` seconds."""
    path = lock_path(name, directory)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LockTimeout(f"cannot open the lock file {path} ({exc.strerror}); nothing was changed") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise LockTimeout(f"cannot lock {path} ({exc.strerror}); nothing was changed") from exc
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another netpath.mtu task kept {path} locked for {timeout:.0f} s{_holder(fd)}; "
                        "nothing was changed, run the task again when it has finished") from exc
                time.sleep(POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    finally:
        os.close(fd)
