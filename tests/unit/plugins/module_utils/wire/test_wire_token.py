# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run token shared by ptb_check and transfer_check (moved here from test_ptb_packets)."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import TOKEN_RE, token_digest, validate_token


@pytest.mark.parametrize("token", ["short", "has a space", "x" * 129, None, 12345678, "tab\there12", "reltoken1\n"])
def test_bad_tokens(token):
    with pytest.raises(ValueError, match="token must be"):
        validate_token(token)


@pytest.mark.parametrize("token", ["abcdefgh", "x" * 128, "!~#$%&'()*+,-./:;<=>?@[]^_`{|}"])
def test_good_tokens_pass_unchanged(token):
    assert validate_token(token) == token and TOKEN_RE.match(token)


def test_token_digest():
    digest = token_digest("abcdefgh1234")
    assert digest == token_digest("abcdefgh1234") and len(digest) == 8
    assert digest != token_digest("abcdefgh1235")
    assert digest != token_digest("abcdefgh1234", b"transfer")
    assert b"abcdefgh1234" not in pp.encode_message(pp.KIND_PROBE, digest, 1)


def test_token_digest_refuses_a_bad_token():
    with pytest.raises(ValueError, match="token must be"):
        token_digest("short")
