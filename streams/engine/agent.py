"""The Faust agent: windows of the changes stream through the crash guard, then the ack.

Concurrency 1: above 1, Faust can commit past events another instance has not processed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from streams.engine.checkpoint import ack
from streams.engine.consumer import GaplessConsumer
from streams.engine.windows import windows
from streams.pipeline import Event, WindowStats
from streams.settings import Settings


def owned_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker is currently assigned."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


def make_agent(
    app: Any,
    topics: Any,
    run_window: Callable[[list[Event]], Awaitable[list[tuple[list[Event], WindowStats]]]],
    settings: Settings,
    on_window: Callable[[WindowStats], None],
) -> Any:
    """Register the agent: concurrency 1 (Faust can commit past unprocessed events above 1).

    ``run_window`` is the crash guard's (``streams.engine.guard``): a window may run as several.
    """

    async def apply_changes(stream: Any) -> None:
        # Outcomes go out through the producer directly (streams.engine.sink): declare the topics
        # Faust would otherwise create on first send.
        await topics.outcomes.maybe_declare()
        await topics.dead_letters.maybe_declare()
        within = settings.window_ms / 1000
        consumer = cast(GaplessConsumer, app.consumer)
        async for events in windows(stream, settings.max_batch, within):
            for ackable, stats in await run_window(events):
                await ack(stream, consumer, ackable)
                on_window(stats)

    return app.agent(topics.changes, name="apply-changes", concurrency=1)(apply_changes)
