"""A simulated shared IM quota: workers pacing with a rate policy against fixed 1-second buckets.

The server counts requests per whole second like the emulator (``rate_limit``) and answers the
ones beyond its quota with a frequency limit, applying nothing. Each worker has a demand (requests
per second arriving, released in windows like the pipeline's), at most ``concurrency`` requests
in flight, answers after ``latency_s``, and sends every rejected request again. Event-driven:
two minutes of four workers at 100 requests/s take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streams.core.rate_control import Pacer, RatePolicy

#: (from second, requests/s) steps; the last one lasts to the end.
Steps = Sequence[tuple[float, float]]


def arrived(steps: Steps, t: float) -> float:
    """Requests arrived by ``t`` under piecewise-constant demand."""
    total = 0.0
    for (start, rate), nxt in zip(steps, [*steps[1:], (math.inf, 0.0)], strict=True):
        if t <= start:
            break
        total += rate * (min(t, nxt[0]) - start)
    return total


@dataclass
class Server:
    """Fixed 1-second buckets: at most ``quota(now)`` requests are admitted per whole second."""

    quota: Callable[[float], float]
    second: int = -1
    count: int = 0

    def admit(self, now: float) -> bool:
        if int(now) != self.second:
            self.second, self.count = int(now), 0
        self.count += 1
        return self.count <= self.quota(now)


@dataclass
class SimWorker:
    policy: RatePolicy
    demand: Steps
    window_s: float = 0.25
    #: Where this worker's windows start within the second (workers are not in step).
    phase_s: float = 0.0
    pacer: Pacer = field(default_factory=Pacer)
    taken: int = 0  # requests taken from the arrivals (sent at least once)
    retry: int = 0  # rejected requests waiting to be sent again
    #: (answer at, ok, waited for its slot) of each request in flight.
    in_flight: list[tuple[float, bool, bool]] = field(default_factory=list)
    head_bound: bool = False
    #: Per whole second: [sent, accepted, rejected, rate at the second's end].
    seconds: dict[int, list[float]] = field(default_factory=dict)

    def _windows(self, now: float) -> int:
        """Windows started by ``now`` (the tolerance keeps a window's own start inside it)."""
        return math.floor((now - self.phase_s) / self.window_s + 1e-9)

    def backlog(self, now: float) -> int:
        released = self._windows(now) * self.window_s + self.phase_s
        return int(arrived(self.demand, released) + 1e-9) - self.taken + self.retry

    def next_release(self, now: float) -> float:
        """When the next window releases the requests that arrived meanwhile."""
        return (self._windows(now) + 1) * self.window_s + self.phase_s

    def second(self, now: float) -> list[float]:
        return self.seconds.setdefault(int(now), [0, 0, 0, 0.0])


def simulate(
    workers: Sequence[SimWorker],
    server: Server,
    duration_s: float,
    *,
    latency_s: float = 0.02,
    concurrency: int = 32,
) -> None:
    """Run until ``duration_s``; the figures are in each worker's ``seconds``."""
    now = 0.0
    while now < duration_s:
        upcoming: list[tuple[float, int]] = []
        for index, w in enumerate(workers):
            if w.in_flight:
                upcoming.append((w.in_flight[0][0], index))
            if len(w.in_flight) >= concurrency:
                continue
            if w.backlog(now) > 0:
                wait = w.pacer.wait(now, w.policy.rate(now))
                w.head_bound = w.head_bound or wait > 0
                upcoming.append((now + wait, index))
            else:
                upcoming.append((w.next_release(now), index))
        now, index = min(upcoming)
        w = workers[index]
        while w.in_flight and w.in_flight[0][0] <= now:
            _, ok, bound = w.in_flight.pop(0)
            if ok:
                w.policy.succeeded(now, bound)
            else:
                w.policy.limited(now, w.pacer)
                w.retry += 1
        if (
            len(w.in_flight) < concurrency
            and w.backlog(now) > 0
            and w.pacer.wait(now, w.policy.rate(now)) <= 1e-12
        ):
            w.pacer.take(now)
            if w.retry:
                w.retry -= 1
            else:
                w.taken += 1
            ok = server.admit(now)
            w.in_flight.append((now + latency_s, ok, w.head_bound))
            w.head_bound = False
            second = w.second(now)
            second[0] += 1
            second[1 if ok else 2] += 1
        w.second(now)[3] = w.policy.rate(now)


@dataclass(frozen=True)
class Totals:
    sent: int
    accepted: int
    rejected: int

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.sent if self.sent else 0.0


def totals(workers: Sequence[SimWorker], start: int, end: int) -> Totals:
    """Requests of all workers in whole seconds [start, end)."""
    rows = [w.seconds.get(s, [0, 0, 0, 0.0]) for w in workers for s in range(start, end)]
    return Totals(*(int(sum(row[i] for row in rows)) for i in range(3)))


def accepted_per_second(workers: Sequence[SimWorker], start: int, end: int) -> list[int]:
    return [
        int(sum(w.seconds.get(s, [0, 0, 0, 0.0])[1] for w in workers)) for s in range(start, end)
    ]
