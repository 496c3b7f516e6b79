"""The async face of the token bucket: one per worker, its rate a share of the app budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streams.core.token_bucket import TokenBucket

#: Keep a little under the server's fixed 1-second buckets: evenly spaced requests can land
#: rate + 1 in one bucket when the phase lines up with its boundary.
SAFETY = 0.98


def budget_share(budget: float, owned: int, total: int) -> float:
    """This worker's requests per second: the app budget times its share of partitions."""
    if total <= 0 or owned <= 0:
        return budget * SAFETY
    return budget * SAFETY * owned / total


class RateLimiter:
    """Waits for request slots; reports frequency-limit answers to back off."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._bucket = TokenBucket(rate=rate)
        self._clock = clock
        #: Total seconds spent waiting for slots (for metrics).
        self.waited_s = 0.0

    @property
    def rate(self) -> float:
        """The configured share (before any penalty)."""
        return self._bucket.rate

    def set_rate(self, rate: float) -> None:
        """Apply a new budget share after a rebalance."""
        self._bucket.set_rate(rate)

    async def acquire(self) -> None:
        """Wait until this worker may send its next request."""
        delay = self._bucket.reserve(self._clock())
        if delay > 0:
            self.waited_s += delay
            await asyncio.sleep(delay)

    def frequency_limited(self) -> None:
        """The server answered 60007/60011/60018/60019: pause and slow down."""
        self._bucket.penalize(self._clock())
