"""Retry policy: exponential backoff with full jitter, bounded by a deadline per window."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying the conversations a request failed to set.

    Full jitter (a uniform draw up to the exponential bound) spreads retries of many workers
    hit by the same outage, so they do not return in lockstep.
    """

    base_s: float = 0.1
    cap_s: float = 5.0
    deadline_s: float = 30.0

    def delay(self, attempt: int, draw: float) -> float:
        """Wait before attempt ``attempt + 1`` given a uniform ``draw`` in [0, 1)."""
        bound = min(self.cap_s, self.base_s * float(2 ** min(max(0, attempt - 1), 62)))
        return draw * bound

    def allows(self, started: float, now: float, delay: float) -> bool:
        """Whether a retry after ``delay`` still starts before the deadline."""
        return now + delay < started + self.deadline_s
