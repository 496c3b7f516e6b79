"""How fast one worker may call the IM: evenly paced slots at a rate its policy sets.

The IM's quota is app-wide and counted in fixed 1-second buckets; a request beyond it is answered
60007 (or a kin code) and applies nothing. Each worker paces its requests evenly (burst 1: idle
time banks nothing) at the rate of one of two policies (``STREAMS_RATE_CONTROL``):

* :class:`FixedShare` (``fixed``), the old split: the budget times the worker's share of the
  partitions; after a frequency-limit answer it pauses 1 s, halves its rate and climbs back to the
  share over 5 s. A hot worker cannot use an idle one's share, and a budget above the real quota
  never converges.
* :class:`Adaptive` (``adaptive``), AIMD with slow start (docs/PERFORMANCE.md, "Rate control"):
  it starts at the share and grows multiplicatively until the first frequency limit, then
  additively, and only while requests wait for it (budget-bound); the first frequency limit of a
  round (1 s, the server's bucket) cuts it multiplicatively, harder when the last cut did not
  suffice. It never exceeds the configured budget, however idle the other workers are.

Pure: every method takes ``now``. The async face in :mod:`streams.request_budget` sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

#: The server counts in fixed 1-second buckets: frequency-limit answers within a round of the one
#: that cut the rate are the same congestion signal (requests already sent into a spent bucket).
ROUND_S = 1.0
#: Multiplicative decrease per signal; a signal in the round right after the last one's (the cut
#: did not suffice) squares the factor, down to MIN_DECREASE: 0.85, 0.72, 0.52, 0.5, ...
DECREASE = 0.85
MIN_DECREASE = 0.5
#: Additive increase per second of budget-bound sending, as a share of the rate the quota was last
#: hit at (at most of the partition share, so hot workers grow alike: AIMD's fairness): back at
#: the limit ~5 s after a cut.
INCREASE = 0.03
#: Back to slow start once the rate is this far above the last limit without a new one: the
#: quota grew or other workers went quiet, and additive steps would take long to find out.
REPROBE = 1.2
#: Slow start: each budget-bound success adds this many requests/s, so the rate grows by this
#: share of itself per second of budget-bound sending (x1.65 per second).
SLOW_START_GAIN = 0.5
#: After a frequency-limit answer the next request waits at least this long: the bucket it landed
#: in is spent, and sending on would only collect more of them. Each further one to a request sent
#: after the hold, before a success, doubles it, up to a round: a few answers per spent bucket.
HOLD_S = 0.1
#: The lowest rate a frequency limit can push a worker to (or its ceiling, if lower).
MIN_RATE = 1.0

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
    """Evenly spaced request slots (burst 1): the next one is free ``1 / rate`` after the last."""

    last: float = float("-inf")
    #: No slot before this (a hold after a frequency limit).
    hold_until: float = float("-inf")

    def wait(self, now: float, rate: float) -> float:
        """Seconds until the next slot at ``rate`` (0 when free now)."""
        return max(0.0, self.last + 1.0 / rate - now, self.hold_until - now)

    def take(self, now: float) -> None:
        """A request is sent now."""
        self.last = now

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
    """AIMD between MIN_RATE and ``ceiling`` (the configured budget), from slow start at a share."""

    ceiling: float
    #: This worker's partition share of the budget: where slow start begins.
    share: float
    current: float = field(init=False)
    slow_start: bool = field(init=False)
    #: The rate at the last signal, before its cut (infinite before the first).
    limit: float = field(init=False)
    #: Additive increase per second of budget-bound sending (set by each cut).
    step: float = 0.0
    #: Frequency-limit answers before this belong to the last signal.
    round_ends: float = float("-inf")
    #: Signals in consecutive rounds before this one.
    streak: int = 0
    #: The hold after the next frequency-limit answer.
    hold_s: float = HOLD_S

    def __post_init__(self) -> None:
        self.restart(self.share)

    def rate(self, now: float) -> float:
        return self.current

    def restart(self, share: float) -> None:
        """Slow start again from ``share`` (a rebalance: the partitions' load moved)."""
        self.share = share
        self.current = min(self.ceiling, max(MIN_RATE, share))
        self.slow_start = True
        self.limit = float("inf")
        self.streak = 0

    def succeeded(self, now: float, bound: bool) -> None:
        self.hold_s = HOLD_S
        if not bound:
            return  # not using what it has: no reason to ask for more
        if not self.slow_start and self.current > REPROBE * self.limit:
            self.slow_start = True
        grown = SLOW_START_GAIN if self.slow_start else self.step / self.current
        self.current = min(self.ceiling, self.current + grown)

    def limited(self, now: float, pacer: Pacer) -> None:
        if now >= pacer.hold_until:  # not an answer to a request sent before the last hold
            pacer.hold(now + self.hold_s)
            self.hold_s = min(ROUND_S, 2 * self.hold_s)
        if now < self.round_ends:
            return  # the same signal as the last cut
        self.streak = self.streak + 1 if now < self.round_ends + ROUND_S else 0
        factor = max(MIN_DECREASE, DECREASE ** (2**self.streak))
        self.limit = self.current
        self.step = INCREASE * min(self.share, self.current)
        self.current = max(min(MIN_RATE, self.ceiling), self.current * factor)
        self.slow_start = False
        self.round_ends = now + ROUND_S


def policy(control: RateControl, ceiling: float, share: float) -> RatePolicy:
    """The policy ``control`` names, starting at ``share`` and never above ``ceiling``."""
    if control is RateControl.FIXED:
        return FixedShare(share)
    return Adaptive(ceiling=ceiling, share=share)
