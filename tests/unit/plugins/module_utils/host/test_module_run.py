# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""finish(): a backend's result or its failure, with what the failure keeps."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure, finish


class Ended(Exception):
    pass


class FakeModule:
    def __init__(self):
        self.ended: tuple | None = None

    def exit_json(self, **result):
        self.ended = ("exit", result)
        raise Ended()

    def fail_json(self, **result):
        self.ended = ("fail", result)
        raise Ended()


def test_finish_exits_with_the_result():
    module = FakeModule()
    with pytest.raises(Ended):
        finish(module, lambda: {"changed": False, "mtu": 1420})
    assert module.ended == ("exit", {"changed": False, "mtu": 1420})


def test_finish_fails_with_the_message_and_what_stays_changed():
    def run():
        raise ModuleFailure("persisting failed: /etc is a directory", changed=True, diff={"before": "1500"})

    module = FakeModule()
    with pytest.raises(Ended):
        finish(module, run)
    assert module.ended == ("fail", {"msg": "persisting failed: /etc is a directory", "changed": True,
                                     "diff": {"before": "1500"}})
