"""The recovery stall rule, with an injected clock."""

from __future__ import annotations

from streams.core.progress import StallDetector


def test_a_recovery_that_stands_still_is_stalled_after_the_limit() -> None:
    detector = StallDetector(stall_s=30)
    assert not detector.stalled(True, 1362, now=0)
    assert not detector.stalled(True, 1362, now=29)
    assert detector.stalled(True, 1362, now=30)


def test_progress_or_the_end_of_recovery_resets_the_clock() -> None:
    detector = StallDetector(stall_s=30)
    detector.stalled(True, 500, now=0)
    assert not detector.stalled(True, 400, now=25), "it moved"
    assert not detector.stalled(True, 400, now=50)
    assert detector.stalled(True, 400, now=55)
    assert not detector.stalled(False, 400, now=60), "recovery ended"
    assert not detector.stalled(True, 400, now=61), "a new recovery starts its own clock"
    assert not detector.stalled(True, 0, now=100), "nothing left to read"
