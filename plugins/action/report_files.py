# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report_files: write a report's rendered files on the controller, in one task, without a module run.

The roles wrote report.json, report.md and report.html with a directory task and a loop of copy
tasks on localhost: four module runs (each a process, a temp file and a transfer) for three local
writes, seconds of an audit that operators wait for. This action writes them in the controller's
own process, each atomically (a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "files": {"type": "dict", "required": True},
    "mode": {"type": "raw", "default": "0644"},
}


def file_mode(value: object) -> int:
    """An octal mode string ('0644') or an int as written in YAML (0o644)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise AnsibleActionFail(f"mode must be an octal string such as '0644', got {value!r}") from None
    if not 0 <= mode <= 0o7777:
        raise AnsibleActionFail(f"mode must be between 0000 and 7777, got {value!r}")
    return mode


def check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise AnsibleActionFail(f"files: {name!r} is not a file name (no directories, no '/')")


def unchanged(path: str, data: bytes, mode: int) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data and os.stat(path).st_mode & 0o7777 == mode
    except OSError:
        return False


def write_atomically(path: str, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest, mode = os.path.realpath(args["dest"]), file_mode(args["mode"])
        for name in args["files"]:
            check_name(str(name))
        if os.path.exists(dest) and not os.path.isdir(dest):
            raise AnsibleActionFail(f"dest {dest} exists and is not a directory")
        contents = {os.path.join(dest, str(name)): to_bytes(content if isinstance(content, str) else str(content))
                    for name, content in args["files"].items()}
        changed = [path for path, data in contents.items() if not unchanged(path, data, mode)]
        if not self._task.check_mode:
            try:
                os.makedirs(dest, exist_ok=True)
                for path in changed:
                    write_atomically(path, contents[path], mode)
            except OSError as exc:
                raise AnsibleActionFail(f"could not write {exc.filename or dest}: {exc.strerror or exc}") from exc
        result.update(changed=bool(changed), dest=dest, files=sorted(contents), written=sorted(changed))
        return result
