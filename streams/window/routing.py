"""Partition routing of table writes: each with an event of its key's partition current.

The table routes a write's changelog record, and RocksDB finds a key's store, by the current
event's partition (faust-streaming #497, :class:`streams.window.ports.CurrentEvent`): so a
window writes a partition at a time, with one of that partition's events made current first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from streams.core.records import Change
from streams.window.ports import CurrentEvent, Event, Ownership


def per_partition(
    changes: Iterable[Change], by_envelope: Mapping[int, Event], set_current_event: CurrentEvent
) -> Iterator[Change]:
    """``changes`` a partition at a time, with an event of that partition made current.

    ``by_envelope`` maps ``id(change.envelope)`` to the event the change was read from; the
    current event is set once per partition, before the partition's first change is yielded.
    """
    grouped: dict[int, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.envelope.position.partition, []).append(change)
    for group in grouped.values():
        set_current_event(by_envelope[id(group[0].envelope)])
        yield from group


def first_event_per_partition(events: Iterable[Event], owns: Ownership) -> dict[int, Event]:
    """An event of every owned partition among ``events``, to make current for its writes."""
    here: dict[int, Event] = {}
    for event in events:
        partition = event.message.partition
        if owns(partition):
            here.setdefault(partition, event)
    return here
