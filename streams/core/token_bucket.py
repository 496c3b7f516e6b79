"""Token bucket (burst 1) for the app-wide IM request budget, with backoff on frequency limits.

Pure: every method takes ``now``. The async wrapper in :mod:`streams.request_budget` sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass

#: After a frequency-limit answer the rate drops to this share and climbs back linearly.
PENALTY_FACTOR = 0.5
RECOVERY_S = 5.0
#: Pause after a frequency-limit answer: the server counts in fixed 1-second buckets.
PENALTY_PAUSE_S = 1.0


@dataclass(slots=True)
class TokenBucket:
    """Reserve request slots at ``rate`` per second, spaced evenly (burst 1)."""

    rate: float
    next_free: float = 0.0
    penalized_at: float | None = None

    def effective_rate(self, now: float) -> float:
        """The rate in force at ``now``: reduced after a penalty, recovering over RECOVERY_S."""
        if self.penalized_at is None:
            return self.rate
        recovered = (now - self.penalized_at) / RECOVERY_S
        if recovered >= 1:
            self.penalized_at = None
            return self.rate
        return self.rate * (PENALTY_FACTOR + (1 - PENALTY_FACTOR) * max(0.0, recovered))

    def reserve(self, now: float) -> float:
        """Take the next slot; return how long to wait for it (0 when free now)."""
        start = max(now, self.next_free)
        self.next_free = start + 1.0 / self.effective_rate(start)
        return start - now

    def penalize(self, now: float) -> None:
        """The server said "too frequent": pause, then resume at a reduced rate."""
        self.penalized_at = now + PENALTY_PAUSE_S
        self.next_free = max(self.next_free, now + PENALTY_PAUSE_S)

    def set_rate(self, rate: float) -> None:
        """New share of the budget (after a rebalance)."""
        self.rate = rate
