"""Apply a window's plan through the SDK: bounded concurrency, rate limit, precise retries.

Each planned request is sent once; the conversations that came back with a retryable code are
sent again (and only they), with full-jitter backoff, for the retry deadline counted from that
request's first send. Time a request spends waiting for a concurrency slot or the rate limiter
is not retry time: in a budget-bound window a request may wait long for its first send, and
one retryable answer must not then be final.

Ownership is checked before every send, and a revocation wakes every request waiting for a slot
or a backoff (:meth:`Applier.ownership_changed`): from the moment a partition's revocation
begins, no request is sent for it and its unanswered changes are abandoned for the new owner.
And no request starts after the window's bound: what is not sent by then is handed back as
``unsent``, for the next window, so a window ends within the bound and its last answer.

Requests start in plan order and each one's final answers are handed to the caller as soon as
its retries end, so the window can send those outcomes while later requests are in flight.
"""

from __future__ import annotations

import asyncio
import math
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


class SdkClient(Protocol):
    """The SDK client as apply uses it: one ``mark_contact`` request per call."""

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
    #: Changes of owned partitions without a final answer when the window's bound came: not
    #: sent, or sent with a retryable answer and not retried yet (the next window's work).
    unsent: list[Change] = field(default_factory=list)
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


class Applies(Protocol):
    """What a window needs of its applier: the plan sent, each request's answers handed back."""

    async def apply(
        self, plan: Sequence[PlannedRequest], on_done: OnRequestDone, /
    ) -> ApplyReport: ...


async def _ignore(_results: Sequence[Applied], _abandoned: Sequence[Change]) -> None:
    """The default :data:`OnRequestDone`: results are read from the report afterwards."""


class Applier:
    """Runs planned requests for one window."""

    def __init__(
        self,
        client: SdkClient,
        limiter: RateLimiter,
        policy: RetryPolicy,
        *,
        concurrency: int,
        owns: Callable[[int], bool],
        bound_s: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._policy = policy
        self._slots = asyncio.Semaphore(concurrency)
        self._owns = owns
        self._bound_s = bound_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        #: Resolved (and forgotten) when partitions are revoked: wakes every waiting request.
        self._moved: asyncio.Future[None] | None = None

    def ownership_changed(self) -> None:
        """Partitions were revoked: requests waiting for a slot or a backoff look again.

        Without this, a request of a revoked partition queued behind a budget-bound backlog
        would hold the window open until its turn came, only to be dropped then.
        """
        if self._moved is not None and not self._moved.done():
            self._moved.set_result(None)
        self._moved = None

    def _next_move(self) -> asyncio.Future[None]:
        if self._moved is None:
            self._moved = asyncio.get_running_loop().create_future()
        return self._moved

    async def apply(
        self, plan: Sequence[PlannedRequest], on_done: OnRequestDone = _ignore
    ) -> ApplyReport:
        """Send every planned request (with retries) until the bound; one result per change.

        Changes without a final answer at the bound are in ``unsent``, those of revoked
        partitions in ``abandoned``. If one request (or ``on_done``) fails, the others are
        cancelled before the error propagates: a failed window must not go on writing to the IM
        behind the caller's back.
        """
        report = ApplyReport()
        until = self._clock() + self._bound_s
        tasks = [asyncio.ensure_future(self._run(r, until, report, on_done)) for r in plan]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)  # each gives back its slot and stops its waits first
            raise
        return report

    async def _run(
        self, request: PlannedRequest, until: float, report: ApplyReport, on_done: OnRequestDone
    ) -> None:
        """One planned request and its retries; results go to ``report`` and ``on_done``.

        Its retry deadline runs from its first send, less the time its retries then waited
        for a slot: only backoffs and the requests themselves are retry time.
        """
        latest: dict[int, Applied] = {}
        abandoned: list[Change] = []
        pending = list(range(len(request.changes)))
        attempt = 0
        first_sent = 0.0
        slot_waits = 0.0
        delay = 0.0
        while pending:
            turn = await self._turn(request.partition, until, delay)
            if turn is None:  # revoked, or the window's bound came first
                left = [request.changes[i] for i in pending]
                for index in pending:
                    latest.pop(index, None)
                if self._owns(request.partition):
                    report.unsent.extend(left)
                else:
                    abandoned = left
                    report.abandoned.extend(left)
                break
            waited_s, limited = turn
            attempt += 1
            if attempt == 1:
                first_sent = self._clock()
            else:
                slot_waits += waited_s
            changes = [request.changes[i] for i in pending]
            try:
                result = await self._send(request.user_id, changes, limited, report)
            finally:
                self._slots.release()
            for index, item in zip(pending, result.items, strict=True):
                latest[index] = Applied(
                    request.changes[index], item.code, item.info, item.request_id, attempt,
                    item.retryable,
                )  # fmt: skip
            pending = [i for i in pending if latest[i].retryable]
            if pending:
                delay = self._policy.delay(attempt, self._rng.random())
                if not self._policy.allows(first_sent + slot_waits, self._clock(), delay):
                    break  # retries exhausted: the latest retryable answers are final
                report.retries += len(pending)
        results = [latest[i] for i in sorted(latest)]
        report.results.extend(results)
        await on_done(results, abandoned)

    async def _turn(
        self, partition: int, until: float, backoff: float
    ) -> tuple[float, bool] | None:
        """Wait ``backoff``, then for a slot and the rate limiter; None if not to be sent.

        Gives up (holding nothing) as soon as ``partition`` is revoked or ``until`` passes.
        Otherwise the caller holds a concurrency slot, to release after its request, and gets
        the seconds spent waiting for it (the backoff not included) and whether the limiter
        made it wait.
        """

        async def take() -> tuple[float, bool]:
            if backoff > 0:
                await asyncio.sleep(backoff)
            queued = self._clock()
            await self._slots.acquire()
            try:
                limited = await self._limiter.acquire()
            except BaseException:
                self._slots.release()
                raise
            return self._clock() - queued, limited

        if not self._sendable(partition, until):
            return None
        taking = asyncio.ensure_future(take())
        try:
            while True:
                left_s = until - self._clock()
                await asyncio.wait(
                    (taking, self._next_move()),
                    timeout=None if math.isinf(left_s) else max(0.0, left_s),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not self._sendable(partition, until):
                    break
                if taking.done():
                    return taking.result()
        except BaseException:
            await _drop(taking, self._slots)
            raise
        await _drop(taking, self._slots)
        return None

    def _sendable(self, partition: int, until: float) -> bool:
        return self._owns(partition) and self._clock() < until

    async def _send(
        self, user_id: str, changes: Sequence[Change], limited: bool, report: ApplyReport
    ) -> RequestResult:
        values = [(c.change.conversation_id, c.change.custom_data) for c in changes]
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
            self._limiter.succeeded(limited)
        return result


async def _drop(taking: asyncio.Future[tuple[float, bool]], slots: asyncio.Semaphore) -> None:
    """Stop waiting for a slot; give back the one it may have got meanwhile."""
    taking.cancel()
    await asyncio.wait((taking,))
    if not taking.cancelled() and taking.exception() is None:
        slots.release()
