# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report_files writes a report's files on the controller: atomically, only what changed, nothing in check mode."""

from __future__ import annotations

import os
import stat
from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.netpath.mtu.plugins.action import report_files


def run(args: dict, check_mode: bool = False) -> dict:
    task = Task()
    task.args = args
    task.check_mode = check_mode
    action = report_files.ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    return action.run(task_vars={})


def test_writes_every_file_and_creates_the_directory(tmp_path):
    dest = tmp_path / "mtu-report" / "nested"
    result = run({"dest": str(dest), "files": {"report.json": "{}\n", "report.md": "# Audit\n"}})
    assert result["changed"] is True and result["dest"] == str(dest)
    assert (dest / "report.json").read_text() == "{}\n" and (dest / "report.md").read_text() == "# Audit\n"
    assert stat.S_IMODE(os.stat(dest / "report.md").st_mode) == 0o644
    assert result["written"] == result["files"] == [str(dest / "report.json"), str(dest / "report.md")]
    assert sorted(os.listdir(dest)) == ["report.json", "report.md"]  # no temporary file left


def test_second_run_writes_nothing_and_a_changed_file_is_replaced(tmp_path):
    files = {"a.json": "1", "b.md": "2"}
    run({"dest": str(tmp_path), "files": files})
    assert run({"dest": str(tmp_path), "files": files})["changed"] is False
    result = run({"dest": str(tmp_path), "files": {"a.json": "1", "b.md": "3"}, "mode": "0600"})
    assert result["written"] == [str(tmp_path / "a.json"), str(tmp_path / "b.md")]  # a.json: its mode changed
    assert (tmp_path / "b.md").read_text() == "3" and stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o600


def test_check_mode_writes_nothing(tmp_path):
    result = run({"dest": str(tmp_path / "new"), "files": {"report.json": "{}"}}, check_mode=True)
    assert result["changed"] is True and result["written"] == [str(tmp_path / "new" / "report.json")]
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("files, mode, message", [
    ({"../escape": "x"}, "0644", "'../escape' is not a file name"),
    ({"": "x"}, "0644", "'' is not a file name"),
    ({"..": "x"}, "0644", "'..' is not a file name"),
    ({"ok": "x"}, "rw-r--r--", "mode must be an octal string"),
    ({"ok": "x"}, "17777", "mode must be between 0000 and 7777"),
])
def test_bad_arguments_fail_and_write_nothing(tmp_path, files, mode, message):
    with pytest.raises(AnsibleActionFail, match=message.replace("(", r"\(")):
        run({"dest": str(tmp_path / "d"), "files": files, "mode": mode})
    assert not (tmp_path / "d").exists()


def test_a_file_where_the_directory_should_be(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(AnsibleActionFail, match="exists and is not a directory"):
        run({"dest": str(tmp_path / "f"), "files": {"a": "1"}})


def test_an_unwritable_directory_fails_with_the_path(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "a").mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(AnsibleActionFail, match="could not write"):
        run({"dest": str(tmp_path / "ro"), "files": {"a": "1"}})
    assert os.listdir(tmp_path / "ro") == ["a"]
