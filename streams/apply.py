"""Apply a window's plan through the SDK: bounded concurrency, rate limit, precise retries.

Each planned request is sent once; the conversations that came back with a retryable code are
sent again (and only they), with full-jitter backoff, until the window's deadline. Before every
request the worker checks it still owns the partition: a revoked partition gets no more writes,
so a slow window cannot overwrite what its new owner applied.

Requests start in plan order and each one's final answers are handed to the caller as soon as
its retries end, so the window can send those outcomes while later requests are in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams.core.coalesce import PlannedRequest
from streams.core.records import Change
from streams.core.retry import RetryPolicy
from streams.request_budget import RateLimiter
from streams.sdk import codes
from streams.sdk.types import RequestResult


class Marker(Protocol):
    """What apply needs of the SDK client: one ``mark_contact`` request."""

    async def mark(self, user_id: str, values: Sequence[tuple[str, str]]) -> RequestResult: ...


@dataclass(slots=True)
class Applied:
    """The final SDK answer for one change, and how many requests it took."""

    change: Change
    code: int
    info: str
    request_id: str
    attempts: int
    retryable: bool


@dataclass(slots=True)
class ApplyReport:
    """Per-change results; changes of revoked partitions are left out (never acked here)."""

    results: list[Applied] = field(default_factory=list)
    abandoned: list[Change] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    #: Requests answered with a frequency limit (60007 and kin, at request or item level).
    frequency_limited: int = 0
    #: (seconds, conversations) of every request, for the latency and batch-size metrics.
    timings: list[tuple[float, int]] = field(default_factory=list)


#: Called once per planned request when it is done: its final answers, and its changes left
#: unsent because their partition was revoked.
OnRequestDone = Callable[[Sequence[Applied], Sequence[Change]], Awaitable[None]]


async def _ignore(_results: Sequence[Applied], _abandoned: Sequence[Change]) -> None:
    """The default :data:`OnRequestDone`: results are read from the report afterwards."""


class Applier:
    """Runs planned requests for one window."""

    def __init__(
        self,
        client: Marker,
        limiter: RateLimiter,
        policy: RetryPolicy,
        *,
        concurrency: int,
        owns: Callable[[int], bool],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._policy = policy
        self._slots = asyncio.Semaphore(concurrency)
        self._owns = owns
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)

    async def apply(
        self, plan: Sequence[PlannedRequest], on_done: OnRequestDone = _ignore
    ) -> ApplyReport:
        """Send every planned request (with retries); return one result per change.

        If one request (or ``on_done``) fails, the others are cancelled before the error
        propagates: a failed window must not go on writing to the IM behind the caller's back.
        """
        report = ApplyReport()
        started = self._clock()
        tasks = [asyncio.ensure_future(self._run(r, started, report, on_done)) for r in plan]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return report

    async def _run(
        self, request: PlannedRequest, started: float, report: ApplyReport, on_done: OnRequestDone
    ) -> None:
        """One planned request and its retries; results go to ``report`` and ``on_done``."""
        latest: dict[int, Applied] = {}
        abandoned: list[Change] = []
        pending = list(range(len(request.changes)))
        attempt = 0
        while pending:
            if not self._owns(request.partition):
                abandoned = [request.changes[i] for i in pending]
                report.abandoned.extend(abandoned)
                for index in pending:
                    latest.pop(index, None)
                break
            attempt += 1
            changes = [request.changes[i] for i in pending]
            result = await self._send(request.user_id, changes, report)
            for index, item in zip(pending, result.items, strict=True):
                latest[index] = Applied(
                    request.changes[index], item.code, item.info, item.request_id, attempt,
                    item.retryable,
                )  # fmt: skip
            pending = [i for i in pending if latest[i].retryable]
            if pending:
                delay = self._policy.delay(attempt, self._rng.random())
                if not self._policy.allows(started, self._clock(), delay):
                    break  # retries exhausted: the latest retryable answers are final
                report.retries += len(pending)
                await asyncio.sleep(delay)
        results = [latest[i] for i in sorted(latest)]
        report.results.extend(results)
        await on_done(results, abandoned)

    async def _send(
        self, user_id: str, changes: Sequence[Change], report: ApplyReport
    ) -> RequestResult:
        values = [(c.change.conversation_id, c.change.custom_data) for c in changes]
        async with self._slots:
            waited = await self._limiter.acquire()
            sent = self._clock()
            result = await self._client.mark(user_id, values)
            report.timings.append((self._clock() - sent, len(values)))
        self._limiter.requests_done += 1
        report.requests += 1
        report.codes[result.code] = report.codes.get(result.code, 0) + 1
        if result.frequency_limited:
            report.frequency_limited += 1
            self._limiter.frequency_limited()
        elif result.code >= codes.OK:  # the IM answered within its quota (client codes are < 0)
            self._limiter.succeeded(waited)
        return result
