"""The applier's retry policy over a scripted SDK (a fake ``mark``), with an injected clock."""

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence

import pytest

from streams.core.coalesce import PlannedRequest, plan
from streams.core.rate_control import RateControl
from streams.core.records import Change
from streams.core.retry import RetryPolicy
from streams.request_budget import SAFETY, RateLimiter
from streams.sdk import codes
from streams.sdk.types import ItemResult, RequestResult
from streams.window.apply import Applied, Applier, ApplyReport
from tests.fakes import ScriptedIM, SlowIM, VirtualTimeLoop, run_virtual
from tests.fixtures.changes import change, home


def run(scripts: dict[str, list[int]], *, deadline: float = 10.0, owns=lambda p: True,  # type: ignore[no-untyped-def]
        limiter: RateLimiter | None = None):  # fmt: skip
    clock = [0.0]
    im = ScriptedIM(scripts, clock)
    policy = RetryPolicy(base_s=0.0001, cap_s=0.001, deadline_s=deadline)
    applier = Applier(
        im, limiter or RateLimiter(1e6), policy, concurrency=2, owns=owns,
        clock=lambda: clock[0], rng=random.Random(1),
    )  # fmt: skip
    winners = [
        change("a", 1, conv="c2c_a"),
        change("b", 2, conv="c2c_b"),
        change("c", 3, conv="c2c_c"),
    ]
    report = asyncio.run(applier.apply(plan(winners)))
    return im, report


def test_only_failed_conversations_are_retried() -> None:
    limiter = RateLimiter(1e6)
    im, report = run({"c2c_b": [50004, 50004], "c2c_c": [51007]}, limiter=limiter)
    assert im.calls == [["c2c_a", "c2c_b", "c2c_c"], ["c2c_b"], ["c2c_b"]]
    results = {r.change.change.conversation_id: (r.code, r.attempts) for r in report.results}
    assert results == {"c2c_a": (0, 1), "c2c_b": (0, 3), "c2c_c": (51007, 1)}
    assert (report.requests, report.retries) == (3, 2)
    assert limiter.requests_done == 3, "each ended request is progress for the liveness probe"


def test_deadline_ends_retries_with_the_last_retryable_answer() -> None:
    _, report = run({"c2c_a": [70169] * 100}, deadline=1.2)
    [a] = [r for r in report.results if r.change.change.conversation_id == "c2c_a"]
    assert (a.code, a.retryable) == (70169, True)
    assert a.attempts == 3, "answers at t=0.5, 1.0 and 1.5: a retry after 1.5 would start past 1.2"
    assert len(report.results) == 3


def test_revoked_partition_gets_no_request() -> None:
    im, report = run({}, owns=lambda p: False)
    assert im.calls == [] and report.results == []
    assert sorted(c.change.event_id for c in report.abandoned) == ["a", "b", "c"]


def test_each_request_reports_its_final_answers_once_when_done() -> None:
    clock = [0.0]
    im = ScriptedIM({"c2c_b": [50004]}, clock)
    policy = RetryPolicy(base_s=0.0001, cap_s=0.001, deadline_s=10.0)
    revoked = home("cy")
    applier = Applier(im, RateLimiter(1e6), policy, concurrency=1, owns=lambda p: p != revoked,
                      clock=lambda: clock[0], rng=random.Random(1))  # fmt: skip
    done: list[tuple[list[tuple[str, int, int]], list[str]]] = []

    async def on_done(results: Sequence[Applied], abandoned: Sequence[Change]) -> None:
        done.append((
            [(r.change.change.event_id, r.code, r.attempts) for r in results],
            [c.change.event_id for c in abandoned],
        ))  # fmt: skip

    requests = plan([
        change("a", 1, user="ann", conv="c2c_a"),
        change("b", 2, user="bob", conv="c2c_b"),
        change("c", 3, user="cy", conv="c2c_c"),
    ])  # fmt: skip
    assert revoked not in {home("ann"), home("bob")}
    asyncio.run(applier.apply(requests, on_done))
    assert sorted(done) == [([], ["c"]), ([("a", 0, 1)], []), ([("b", 0, 2)], [])], (
        "b's answer only after its retry; cy's change handed back unsent"
    )


def test_a_failing_request_stops_the_windows_other_requests() -> None:
    im = SlowIM()
    applier = Applier(im, RateLimiter(1e6), RetryPolicy(), concurrency=1, owns=lambda p: True)

    async def on_done(results: Sequence[Applied], abandoned: Sequence[Change]) -> None:
        raise RuntimeError("outcome could not be built")

    async def scenario() -> None:
        winners = [
            change(u, i, user=u, conv=f"c2c_{u}") for i, u in enumerate(["ann", "bob", "cy"])
        ]
        with pytest.raises(RuntimeError):
            await applier.apply(plan(winners), on_done)
        await asyncio.sleep(0.05)  # long enough for the other two requests, were they running

    asyncio.run(scenario())
    assert im.answered == ["ann"]


def test_frequency_limits_cut_the_rate_and_successes_are_reported() -> None:
    limiter = RateLimiter(100)
    assert limiter.rate() == pytest.approx(98), "before an assignment: the whole budget"
    im, report = run({"c2c_b": [60007]}, limiter=limiter)
    assert im.calls == [["c2c_a", "c2c_b", "c2c_c"], ["c2c_b"]], "retried like any retryable"
    assert (report.frequency_limited, limiter.frequency_limits) == (1, 1)
    assert report.codes == {0: 2}, "an item-level 60007 in a request answered 0"
    assert limiter.rate() < 98 * 0.95, "cut, and one success does not climb back"


def test_the_limiter_says_which_requests_waited_and_for_how_long() -> None:
    async def scenario() -> tuple[list[bool], RateLimiter, float, float]:
        limiter = RateLimiter(50)  # a slot every ~20 ms
        started = time.monotonic()
        waited = await asyncio.gather(*(limiter.acquire() for _ in range(4)))
        elapsed, summed = time.monotonic() - started, limiter.waited_s
        limiter.succeeded(waited[-1])
        limiter.frequency_limited()
        waited.append(await limiter.acquire())  # held after the limit
        return waited, limiter, elapsed, summed

    waited, limiter, elapsed, summed = asyncio.run(scenario())
    assert waited == [False, True, True, True, True]
    assert summed > elapsed, "three requests waited at the same time: their waits overlap"
    assert 0 < limiter.bound_s < limiter.waited_s, "budget-bound time counts the overlap once"
    assert limiter.frequency_limits == 1


def test_fixed_control_keeps_the_share() -> None:
    limiter = RateLimiter(100, control=RateControl.FIXED)
    limiter.restart(25)
    limiter.succeeded(True)
    assert limiter.rate() == 25
    limiter.frequency_limited()
    assert limiter.rate() == 12.5, "halved (and held for a second)"


class OnceLimitedIM:
    """Answers each conversation 60007 the first time, then 0, after ``latency_s`` of the
    loop's (virtual) clock; notes when each request was sent."""

    def __init__(self, loop: asyncio.AbstractEventLoop, latency_s: float = 0.02) -> None:
        self.loop = loop
        self.latency_s = latency_s
        self.limited: set[str] = set()
        self.sent: list[tuple[float, str]] = []

    async def mark(self, user_id: str, values: Sequence[tuple[str, str]]) -> RequestResult:
        self.sent.append((self.loop.time(), user_id))
        await asyncio.sleep(self.latency_s)
        items = []
        for cid, _ in values:
            code = 0 if cid in self.limited else 60007
            self.limited.add(cid)
            items.append(ItemResult(cid, code, f"code {code}", "r", codes.is_retryable(code)))
        return RequestResult("r", 0, "", 200, tuple(items))


def users_plan(count: int) -> list[PlannedRequest]:
    """``count`` requests, one per user, in that order."""
    return plan([change(f"e{u}", u, user=f"user{u}", conv=f"c2c_p{u}") for u in range(count)])


def virtual_applier(
    loop: asyncio.AbstractEventLoop, im: OnceLimitedIM, *, deadline_s: float, rate: float,
    bound_s: float = math.inf, owns: Callable[[int], bool] = lambda p: True,
) -> Applier:  # fmt: skip
    limiter = RateLimiter(rate / SAFETY, control=RateControl.FIXED, clock=loop.time)
    policy = RetryPolicy(base_s=0.05, cap_s=0.05, deadline_s=deadline_s)
    return Applier(im, limiter, policy, concurrency=32, owns=owns, bound_s=bound_s,
                   clock=loop.time, rng=random.Random(1))  # fmt: skip


def test_the_retry_deadline_starts_at_each_requests_first_send() -> None:
    """12 requests at 10/s, a 0.5 s deadline, each answered 60007 once: all are retried.

    The frequency limits halve the fixed rate, so later sends wait seconds for their slots:
    not retry time. With one deadline for the whole window, counted from its start (as
    before), 11 of the 12 ended ``failed`` after one attempt.
    """

    async def scenario(loop: VirtualTimeLoop) -> tuple[OnceLimitedIM, ApplyReport]:
        im = OnceLimitedIM(loop)
        applier = virtual_applier(loop, im, deadline_s=0.5, rate=10)
        return im, await applier.apply(users_plan(12))

    im, report = run_virtual(scenario)
    firsts = sorted({t for t, _ in im.sent})
    assert firsts[11] > 0.5, "the later first sends waited past the deadline for their slots"
    assert [(r.code, r.attempts) for r in report.results] == [(0, 2)] * 12
    assert report.retries == 12 and report.requests == 24


def test_nothing_starts_after_the_windows_bound() -> None:
    """At 10/s, a 0.45 s bound lets 5 requests out; the rest are handed back unsent.

    Requests waiting for the limiter give up at the bound instead of waiting for their turn,
    and one whose retry falls after the bound is handed back too (not failed).
    """

    async def scenario(loop: VirtualTimeLoop) -> tuple[OnceLimitedIM, ApplyReport, float]:
        im = OnceLimitedIM(loop)
        applier = virtual_applier(loop, im, deadline_s=5, rate=10, bound_s=0.45)
        report = await applier.apply(users_plan(8))
        return im, report, loop.time()

    im, report, ended = run_virtual(scenario)
    assert max(t for t, _ in im.sent) < 0.45 and ended < 0.45 + im.latency_s + 1e-9
    assert report.results == [] and report.abandoned == []
    assert sorted(c.change.event_id for c in report.unsent) == [f"e{u}" for u in range(8)], (
        "5 sent once (60007, retry due after the bound), 3 never sent"
    )


def test_a_revocation_wakes_the_requests_waiting_for_their_turn() -> None:
    """Revoked mid-window: no request is sent for it any more, none waits for its turn."""
    revoked: set[int] = set()

    async def scenario(loop: VirtualTimeLoop) -> tuple[OnceLimitedIM, ApplyReport, float]:
        im = OnceLimitedIM(loop)
        im.limited.update(f"c2c_p{u}" for u in range(12))  # every answer 0
        applier = virtual_applier(loop, im, deadline_s=5, rate=2, owns=lambda p: p not in revoked)
        requests = users_plan(12)

        async def revoke() -> None:
            await asyncio.sleep(0.75)
            revoked.update(r.partition for r in requests)
            applier.ownership_changed()

        report, _ = await asyncio.gather(applier.apply(requests), revoke())
        return im, report, loop.time()

    im, report, ended = run_virtual(scenario)
    assert [t for t, _ in im.sent] == pytest.approx([0.0, 0.5], abs=1e-3), (
        "2/s: sends at 0 and 0.5 s, none after the revocation at 0.75 s"
    )
    assert ended == pytest.approx(0.75, abs=1e-3), "the ten still waiting gave up at once"
    assert [r.change.change.event_id for r in report.results] == ["e0", "e1"]
    assert len(report.abandoned) == 10 and report.unsent == []
