# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How long to keep listening for the rest of a round's answers, from the round-trip times seen in it.

RFC 6298's estimator (SRTT and RTTVAR over the samples in arrival order), with a larger multiple of
SRTT than TCP uses: a probe round is one burst, and its late answers queue behind its early ones.
The floor keeps scheduling jitter on a loaded host (tens of milliseconds) from ever deciding that a
probe was lost. Pure: samples in, seconds out.
"""

from __future__ import annotations

import math
from typing import Iterable

RTO_FLOOR_S = 0.1  # never less: a busy 2-core host can stall a process this long
SRTT_FACTOR = 2.0  # margin = SRTT_FACTOR * SRTT + VAR_FACTOR * RTTVAR
VAR_FACTOR = 4.0
ALPHA, BETA = 1 / 8, 1 / 4  # RFC 6298 gains


def smooth(samples: Iterable[float]) -> tuple[float, float] | None:
    """(SRTT, RTTVAR) after feeding ``samples`` in order (RFC 6298 section 2), or None without samples."""
    srtt: float | None = None
    rttvar = 0.0
    for r in samples:
        if r < 0:
            raise ValueError(f"a round-trip time cannot be negative, got {r}")
        if srtt is None:
            srtt, rttvar = r, r / 2
        else:
            rttvar = (1 - BETA) * rttvar + BETA * abs(srtt - r)
            srtt = (1 - ALPHA) * srtt + ALPHA * r
    return None if srtt is None else (srtt, rttvar)


def margin(samples: Iterable[float], floor: float = RTO_FLOOR_S, ceiling: float = math.inf) -> float:
    """Seconds to wait after the last answer before calling the missing ones lost.

    ``SRTT_FACTOR * SRTT + VAR_FACTOR * RTTVAR``, at least ``floor``, at most ``ceiling``; the ceiling
    (the loss timeout) without samples: nothing seen, nothing to go by.
    """
    est = smooth(samples)
    if est is None:
        return ceiling
    srtt, rttvar = est
    return min(ceiling, max(floor, SRTT_FACTOR * srtt + VAR_FACTOR * rttvar))
