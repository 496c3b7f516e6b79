"""The window processor over a minimal stand-in for Faust's stream API, with an injected clock."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any

import pytest

from streams.engine.agent import AgentSignals, CountedProcessor
from streams.engine.windows import windows
from tests.fakes import FakeStream


def test_max_batch_counts_each_partitions_events() -> None:
    async def scenario() -> None:
        stream = FakeStream()
        gen = windows(stream, max_batch=2, window_s=10.0, clock=lambda: 0.0)
        first = asyncio.ensure_future(gen.__anext__())
        await stream.registered()
        pushed = [stream.push("a0", partition=0), stream.push("a1", partition=1)]
        pushed.append(stream.push("b1", partition=1))
        assert pushed == ["a0", "a1", "b1"], "added at once: no window was full before b1"
        assert await first == ["a0", "a1", "b1"], "partition 1 reached max_batch"
        await gen.aclose()

    asyncio.run(scenario())


def test_events_are_added_without_a_coroutine_until_the_next_window_is_full() -> None:
    async def scenario() -> None:
        now = [0.0]
        stream = FakeStream()
        gen = windows(stream, max_batch=2, window_s=10.0, clock=lambda: now[0])
        first = asyncio.ensure_future(gen.__anext__())
        await stream.registered()
        assert stream.enable_acks is False, "acks are the agent's"
        assert [stream.push("e1"), stream.push("e2")] == ["e1", "e2"]
        assert await first == ["e1", "e2"], "a full window is due at once"

        # The agent holds window 1; window 2 fills, and a fifth event must wait for room.
        assert [stream.push("e3"), stream.push("e4")] == ["e3", "e4"]
        waiting = stream.push("e5")
        assert inspect.isawaitable(waiting), "a full buffer makes the processor wait"
        blocked = asyncio.ensure_future(_awaited(waiting))
        await asyncio.sleep(0.01)
        assert not blocked.done(), "no room until the agent takes the next window"
        assert await gen.__anext__() == ["e3", "e4"]
        assert await blocked == "e5"

        now[0] = 10.0  # e5's window is due a window after e5 arrived
        assert await gen.__anext__() == ["e5"]
        await gen.aclose()
        assert stream.enable_acks is True and stream._processors == []

    asyncio.run(scenario())


def test_a_value_without_a_current_event_fails_the_windows() -> None:
    async def scenario() -> None:
        stream = FakeStream()
        gen = windows(stream, max_batch=10, window_s=10.0)
        waiting = asyncio.ensure_future(gen.__anext__())
        await stream.registered()
        (processor,) = stream._processors
        with pytest.raises(RuntimeError, match="no current event"):
            processor("value")  # raised to Faust's reader, which stops reading
        with pytest.raises(RuntimeError, match="no current event"):
            await asyncio.wait_for(waiting, timeout=5)

    asyncio.run(scenario())


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


def test_the_buffered_count_is_watched_until_the_windows_end() -> None:
    async def scenario() -> None:
        stream = FakeStream()
        buffered: list[Any] = []
        gen = windows(stream, max_batch=2, window_s=10.0, watch=buffered.append)
        first = asyncio.ensure_future(gen.__anext__())
        await stream.registered()
        assert buffered[-1]() == 0
        stream.push("e1")
        assert buffered[-1]() == 1, "read when asked: the buffer's length"
        stream.push("e2")
        assert await first == ["e1", "e2"]
        assert buffered[-1]() == 0, "taken: the agent's window counts them now"
        stream.push("e3")
        await gen.aclose()
        assert buffered[-1]() == 0, "a generator that ended has nothing buffered"

    asyncio.run(scenario())


def test_the_agents_signals_count_every_run_of_the_processor() -> None:
    class Processor:
        async def process(self, events: Any) -> Any:
            return events, "stats"

        async def quarantine(self, event: Any, exc: Any, **kwargs: Any) -> Any:
            return "stats"

    async def scenario() -> None:
        signals = AgentSignals()
        counted = CountedProcessor(Processor(), signals)  # type: ignore[arg-type]
        assert await counted.process(["e1"]) == (["e1"], "stats")
        assert await counted.quarantine("e2", RuntimeError()) == "stats"
        assert signals.completed == 2
        signals.in_window = 3
        signals.watch_buffer(lambda: 4)
        assert signals.pending == 7

    asyncio.run(scenario())
