# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A responder's limits (moved here from test_ptb_packets)."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.wire.ratelimit import RateLimiter, ReplyBudget


def test_rate_limiter():
    limiter = RateLimiter(rate=2, burst=2, now=0.0)
    assert [limiter.allow(0.0) for dummy in range(3)] == [True, True, False]
    assert not limiter.allow(0.4)
    assert limiter.allow(0.5)
    assert limiter.allow(10.0) and limiter.allow(10.0) and not limiter.allow(10.0)
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1, now=0.0)


def test_reply_budget_never_lets_more_out_than_in():
    budget = ReplyBudget(max_replies=2)
    assert not budget.spend(1)
    budget.take_in(100)
    assert budget.spend(60) and not budget.spend(41) and budget.spend(40)
    assert budget.room() == 0
    budget.replies = 2
    assert budget.exhausted()
