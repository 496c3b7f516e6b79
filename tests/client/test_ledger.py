"""Ledger (pure): the authoritative outcome per event, the failed events to replay, and what each
conversation should hold in the IM in last-write-wins order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streams.client.ledger import Filters, Ledger, order_of
from streams.contract import Outcome, OutcomeReason
from tests.fixtures.client import make_outcome


def applied(offset: int, data: str, **fields: Any) -> Outcome:
    return make_outcome("applied", offset, custom_data=data, code=0, **fields)


def failed(offset: int, data: str = "f", **fields: Any) -> Outcome:
    defaults: dict[str, Any] = {"code": 70169, "reason": "retries_exhausted"}
    return make_outcome("failed", offset, custom_data=data, **(defaults | fields))


def at(second: int) -> str:
    return f"2026-11-25T10:00:{second:02d}Z"


# add: state per conversation, not per record ------------------------------------------------


def test_memory_follows_conversations_and_failures_not_records() -> None:
    """The fold keeps one entry per conversation (its last applied outcome and the failures
    newer than it) and the failed events it may replay: 30,000 outcomes of 3 conversations,
    copies and replays included, leave 3 entries and nothing else."""
    ledger = Ledger()
    for offset in range(10_000):
        for conversation in ("c2c_a", "c2c_b", "group_g"):
            ledger.add(applied(offset, f"v{offset}", conversation_id=conversation))
        if offset % 1000 == 0:
            ledger.add(make_outcome("stale", offset, reason="stale", event_id="x"))
    assert len(ledger.conversations) == 3
    assert ledger.failed == {} and ledger.settled == set()
    for state in ledger.conversations.values():
        assert state.applied is not None and state.applied.custom_data == "v9999"
        assert state.newer_failures == []


def test_failures_an_applied_outcome_overtakes_are_dropped() -> None:
    ledger = Ledger.of([failed(1, "f1"), failed(2, "f2"), failed(2, "f2"), applied(2, "a2")])
    [state] = ledger.conversations.values()
    assert state.applied is not None and state.applied.custom_data == "a2"
    assert state.newer_failures == [], "f2's own applied copy (same order) settles it too"


def test_only_the_selected_users_are_kept() -> None:
    bob = Filters(users=frozenset({"bob"}))
    ledger = Ledger.of([applied(1, "a"), failed(2, user_id="bob")], bob)
    assert list(ledger.conversations) == [("bob", "c2c_bob")]


# to_replay ----------------------------------------------------------------------------------


def test_replay_picks_failed_events_oldest_source_first() -> None:
    outcomes = [
        failed(7, event_id="x7"),
        applied(3, "a", event_id="x3", conversation_id="c2c_other"),
        failed(2, event_id="x2", partition=1),
        failed(5, event_id="x5"),
        make_outcome("rejected", 6, reason="schema"),
        make_outcome("stale", 8, reason="stale", event_id="x8"),
    ]
    chosen, settled = Ledger.of(outcomes).to_replay()
    assert [o.event_id for o in chosen] == ["x5", "x7", "x2"]  # (topic, partition, offset)
    assert settled == 0


def test_replay_skips_an_event_whose_conversation_applied_a_later_change() -> None:
    """Issue 24, item 3: unversioned A (10:00:00Z, offset 100) failed, B (the same second,
    offset 101) was applied: a copy of A could only come out stale (or, before the worker
    ranked copies by their original position, win). Not replayed."""
    a = failed(100, "A", event_id="A", occurred_at=at(0))
    b = applied(101, "B", event_id="B", occurred_at=at(0))
    assert Ledger.of([a, b]).to_replay() == ([], 1)
    assert Ledger.of([b, a]).to_replay() == ([], 1), "in any reading order"
    # An applied change of another conversation, or an older one of the same, changes nothing.
    other = applied(101, "B", event_id="B", occurred_at=at(0), conversation_id="c2c_other")
    older = applied(99, "O", event_id="O", occurred_at=at(0))
    assert Ledger.of([a, other, older]).to_replay() == ([a], 0)
    # A replayed copy names A's source: its applied outcome settles A too.
    assert Ledger.of([a, applied(100, "A", event_id="A", occurred_at=at(0))]).to_replay() == (
        [],
        1,
    )


@pytest.mark.parametrize("settling", ["applied", "duplicate", "stale", "superseded"])
def test_an_event_settled_by_another_copy_is_skipped_and_counted(settling: str) -> None:
    copy = make_outcome(
        settling,
        9,
        event_id="x1",
        custom_data="f",
        reason=None if settling == "applied" else settling,
    )
    other = failed(2, event_id="x2", conversation_id="c2c_other")
    ledger = Ledger.of([failed(1, event_id="x1"), other, copy])
    chosen, settled = ledger.to_replay()
    assert [o.event_id for o in chosen] == ["x2"]
    assert settled == 1


def test_a_rejected_copy_settles_nothing() -> None:
    rejected = make_outcome("rejected", 9, event_id="x1", reason="clock_skew")
    chosen, settled = Ledger.of([failed(1, event_id="x1"), rejected]).to_replay()
    assert [o.event_id for o in chosen] == ["x1"] and settled == 0


def test_an_event_that_failed_again_after_a_replay_is_replayed_once() -> None:
    """A replay during a lasting outage fails too: the next replay must not publish both
    copies (then four, ...), one per event is enough."""
    outcomes = [
        failed(1, event_id="x1"),
        failed(2, event_id="x2"),
        failed(5, event_id="x1"),
        failed(6, event_id="x2"),
        failed(9, event_id="x1"),
    ]
    chosen, settled = Ledger.of(outcomes).to_replay()
    # The newest copy: the one most likely still within the changes topic's retention.
    assert [(o.event_id, o.source.offset) for o in chosen] == [("x2", 6), ("x1", 9)]
    assert settled == 0


def test_replay_filters() -> None:
    outcomes = [
        failed(1, event_id="early", processed_at="2026-11-25T09:59:59.999999Z"),
        failed(2, event_id="since", processed_at="2026-11-25T10:00:00Z"),
        failed(3, event_id="before-until", processed_at="2026-11-25T18:59:59+08:00"),
        failed(4, event_id="until", processed_at="2026-11-25T11:00:00Z"),
    ]
    window = Filters(
        since=datetime(2026, 11, 25, 10, tzinfo=UTC), until=datetime(2026, 11, 25, 11, tzinfo=UTC)
    )

    def replayed(outcomes: list[Outcome], filters: Filters) -> list[str | None]:
        return [o.event_id for o in Ledger.of(outcomes, filters).to_replay()[0]]

    assert replayed(outcomes, window) == ["since", "before-until"]
    assert replayed(outcomes, Filters(since=window.since)) == ["since", "before-until", "until"]

    by_kind = [
        failed(1, event_id="perm", code=70107, reason="permanent"),
        failed(2, event_id="retry", code=70169, reason="retries_exhausted"),
        failed(3, event_id="bob", code=70169, reason="retries_exhausted", user_id="bob"),
    ]
    permanent = Filters(reasons=frozenset({OutcomeReason.PERMANENT}))
    assert replayed(by_kind, permanent) == ["perm"]
    assert replayed(by_kind, Filters(codes=frozenset({70169}))) == ["retry", "bob"]
    assert replayed(by_kind, Filters(users=frozenset({"bob"}))) == ["bob"]
    both = Filters(codes=frozenset({70169}), users=frozenset({"alice"}))
    assert replayed(by_kind, both) == ["retry"]


def test_a_settled_copy_outside_the_filters_still_settles() -> None:
    copy = applied(9, "f", event_id="x1", processed_at="2026-11-26T00:00:00Z")
    until = Filters(until=datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert Ledger.of([failed(1, event_id="x1"), copy], until).to_replay() == ([], 1)


# expectations and check ---------------------------------------------------------------------


def expectation(outcomes: list[Outcome], filters: Filters | None = None) -> Any:
    [found] = Ledger.of(outcomes, filters).expectations()
    return found


def test_the_im_agrees_with_the_last_applied_value() -> None:
    found = expectation([applied(1, "v1", occurred_at=at(1)), applied(2, "v2", occurred_at=at(2))])
    assert found.applied.custom_data == "v2"
    assert found.check("v2") is None
    assert found.check("v1") == {
        "user_id": "alice",
        "conversation_id": "c2c_bob",
        "im_value": "v1",
        "expected": "v2",
        "expected_event_id": "e2",
        "failed_but_applied": None,
    }


def test_an_empty_value_and_no_value_are_the_same() -> None:
    cleared = expectation([applied(1, "")])
    assert cleared.check(None) is None and cleared.check("") is None
    assert cleared.check("x") is not None
    kept = expectation([applied(1, "x")])
    assert kept.check(None) == {
        "user_id": "alice",
        "conversation_id": "c2c_bob",
        "im_value": None,
        "expected": "x",
        "expected_event_id": "e1",
        "failed_but_applied": None,
    }


def test_a_mismatch_is_explained_by_a_newer_failed_event() -> None:
    found = expectation(
        [
            applied(1, "first", occurred_at=at(1)),
            failed(2, "lost", occurred_at=at(2)),
            failed(3, "also", occurred_at=at(3)),
        ]
    )
    assert [f.event_id for f in found.newer_failures] == ["e2", "e3"]
    assert found.check("lost") == {
        "user_id": "alice",
        "conversation_id": "c2c_bob",
        "im_value": "lost",
        "expected": "first",
        "expected_event_id": "e1",
        "failed_but_applied": "e2",
    }
    assert found.check("other")["failed_but_applied"] is None


def test_an_older_failed_event_explains_nothing() -> None:
    found = expectation([failed(1, "old", occurred_at=at(1)), applied(2, "new", occurred_at=at(2))])
    assert found.newer_failures == []
    assert found.check("old")["failed_but_applied"] is None


def test_without_applied_only_a_failed_events_value_is_reported() -> None:
    found = expectation([failed(1, "lost", occurred_at=at(1))])
    assert found.applied is None
    assert found.check("lost") == {
        "user_id": "alice",
        "conversation_id": "c2c_bob",
        "im_value": "lost",
        "expected": None,
        "expected_event_id": None,
        "failed_but_applied": "e1",
    }
    assert found.check("set by someone else") is None
    assert found.check(None) is None


def test_the_last_applied_is_chosen_by_order_not_arrival() -> None:
    # Read in this order; last-write-wins: version, then occurred_at, then source offset.
    by_version = expectation(
        [
            applied(1, "v5", version=5, occurred_at=at(1)),
            applied(2, "v3", version=3, occurred_at=at(9)),
        ]
    )
    assert by_version.applied.custom_data == "v5"
    versioned_beats_none = expectation(
        [applied(1, "v0", version=0, occurred_at=at(1)), applied(2, "none", occurred_at=at(9))]
    )
    assert versioned_beats_none.applied.custom_data == "v0"
    by_time = expectation(
        [
            applied(1, "later", occurred_at="2026-11-25T18:00:01+08:00"),
            applied(2, "earlier", occurred_at=at(0)),
        ]
    )
    assert by_time.applied.custom_data == "later"
    by_offset = expectation(
        [
            applied(5, "higher", occurred_at=at(0)),
            applied(2, "lower", occurred_at="2026-11-25T18:00:00+08:00"),
        ]
    )
    assert by_offset.applied.custom_data == "higher"
    # A failed event is newer only in that order too.
    newer = expectation([applied(1, "v5", version=5), failed(2, "v4", version=4)])
    assert newer.newer_failures == []


def test_each_conversation_named_by_a_selected_final_outcome() -> None:
    outcomes = [
        applied(1, "a", conversation_id="c2c_a"),
        applied(2, "b", user_id="bob", conversation_id="c2c_a"),
        failed(3, "g", conversation_id="group_g"),
        make_outcome("rejected", 4, reason="schema", conversation_id="c2c_r"),
        make_outcome("stale", 5, reason="stale", conversation_id="c2c_s"),
    ]
    assert [(e.user_id, e.conversation_id) for e in Ledger.of(outcomes).expectations()] == [
        ("alice", "c2c_a"),
        ("alice", "group_g"),
        ("bob", "c2c_a"),
    ]
    bob = Ledger.of(outcomes, Filters(users=frozenset({"bob"})))
    assert [(e.user_id, e.conversation_id) for e in bob.expectations()] == [("bob", "c2c_a")]


def test_a_conversation_selected_by_time_is_judged_on_all_its_outcomes() -> None:
    outcomes = [
        applied(1, "old", occurred_at=at(1), processed_at="2026-11-24T00:00:00Z"),
        applied(2, "new", occurred_at=at(2), processed_at="2026-11-26T00:00:00Z"),
    ]
    found = expectation(outcomes, Filters(until=datetime(2026, 11, 25, tzinfo=UTC)))
    assert found.applied.custom_data == "new"


# order_of -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000001Z"),
        ("2026-11-25T17:59:59+08:00", "2026-11-25T10:00:00Z"),  # 09:59:59 UTC: earlier
        ("2026-11-25T10:00:00Z", "2026-11-25T05:00:01-05:00"),
        ("2026-11-25T09:00:00-01:00", "2026-11-25T10:00:00.5Z"),
        ("2026-11-25t10:00:00z", "2026-11-25t10:00:00.5z"),  # lower case: valid RFC 3339
    ],
)
def test_order_of_compares_instants(earlier: str, later: str) -> None:
    a, b = applied(9, "a", occurred_at=earlier), applied(1, "b", occurred_at=later)
    assert order_of(a) < order_of(b)
    assert order_of(a)[0] == -1


def test_order_of_the_same_instant_in_other_offsets_is_equal_but_for_the_offset() -> None:
    a = applied(1, "a", version=2, occurred_at="2026-11-25T10:00:00Z")
    b = applied(2, "b", version=2, occurred_at="2026-11-25T18:00:00+08:00")
    assert order_of(a)[:2] == order_of(b)[:2] == (2, order_of(a)[1])
    assert order_of(a) < order_of(b)
    assert order_of(make_outcome("failed", 3, occurred_at=None)) == (-1, 0, 3)
