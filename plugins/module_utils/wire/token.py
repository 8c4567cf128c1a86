# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run token the two hosts of a two-host check share (ptb_check, transfer_check). Pure.

Only a digest of it goes on the wire; each check derives its own (``purpose``), so a digest of one
check is never accepted by the other.
"""

from __future__ import annotations

import hashlib
import re

TOKEN_RE = re.compile(r"[\x21-\x7e]{8,128}")


def validate_token(token: object) -> str:
    """A run token: 8-128 printable ASCII characters without spaces. Raises ValueError."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise ValueError("token must be 8 to 128 printable ASCII characters without spaces, the same on"
                         " both hosts; generate one per run, e.g. lookup('ansible.builtin.password',"
                         " '/dev/null', chars=['ascii_letters', 'digits'], length=20)")
    return token


def token_digest(token: str, purpose: bytes = b"ptb") -> bytes:
    """8 bytes that identify the run on the wire; the token itself is never sent."""
    return hashlib.sha256(b"netpath.mtu/" + purpose + b"\0" + validate_token(token).encode("ascii")).digest()[:8]
