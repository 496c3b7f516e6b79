"""The applier's retry policy over a scripted SDK (a fake ``mark``), with an injected clock."""

import asyncio
import random
import time
from collections.abc import Sequence

import pytest

from streams.apply import Applied, Applier
from streams.core.coalesce import plan
from streams.core.rate_control import RateControl
from streams.core.records import Change
from streams.core.retry import RetryPolicy
from streams.request_budget import RateLimiter
from tests.core.helpers import change, home
from tests.fakes import ScriptedIM, SlowIM


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
