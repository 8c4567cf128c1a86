# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import math

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.rto import RTO_FLOOR_S, margin, smooth


@pytest.mark.parametrize("samples, expected", [
    ([], None),
    ([0.2], (0.2, 0.1)),  # first sample: SRTT = R, RTTVAR = R/2
    ([0.2, 0.2], (0.2, 0.075)),  # RTTVAR decays by 3/4 when R == SRTT
    ([0.1, 0.3], (0.125, 0.0875)),  # SRTT += (R - SRTT)/8; RTTVAR = 3/4 RTTVAR + |SRTT - R|/4
])
def test_smooth_follows_rfc6298(samples, expected):
    got = smooth(samples)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize("samples, floor, ceiling, expected", [
    ([0.0005] * 5, RTO_FLOOR_S, 1.0, RTO_FLOOR_S),  # a LAN: the floor decides, not the scheduler
    ([0.2], 0.1, 1.0, 2 * 0.2 + 4 * 0.1),  # one far sample: 2 SRTT + 4 RTTVAR
    ([0.3] * 50, 0.1, 1.0, pytest.approx(0.6, abs=1e-3)),  # steady: RTTVAR has decayed to ~0
    ([0.4], 0.1, 1.0, 1.0),  # never past the ceiling (the loss timeout)
    ([], 0.1, 1.0, 1.0),  # nothing seen: the ceiling
    ([], 0.1, math.inf, math.inf),
    ([0.001, 0.002, 0.001], 0.05, 1.0, 0.05),
])
def test_margin(samples, floor, ceiling, expected):
    assert margin(samples, floor=floor, ceiling=ceiling) == expected


def test_margin_grows_with_spread():
    steady = margin([0.05] * 8, floor=0.0)
    spread = margin([0.01, 0.09] * 4, floor=0.0)
    assert spread > steady


def test_negative_rtt_is_refused():
    with pytest.raises(ValueError, match="negative"):
        smooth([0.1, -0.01])
