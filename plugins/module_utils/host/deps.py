# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one place that guards optional libraries (pyroute2).

Modules call ``require_pyroute2(module)`` before touching the system; a missing library becomes
a ``missing_required_lib`` failure that names the package to install on the managed host,
instead of an ImportError traceback. (Packets are built with ``struct``, not scapy: see
module_utils/pmtu/probe_io.py for why.)
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import pyroute2  # noqa: F401  pylint: disable=unused-import
except ImportError:
    PYROUTE2_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    PYROUTE2_IMPORT_ERROR = None

_HINT = "On Debian/Ubuntu install python3-{deb}; elsewhere 'pip install {pip}' for the Python that runs the module."


def _require(module, name: str, deb: str, error: str | None) -> None:
    if error is not None:
        module.fail_json(
            msg=missing_required_lib(name) + " " + _HINT.format(deb=deb, pip=name),
            exception=error,
        )


def require_pyroute2(module) -> None:
    _require(module, "pyroute2", "pyroute2", PYROUTE2_IMPORT_ERROR)
