"""Window resolution and planning with exact expected decisions."""

from streams.contract import OutcomeStatus
from streams.core.coalesce import group_by_conversation, plan, resolve
from streams.core.records import NOTHING_APPLIED, LastApplied
from tests.fixtures.changes import change

S = OutcomeStatus


def ids(out_changes: list) -> list[str]:  # type: ignore[type-arg]
    return [c.change.event_id for c in out_changes]


def test_last_write_wins_by_occurred_at_then_offset() -> None:
    a = change("a", 1, at="2026-11-25T11:00:00Z")
    b = change("b", 2, at="2026-11-25T11:30:00Z")
    c = change("c", 3, at="2026-11-25T11:10:00Z")
    out = resolve(group_by_conversation([a, b, c]), {})
    assert ids(out.winners) == ["b"]
    assert [(d.change.change.event_id, d.status, d.superseded_by) for d in out.decided] == [
        ("a", S.SUPERSEDED, "b"),
        ("c", S.SUPERSEDED, "b"),
    ]


def test_version_orders_before_time_and_offset_breaks_ties() -> None:
    old_time_high_version = change("v9", 1, version=9, at="2026-11-25T10:00:00Z")
    new_time_low_version = change("v1", 2, version=1, at="2026-11-25T11:59:00Z")
    unversioned = change("nv", 3, at="2026-11-25T11:59:59Z")
    out = resolve(
        group_by_conversation([old_time_high_version, new_time_low_version, unversioned]), {}
    )
    assert ids(out.winners) == ["v9"]
    tie_1 = change("t1", 10, version=2, at="2026-11-25T11:00:00Z")
    tie_2 = change("t2", 11, version=2, at="2026-11-25T11:00:00Z")
    out = resolve(group_by_conversation([tie_2, tie_1]), {})
    assert ids(out.winners) == ["t2"], "same version and time: the later offset wins"


def test_repeated_event_id_in_window_is_duplicate_of_first() -> None:
    first = change("a", 1)
    again = change("a", 2)
    out = resolve(group_by_conversation([first, again]), {})
    assert out.winners == [first]
    assert [(d.change, d.status) for d in out.decided] == [(again, S.DUPLICATE)]


def test_against_last_applied_duplicate_and_stale() -> None:
    applied = change("x", 5, version=3)
    last = {applied.conversation: LastApplied.of(applied)}
    replay = change("x", 5, version=3)
    older = change("y", 4, version=2)
    newer = change("z", 9, version=4)
    out = resolve(group_by_conversation([replay, older, newer]), last)
    assert ids(out.winners) == ["z"]
    assert [(d.change.change.event_id, d.status) for d in out.decided] == [
        ("x", S.DUPLICATE),
        ("y", S.STALE),
    ]


def test_all_older_than_last_applied_means_no_winner() -> None:
    applied = change("x", 50)
    last = {applied.conversation: LastApplied.of(applied)}
    out = resolve(group_by_conversation([change("p", 3), change("q", 4)]), last)
    assert out.winners == []
    assert [d.status for d in out.decided] == [S.STALE, S.STALE]


def test_equal_order_different_event_is_stale() -> None:
    applied = change("x", 7, version=1, at="2026-11-25T11:00:00Z")
    last = {applied.conversation: LastApplied.of(applied)}
    same_key = change("w", 7, version=1, at="2026-11-25T11:00:00Z")
    out = resolve(group_by_conversation([same_key]), last)
    assert [d.status for d in out.decided] == [S.STALE]


def test_conversations_are_independent() -> None:
    a = change("a", 1, conv="c2c_bob")
    b = change("b", 2, conv="group_G")
    c = change("c", 3, user="zed", conv="c2c_bob")
    out = resolve(group_by_conversation([a, b, c]), {})
    assert ids(out.winners) == ["a", "b", "c"] and out.decided == []


def test_a_write_that_may_have_reached_the_im_bounds_every_later_one() -> None:
    applied = change("x", 5, version=1)
    started = change("p", 20, version=3)  # its request was sent; no answer was recorded
    last = {applied.conversation: LastApplied.of(applied).writing(started)}
    older = change("o", 10, version=2)
    out = resolve(group_by_conversation([older]), last)
    assert out.winners == [] and [d.status for d in out.decided] == [S.STALE]
    again = change("p", 20, version=3)  # the replay of the unconfirmed change itself
    newer = change("n", 30, version=4)
    assert ids(resolve(group_by_conversation([again]), last).winners) == ["p"]
    out = resolve(group_by_conversation([older, again, newer]), last)
    assert ids(out.winners) == ["n"]
    assert [(d.change.change.event_id, d.status) for d in out.decided] == [
        ("o", S.STALE),
        ("p", S.SUPERSEDED),
    ]


def test_a_first_write_bounds_later_ones_before_any_is_confirmed() -> None:
    started = change("p", 20, version=3)
    last = {started.conversation: NOTHING_APPLIED.writing(started)}
    out = resolve(group_by_conversation([change("o", 10, version=2), started]), last)
    assert ids(out.winners) == ["p"]
    assert [(d.change.change.event_id, d.status) for d in out.decided] == [("o", S.STALE)]


def test_table_value_round_trip() -> None:
    entry = LastApplied.of(change("a", 12, version=3))
    assert LastApplied.from_json(entry.to_json()) == entry
    pending = entry.writing(change("b", 13, version=4))
    assert pending.pending == (4, change("b", 13, version=4).order[1], 13)
    assert LastApplied.from_json(pending.to_json()) == pending
    first = NOTHING_APPLIED.writing(change("b", 13))
    assert LastApplied.from_json(first.to_json()) == first


def test_plan_groups_by_user_and_splits_at_100() -> None:
    winners = [change(f"e{i}", i, conv=f"c2c_p{i}") for i in range(250)]
    winners += [change("other", 999, user="zed", conv="group_G")]
    requests = plan(winners)
    assert [(r.user_id, len(r.changes)) for r in requests] == [
        ("alice", 100),
        ("alice", 100),
        ("alice", 50),
        ("zed", 1),
    ]
    assert requests[0].values()[0] == ("c2c_p0", "value-e0")
    assert requests[3].partition == winners[-1].envelope.position.partition
