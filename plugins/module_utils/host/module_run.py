# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How a module hands its work to a backend and ends: the one shape every module's ``main()`` has.

A module parses its arguments, builds its typed parameters and its seams, and calls ``finish`` with a
callable that returns the result dict. A backend that cannot go on raises ``ModuleFailure`` with one
clear sentence and the result so far (``changed`` included when something did change), so the
failure says what stays changed instead of hiding it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable


class ModuleFailure(Exception):
    """The task fails with ``msg``; ``result`` holds what the caller should still see (changed, diff, ...)."""

    def __init__(self, msg: str, **result: Any):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def finish(module: Any, run: Callable[[], dict], lock: AbstractContextManager | None = None) -> None:
    """Runs ``run`` and ends the module: ``exit_json`` with its result, ``fail_json`` on ``ModuleFailure``.

    ``lock`` (host/lock.py, through the seam's ``lock()``) is held around ``run`` for a task that changes the
    host, and released before the result is printed.
    """
    try:
        with lock if lock is not None else nullcontext():
            result = run()
    except ModuleFailure as failure:
        module.fail_json(msg=failure.msg, **failure.result)
    module.exit_json(**result)
