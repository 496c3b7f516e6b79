"""The next window's events: due ``window_s`` after its first event arrived, or when full.

Faust's ``take(within=...)`` starts its timer only after the previous batch was processed and
stops reading while it is, so an event could wait the processing time twice plus the window.
Here the timer belongs to the window's first event, and the buffer keeps filling while the
previous window is processed. Pure (clock passed in), so it is tested on plain values.

Full means one partition's share of the window reached ``max_items``: the contract's windows are
per partition, and one worker's window carries all of its partitions' at once. A limit on the
whole window would give each of P partitions 1/P of it, and under a backlog a user's changes
would coalesce P times less than in a window of their own (bench/PROFILE.md, "Windows per
partition"). ``max_total`` bounds the whole window all the same: a worker left alone with every
partition under a backlog must not buffer ``max_items`` times all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class WindowBuffer(Generic[T]):
    """Items of one window, with the arrival time of the first."""

    def __init__(self, max_items: int, window_s: float, max_total: int | None = None) -> None:
        if max_items < 1 or window_s < 0 or (max_total is not None and max_total < max_items):
            raise ValueError("a window needs 1 <= max_items <= max_total and window_s >= 0")
        self.max_items = max_items
        self.max_total = max_items if max_total is None else max_total
        self.window_s = window_s
        self._items: list[T] = []
        self._per_partition: Counter[Hashable] = Counter()
        self._full = False
        self._first_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """One partition, or the window, has no room for another item: flush it first."""
        return self._full

    def add(self, item: T, now: float, partition: Hashable = None) -> None:
        """Append ``item`` of ``partition``; the first item of a window starts its timer."""
        if self._full:
            raise OverflowError("the window is full: flush it first")
        if not self._items:
            self._first_at = now
        self._items.append(item)
        self._per_partition[partition] += 1
        self._full = (
            self._per_partition[partition] >= self.max_items or len(self._items) >= self.max_total
        )

    def wait_s(self, now: float) -> float | None:
        """Seconds until the window is due (0 when it is); ``None`` while it is empty."""
        if self._first_at is None:
            return None
        if self._full:
            return 0.0
        return max(0.0, self._first_at + self.window_s - now)

    def take(self) -> list[T]:
        """The window's items; the buffer starts the next window empty."""
        items, self._items, self._first_at = self._items, [], None
        self._per_partition.clear()
        self._full = False
        return items
