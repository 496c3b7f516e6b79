"""The limiter's pacing on a clock the test drives: late wake-ups do not lower the rate."""

import asyncio
import types

import pytest

from streams import request_budget
from streams.request_budget import RateLimiter

#: Every sleep of the limiter ends this late (a busy event loop on shared cores).
LATE_S = 0.004


def test_requests_that_wait_keep_the_rate_whatever_their_wake_ups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]

    async def late_sleep(delay: float) -> None:
        now[0] += delay + LATE_S
        await asyncio.sleep(0)

    fake = types.SimpleNamespace(Lock=asyncio.Lock, sleep=late_sleep)
    monkeypatch.setattr(request_budget, "asyncio", fake)

    async def scenario() -> list[bool]:
        limiter = RateLimiter(100, clock=lambda: now[0])
        limiter.restart(50)  # a slot every 20 ms; no answers reported, so the rate stays
        return await asyncio.gather(*(limiter.acquire() for _ in range(51)))

    waited = asyncio.run(scenario())
    assert waited == [False] + [True] * 50
    assert now[0] == pytest.approx(50 / 50 + LATE_S), (
        "50 intervals of 20 ms, not of 24 ms: each slot is the one waited for"
    )
