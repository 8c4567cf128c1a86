# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one seam for running system commands: argv lists only, C locale, optional netns."""

from __future__ import annotations

from typing import Sequence

C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}


class CommandError(Exception):
    def __init__(self, argv: Sequence[str], rc: int, out: str, err: str):
        self.argv, self.rc, self.out, self.err = list(argv), rc, out, err
        detail = (err or out).strip().splitlines()
        super().__init__(f"{' '.join(self.argv)} failed (rc={rc}): {detail[-1] if detail else 'no output'}")


class CommandRunner:
    """Runs argv lists through ``module.run_command``; never a shell string."""

    def __init__(self, module, netns: str | None = None):
        self.module = module
        self.netns = netns

    def argv(self, argv: Sequence[str], netns: str | None = None) -> list[str]:
        netns = netns or self.netns
        return (["ip", "netns", "exec", netns] if netns else []) + [str(a) for a in argv]

    def run(self, argv: Sequence[str], *, netns: str | None = None, data: str | None = None,
            check: bool = True, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        full = self.argv(argv, netns)
        rc, out, err = self.module.run_command(
            full, data=data, binary_data=True,
            environ_update={**C_LOCALE, **(env or {})},
        )
        if check and rc != 0:
            raise CommandError(full, rc, out, err)
        return rc, out, err

    def ok(self, argv: Sequence[str], *, netns: str | None = None) -> bool:
        return self.run(argv, netns=netns, check=False)[0] == 0
