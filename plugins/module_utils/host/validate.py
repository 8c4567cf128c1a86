# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of user input that every module needs before its first change: interface names and file paths.

Each check raises ``ValueError`` with one sentence that starts with the parameter's name. The checks are
pure: what the file system says about a path comes in as a ``PathKind`` callable (``path_kind`` below
asks the real one), and the interfaces that exist come in as a list.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import Any, Callable, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.wire.inet import interface_name_problem

# firewalld zone and policy names (its XML file names): letters, digits, _ + -, at most 17 characters.
FIREWALLD_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_+-]{0,16}")
# Kernel pseudo file systems: files there are no configuration.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")

PathKind = Callable[[str], str]
KINDS = ("file", "directory", "missing", "other", "loop", "not_directory", "unreadable")


def quoted(value: Any) -> str:
    """The value as Python would write it: a newline or a NUL stays on one line."""
    return repr(value) if isinstance(value, str) else repr(str(value))


def interface(param: str, name: Any, existing: Iterable[str] | None = None) -> str:
    """``name`` when it is a valid interface name (and one of ``existing`` when that is given)."""
    problem = interface_name_problem(name)
    if problem:
        raise ValueError(f"{param}: {quoted(name)} {problem}")
    if existing is not None and name not in set(existing):
        raise ValueError(f"{param}: no interface named {quoted(name)} on this host")
    return name


def firewalld_name(param: str, name: Any) -> str:
    """A firewalld zone or policy name (as firewalld stores them, file names)."""
    if not isinstance(name, str) or not FIREWALLD_NAME.fullmatch(name):
        raise ValueError(f"{param}: {quoted(name)} is not a valid firewalld name (ASCII letters, digits, _ + -, "
                         "at most 17 characters, not starting with '-')")
    return name


def path_kind(path: str) -> str:
    """What the file system says about ``path`` (one of ``KINDS``); follows symbolic links."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return {errno.ENOENT: "missing", errno.ELOOP: "loop", errno.ENOTDIR: "not_directory",
                errno.ENAMETOOLONG: "other"}.get(exc.errno, "unreadable")
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def config_file(param: str, path: Any, kind: PathKind, what: str = "configuration file") -> str:
    """``path`` when a configuration file can be read and written there, else ValueError naming ``param``.

    Refused: a relative path, control characters, anything under /proc, /sys or /dev, a directory, a
    device or other non-regular file, a symbolic link loop, a missing parent directory or a parent that
    is not a directory. A missing file in an existing directory is fine (it is created).
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{param} {quoted(path)} is not an absolute path; give the {what}")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValueError(f"{param} {quoted(path)} contains control characters; give the {what}")
    normal = os.path.normpath(path)
    if any(normal == root or normal.startswith(root + "/") for root in PSEUDO_ROOTS):
        raise ValueError(f"{param} {quoted(path)} is in a kernel pseudo file system; give the {what}")
    found = kind(path)
    problems = {
        "directory": f"is a directory; give the {what}",
        "other": f"is not a regular file; give the {what}",
        "loop": "is a symbolic link loop",
        "not_directory": "has a parent that is not a directory",
        "unreadable": "cannot be examined (permission denied?)",
    }
    if found in problems:
        raise ValueError(f"{param} {quoted(path)} {problems[found]}")
    if found == "missing":
        parent = os.path.dirname(normal) or "/"
        if kind(parent) != "directory":
            raise ValueError(f"{param} {quoted(path)}: its directory {quoted(parent)} does not exist")
    return path
