"""The commit rule and hole detection of one input partition, on plain offset lists."""

from hypothesis import given
from hypothesis import strategies as st

from streams.core.offsets import committable, hole


def test_commit_advances_over_the_run_that_starts_at_the_committed_offset() -> None:
    assert committable([10, 11, 12, 14], 10) == 13
    assert committable([12, 10, 11], 10) == 13, "acks may arrive out of order"
    assert committable([8, 9, 10, 11], 10) == 12, "offsets below the start are already committed"
    assert committable([10, 10, 11], 10) == 12


def test_commit_never_passes_an_unacked_offset() -> None:
    assert committable([11, 12], 10) is None, "a one-offset hole right after the commit"
    assert committable([5, 6], 0) is None, "a hole at offset 0 of a never committed partition"
    assert committable([0, 1], None) is None, "no start known: never guess"
    assert committable([], 10) is None


def test_a_hole_is_one_that_nothing_in_flight_will_fill() -> None:
    assert hole([12, 13], 10, in_flight=[]) == 10
    assert hole([12, 13], 10, in_flight=[11]) is None, "still being processed"
    assert hole([12, 13], 10, in_flight=[14, 15]) == 10, "later events do not fill it"
    assert hole([10, 12], 10, in_flight=[]) is None, "the start is acked: the commit can move"
    assert hole([3, 4], 10, in_flight=[]) is None, "only stale acks below the start"
    assert hole([], 10, in_flight=[]) is None
    assert hole([12], None, in_flight=[]) is None


def test_an_event_faust_skipped_is_evidence_of_a_hole_even_at_the_start() -> None:
    assert hole([], 10, in_flight=[], skipped=[10]) == 10, "nothing later will ever show it"
    assert hole([], 10, in_flight=[10], skipped=[10]) is None, "a refetched copy is in flight"
    assert hole([], 10, in_flight=[], skipped=[12]) == 10
    assert hole([10], 10, in_flight=[], skipped=[10]) is None, "a copy was processed"
    assert hole([], 10, in_flight=[], skipped=[3]) is None, "below the start: committed"


@given(st.sets(st.integers(0, 60), max_size=40), st.integers(0, 30))
def test_the_committed_offset_only_covers_acked_offsets(acked: set[int], start: int) -> None:
    end = committable(sorted(acked), start)
    if end is not None:
        assert end > start
        assert set(range(start, end)) <= acked
        assert end not in acked
    else:
        assert start not in acked
    assert (hole(sorted(acked), start, []) is None) == (
        start in acked or not [o for o in acked if o > start]
    )
    assert hole(sorted(acked), start, [], skipped=[start]) == (None if start in acked else start)
