"""The recovery and agent stall rules, with an injected clock."""

from __future__ import annotations

from dataclasses import replace

from streams.core.progress import AgentProgress, AgentStallDetector, StallDetector


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


# --- the agent's liveness ----------------------------------------------------------------------


def progress(**changes: object) -> AgentProgress:
    """A started, running agent with 5 events waiting and 7 windows done, then ``changes``."""
    base = AgentProgress(
        started=True, running=True, pending=5, completed=7, recovering=False, rebalancing=False
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_agent_with_work_and_no_completed_window_is_stalled_after_the_limit() -> None:
    detector = AgentStallDetector(stall_s=120)
    assert detector.stalled_for(progress(), now=1000) is None, "the clock starts when first seen"
    assert detector.stalled_for(progress(), now=1119) is None
    assert detector.stalled_for(progress(), now=1120) == 120
    assert detector.stalled_for(progress(pending=1), now=1130) == 130, "still the same window"


def test_a_completed_window_or_no_work_restarts_the_clock() -> None:
    detector = AgentStallDetector(stall_s=120)
    detector.stalled_for(progress(), now=0)
    assert detector.stalled_for(progress(completed=8), now=100) is None, "a window completed"
    assert detector.stalled_for(progress(completed=8), now=219) is None
    assert detector.stalled_for(progress(completed=8), now=220) == 120
    assert detector.stalled_for(progress(completed=8, pending=0), now=230) is None, "idle"
    assert detector.stalled_for(progress(completed=8), now=231) is None, "new work, new clock"
    assert detector.stalled_for(progress(completed=8), now=350) is None
    assert detector.stalled_for(progress(completed=8), now=351) == 120


def test_an_idle_agent_is_never_stalled_however_long_since_its_last_window() -> None:
    detector = AgentStallDetector(stall_s=120)
    for now in range(0, 10_000, 10):
        assert detector.stalled_for(progress(pending=0), now=now) is None
    assert detector.stalled_for(progress(), now=10_000) is None, "work arrived just now"


def test_a_busy_agent_completing_windows_is_never_stalled() -> None:
    detector = AgentStallDetector(stall_s=120)
    for step in range(1000):
        assert detector.stalled_for(progress(completed=step // 5), now=step * 10) is None


def test_nothing_is_judged_before_start_up() -> None:
    detector = AgentStallDetector(stall_s=120)
    for now in range(0, 1000, 10):
        assert detector.stalled_for(progress(started=False), now=now) is None
    assert detector.stalled_for(progress(), now=1000) is None, "the clock starts at start-up"
    assert detector.stalled_for(progress(), now=1120) == 120


def test_an_agent_that_is_not_running_counts_as_work_waiting() -> None:
    detector = AgentStallDetector(stall_s=120)
    detector.stalled_for(progress(running=False, pending=0), now=0)
    assert detector.stalled_for(progress(running=False, pending=0), now=120) == 120


def test_a_recovery_holds_the_clock_for_as_long_as_it_runs() -> None:
    detector = AgentStallDetector(stall_s=120)
    detector.stalled_for(progress(), now=0)
    for now in range(10, 3000, 10):  # a long recovery: the recovery watchdog judges it
        assert detector.stalled_for(progress(recovering=True, rebalancing=True), now=now) is None
    assert detector.stalled_for(progress(), now=3000) is None, "the clock starts again"
    assert detector.stalled_for(progress(), now=3119) is None
    assert detector.stalled_for(progress(), now=3120) == 120


def test_a_rebalance_holds_the_clock_but_not_for_ever() -> None:
    detector = AgentStallDetector(stall_s=120)
    detector.stalled_for(progress(), now=0)
    assert detector.stalled_for(progress(rebalancing=True), now=100) is None
    assert detector.stalled_for(progress(), now=150) is None, "rebalanced: a new clock"
    assert detector.stalled_for(progress(), now=269) is None
    # A revocation that waits for a stuck agent's events never ends: after stall_s of
    # rebalancing the clock runs again, from then.
    assert detector.stalled_for(progress(rebalancing=True), now=300) is None
    assert detector.stalled_for(progress(rebalancing=True), now=419) is None
    assert detector.stalled_for(progress(rebalancing=True), now=420) is None
    assert detector.stalled_for(progress(rebalancing=True), now=539) is None
    assert detector.stalled_for(progress(rebalancing=True), now=540) == 120


def test_records_waiting_for_the_brokers_hold_the_clock_for_as_long_as_they_wait() -> None:
    """Two of three brokers down: the window waits for its records, the producer retries them;
    the agent is not stuck, and a restart would not bring the brokers back."""
    detector = AgentStallDetector(stall_s=120)
    detector.stalled_for(progress(), now=0)
    for now in range(10, 3000, 10):
        assert detector.stalled_for(progress(delivering=True), now=now) is None
    assert detector.stalled_for(progress(), now=3000) is None, "delivered: a new clock"
    assert detector.stalled_for(progress(), now=3119) is None
    assert detector.stalled_for(progress(), now=3120) == 120
