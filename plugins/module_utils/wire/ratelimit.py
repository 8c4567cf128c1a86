# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A responder's limits: how fast it answers and how much it may send back. Pure; time is passed in."""

from __future__ import annotations

from dataclasses import dataclass


class RateLimiter:
    """Token bucket: ``rate`` events per second, bursts of ``burst``. Time is passed in."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.last = float(burst), now

    def allow(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class ReplyBudget:
    """Never send more than was received: bytes in, bytes out, and at most ``max_replies`` replies."""

    max_replies: int
    received: int = 0
    sent: int = 0
    replies: int = 0

    def take_in(self, length: int) -> None:
        self.received += length

    def room(self) -> int:
        return self.received - self.sent

    def exhausted(self) -> bool:
        return self.replies >= self.max_replies

    def spend(self, length: int) -> bool:
        if length > self.room():
            return False
        self.sent += length
        return True
