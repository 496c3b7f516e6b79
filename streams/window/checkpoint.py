"""A window's commit protocol, in the order it must happen (as quix-streams' ``Checkpoint``).

At least once means an input offset is acked only after everything the window produced from it
is in Kafka: ``await topic.send()`` only queues a record, so the delivery futures are what
counts. The steps, each one place in the code:

1. **Write-ahead** (:meth:`Checkpoint.write_ahead`): before the window's first IM request, the
   table's *pending* entry of every winner is delivered to the changelog. A worker dying after
   its IM write then leaves a trace, so its successor never writes an older value after it.
2. **Records** (:meth:`Checkpoint.track`, :attr:`Checkpoint.outcomes`): every outcome, dead
   letter and forward is queued as it becomes final; outcomes go out in batches meanwhile
   (:class:`streams.engine.sink.Trickle`), table writes of applied changes queue on the table.
3. **Delivery** (:meth:`Checkpoint.deliver`): what is still held is sent (outcomes, the table's
   changelog records) and every delivery future awaited. A failure raises out of the window,
   the worker stops, nothing is acked, and a restart redelivers from the last commit.
4. **Ack** (:func:`ack`): only then are the window's events marked processed for the gapless
   consumer (:mod:`streams.engine.consumer`: a commit never passes an unprocessed offset) and
   acked in Faust. Events of a partition revoked mid-window are not acked: its new owner
   redelivers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from streams.engine.sink import Trickle


class Checkpoint:
    """Steps 1-3 for one window: the records it produced and their deliveries."""

    def __init__(self, table: Any, outcomes: Trickle) -> None:
        #: The changelog-backed table (``streams.engine.app.TrackedTable``): it queues its records.
        self._table = table
        #: Step 2, outcomes: held and sent in batches as they become final.
        self.outcomes = outcomes
        self._futures: list[asyncio.Future[Any]] = []

    async def write_ahead(self) -> None:
        """Step 1: deliver the table's queued changelog records now, before any IM request."""
        await asyncio.gather(*await self._table.flush_changelog())

    def track(self, futures: Iterable[asyncio.Future[Any]]) -> None:
        """Step 2: delivery futures of dead letters and forwards, awaited in step 3."""
        self._futures.extend(futures)

    async def deliver(self) -> None:
        """Step 3: send what is held and await every record of the window; raises on failure."""
        await self.outcomes.send()
        changelog = await self._table.flush_changelog()
        await asyncio.gather(*self._futures, *self.outcomes.futures, *changelog)


async def ack(stream: Any, consumer: Any, events: Iterable[Any]) -> None:
    """Step 4: the window's records are delivered; its events may be committed."""
    for event in events:
        consumer.mark_processed(event.message)
        await stream.ack(event)
