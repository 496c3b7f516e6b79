"""A window's commit protocol, in the order it must happen (as quix-streams' ``Checkpoint``).

At least once means an input offset is acked only after everything the window produced from it
is in Kafka: sending a record only queues it, so the deliveries are what counts. The steps,
each one place in the code:

1. **Write-ahead** (:meth:`Checkpoint.write_ahead`): before the window's first IM request, the
   table's *pending* entry of every winner is delivered to the changelog. A worker dying after
   its IM write then leaves a trace, so its successor never writes an older value after it.
2. **Records** (:meth:`Checkpoint.track`, :attr:`Checkpoint.outcomes`): every outcome, dead
   letter and forward is queued as it becomes final; outcomes go out in batches meanwhile
   (:class:`streams.window.trickle.Trickle`), table writes of applied changes queue on the table.
3. **Delivery** (:meth:`Checkpoint.deliver`): what is still held is sent (outcomes, the table's
   changelog records) and every delivery awaited. A failure raises out of the window, the
   worker stops, nothing is acked, and a restart redelivers from the last commit.
4. **Ack** (the engine's, :func:`streams.engine.agent.ack`, once the window returned): only
   then are the window's events marked processed for the gapless consumer (a commit never
   passes an unprocessed offset) and acked. Events of a partition revoked mid-window are not
   acked: its new owner redelivers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from streams.window.ports import ChangelogTable, Delivery
from streams.window.trickle import Trickle


class Checkpoint:
    """Steps 1-3 for one window: the records it produced and their deliveries."""

    def __init__(self, table: ChangelogTable, outcomes: Trickle) -> None:
        self._table = table
        #: Step 2, outcomes: held and sent in batches as they become final.
        self.outcomes = outcomes
        self._deliveries: list[Delivery] = []

    async def write_ahead(self) -> None:
        """Step 1: deliver the table's queued changelog records now, before any IM request."""
        await asyncio.gather(*await self._table.flush_changelog())

    def track(self, deliveries: Iterable[Delivery]) -> None:
        """Step 2: deliveries of dead letters and forwards, awaited in step 3."""
        self._deliveries.extend(deliveries)

    async def deliver(self) -> None:
        """Step 3: send what is held and await every record of the window; raises on failure."""
        await self.outcomes.send()
        changelog = await self._table.flush_changelog()
        await asyncio.gather(*self._deliveries, *self.outcomes.futures, *changelog)
