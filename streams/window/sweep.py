"""The retention sweep: table entries last written before the retention horizon are deleted.

See :mod:`streams.core.retention` for the horizon and the sweep's pace; this runs it against
the window's table, within the window, so its tombstones go out with the window's changelog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from streams.core.partitioning import partition_for
from streams.core.records import LastApplied
from streams.core.retention import MAX_DELETIONS_PER_SWEEP, expired, sweep_interval_s
from streams.window.ports import ChangelogTable, CurrentEvent, Event, Ownership
from streams.window.routing import first_event_per_partition

log = logging.getLogger(__name__)


class RetentionSweep:
    """Deletes expired table entries, at most once per sweep interval."""

    def __init__(
        self,
        table: ChangelogTable,
        retention_s: float,
        *,
        owns: Ownership,
        partitions: Callable[[], int],
        set_current_event: CurrentEvent,
    ) -> None:
        self._table = table
        self._interval = timedelta(seconds=sweep_interval_s(retention_s))
        self._owns = owns
        self._partitions = partitions
        self._set_current_event = set_current_event
        self._next: datetime | None = None

    def run(self, events: Sequence[Event], now: datetime, oldest_us: int) -> int:
        """Delete the entries older than ``oldest_us``, when a sweep is due; how many.

        Only in partitions this window has an event of (and this worker owns): a deletion's
        changelog record and its RocksDB store are routed by the current event's partition, so
        each partition's deletions run with one of its events current, and their tombstones go
        out with the window's changelog records. A partition without traffic waits for a window
        that has some; its state does not grow meanwhile.
        """
        if self._next is not None and now < self._next:
            return 0
        self._next = now + self._interval
        here = first_event_per_partition(events, self._owns)
        if not here:
            return 0
        partitions = self._partitions()
        doomed: dict[int, list[str]] = {}
        count = 0
        for key, value in self._table.items():
            user = str(key).partition("/")[0]
            partition = partition_for(user.encode(), partitions)
            if partition in here and expired(LastApplied.from_json(value), oldest_us):
                doomed.setdefault(partition, []).append(key)
                count += 1
                if count >= MAX_DELETIONS_PER_SWEEP:
                    break
        for partition, keys in doomed.items():
            self._set_current_event(here[partition])
            for key in keys:
                del self._table[key]
        if count:
            log.info("forgot %d conversations last written before the retention horizon", count)
        return count
