"""The crash guard: no record can crash the worker at the same offsets forever.

Whatever depends on one record's content is contained where the window decodes it
(:meth:`streams.window.processor.WindowProcessor._classify`). Anything else that escapes a
window (a
bug, a library's surprise) still stops the worker with nothing acked, as it must: most such
failures are the broker's or the producer's, and a restart retries them. But if one record
causes it, every restart would crash on it again. So before the exception leaves, the guard
records the window's offsets per partition in a small changelog-backed table (recovered by
whichever worker owns the partition next, on any node); see :mod:`streams.core.crashes` for the
counting. After ``STREAMS_QUARANTINE_AFTER_CRASHES`` crashes on overlapping offsets, windows
process those offsets one record at a time: a record that fails alone is quarantined (rejected
``internal_error``, dead-lettered, an ERROR log line naming its position, a metric), and
everything else is processed as usual. Failures of the broker, producer or IM are never
quarantined: they stop the worker as before (which client errors are the broker's is the
engine's to say: :class:`streams.window.ports.ClientFailure`).

Crash ranges are per partition, and so is the blame: while a partition is in quarantine, its
other records run as a window of their own, so a crash among them widens that partition's range
(a second bad record there) and a crash among other partitions' records never does. If even a
quarantine fails (its fallback included), that failure is recorded like any crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from streams.core.crashes import CrashRange, after_crash, offset_ranges
from streams.core.fitting import MIN_MAX_BYTES as MIN_DEAD_LETTER_BYTES
from streams.errors import RetriesExhaustedError
from streams.window.ports import ChangelogTable, ClientFailure, CurrentEvent, Event, Ownership
from streams.window.processor import WindowStats

log = logging.getLogger(__name__)

#: How long recording a crash may take before the worker stops without it (the broker may be
#: what failed).
RECORD_TIMEOUT_S = 10.0

Window = tuple[list[Event], WindowStats]
T = TypeVar("T")


class Processor(Protocol):
    """What the guard runs a window through (:class:`streams.window.processor.WindowProcessor`)."""

    async def process(self, events: Sequence[Event], /) -> Window: ...

    async def quarantine(
        self, event: Event, exc: Exception, /, *, dead_letter_max_bytes: int | None = None
    ) -> WindowStats: ...


def is_infrastructure(exc: BaseException, client_failure: ClientFailure) -> bool:
    """Whether ``exc`` (or what it wraps) is the broker's, the producer's or a deliberate stop.

    Those are never blamed on a record: nothing is recorded or quarantined, a restart retries.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RetriesExhaustedError | TimeoutError | OSError):
            return True
        if client_failure(seen):
            return True
        seen = seen.__cause__
    return False


def _key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class CrashGuard:
    """Runs a window through the processor, recording crashes and isolating suspect records."""

    def __init__(
        self,
        processor: Processor,
        table: ChangelogTable,
        *,
        threshold: int,
        set_current_event: CurrentEvent,
        owns: Ownership,
        client_failure: ClientFailure,
    ) -> None:
        self._processor = processor
        #: ``"<topic>:<partition>"`` -> :meth:`CrashRange.to_json`; a memory-store table, so
        #: an empty one costs one ``len`` per window.
        self._table = table
        self._threshold = threshold
        self._set_current_event = set_current_event
        self._owns = owns
        self._client_failure = client_failure

    async def process(self, events: Sequence[Event]) -> list[Window]:
        """Process ``events``; return the windows (events to ack, stats) it was run as."""
        if not len(self._table):
            return [await self._recorded(events)]
        quarantined = self._quarantined(events)
        suspects = {
            id(e)
            for e in events
            if (found := quarantined.get((e.message.topic, e.message.partition))) is not None
            and found.isolates(e.message.offset, self._threshold)
        }
        rest = [e for e in events if id(e) not in suspects]
        windows = [await self._recorded(batch) for batch in _batches(rest, quarantined)]
        for copies in _by_position(e for e in events if id(e) in suspects):
            windows.append(await self._alone(copies))
        # Only what is acked counts: a revoked partition's events stay for its new owner.
        await self._forget_passed([e for acked, _ in windows for e in acked])
        return windows

    async def _recorded(self, events: Sequence[Event]) -> Window:
        """The processor's window; a crash is recorded against its offsets before it leaves."""
        return await self._counted(events, self._processor.process(events))

    async def _counted(self, events: Sequence[Event], work: Awaitable[T]) -> T:
        """``work``'s result; a crash is recorded against ``events``' offsets before it leaves."""
        try:
            return await work
        except Exception as exc:
            if not is_infrastructure(exc, self._client_failure):
                await self._record(events, exc)
            raise

    async def _alone(self, copies: list[Event]) -> Window:
        """One suspect record (and any repeated delivery of it) as its own window."""
        try:
            return await self._processor.process(copies)
        except Exception as exc:
            msg = copies[0].message
            if is_infrastructure(exc, self._client_failure):
                raise
            if not self._owns(msg.partition):
                return [], WindowStats()  # revoked meanwhile: its new owner decides
            log.error(
                "quarantined the record at %s:%d offset %d: %s while processing it alone",
                msg.topic, msg.partition, msg.offset, type(exc).__name__,
            )  # fmt: skip
            try:
                return copies, await self._processor.quarantine(copies[0], exc)
            except Exception as again:
                if is_infrastructure(again, self._client_failure):
                    raise
                # Even its dead letter failed (a dead-letter topic with a lower size limit, say):
                # one of the smallest size any broker takes, with the original's size and hash.
                log.error("its dead letter failed too (%s); sending a smaller one",
                          type(again).__name__)  # fmt: skip
                # Outside the guard's records, a failure here would crash every start unseen.
                fallback = self._processor.quarantine(
                    copies[0], exc, dead_letter_max_bytes=MIN_DEAD_LETTER_BYTES
                )
                return copies, await self._counted(copies, fallback)

    def _quarantined(self, events: Sequence[Event]) -> dict[tuple[str, int], CrashRange]:
        """The ranges of ``events``' partitions that crashed ``threshold`` times."""
        ranges: dict[tuple[str, int], CrashRange] = {}
        for topic, partition in {(e.message.topic, e.message.partition) for e in events}:
            found = self._range(topic, partition)
            if found is not None and found.crashes >= self._threshold:
                ranges[(topic, partition)] = found
        return ranges

    def _range(self, topic: str, partition: int) -> CrashRange | None:
        stored = self._table.get(_key(topic, partition))
        return None if stored is None else CrashRange.from_json(stored)

    async def _record(self, events: Sequence[Event], exc: Exception) -> None:
        """Count this crash against the window's offsets, per partition, and await it."""
        try:
            for topic, partition, first_event, (low, high) in self._partitions(events):
                previous = self._range(topic, partition)
                found = after_crash(previous, low, high, type(exc).__name__, self._threshold)
                self._set_current_event(first_event)
                self._table[_key(topic, partition)] = found.to_json()
                quarantine = found.crashes >= self._threshold
                log.error(
                    "window crashed (%s) on %s:%d offsets %d..%d: crash %d there; %s",
                    type(exc).__name__, topic, partition, found.first, found.last, found.crashes,
                    "the next start processes them one record at a time" if quarantine
                    else f"quarantine after {self._threshold}",
                )  # fmt: skip
            await self._flush()
        except Exception:
            log.exception("could not record the crash; the worker stops without it")

    async def _forget_passed(self, events: Sequence[Event]) -> None:
        """Delete the ranges this window processed past (and await the deletions)."""
        deleted = False
        for topic, partition, first_event, (_, high) in self._partitions(events):
            found = self._range(topic, partition)
            if found is not None and found.passed_by(high):
                self._set_current_event(first_event)
                del self._table[_key(topic, partition)]
                deleted = True
        if deleted:
            await self._flush()

    async def _flush(self) -> None:
        async def flushed() -> None:
            await asyncio.gather(*await self._table.flush_changelog())

        # The whole send, not only the delivery: a first send waits for the topic's metadata.
        await asyncio.wait_for(flushed(), RECORD_TIMEOUT_S)

    @staticmethod
    def _partitions(
        events: Sequence[Event],
    ) -> Iterator[tuple[str, int, Event, tuple[int, int]]]:
        """Per (topic, partition) of ``events``: an event of it and its offset range."""
        firsts: dict[tuple[str, int], Event] = {}
        for event in events:
            firsts.setdefault((event.message.topic, event.message.partition), event)
        messages = [event.message for event in events]
        ranges = offset_ranges(((m.topic, m.partition), m.offset) for m in messages)
        for (topic, partition), event in firsts.items():
            yield topic, partition, event, ranges[(topic, partition)]


def _batches(
    events: Sequence[Event], quarantined: Mapping[tuple[str, int], CrashRange]
) -> list[list[Event]]:
    """``events`` as windows: each partition in quarantine alone, the others together.

    A crash is recorded against every partition of its window, and it widens the range of a
    partition in quarantine (a second bad record there, :func:`after_crash`): so that
    partition's records never share a window with another partition's, whose bad record would
    widen it.
    """
    batches: dict[tuple[str, int] | None, list[Event]] = {}
    for event in events:
        tp = (event.message.topic, event.message.partition)
        batches.setdefault(tp if tp in quarantined else None, []).append(event)
    return list(batches.values())


def _by_position(events: Iterable[Event]) -> list[list[Event]]:
    """Events grouped by position (a refetch can deliver one record twice), in order."""
    groups: dict[tuple[str, int, int], list[Event]] = {}
    for event in events:
        msg = event.message
        groups.setdefault((msg.topic, msg.partition, msg.offset), []).append(event)
    return list(groups.values())
