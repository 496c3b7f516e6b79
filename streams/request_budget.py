"""The async face of a worker's request rate: waits for slots, hears how the requests went.

The policy (:mod:`streams.core.rate_control`) sets the rate; this class makes the requests wait
for their slots one at a time, in arrival order, so a rate cut applies to every request not yet
sent (none holds a slot reserved at the old rate), and keeps the figures the metrics read. A
request that waited is sent in the slot it waited for, whenever its sleep ended
(:meth:`~streams.core.rate_control.Pacer.take_due`): a late wake-up does not lower the rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streams.core.rate_control import Pacer, RateControl, policy

#: Keep a little under the server's fixed 1-second buckets: evenly spaced requests can land
#: rate + 1 in one bucket when the phase lines up with its boundary.
SAFETY = 0.98


def budget_share(budget: float, owned: int, total: int) -> float:
    """This worker's part of the app budget by partitions (all of it before an assignment)."""
    if total <= 0 or owned <= 0:
        return budget * SAFETY
    return budget * SAFETY * owned / total


class RateLimiter:
    """Paces one worker's IM requests under the app-wide budget (requests per second)."""

    def __init__(
        self,
        budget: float,
        *,
        control: RateControl = RateControl.ADAPTIVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self._policy = policy(control, budget * SAFETY, budget_share(budget, 0, 0))
        self._pacer = Pacer()
        self._clock = clock
        self._turn = asyncio.Lock()
        self._waiting = 0
        self._bound_since = 0.0
        self._bound_s = 0.0
        #: Seconds requests spent waiting for slots, summed over the requests.
        self.waited_s = 0.0
        #: Frequency-limit answers heard.
        self.frequency_limits = 0
        #: Requests that ended, whatever their answer: progress inside a window, which a
        #: budget-bound backlog can keep going for minutes (the liveness probe reads it).
        self.requests_done = 0

    def rate(self) -> float:
        """Requests per second this worker allows itself now."""
        return self._policy.rate(self._clock())

    def restart(self, share: float) -> None:
        """The partitions moved: start again from this share of the budget."""
        self._policy.restart(share)

    @property
    def bound_s(self) -> float:
        """Seconds during which requests waited for a slot (budget-bound), so far."""
        if self._waiting:
            return self._bound_s + self._clock() - self._bound_since
        return self._bound_s

    async def acquire(self) -> bool:
        """Wait until this worker may send its next request; True when it had to wait."""
        arrived = self._clock()
        if not self._turn.locked() and self._pacer.wait(arrived, self._policy.rate(arrived)) <= 0:
            self._pacer.take(arrived)
            return False
        if not self._waiting:
            self._bound_since = arrived
        self._waiting += 1
        try:
            async with self._turn:
                now = self._clock()
                while (delay := self._pacer.wait(now, rate := self._policy.rate(now))) > 0:
                    await asyncio.sleep(delay)
                    now = self._clock()
                self._pacer.take_due(now, rate)
        finally:
            now = self._clock()
            self.waited_s += now - arrived
            self._waiting -= 1
            if not self._waiting:
                self._bound_s += now - self._bound_since
        return True

    def succeeded(self, waited: bool) -> None:
        """A request was answered without a frequency limit (``waited``: from acquire)."""
        self._policy.succeeded(self._clock(), waited)

    def frequency_limited(self) -> None:
        """The server answered 60007/60011/60018/60019: back off."""
        self.frequency_limits += 1
        self._policy.limited(self._clock(), self._pacer)
