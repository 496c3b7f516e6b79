"""Windows of events over the agent's Faust stream, in place of ``Stream.noack_take``.

Same mechanics as Faust's ``noack_take`` (a stream processor fills a buffer while the stream is
consumed passively, acks are left to the agent), two differences (see
:mod:`streams.core.buffer`): a window is due ``window_s`` after its *first* event arrived, and
the next window fills while the agent processes the current one. When the next window is full
the processor waits, which stops the stream and, through Faust's flow control, the fetcher.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from streams.core.buffer import WindowBuffer
from streams.engine import internals

#: The most events one window holds, whatever its partitions (``max_batch`` counts per partition):
#: ~5 KiB of memory each while buffered and processed (bench/PROFILE.md, "Windows per
#: partition"), so ~200 MiB, inside the pod's 1 GiB beside RocksDB's memory for 12 partitions
#: (288 MiB) when one worker is left with all of them and a backlog. A larger ``max_batch``
#: raises it to ``max_batch``.
MAX_WINDOW_EVENTS = 40_000


async def windows(
    stream: Any,
    max_batch: int,
    window_s: float,
    clock: Callable[[], float] = time.monotonic,
    watch: Callable[[Callable[[], int]], None] | None = None,
) -> AsyncIterator[list[Any]]:
    """Yield the stream's events window by window; nothing is acked here.

    A failure to add an event comes out of this generator. Raised only inside Faust's passive
    reader, it would end that reader and leave the agent waiting for events forever.

    ``watch`` is given a function that says how many events are buffered for the next window
    (the liveness probe reads it), and one that says 0 when the generator ends.
    """
    buffer: WindowBuffer[Any] = WindowBuffer(
        max_batch, window_s, max_total=max(max_batch, MAX_WINDOW_EVENTS)
    )
    if watch is not None:
        watch(buffer.__len__)
    wake = asyncio.Event()  # the first event of a window arrived, the window is full, or failed
    room = asyncio.Event()  # the full window was taken
    room.set()
    failed: list[Exception] = []

    def add(event: Any) -> None:
        if event is None:
            failed.append(RuntimeError("the stream has no current event for a value"))
            wake.set()
            raise failed[-1]
        buffer.add(event, clock(), event.message.partition)
        if len(buffer) == 1 or buffer.full:
            wake.set()

    async def add_when_room(event: Any, value: Any) -> Any:
        while buffer.full:
            room.clear()
            await stream.wait(room)
        add(event)
        return value

    def add_to_buffer(value: Any) -> Any:
        # Synchronous unless the next window is full: Faust awaits a processor's result only
        # when it is awaitable, so the common case costs no coroutine per event.
        event = stream.current_event  # read now: the stream moves on after an await
        if buffer.full:
            return add_when_room(event, value)
        add(event)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    internals.enable_passive(stream, aiter(stream.channel))
    try:
        while not stream.should_stop:
            if failed:
                raise failed[0]
            wait = buffer.wait_s(clock())
            if wait == 0.0:
                events = buffer.take()
                room.set()
                yield events
                continue
            wake.clear()
            await stream.wait_for_stopped(wake, timeout=wait)
    finally:
        if watch is not None:
            watch(lambda: 0)
        stream.enable_acks = enable_acks
        internals.remove_processor(stream, add_to_buffer)
