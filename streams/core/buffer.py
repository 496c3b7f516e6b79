"""The next window's events: due ``window_s`` after its first event arrived, or when full.

Faust's ``take(within=...)`` starts its timer only after the previous batch was processed and
stops reading while it is, so an event could wait the processing time twice plus the window.
Here the timer belongs to the window's first event, and the buffer keeps filling while the
previous window is processed. Pure (clock passed in), so it is tested on plain values.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class WindowBuffer(Generic[T]):
    """Items of one window, with the arrival time of the first."""

    def __init__(self, max_items: int, window_s: float) -> None:
        if max_items < 1 or window_s < 0:
            raise ValueError("a window needs max_items >= 1 and window_s >= 0")
        self.max_items = max_items
        self.window_s = window_s
        self._items: list[T] = []
        self._first_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """No room for another item: the window must be flushed first."""
        return len(self._items) >= self.max_items

    def add(self, item: T, now: float) -> None:
        """Append ``item``; the first item of a window starts its timer."""
        if self.full:
            raise OverflowError("the window is full: flush it first")
        if not self._items:
            self._first_at = now
        self._items.append(item)

    def wait_s(self, now: float) -> float | None:
        """Seconds until the window is due (0 when it is); ``None`` while it is empty."""
        if self._first_at is None:
            return None
        if self.full:
            return 0.0
        return max(0.0, self._first_at + self.window_s - now)

    def take(self) -> list[T]:
        """The window's items; the buffer starts the next window empty."""
        items, self._items, self._first_at = self._items, [], None
        return items
