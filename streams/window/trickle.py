"""A window's outcomes, batched and sent as they become final, through a :class:`RecordSink`."""

from __future__ import annotations

import time
from collections.abc import Callable

from streams.window.ports import Delivery, RecordSink


class Trickle:
    """A window's outcomes, sent as they become final rather than all at the window's end.

    A window spends most of its time in SDK requests (bench/PROFILE.md). Outcomes known before
    them (rejections, duplicates, superseded) and those of the first requests need not wait for
    the last one. One send per record would cost one batch per record (and the embedded
    broker's fetches slow down with every batch a partition holds), so final records gather and
    go out at most every ``interval_s``, one batch per partition each time. The delivery
    futures are kept for the window to await before it acks.
    """

    def __init__(
        self,
        sink: RecordSink,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._interval_s = interval_s
        self._clock = clock
        self._pending: list[tuple[bytes | None, bytes]] = []
        self._sent_at = clock()
        self.futures: list[Delivery] = []

    def add(self, record: tuple[bytes | None, bytes]) -> None:
        """Hold a final (key, value) record for the next send."""
        self._pending.append(record)

    async def send_due(self) -> None:
        """Send what is held if ``interval_s`` has passed since the last send."""
        if self._clock() - self._sent_at >= self._interval_s:
            await self.send()

    async def send(self) -> None:
        """Send everything held now."""
        if self._pending:
            self._sent_at = self._clock()
            records, self._pending = self._pending, []
            self.futures.extend(await self._sink.send(records))
