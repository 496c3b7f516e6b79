"""The shared-quota scenarios (f), (g), (h) and their run lengths."""

from __future__ import annotations

from dataclasses import dataclass

from streams.contract.limits import REQUESTS_PER_SECOND
from streams.core.rate_control import RateControl

QUOTA = REQUESTS_PER_SECOND
#: The two policies every scenario runs with, in this order.
CONTROLS = (RateControl.FIXED, RateControl.ADAPTIVE)


@dataclass(frozen=True)
class Scenario:
    """One shared-quota configuration."""

    key: str
    title: str
    workers: int
    partitions: int
    #: STREAMS_RATE_LIMIT.
    budget: float
    #: Events (= requests) per second published.
    demand: float
    duration_s: float
    #: Share of the events on the first worker's partitions (None: uniform over partitions).
    hot_share: float | None = None
    #: (second, emulator limit) changes after the start, through POST /debug/knobs.
    quota_steps: tuple[tuple[float, int], ...] = ()
    #: Seconds of demand published at once before the paced stream: a backlog from the start,
    #: so the workers send at their own rate limits at once (a restart after an outage).
    prefill_s: float = 0.0

    def quota(self, second: float) -> int:
        """The emulator's limit in force at ``second`` of the demand."""
        limit = QUOTA
        for at, value in self.quota_steps:
            if second >= at:
                limit = value
        return limit


@dataclass(frozen=True)
class Sizes:
    """Run lengths: quick (about 10 minutes for the three on Kafka: every run also starts its
    workers, waits for the group to settle and stops them) or full (about 16)."""

    skew_s: float
    budget_s: float
    #: Length of each of (h)'s three phases: the quota, its half, the quota again.
    phase_s: float


QUICK = Sizes(skew_s=35, budget_s=35, phase_s=20)
FULL = Sizes(skew_s=75, budget_s=75, phase_s=35)


def scenarios(sizes: Sizes) -> list[Scenario]:
    """(f), (g), (h) at ``sizes``."""
    p = sizes.phase_s
    return [
        Scenario(
            "f",
            "skew: one worker's partitions carry 70 % of the demand",
            workers=4,
            partitions=8,
            budget=QUOTA,
            demand=1.5 * QUOTA,
            duration_s=sizes.skew_s,
            hot_share=0.7,
        ),
        Scenario(
            "g",
            "misconfigured budget: STREAMS_RATE_LIMIT five times the quota",
            workers=2,
            partitions=8,
            budget=5 * QUOTA,
            demand=1.5 * QUOTA,
            duration_s=sizes.budget_s,
            prefill_s=10,
        ),
        Scenario(
            "h",
            "the quota halved, then restored (emulator's live knobs)",
            workers=4,
            partitions=8,
            budget=QUOTA,
            demand=1.5 * QUOTA,
            duration_s=3 * p,
            quota_steps=((p, QUOTA // 2), (2 * p, QUOTA)),
        ),
    ]
