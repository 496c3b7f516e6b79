"""Crash bookkeeping per partition: which offsets keep crashing the worker, which to isolate.

An exception nobody foresaw (a bug, a library error) escapes the window and stops the worker, so
nothing is acked around it; the restart reads the same offsets again. If one record causes it,
that would repeat forever and stop the partition for good. So each crash is recorded against the
offsets its window held, per partition. The record that fails must lie in every crashed range,
so ranges that overlap are intersected (the suspects narrow with each crash) and counted; after
``threshold`` crashes the next start processes the suspects one record at a time, and a record
that fails alone is quarantined (rejected ``internal_error`` and dead-lettered) instead of
crashing the worker again. A range the worker processed past is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

#: Stored exception names are cut to this length (a name from a hostile library, say).
_MAX_ERROR: Final = 200

#: A partition, however the caller names it.
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class CrashRange:
    """Offsets ``first..last`` (inclusive) of one partition, crashed on ``crashes`` times."""

    first: int
    last: int
    crashes: int
    #: The last crash's exception type, for logs.
    error: str

    def to_json(self) -> list[Any]:
        """Compact table value: ``[first, last, crashes, error]``."""
        return [self.first, self.last, self.crashes, self.error]

    @classmethod
    def from_json(cls, value: Any) -> CrashRange:
        """Inverse of :meth:`to_json`."""
        first, last, crashes, error = value
        return cls(int(first), int(last), int(crashes), str(error))

    def isolates(self, offset: int, threshold: int) -> bool:
        """Whether the record at ``offset`` is processed alone (a suspect after enough crashes)."""
        return self.crashes >= threshold and self.first <= offset <= self.last

    def passed_by(self, offset: int) -> bool:
        """Whether processing ``offset`` successfully means this range is behind the worker."""
        return offset >= self.last


def after_crash(
    previous: CrashRange | None, first: int, last: int, error: str, threshold: int
) -> CrashRange:
    """The record of a partition after a crash on a window holding its offsets ``first..last``.

    While ``previous`` is at the threshold, its records run alone and only the rest of the
    window runs as one batch, so a crash there comes from *another* bad record: the range grows
    to cover both, keeping the count (else two bad records would reset each other forever).
    """
    error = error[:_MAX_ERROR]
    if previous is not None and previous.crashes >= threshold:
        low, high = min(first, previous.first), max(last, previous.last)
        return CrashRange(low, high, previous.crashes + 1, error)
    if previous is None or previous.last < first or last < previous.first:
        return CrashRange(first, last, 1, error)
    return CrashRange(
        max(first, previous.first), min(last, previous.last), previous.crashes + 1, error
    )


def offset_ranges(positions: Iterable[tuple[K, int]]) -> dict[K, tuple[int, int]]:
    """Per partition, the lowest and highest offset among ``(partition, offset)`` positions."""
    ranges: dict[K, tuple[int, int]] = {}
    for partition, offset in positions:
        low, high = ranges.get(partition, (offset, offset))
        ranges[partition] = (min(low, offset), max(high, offset))
    return ranges
