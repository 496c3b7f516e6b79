"""The Faust agent: windows of the changes stream through the crash guard, then the ack.

Concurrency 1: above 1, Faust can commit past events another instance has not processed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from faust.types import EventT, Message

from streams.engine.consumer import GaplessConsumer
from streams.engine.windows import windows
from streams.settings import Settings
from streams.window.guard import Processor
from streams.window.ports import Event
from streams.window.processor import WindowStats


def owned_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker is currently assigned."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


async def ack(stream: Any, consumer: GaplessConsumer, events: Iterable[Event]) -> None:
    """Step 4 of the commit protocol (:mod:`streams.window.checkpoint`): the window returned,
    so its records are delivered and its events may be committed.

    ``events`` are what the window returned, typed as it sees them
    (:class:`streams.window.ports.Event`); they are Faust's own events, handed to the window and
    back, and the consumer reads what the port leaves out (``message.tp``)."""
    for event in cast(Iterable[EventT[Any]], events):
        consumer.mark_processed(event.message)
        await stream.ack(event)


def _nothing() -> int:
    return 0


@dataclass
class AgentSignals:
    """What the probes read of the agent (``streams.core.progress`` decides): a few integers
    updated once per window, and the window buffer's length, read when a probe asks."""

    #: Instances of the agent's function running (0 or 1: concurrency 1).
    running: int = 0
    #: Windows completed since start, and runs of the crash guard's record-by-record windows.
    completed: int = 0
    #: Events of the window being processed (0 between windows).
    in_window: int = 0
    #: Events buffered for the next window (``streams.engine.windows``).
    buffered: Callable[[], int] = _nothing

    @property
    def pending(self) -> int:
        """Events handed to the agent and not processed yet."""
        return self.in_window + self.buffered()

    def watch_buffer(self, length: Callable[[], int]) -> None:
        """Read the buffer's length from ``length`` from now on."""
        self.buffered = length


class CountedProcessor:
    """The window processor as the crash guard runs it, each finished run counted as progress.

    In quarantine the guard runs a window record by record, each run up to a window's time:
    counted one by one, a long quarantine is not mistaken for an agent that stopped.
    """

    def __init__(self, processor: Processor, signals: AgentSignals) -> None:
        self._processor = processor
        self._signals = signals

    async def process(self, events: Sequence[Event], /) -> tuple[list[Event], WindowStats]:
        """The processor's ``process``, counted."""
        done = await self._processor.process(events)
        self._signals.completed += 1
        return done

    async def quarantine(
        self, event: Event, exc: Exception, /, *, dead_letter_max_bytes: int | None = None
    ) -> WindowStats:
        """The processor's ``quarantine``, counted."""
        stats = await self._processor.quarantine(
            event, exc, dead_letter_max_bytes=dead_letter_max_bytes
        )
        self._signals.completed += 1
        return stats


def make_agent(
    app: Any,
    topics: Any,
    run_window: Callable[[list[Event]], Awaitable[list[tuple[list[Event], WindowStats]]]],
    settings: Settings,
    on_window: Callable[[WindowStats], None],
    signals: AgentSignals | None = None,
) -> Any:
    """Register the agent: concurrency 1 (Faust can commit past unprocessed events above 1).

    ``run_window`` is the crash guard's (``streams.window.guard``): a window may run as several.
    ``signals`` is kept up to date for the probes.
    """
    state = signals if signals is not None else AgentSignals()

    async def apply_changes(stream: Any) -> None:
        state.running += 1
        try:
            # Outcomes go out through the producer directly (streams.engine.sink): declare the
            # topics Faust would otherwise create on first send.
            await topics.outcomes.maybe_declare()
            await topics.dead_letters.maybe_declare()
            within = settings.window_ms / 1000
            consumer = cast(GaplessConsumer, app.consumer)
            async for taken in windows(
                stream, settings.max_batch, within, watch=state.watch_buffer
            ):
                # What a window's bound left unsent runs next, as a window of its own (acked
                # on its own), before any newer event: the stream may have nothing more to
                # bring, and the oldest events get their answers first.
                events: list[Event] = taken
                while events:
                    state.in_window = len(events)
                    left: list[Event] = []
                    kept: set[int] = set()
                    for ackable, stats in await run_window(events):
                        await ack(stream, consumer, ackable)
                        on_window(stats)
                        left += stats.left
                        kept.update(map(id, ackable))
                    kept.update(map(id, left))
                    # Neither acked nor left for the next window: dropped for the partition's
                    # next owner once its revocation began.
                    dropped = [e.message for e in events if id(e) not in kept]
                    consumer.abandon(cast(list[Message], dropped))  # Faust's, as in ack()
                    events = left
                state.in_window = 0
                state.completed += 1
        finally:
            state.running -= 1
            state.in_window = 0

    return app.agent(topics.changes, name="apply-changes", concurrency=1)(apply_changes)
