"""The bookkeeping of a bulk table restore: which records each partition still needs, when it is
done, and when a progress line is due (``streams.core.restore``)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.core.restore import Progress, Restore, Span


@dataclass(frozen=True)
class Rec:
    offset: int


def recs(*offsets: int) -> list[Rec]:
    return [Rec(o) for o in offsets]


def test_a_span_starts_after_what_the_store_holds() -> None:
    assert Span(last_read=-1, highwater=9).first == 0
    assert Span(last_read=699, highwater=999).first == 700
    # Faust's start for a compacted partition: the earliest offset - 1.
    assert Span(last_read=41, highwater=99).first == 42


def test_take_keeps_only_records_after_the_store_and_up_to_the_highwater() -> None:
    span = Span(last_read=4, highwater=7)
    # A fetch returns whole batches: records before the seek and past the highwater come too.
    assert span.take(recs(3, 4, 5, 6, 7, 8, 9)) == recs(5, 6, 7)


def test_applied_moves_the_span_in_offset_order_until_done() -> None:
    span = Span(last_read=-1, highwater=5)
    assert span.remaining == 6 and not span.done
    span.applied(span.take(recs(0, 1, 2)))
    assert (span.last_read, span.remaining, span.done) == (2, 3, False)
    # A refetch of what is already in the store applies nothing.
    assert span.take(recs(1, 2)) == []
    span.applied(span.take(recs(3, 5, 6)))  # 4 compacted away, 6 written after the start
    assert (span.last_read, span.done) == (5, True)


def test_a_position_past_the_highwater_ends_a_span_whose_last_records_are_gone() -> None:
    """Compaction removed the last records, or a transaction marker ends the log: no record
    reaches the highwater, but the reader's position passes it."""
    span = Span(last_read=3, highwater=9)
    span.passed(8)
    assert not span.done and span.last_read == 3
    span.passed(10)
    assert span.done and span.last_read == 9


def test_plan_skips_partitions_with_nothing_to_read() -> None:
    restore = Restore.plan(
        {"a": -1, "b": 9, "c": -1, "d": 3},
        # b holds everything; c is empty (Faust's highwater -1); d's start is unknown to Faust.
        {"a": 4, "b": 9, "c": -1, "e": 7},
    )
    assert list(restore.spans) == ["a"]
    assert restore.remaining == 5


def test_restore_counts_applied_records_and_knows_when_all_partitions_are_done() -> None:
    restore = Restore.plan({"a": -1, "b": 1}, {"a": 2, "b": 3})
    assert sorted(restore.pending()) == ["a", "b"]
    restore.applied("a", restore.take("a", recs(0, 1, 2)))
    assert list(restore.pending()) == ["b"] and not restore.done
    restore.applied("b", restore.take("b", recs(0, 1, 2, 3)))
    assert restore.done and restore.applied_records == 5 and restore.remaining == 0


def test_progress_is_due_once_per_interval_with_the_rate_since_the_last_line() -> None:
    progress = Progress(every_s=1.0, started=100.0)
    assert progress.due(100.5, 40_000) is None
    assert progress.due(101.0, 100_000) == 100_000.0
    assert progress.due(101.5, 150_000) is None
    assert progress.due(103.0, 400_000) == 150_000.0
