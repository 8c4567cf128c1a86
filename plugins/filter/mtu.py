# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters tunnel_mtu and mss: thin wrappers over module_utils/links/overhead.py (docs in the .yml files)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netpath.mtu.plugins.module_utils.links import overhead


def tunnel_mtu(path_mtu: Any, kind: str, outer_family: Any = None, **options: Any) -> int:
    try:
        return overhead.tunnel_mtu(path_mtu, kind, outer_family, **options)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def mss(mtu: Any, family: Any = "ipv4") -> int:
    try:
        return overhead.mss(mtu, family)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"tunnel_mtu": tunnel_mtu, "mss": mss}
