# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Path MTU search plan and classification: pure functions, no packets.

One ``PathSearch`` per (target, family) decides which probe sizes to send in the next round
and, from what came back, the path MTU and the path's status. ``run_search`` drives many
searches round by round through an injected ``send_round`` callable (the raw-packet seam in
``probe_io`` in production, a simulated network in the unit tests).

Sizes are whole IP packet lengths (header included), i.e. the MTU a link must have to carry
the packet: ``ping -s N`` sends N+28 (IPv4) / N+48 (IPv6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import rto

HEADER_LEN = {4: 20, 6: 40}
# A size is too big when all its tries were silent; on a path that loses probes, enough tries that
# this happens by loss alone less often than this.
FALSE_SILENCE = 0.0001
# Smallest packet the search considers; IPv6 links must carry 1280 (RFC 8200).
MIN_MTU = {4: 68, 6: 1280}
# Small probe that must pass in a round before silence at a large size means anything.
CONTROL_SIZE = {4: 68, 6: 104}
# MTUs seen in the wild: tunnels (WireGuard, VXLAN, GRE, IPsec), PPPoE, DSL, jumbo.
LIKELY_MTUS = (
    576, 1006, 1280, 1300, 1320, 1328, 1340, 1350, 1360, 1380, 1390, 1400, 1410, 1412,
    1420, 1424, 1430, 1436, 1440, 1450, 1456, 1460, 1468, 1472, 1476, 1480, 1488, 1492,
    1496, 1500, 1550, 1600, 4352, 4470, 8950, 9000, 9001, 9216,
)
STATUSES = ("ok", "ptb", "black_hole", "unreachable", "filtered")

# Answer kinds (what probe_io reports for one probe).
ECHO = "echo"  # the target itself answered: echo reply, port unreachable, UDP/TCP reply
PTB = "ptb"  # frag-needed / packet-too-big, with the announced MTU
TTL_EXCEEDED = "ttl_exceeded"
UNREACH = "unreach"  # net/host unreachable from a router
PROHIBITED = "prohibited"  # administratively prohibited: a filter said no
LOCAL_ERROR = "local_error"  # our own kernel refused to send it
# The target's answer came back fragmented and only some fragments arrived (the first one says who
# answered): the request got there, the whole reply did not. Never a pass.
PARTIAL = "partial"

# Probe roles.
SEARCH = "search"
CONTROL = "control"
HOP_BIG = "hop_big"
HOP_SMALL = "hop_small"
# Linux refills a router's time-exceeded budget towards one peer at 1/s (icmp_ratelimit 1000 ms):
# a retry of silent TTLs waits at least this long after the previous TTL-limited probes.
HOP_PACE_S = 1.0
HOP_RETRY_TTLS = 8  # most TTLs one retry round probes again


@dataclass(frozen=True)
class Probe:
    size: int
    role: str = SEARCH
    ttl: int | None = None


@dataclass(frozen=True)
class Answer:
    kind: str
    source: str | None = None
    mtu: int | None = None
    ttl: int | None = None  # TTL / hop limit of the answer as received (distance guess)
    code: int | None = None
    # When it arrived and how long after its probe left (seconds, the prober's monotonic clock); None for
    # answers no packet brought (our own kernel's refusal) and in tests without a clock.
    at: float | None = None
    rtt: float | None = None


Outcome = tuple[Probe, list[Answer]]


def validate_sizes(family: int, min_size: int, max_size: int) -> None:
    """Raise ValueError for a size range no search can use."""
    if family not in HEADER_LEN:
        raise ValueError(f"family must be 4 or 6, got {family!r}")
    floor = MIN_MTU[family]
    if min_size < floor:
        raise ValueError(f"min_size {min_size} is below the IPv{family} minimum of {floor}")
    if max_size < min_size:
        raise ValueError(f"max_size {max_size} is smaller than min_size {min_size}")
    if max_size > 65535:
        raise ValueError(f"max_size {max_size} is larger than an IP packet can be (65535)")


def sweep_sizes(lo: int, hi: int, step: int = 10, even: int = 16) -> list[int]:
    """First-round sizes in [lo, hi]: likely MTUs, a dense grid where tunnels live, an even spread.

    Sending them all at once costs one loss timeout and leaves a bracket narrow enough for
    the next round to hit the exact byte.
    """
    sizes = {lo, hi}
    sizes.update(m for m in LIKELY_MTUS if lo < m < hi)
    # Dense grid, anchored on 1500 so 1500/1490/... are hit exactly.
    top = min(hi, 1500)
    m = 1500 - step * math.ceil((1500 - top) / step) if top < 1500 else 1500
    while m >= max(lo, 1200):
        sizes.add(m)
        m -= step
    if hi > lo and even > 0:
        gap = (hi - lo) / even
        sizes.update(int(lo + gap * k) for k in range(1, even))
    return sorted(s for s in sizes if lo <= s <= hi)


def spread(lo: int, hi: int, count: int) -> list[int]:
    """Up to ``count`` sizes strictly between lo and hi: all of them when they fit, else evenly spaced."""
    inside = hi - lo - 1
    if inside <= 0:
        return []
    if inside <= count:
        return list(range(lo + 1, hi))
    gap = (hi - lo) / (count + 1)
    return sorted({lo + max(1, int(round(gap * k))) for k in range(1, count + 1)} - {hi})


def binding_ptb(ptbs: list[tuple], bogus: list[dict]) -> tuple:
    """(mtu, source) of the PTB that binds: the smallest announced MTU (0, an RFC 792-era router, last),
    one that can be true when there is one."""
    lies = {(b["mtu"], b["source"]) for b in bogus}
    return min([p for p in ptbs if p not in lies] or ptbs, key=lambda p: (p[0] or 0x10000))


def guess_hops(reply_ttl: int | None) -> int | None:
    """Hop count from the TTL of an echo reply, assuming the usual initial TTLs 64/128/255."""
    if reply_ttl is None or reply_ttl <= 0:
        return None
    for initial in (64, 128, 255):
        if reply_ttl <= initial:
            return initial - reply_ttl + 1
    return None


@dataclass
class SizeStats:
    tries: int = 0
    passes: int = 0
    silent_tries: int = 0  # no answer, counted only in rounds whose control passed
    ptb: list[tuple[int | None, str | None]] = field(default_factory=list)
    rejected: int = 0  # local error (EMSGSIZE): never left this host
    partial: int = 0  # tries whose reply arrived only in part (first fragment without its siblings)
    partial_from: str | None = None


@dataclass
class PathSearch:
    """Search state for one path. ``plan()`` -> send -> ``record()`` until ``plan()`` is empty."""

    family: int
    min_size: int
    max_size: int
    tries: int = 3
    locate_hop: bool = True
    max_hops: int = 30
    # Later rounds that probe TTLs again which stayed silent (router rate limits), HOP_PACE_S apart. Paths
    # behind one router share its time-exceeded budget (Linux: icmp_msgs_per_sec, global), so with rounds
    # that end on round-trip time several retries are what lets each path get its turn.
    hop_retries: int = 5
    step: int = 10
    round_budget: int = 32
    max_rounds: int = 5
    control_size: int | None = None
    answer_budget: int | None = None  # answers the target gives in a burst (Linux port unreachable: 6)
    refill_per_s: float = 1.0

    rounds: int = 0
    probes_sent: int = 0
    sizes: dict[int, SizeStats] = field(default_factory=dict)
    control_passes: int = 0
    reply_ttl: int | None = None
    errors: list[Answer] = field(default_factory=list)
    hop_outcomes: list[Outcome] = field(default_factory=list)
    hop_probed: bool = False
    hop_proxy: PathSearch | None = None  # another path of the same group locates the hop for us
    hop_result: dict | None = None
    hop_rounds_sent: int = 0
    _hop_limit: int = 0
    _hop_sent_at: float = 0.0
    _done: bool = False
    _planned_at: float = 0.0
    _token_time: float | None = None
    _token_level: float = 0.0

    def __post_init__(self) -> None:
        validate_sizes(self.family, self.min_size, self.max_size)
        if self.tries < 1:
            raise ValueError("tries must be at least 1")
        if self.control_size is None:
            self.control_size = min(CONTROL_SIZE[self.family], self.min_size)

    # -- reading the evidence -------------------------------------------------------------

    def max_pass(self) -> int | None:
        passed = [s for s, st in self.sizes.items() if st.passes]
        return max(passed) if passed else None

    def _too_big(self, size: int) -> bool:
        """A router said so, or it failed every try while the control passed (loss is not a black hole)."""
        st = self.sizes.get(size)
        if st is None or st.passes:
            return False
        return bool(st.ptb) or st.rejected > 0 or st.silent_tries >= self.silent_tries_needed()

    def silent_tries_needed(self) -> int:
        """Silent tries that make a size too big: ``tries``, more where this path has lost probes.

        A silent try of a size no larger than one that passed is loss seen on this very path (a
        path's MTU does not change between sizes). With that loss rate (one loss more than seen,
        against a low guess from few tries), as many tries as make an
        all-lost boundary less likely than FALSE_SILENCE (at most three times ``tries``): a heavy-loss
        path then either confirms its boundary or ends with ``exact`` false, never with a confident
        number one size too low.
        """
        top = self.max_pass()
        lost = sum(st.silent_tries for size, st in self.sizes.items() if top is not None and size <= top)
        if not lost:
            return self.tries
        # One loss more than seen: a few tries say little, and a low guess would be a confident wrong answer.
        rate = (lost + 1) / (lost + 1 + sum(st.passes for st in self.sizes.values()))
        return min(3 * self.tries, max(self.tries, math.ceil(math.log(FALSE_SILENCE) / math.log(rate))))

    def first_fail(self) -> int | None:
        """Smallest size above the largest pass that was tried and never passed."""
        lo = self.max_pass()
        failed = [s for s, st in self.sizes.items()
                  if st.tries and not st.passes and (lo is None or s > lo)]
        return min(failed) if failed else None

    def reached(self) -> bool:
        return self.control_passes > 0 or self.max_pass() is not None

    # -- planning -------------------------------------------------------------------------

    def plan(self, now: float = 0.0) -> list[Probe]:
        """Probes for the next round, largest first, control probes last; [] when the search is over.

        The order defeats answer rate limits (Linux answers only the first few port unreachables
        of a burst; routers may police echo): a target answers the first arrivals, so the largest
        size that fits is always answered, and a probe's silence counts only when a probe sent
        after it in the same round was answered - then the limiter had room for the silent one.
        """
        if self._done:
            return []
        if self.rounds >= self.max_rounds:
            self._done = True
            return []
        if self.rounds == 0:
            probes = self._first_round()
        elif not self.reached():
            # Nothing came back from the target on any try of the control: no further round helps.
            self._done = True
            return []
        else:
            probes = self._refine_round()
            probes.sort(key=lambda p: -p.size)
            probes += self._hop_round(now)
            if not probes:
                self._done = True
                return []
        self._planned_at = now
        return probes + [Probe(self.control_size, CONTROL)] * self.tries

    # -- answer budget (targets that rate-limit their answers) ---------------------------------

    def _tokens(self, now: float) -> float:
        if self._token_time is None:
            return float(self.answer_budget)
        return min(float(self.answer_budget), self._token_level + (now - self._token_time) * self.refill_per_s)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next round so the target's answer budget (and, before a hop
        retry, the routers' time-exceeded budget) has refilled enough."""
        if self._done:
            return 0.0
        wait = 0.0
        if self.answer_budget:
            want = min(float(self.answer_budget), 2.0)  # one to validate silence, one for a hop probe
            wait = (want - self._tokens(now)) / self.refill_per_s
        if self._hop_retry_ttls():
            wait = max(wait, self._hop_sent_at + HOP_PACE_S - now)
        return max(0.0, wait)

    def _first_round(self) -> list[Probe]:
        lo = max(self.min_size, self.control_size)
        probes: list[Probe] = []
        for size in reversed(sweep_sizes(lo, self.max_size, self.step)):
            if size == self.control_size:
                continue
            # The top size decides "ok" at once on clean paths: give it every try now.
            copies = self.tries if size == self.max_size else 1
            probes += [Probe(size)] * copies
        return probes

    def _refine_round(self) -> list[Probe]:
        lo = self.max_pass()
        if lo is None:
            lo = self.min_size - 1  # never search below the floor (IPv6: 1280)
        if lo >= self.max_size:
            return []
        hi = self.first_fail()
        if hi is None:
            # Everything above lo is untried (lost round, or max_size never sent): try the top.
            return [Probe(self.max_size)] * self.tries
        probes: list[Probe] = []
        if not self._too_big(hi):
            st = self.sizes[hi]
            probes += [Probe(hi)] * max(1, self.silent_tries_needed() - st.silent_tries)
        elif hi == lo + 1:
            return []  # boundary confirmed: byte-exact
        between = spread(lo, hi, self.round_budget)
        copies = self.silent_tries_needed() if len(between) == hi - lo - 1 else 1
        for size in between:
            st = self.sizes.get(size)
            if st and st.passes:
                continue
            need = copies - (st.silent_tries if st else 0)
            probes += [Probe(size)] * max(1, need)
        return probes

    def _hop_round(self, now: float = 0.0) -> list[Probe]:
        """TTL-limited big and small probes, as soon as a silent too-big size is known; TTLs that
        stayed silent are probed again in later rounds (``hop_retries``), at least HOP_PACE_S later.

        For each TTL the big probe goes right before the small one: routers rate-limit
        time-exceeded per peer with a token bucket, so if the small one is answered the big
        one was not rate-limited and its silence means it died before that hop. A retry sends one
        pair per silent TTL, which needs one token of that router whatever the answer.
        """
        if not self.locate_hop or self.hop_proxy is not None:
            return []
        if self.hop_probed:
            big = self._hop_big()
            probes = [p for ttl in self._hop_retry_ttls() for p in (Probe(big, HOP_BIG, ttl), Probe(self.control_size, HOP_SMALL, ttl))]
        else:
            probes = self._first_hop_round()
        if probes:
            self.hop_rounds_sent += 1
            self._hop_sent_at = now
        return probes

    def _hop_big(self) -> int:
        return max(p.size for p, _answers in self.hop_outcomes if p.role == HOP_BIG)

    def _first_hop_round(self) -> list[Probe]:
        big = self.first_fail()
        if big is None or self.sizes[big].ptb or self.sizes[big].rejected:
            return []
        if any(st.ptb for st in self.sizes.values()):
            return []  # the PTB names the router; no need to hunt for it
        if self.sizes[big].partial:
            return []  # the big requests reach the target: its replies are what get lost
        hops = guess_hops(self.reply_ttl)
        self._hop_limit = min(self.max_hops, hops + 1) if hops else self.max_hops
        self.hop_probed = True
        probes: list[Probe] = []
        for ttl in range(1, self._hop_limit + 1):
            probes += [Probe(big, HOP_BIG, ttl), Probe(big, HOP_BIG, ttl), Probe(self.control_size, HOP_SMALL, ttl)]
        return probes

    def _hop_retry_ttls(self) -> list[int]:
        """TTLs worth probing again in the next round ([] when none, or no retry is left)."""
        if (not self.locate_hop or not self.hop_probed or self.hop_proxy is not None or not self.hop_outcomes
                or self.hop_rounds_sent > self.hop_retries or self.rounds >= self.max_rounds):
            return []
        return hop_retry_ttls(self.hop_outcomes, self._hop_limit)[:HOP_RETRY_TTLS]

    # -- recording --------------------------------------------------------------------------

    def record(self, outcomes: Iterable[Outcome]) -> None:
        outcomes = list(outcomes)
        self.rounds += 1
        if self.answer_budget:
            used = sum(1 for _probe, answers in outcomes if any(a.kind == ECHO for a in answers))
            self._token_level = self._tokens(self._planned_at) - used
            self._token_time = self._planned_at
        self.probes_sent += len(outcomes)
        # Silence counts only if a probe sent later in this round was answered (see plan()).
        later_answered = [False] * len(outcomes)
        seen = False
        for i in range(len(outcomes) - 1, -1, -1):
            later_answered[i] = seen
            if any(a.kind == ECHO for a in outcomes[i][1]):  # any role: the target itself answered
                seen = True
        for i, (probe, answers) in enumerate(outcomes):
            if probe.role in (HOP_BIG, HOP_SMALL):
                self.hop_outcomes.append((probe, answers))
                continue
            if probe.role == CONTROL:
                if any(a.kind == ECHO for a in answers):
                    self.control_passes += 1
                    if probe.size >= self.min_size:
                        # A control inside the searched range is a size that passed, too.
                        self.sizes.setdefault(probe.size, SizeStats()).passes += 1
                self._note_errors(answers)
                self._note_ttl(answers)
                continue
            st = self.sizes.setdefault(probe.size, SizeStats())
            st.tries += 1
            kinds = {a.kind for a in answers}
            if PARTIAL in kinds and ECHO not in kinds:
                # Half a reply is evidence about the way back, and a lost try: count it as silence.
                st.partial += 1
                st.partial_from = next(a.source for a in answers if a.kind == PARTIAL)
                answers = [a for a in answers if a.kind != PARTIAL]
                kinds.discard(PARTIAL)
            if ECHO in kinds:
                st.passes += 1
                self._note_ttl(answers)
            elif PTB in kinds:
                st.ptb.extend((a.mtu, a.source) for a in answers if a.kind == PTB)
            elif LOCAL_ERROR in kinds:
                st.rejected += 1
            elif not answers and later_answered[i]:
                st.silent_tries += 1
            else:
                self._note_errors(answers)

    def _note_ttl(self, answers: list[Answer]) -> None:
        for a in answers:
            if a.kind == ECHO and a.ttl is not None:
                self.reply_ttl = a.ttl

    def _note_errors(self, answers: list[Answer]) -> None:
        for a in answers:
            if a.kind in (UNREACH, PROHIBITED) and len(self.errors) < 8:
                self.errors.append(a)

    def settled(self, partial: Iterable[Outcome]) -> bool:
        """True when answers already in hand decide this round whatever the missing ones do.

        Ends a round at once on clean and PTB paths. Silence is never decisive here: how long
        silence must last to count is ``round_end``'s business.
        """
        passes = {p.size for p, ans in partial if p.role in (SEARCH, CONTROL) and any(a.kind == ECHO for a in ans)}
        ptbs = {p.size for p, ans in partial if p.role == SEARCH and any(a.kind == PTB for a in ans)}
        known = passes | {s for s, st in self.sizes.items() if st.passes}
        if not known:
            return False
        top = max(known)
        if top >= self.max_size:
            return True
        return (top + 1) in ptbs or self._ptb_at(top + 1)

    def round_end(self, partial: Iterable[Outcome]) -> float:
        """The earliest time (the answers' clock) this path's round may end, from the answers in hand.

        - Decided (``settled``): when the deciding answer arrived.
        - A control probe answered: the last answer's arrival plus a margin from this round's RTTs
          (``rto.margin``). Controls leave after every other probe of the path, so by then each probe
          had its round trip; a later answer moves the end again.
        - Otherwise ``math.inf``: with nothing back from the target, only the loss timeout ends it.
        """
        partial = list(partial)
        if self.settled(partial):
            return self._last_arrival(partial)
        if not any(p.role == CONTROL and any(a.kind == ECHO for a in ans) for p, ans in partial):
            return math.inf
        rtts = [a.rtt for _p, ans in partial for a in ans if a.rtt is not None]
        if not rtts:
            return math.inf
        return self._last_arrival(partial) + rto.margin(rtts)

    @staticmethod
    def _last_arrival(partial: list[Outcome]) -> float:
        return max((a.at for _p, ans in partial for a in ans if a.at is not None), default=-math.inf)

    def _ptb_at(self, size: int) -> bool:
        st = self.sizes.get(size)
        return bool(st and st.ptb and not st.passes)

    def done(self) -> bool:
        return self._done

    # -- the verdict --------------------------------------------------------------------------

    def result(self) -> dict:
        lo = self.max_pass()
        hi = self.first_fail()
        ptbs = [p for st in self.sizes.values() for p in st.ptb]
        ptb_seen = bool(ptbs)
        bogus = self.bogus_ptbs()
        res: dict = {
            "path_mtu": None,
            "status": "unreachable",
            "black_hole": False,
            "ptb_seen": ptb_seen,
            "ptb_mtu": None,
            "ptb_source": None,
            "ptb_mismatch": False,
            "ptb_bogus": bogus,
            "hop": None,
            "fragments_lost": self.fragments_lost(),
            # Distance guessed from the replies' TTL: audits pick the nearest peer for PTB checks.
            "hops": guess_hops(self.reply_ttl),
            "exact": False,
            "rounds": self.rounds,
            "probes_sent": self.probes_sent,
            "reason": "",
        }
        if ptb_seen:
            res["ptb_mtu"], res["ptb_source"] = binding_ptb(ptbs, bogus)
        if not self.reached():
            return self._unreached(res)
        if lo is None:
            # Only the control passed: every search size failed.
            res["path_mtu"] = None
            res["status"] = "ptb" if ptb_seen else "black_hole"
            res["black_hole"] = not ptb_seen
            res["reason"] = (f"even {self.min_size}-byte packets do not pass while {self.control_size}-byte ones do"
                             + (" (below the IPv6 minimum MTU of 1280)" if self.family == 6 else ""))
            res["hop"] = self._hop()
            return res
        res["path_mtu"] = lo
        if lo >= self.max_size:
            res["status"] = "ok"
            res["exact"] = True
            res["reason"] = f"{lo}-byte packets pass: nothing on the path is smaller than {self.max_size}"
            res["ptb_mismatch"] = ptb_seen
            return res
        res["exact"] = hi == lo + 1 and self._too_big(hi)
        boundary = self.sizes.get(hi) if hi is not None else None
        if boundary is not None and boundary.ptb:
            res["status"] = "ptb"
            mtu, src = binding_ptb(boundary.ptb, bogus)
            res["ptb_mtu"], res["ptb_source"] = mtu, src
            res["hop"] = {"ttl": None, "address": src, "located": src is not None, "method": "ptb"}
            res["reason"] = f"{hi}-byte packets are refused with a PTB from {src} announcing {mtu}"
        elif boundary is not None and boundary.rejected:
            res["status"] = "ok"
            res["reason"] = f"the local interface does not send packets larger than {lo} bytes"
        else:
            res["status"] = "black_hole"
            res["black_hole"] = True
            res["hop"] = self._hop()
            res["reason"] = (f"{hi}-byte packets vanish without an ICMP error while {lo}-byte packets pass:"
                             " PMTUD is broken on this path")
            if res["hop"] and res["hop"]["ttl"] == 0 and res["hop"]["located"]:
                res["reason"] += "; they die before the first hop (the local link, or a tunnel's underlay)"
        if res["ptb_mtu"] is not None and res["ptb_mtu"] != lo:
            res["ptb_mismatch"] = True
        if bogus:
            res["reason"] += "; " + "; ".join(f"{b['source']} announced MTU {b['mtu']} refusing a {b['size']}-byte packet,"
                                              " which cannot be true (ignored)" for b in bogus[:3])
        if not res["exact"]:
            res["reason"] += " (boundary not confirmed within the round limit)"
        if res["fragments_lost"]:
            res["reason"] += (f"; replies of {res['fragments_lost']['smallest']} bytes and more arrive only as first"
                              " fragments: non-first fragments are dropped on the way back")
        return res

    def bogus_ptbs(self) -> list[dict]:
        """PTBs announcing an MTU that cannot be true: at least the size of the packet they refused, or below
        the family's minimum (0 is an RFC 792-era router that names none, not a lie). Never used as an MTU."""
        found = []
        for size, st in sorted(self.sizes.items()):
            for mtu, source in st.ptb:
                entry = {"size": size, "mtu": mtu, "source": source}
                if (mtu >= size or 0 < mtu < MIN_MTU[self.family]) and entry not in found:
                    found.append(entry)
        return found

    def fragments_lost(self) -> dict | None:
        """Sizes whose replies came back only as first fragments (and never whole), or None."""
        sizes = sorted(s for s, st in self.sizes.items() if st.partial and not st.passes)
        if not sizes:
            return None
        return {"sizes": sizes, "smallest": sizes[0], "from": self.sizes[sizes[0]].partial_from}

    def _unreached(self, res: dict) -> dict:
        kinds = {a.kind for a in self.errors}
        if PROHIBITED in kinds:
            err = next(a for a in self.errors if a.kind == PROHIBITED)
            res["status"] = "filtered"
            res["reason"] = f"administratively prohibited (ICMP code {err.code}) by {err.source}"
        elif UNREACH in kinds:
            err = next(a for a in self.errors if a.kind == UNREACH)
            res["reason"] = f"destination unreachable (ICMP code {err.code}) from {err.source}"
        else:
            res["reason"] = f"no answer to {self.control_passes or self.tries * self.rounds} small probes"
        return res

    def _hop(self) -> dict | None:
        if self.hop_proxy is not None:
            hop = self.hop_proxy._hop()
            return {**hop, "shared": True} if hop else None
        big = self.first_fail()
        if big is not None and self.sizes[big].partial:
            # The requests reached the target (it answered); TTL-limited probes cannot see the way back.
            return {"ttl": None, "address": None, "located": False, "method": "fragments",
                    "last_answered": None, "silent_ttls": []}
        if not self.hop_outcomes:
            return None
        return locate_hop(self.hop_outcomes)

    def hop_signature(self) -> tuple | None:
        """Paths with the same signature (and network) very likely die at the same hop.

        None when this path will not send hop probes next round.
        """
        if not self.locate_hop or self.hop_probed or self._done or not self.reached():
            return None
        big = self.first_fail()
        if big is None or self.sizes[big].ptb or self.sizes[big].partial or any(st.ptb for st in self.sizes.values()):
            return None
        return (self.family, self.max_pass(), big, self.reply_ttl)


def unclear(verdict: dict) -> bool:
    """A verdict worth a second run: no answer at all (a tunnel still handshaking, lost control
    probes), or a black hole whose boundary was not confirmed."""
    return verdict["status"] in ("unreachable", "filtered") or (verdict["status"] == "black_hole" and not verdict["exact"])


def _by_ttl(outcomes: Iterable[Outcome]) -> dict[int, dict[str, list[Answer]]]:
    """Per TTL, the answers that show a probe got that far: the hop's time-exceeded, or the target's own."""
    by_ttl: dict[int, dict[str, list[Answer]]] = {}
    for probe, answers in outcomes:
        slot = by_ttl.setdefault(probe.ttl or 0, {HOP_BIG: [], HOP_SMALL: []})
        # Half a reply (PARTIAL) still proves the request reached the target.
        slot[probe.role].extend(a for a in answers if a.kind in (TTL_EXCEEDED, ECHO, PARTIAL))
    return by_ttl


def _die_ttl(by_ttl: dict[int, dict[str, list[Answer]]]) -> int | None:
    """First TTL where the small probe got an answer and the big one never did (and no later big did)."""
    die_ttl = None
    for ttl in sorted(by_ttl):
        slot = by_ttl[ttl]
        if die_ttl is None and slot[HOP_SMALL] and not slot[HOP_BIG]:
            die_ttl = ttl
        if slot[HOP_BIG] and die_ttl is not None and ttl > die_ttl:
            die_ttl = None  # a later big answer contradicts the earlier silence (loss): keep looking
    return die_ttl


def locate_hop(outcomes: Iterable[Outcome]) -> dict:
    """Where big packets die, from TTL-limited big/small probe pairs (of one or more rounds).

    The hop is the last one that big probes reach (its time-exceeded names it): the first TTL
    at which the big probe is silent while the small one is answered is one beyond it. TTL 0
    means the probes die before the first hop (the first hop answered the small probes only).

    ``located`` is true only when the hop right before that silence answered a big probe. When it
    is false, ``ttl``/``address`` are the last hop big probes are known to reach (None when none
    answered: nothing is made up), ``last_answered`` the farthest router that answered at all
    before the silence, and ``silent_ttls`` the TTLs that never answered (rate-limited or
    filtered routers).
    """
    by_ttl = _by_ttl(outcomes)
    die_ttl = _die_ttl(by_ttl)
    before = [t for t in sorted(by_ttl) if t > 0 and (die_ttl is None or t < die_ttl)]
    reached = [t for t in before if any(a.kind == TTL_EXCEEDED for a in by_ttl[t][HOP_BIG])]
    answered = [t for t in before if any(a.kind == TTL_EXCEEDED for a in by_ttl[t][HOP_BIG] + by_ttl[t][HOP_SMALL])]
    silent = [t for t in before if not by_ttl[t][HOP_BIG] and not by_ttl[t][HOP_SMALL]]
    if die_ttl is not None and (die_ttl == 1 or reached[-1:] == [die_ttl - 1]):
        ttl: int | None = die_ttl - 1
        located = True
    else:
        ttl = reached[-1] if reached else None
        located = False
    last = answered[-1] if answered else None
    return {
        "ttl": ttl,
        "address": _hop_address(by_ttl, ttl) if ttl else None,
        "located": located,
        "method": "ttl",
        "last_answered": {"ttl": last, "address": _hop_address(by_ttl, last)} if last else None,
        "silent_ttls": silent,
        # Every router that answered on the way, nearest first: who an ICMP error coming back crosses.
        "route": [{"ttl": t, "address": _hop_address(by_ttl, t)} for t in answered],
    }


def _hop_address(by_ttl: dict[int, dict[str, list[Answer]]], ttl: int) -> str | None:
    answers = by_ttl[ttl][HOP_BIG] + by_ttl[ttl][HOP_SMALL]
    return answers[0].source if answers else None


def hop_retry_ttls(outcomes: Iterable[Outcome], limit: int) -> list[int]:
    """TTLs whose probes met only silence and that could still move the answer of locate_hop.

    Up to the TTL where big probes are known to die (or, when that is not known, up to the
    target or ``limit``), every TTL where neither the big nor the small probe was answered: a
    router that rate-limits time-exceeded looks exactly like that, and one second later it has
    a token again. Nothing when the hop is located.
    """
    outcomes = list(outcomes)
    hop = locate_hop(outcomes)
    if hop["located"]:
        return []
    by_ttl = _by_ttl(outcomes)
    die_ttl = _die_ttl(by_ttl)
    target = min((t for t, slot in by_ttl.items() if any(a.kind == ECHO for a in slot[HOP_SMALL])), default=None)
    top = die_ttl or target or limit + 1
    low = (hop["ttl"] or 0) + 1
    return [t for t in range(low, top) if t in by_ttl and not by_ttl[t][HOP_BIG] and not by_ttl[t][HOP_SMALL]]


SendRound = Callable[[list[tuple[str, Probe]], "RoundEnds"], dict[str, list[Outcome]]]


class RoundEnds:
    """The ``settled`` hook of one round: when the round may end for every path in it.

    ``ends`` holds each path's ``PathSearch.round_end``; a call recomputes those of the ``changed``
    paths (all when None) and returns the latest. The prober ends the round then or at its loss
    timeout, whichever comes first, and calls again when answers arrive. Only paths with new answers
    are looked at again: a round of a thousand paths is called back hundreds of times.
    """

    def __init__(self, searches: dict, active: Iterable) -> None:
        self.searches = searches
        self.ends: dict = {key: math.inf for key in active}

    def __call__(self, partial: dict, changed: Iterable | None = None) -> float:
        keys = self.ends.keys() if changed is None else [k for k in changed if k in self.ends]
        for key in keys:
            self.ends[key] = self.searches[key].round_end(partial.get(key, []))
        return max(self.ends.values(), default=-math.inf)


def share_hop_probes(searches: dict, group_of: Callable) -> None:
    """Let one path per group send the TTL-limited probes; the others reuse its answer.

    Routers answer only a few time-exceeded per second to one peer: 64 black-holed targets
    behind one router, each probing every TTL, would mostly hear silence.
    """
    leaders: dict = {}
    for key, search in searches.items():
        sig = search.hop_signature()
        if sig is None:
            continue
        group = (sig, group_of(key))
        if group in leaders:
            search.hop_probed = True
            search.hop_proxy = leaders[group]
        else:
            leaders[group] = search


def run_search(searches: dict, send_round: SendRound, clock: Callable[[], float] | None = None,
               sleep: Callable[[float], None] | None = None, group_of: Callable | None = None) -> int:
    """Drive all searches in lock-step rounds; every path's probes of a round fly together.

    ``send_round(batch, settled)`` sends ``batch`` (key, probe) pairs, calls
    ``settled(partial_outcomes_by_key, changed_keys)`` as answers arrive (a ``RoundEnds``: it returns
    when the round may end; the loss timeout is only the ceiling), and returns the outcomes by key.
    ``clock``/``sleep`` pace searches with an answer budget; ``group_of(key)`` names the network of a path, for sharing hop probes (see share_hop_probes).
    Returns the number of rounds sent.
    """
    sent = 0
    while True:
        now = clock() if clock else 0.0
        wait = max((s.delay(now) for s in searches.values()), default=0.0)
        if wait > 0 and sleep and clock:
            sleep(wait)
            now = clock()
        if group_of is not None:
            share_hop_probes(searches, group_of)
        plans = {key: s.plan(now) for key, s in searches.items()}
        batch = [(key, p) for key, probes in plans.items() for p in probes]
        if not batch:
            return sent
        active = [key for key, probes in plans.items() if probes]
        outcomes = send_round(batch, RoundEnds(searches, active))
        sent += 1
        for key in active:
            searches[key].record(outcomes.get(key, []))
