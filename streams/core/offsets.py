"""Commit bookkeeping of one input partition: how far the commit may advance, and when a hole
that nothing will fill blocks it.

Pure, so the rules are tested on plain lists; :mod:`streams.engine.consumer` applies them to Faust's
consumer. ``start`` is the next offset to commit from (the committed offset, or the partition's
earliest offset when the group never committed there); ``acked`` holds the offsets the agent
acked after processing them, not yet committed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def committable(acked: Sequence[int], start: int | None) -> int | None:
    """The offset to commit: one past the acked run that begins exactly at ``start``.

    ``None`` when ``start`` is unknown or not acked: committing past an offset nobody acked
    would skip its event for good (Faust's own rule let a one-offset hole and any hole at
    offset 0 through).
    """
    if start is None:
        return None
    end = start
    for offset in sorted(set(acked)):
        if offset < end:
            continue
        if offset != end:
            break
        end += 1
    return end if end > start else None


def hole(
    acked: Collection[int],
    start: int | None,
    in_flight: Collection[int],
    skipped: Collection[int] = (),
) -> int | None:
    """The offset to fetch again when the commit is blocked by events nobody is processing.

    The agent sees each partition in offset order, so once an offset above ``start`` was
    handed over (acked by the agent, or ``skipped``: evidence that Faust fetched it and it will
    not reach the agent), every event up to it was either delivered (and is still in flight)
    or dropped. Evidence at ``start`` itself counts too. With nothing in flight there,
    ``start`` will never be acked unless it is fetched again.
    """
    if start is None or start in acked:
        return None
    handed = [offset for offset in (*acked, *skipped) if offset >= start]
    if not handed:
        return None
    first = min(handed)
    if any(start <= offset <= first for offset in in_flight):
        return None
    return start
