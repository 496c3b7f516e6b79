"""Crash ranges: overlapping crashes narrow the suspects and count; disjoint ones start over."""

from __future__ import annotations

from streams.core.crashes import CrashRange, after_crash, offset_ranges


def test_the_first_crash_records_the_whole_window() -> None:
    assert after_crash(None, 10, 50, "KeyError", 3) == CrashRange(10, 50, 1, "KeyError")


def test_overlapping_crashes_intersect_and_count() -> None:
    first = after_crash(None, 10, 50, "KeyError", 3)
    second = after_crash(first, 10, 30, "KeyError", 3)
    third = after_crash(second, 20, 90, "TypeError", 3)
    assert third == CrashRange(20, 30, 3, "TypeError")
    assert third.isolates(20, 3) and third.isolates(30, 3)
    assert not third.isolates(19, 3) and not third.isolates(31, 3)
    assert not second.isolates(15, 3), "two crashes are not enough at threshold 3"


def test_a_disjoint_crash_starts_a_new_count() -> None:
    earlier = CrashRange(10, 30, 2, "KeyError")
    assert after_crash(earlier, 31, 40, "KeyError", 3) == CrashRange(31, 40, 1, "KeyError")
    assert after_crash(earlier, 0, 9, "KeyError", 3).crashes == 1


def test_a_crash_beside_a_quarantined_range_widens_it() -> None:
    """Two bad records (105, 140): the batch beside the suspects crashes on the second one.

    Starting over there would forget the first range's count, and the two would reset each
    other forever; the range grows to hold both instead, still past the threshold.
    """
    suspects = CrashRange(100, 110, 3, "KeyError")
    widened = after_crash(suspects, 111, 150, "KeyError", 3)
    assert widened == CrashRange(100, 150, 4, "KeyError")
    assert widened.isolates(105, 3) and widened.isolates(140, 3)


def test_a_range_is_passed_once_its_last_offset_is_processed() -> None:
    found = CrashRange(20, 30, 3, "E")
    assert not found.passed_by(29) and found.passed_by(30) and found.passed_by(31)


def test_json_round_trip_and_bounded_error_names() -> None:
    found = after_crash(None, 1, 2, "E" * 1000, 3)
    assert len(found.error) == 200
    assert CrashRange.from_json(found.to_json()) == found


def test_offset_ranges_per_partition() -> None:
    positions = [(0, 5), (1, 7), (0, 3), (0, 9), (1, 7)]
    assert offset_ranges(positions) == {0: (3, 9), 1: (7, 7)}
