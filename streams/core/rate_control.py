"""How fast one worker may call the IM: evenly paced slots at a rate its policy sets.

The IM's quota is app-wide and counted in fixed 1-second buckets; a request beyond it is answered
60007 (or a kin code) and applies nothing. Each worker paces its requests evenly (burst 1: idle
time banks nothing) at the rate of one of two policies (``STREAMS_RATE_CONTROL``):

* :class:`FixedShare` (``fixed``), a baseline to compare with: the budget times the worker's
  share of the partitions; after a frequency-limit answer it pauses 1 s, halves its rate and
  climbs back to the share over 5 s. A hot worker cannot use an idle one's share, and a budget
  above the real quota never converges.
* :class:`Adaptive` (``adaptive``), AIMD with slow start (docs/PERFORMANCE.md, "Rate control"):
  it starts at the share and doubles per second until the first frequency limit or the budget,
  then grows additively, and only while requests wait for it (budget-bound); the first frequency
  limit of a round (1 s, the server's bucket) cuts it multiplicatively, harder when the last cut
  did not suffice. It never exceeds the configured budget, however idle the other workers are.

Pure: every method takes ``now``. The async face in :mod:`streams.request_budget` sleeps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

#: The server counts in fixed 1-second buckets: frequency-limit answers within a round of the one
#: that cut the rate are the same congestion signal (requests already sent into a spent bucket).
ROUND_S = 1.0
#: Multiplicative decrease per signal; a signal in the round right after the last one's (the cut
#: did not suffice) squares the factor, down to MIN_DECREASE: 0.9, 0.81, 0.66, 0.5, ... A worker
#: whose room is what the others leave sees it move by ~10 % from second to second (their own
#: demand's noise), and is cut at each peak of theirs: the shallower the cut, the more of the
#: mean room it keeps (0.85 kept 92 % of the quota in the simulation of bench (f), 0.9 95 %).
DECREASE = 0.9
MIN_DECREASE = 0.5
#: Additive increase per second of budget-bound sending, as a share of the rate the quota was last
#: hit at (at most of the partition share, so hot workers grow alike: AIMD's fairness): back at
#: the limit ~2 s after a cut.
INCREASE = 0.05
#: Slow start: each budget-bound success adds this many requests/s, so the rate grows by this
#: share of itself per second of budget-bound sending: ln 2, x2 per second (TCP doubles its window
#: per round trip; the IM's round is its 1-second bucket), so a hot worker of four reaches the
#: whole budget in 2 s, of eight in 3 s.
SLOW_START_GAIN = math.log(2)
#: Back to slow start after this long at or above the last limit without a new signal: the quota
#: grew or other workers went quiet, and additive steps would take ~20 s to double the rate. Two
#: rounds, not one: a worker whose room is noisy crosses its last limit in a quiet second, and
#: doubling from there costs a burst of refusals at the next busy one.
PROBE_AFTER_S = 2 * ROUND_S
#: After a frequency-limit answer the next request waits at least this long: the bucket it landed
#: in is spent, and sending on would only collect more of them. Each further one to a request sent
#: after the hold, before a success, doubles it, up to a round: a few answers per spent bucket.
HOLD_S = 0.1
#: The lowest rate a frequency limit can push a worker to (or its ceiling, if lower).
MIN_RATE = 1.0
#: How far behind its wake-up a waiting request's slot may be (:meth:`Pacer.take_due`): a late
#: wake-up of a few milliseconds is made up, a longer stall of the event loop is not (at 200/s
#: at most 10 requests close together, well inside a 1-second bucket).
CATCH_UP_S = 0.05

#: (fixed) After a frequency-limit answer: pause, then resume at this share of the rate, climbing
#: back linearly over RECOVERY_S.
PENALTY_PAUSE_S = 1.0
PENALTY_FACTOR = 0.5
RECOVERY_S = 5.0


class RateControl(StrEnum):
    """Which policy sets a worker's request rate."""

    ADAPTIVE = "adaptive"
    FIXED = "fixed"


@dataclass(slots=True)
class Pacer:
    """Evenly spaced request slots (burst 1): the next one is due ``1 / rate`` after the last.

    A request that finds its slot free takes it now: idle time banks nothing. One that waited
    takes the slot it waited for (:meth:`take_due`), not the moment its sleep ended: on a busy
    event loop a wake-up is late by a fraction of a millisecond to a few, and counting every
    interval from the wake-up sent up to a third below the rate at ~100/s on two loaded cores
    (docs/PERFORMANCE.md, "Rate control"). Catching up is bounded by CATCH_UP_S, so a stalled
    loop costs slots instead of releasing a burst.
    """

    last: float = float("-inf")
    #: No slot before this (a hold after a frequency limit).
    hold_until: float = float("-inf")

    def due(self, rate: float) -> float:
        """When the next slot at ``rate`` is due."""
        return max(self.last + 1.0 / rate, self.hold_until)

    def wait(self, now: float, rate: float) -> float:
        """Seconds until the next slot at ``rate`` (0 when free now)."""
        return max(0.0, self.due(rate) - now)

    def take(self, now: float) -> None:
        """A request that found its slot free is sent now."""
        self.last = now

    def take_due(self, now: float, rate: float) -> None:
        """A request that waited for its slot is sent now, in the slot it waited for."""
        self.last = min(now, max(self.due(rate), now - CATCH_UP_S))

    def hold(self, until: float) -> None:
        """No slot before ``until``."""
        self.hold_until = max(self.hold_until, until)


class RatePolicy(Protocol):
    """What sets a worker's rate from the answers it gets."""

    def rate(self, now: float) -> float:
        """Requests per second allowed at ``now``."""
        ...

    def restart(self, share: float) -> None:
        """The partitions moved: ``share`` is the worker's part of the budget now."""
        ...

    def succeeded(self, now: float, bound: bool) -> None:
        """A request was answered without a frequency limit; ``bound``: it waited for its slot."""
        ...

    def limited(self, now: float, pacer: Pacer) -> None:
        """A request was answered with a frequency limit."""
        ...


@dataclass(slots=True)
class FixedShare:
    """The budget's partition share, paused and halved after each frequency limit."""

    share: float
    penalized_at: float | None = None

    def rate(self, now: float) -> float:
        if self.penalized_at is None:
            return self.share
        recovered = (now - self.penalized_at) / RECOVERY_S
        if recovered >= 1:
            self.penalized_at = None
            return self.share
        return self.share * (PENALTY_FACTOR + (1 - PENALTY_FACTOR) * max(0.0, recovered))

    def restart(self, share: float) -> None:
        self.share = share

    def succeeded(self, now: float, bound: bool) -> None:
        """The share does not move with successes."""

    def limited(self, now: float, pacer: Pacer) -> None:
        self.penalized_at = now + PENALTY_PAUSE_S
        pacer.hold(now + PENALTY_PAUSE_S)


@dataclass(slots=True)
class Adaptive:
    """AIMD between MIN_RATE and ``ceiling`` (the configured budget), from slow start at a share.

    Slow start multiplies the rate (x2 per second of budget-bound sending, as TCP doubles its
    window per round trip) until the first frequency limit or the budget; then the additive
    phase. A limit during slow start cuts from what the IM accepted over the last round, not
    from the rate reached when the answer came (up to twice that), so one cut lands near the
    room instead of a streak of them overshooting and undershooting it. At or above the last
    limit for PROBE_AFTER_S without a new signal, the quota has room the last limit did not
    show (it grew, or other workers went quiet): slow start again.
    """

    ceiling: float
    #: This worker's partition share of the budget: where slow start begins.
    share: float
    current: float = field(init=False)
    slow_start: bool = field(init=False)
    #: The rate at the last signal, before its cut (infinite before the first).
    limit: float = field(init=False)
    #: When the additive phase last reached ``limit`` without a signal since (None: below it).
    above_since: float | None = field(init=False)
    #: Additive increase per second of budget-bound sending (set by each cut).
    step: float = 0.0
    #: Frequency-limit answers before this belong to the last signal.
    round_ends: float = float("-inf")
    #: Signals in consecutive rounds before this one.
    streak: int = 0
    #: The hold after the next frequency-limit answer.
    hold_s: float = HOLD_S
    #: When the requests the IM accepted in the last round were answered.
    accepted: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.restart(self.share)

    def rate(self, now: float) -> float:
        return self.current

    def restart(self, share: float) -> None:
        """Slow start again from ``share`` (a rebalance: the partitions' load moved)."""
        self.share = share
        self.current = min(self.ceiling, max(MIN_RATE, share))
        self.slow_start = self.current < self.ceiling
        self.limit = float("inf")
        self.above_since = None
        self.streak = 0

    def succeeded(self, now: float, bound: bool) -> None:
        self.hold_s = HOLD_S
        self.accepted.append(now)
        self._forget(now)
        if not bound:
            return  # not using what it has: no reason to ask for more
        if self.slow_start:
            # +g per success at r requests/s is x e^g per second: g = ln 2 doubles it.
            self.current = min(self.ceiling, self.current + SLOW_START_GAIN)
            self.slow_start = self.current < self.ceiling
            return
        self.current = min(self.ceiling, self.current + self.step / self.current)
        if self.current < self.limit:
            self.above_since = None
        elif self.above_since is None:
            self.above_since = now
        elif now - self.above_since >= PROBE_AFTER_S:
            self.slow_start = self.current < self.ceiling

    def limited(self, now: float, pacer: Pacer) -> None:
        if now >= pacer.hold_until:  # not an answer to a request sent before the last hold
            pacer.hold(now + self.hold_s)
            self.hold_s = min(ROUND_S, 2 * self.hold_s)
        if now < self.round_ends:
            return  # the same signal as the last cut
        self.streak = self.streak + 1 if now < self.round_ends + ROUND_S else 0
        factor = max(MIN_DECREASE, DECREASE ** (2**self.streak))
        self.limit = self.current
        if self.slow_start:  # accepted over the round, not below what one deepest cut leaves
            self._forget(now)
            delivered = len(self.accepted) / ROUND_S
            self.limit = min(self.limit, max(delivered, MIN_DECREASE * self.limit))
        self.step = INCREASE * min(self.share, self.limit)
        self.current = max(min(MIN_RATE, self.ceiling), self.limit * factor)
        self.slow_start = False
        self.above_since = None
        self.round_ends = now + ROUND_S

    def _forget(self, now: float) -> None:
        """Drop the accepted requests older than a round."""
        while self.accepted and self.accepted[0] <= now - ROUND_S:
            self.accepted.popleft()


def policy(control: RateControl, ceiling: float, share: float) -> RatePolicy:
    """The policy ``control`` names, starting at ``share`` and never above ``ceiling``."""
    if control is RateControl.FIXED:
        return FixedShare(share)
    return Adaptive(ceiling=ceiling, share=share)
