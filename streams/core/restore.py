"""What a bulk table restore reads, and when it stops: per changelog partition, a span of offsets.

A table is rebuilt from its compacted changelog when a worker gets a partition whose store does
not hold it (a new pod, a lost volume, a partition that moved). Faust's recovery hands every
record through its event path and a per-record loop (~12k records/s on this machine, 1M
conversations in 70-90 s during which the partition produces nothing); the engine instead reads
the changelog in large fetches and writes each fetch to the store in one batch
(:mod:`streams.engine.recovery`). This module is the bookkeeping both share, free of Kafka.

Offsets follow Faust's convention, so its own loop can take over where the bulk read stopped:
``last_read`` is the last offset the store holds (``-1``: none), ``highwater`` the last offset
to read (the partition's end offset - 1 when the restore began). Example: a partition whose end
offset is 1,000 and whose store holds up to 699 has the span ``Span(last_read=699,
highwater=999)``: the restore seeks to 700 and applies records 700..999; a record at 1,000 or
later (written after the restore began) is left to Faust's loop, whose consistency check refuses
a store ahead of the highwater.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class Offset(Protocol):
    """A fetched changelog record, as far as the bookkeeping is concerned."""

    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Offset)


@dataclass(slots=True)
class Span:
    """One partition's part of a restore: what the store holds and where the read ends."""

    last_read: int
    highwater: int

    @property
    def first(self) -> int:
        """The offset to seek to."""
        return max(self.last_read + 1, 0)

    @property
    def remaining(self) -> int:
        """Offsets between what the store holds and the highwater (an upper bound on records:
        compaction leaves gaps)."""
        return max(self.highwater - self.last_read, 0)

    @property
    def done(self) -> bool:
        """Whether the store holds everything up to the highwater."""
        return self.last_read >= self.highwater

    def take(self, records: Sequence[R]) -> list[R]:
        """The fetched records this span still needs, in offset order: after ``last_read``, up
        to the highwater. A fetch may start before ``last_read`` (a batch is returned whole) and
        run past the highwater (records written since the restore began)."""
        return [r for r in records if self.last_read < r.offset <= self.highwater]

    def applied(self, records: Sequence[R]) -> None:
        """``records`` (what :meth:`take` returned) are in the store."""
        if records:
            self.last_read = records[-1].offset

    def passed(self, position: int) -> None:
        """The reader's next offset is ``position``: nothing below it is left to read, even
        where compaction removed the last records or a transaction marker ends the log."""
        if position > self.highwater:
            self.last_read = max(self.last_read, self.highwater)


@dataclass
class Restore(Generic[K]):
    """Every span of one restore, and the records applied so far (for the progress line)."""

    spans: dict[K, Span]
    applied_records: int = field(default=0, init=False)

    @classmethod
    def plan(cls, last_read: dict[K, int], highwaters: dict[K, int]) -> Restore[K]:
        """The spans of the partitions with something to read (``highwaters`` as Faust builds
        them: end offset - 1, ``-1`` for an empty partition)."""
        spans = {
            key: Span(last_read[key], highwater)
            for key, highwater in highwaters.items()
            if key in last_read and last_read[key] < highwater
        }
        return cls(spans)

    def pending(self) -> Iterator[K]:
        """The partitions not restored yet."""
        return (key for key, span in self.spans.items() if not span.done)

    @property
    def done(self) -> bool:
        """Whether every partition is restored."""
        return all(span.done for span in self.spans.values())

    @property
    def remaining(self) -> int:
        """Offsets left across partitions (an upper bound on records)."""
        return sum(span.remaining for span in self.spans.values())

    def take(self, key: K, records: Sequence[R]) -> list[R]:
        """The records of ``key``'s fetch to apply (see :meth:`Span.take`)."""
        return self.spans[key].take(records)

    def applied(self, key: K, records: Sequence[R]) -> None:
        """``records`` of ``key`` are in the store."""
        self.spans[key].applied(records)
        self.applied_records += len(records)


@dataclass
class Progress:
    """When a long restore says how far it got, and at what rate (one line per ``every_s``)."""

    every_s: float
    started: float
    _last: tuple[float, int] = field(init=False)

    def __post_init__(self) -> None:
        self._last = (self.started, 0)

    def due(self, now: float, applied: int) -> float | None:
        """Records per second since the last line, when a line is due (else None)."""
        at, count = self._last
        if now - at < self.every_s:
            return None
        self._last = (now, applied)
        return (applied - count) / (now - at)
