"""A re-published event ranks by its original position (pure: decode and resolve).

The issue it fixes (issue 24, item 3): unversioned A (10:00:00Z, offset 100) failed, B (same
second, offset 101) was applied; ``streams replay`` re-published A at offset 500, and A's copy
beat B because the order key took the copy's offset.
"""

from __future__ import annotations

from dataclasses import replace

from streams.contract import OutcomeStatus
from streams.core.coalesce import group_by_conversation, resolve
from streams.core.records import Change, LastApplied, Position
from tests.fixtures.changes import TOPIC, change_doc, classify, envelope, home

SECOND = "2026-11-25T10:00:00Z"


def decoded(event_id: str, offset: int, origin: Position | None = None) -> Change:
    """A change of alice's c2c_bob in the same second, at ``offset`` (a copy of ``origin``)."""
    env = replace(envelope(change_doc(event_id, at=SECOND), offset), origin=origin)
    result = classify(env)
    assert isinstance(result, Change), result
    return result


A_AT = Position(TOPIC, home("alice"), 100)


def test_a_replayed_copy_takes_its_original_offset_and_names_it() -> None:
    copy = decoded("A", 500, origin=A_AT)
    assert copy.order == decoded("A", 100).order
    assert copy.order[2] == 100 and copy.envelope.source == A_AT


def test_a_replay_never_beats_a_later_change_applied_meanwhile() -> None:
    b = decoded("B", 101)
    applied_b = {b.conversation: LastApplied.of(b)}
    out = resolve(group_by_conversation([decoded("A", 500, origin=A_AT)]), applied_b)
    assert out.winners == []
    assert [(d.change.change.event_id, d.status) for d in out.decided] == [
        ("A", OutcomeStatus.STALE)
    ]
    # Nor while B's write is only pending (it may be in the IM already).
    pending_b = {b.conversation: LastApplied(None, None).writing(b)}
    pending = resolve(group_by_conversation([decoded("A", 500, origin=A_AT)]), pending_b)
    assert pending.winners == [] and pending.decided[0].status is OutcomeStatus.STALE


def test_a_replay_in_the_same_window_as_the_later_change_loses_to_it() -> None:
    out = resolve(group_by_conversation([decoded("B", 101), decoded("A", 500, origin=A_AT)]), {})
    assert [w.change.event_id for w in out.winners] == ["B"]
    assert [(d.change.change.event_id, d.superseded_by) for d in out.decided] == [("A", "B")]


def test_a_replay_still_wins_over_what_its_original_beat() -> None:
    older = decoded("O", 99)
    out = resolve(
        group_by_conversation([decoded("A", 500, origin=A_AT)]),
        {older.conversation: LastApplied.of(older)},
    )
    assert [w.change.event_id for w in out.winners] == ["A"]


def test_an_unsigned_copy_ranks_by_where_it_landed() -> None:
    """What a copy without (verified) origin headers is: a new event at its own offset."""
    assert decoded("A", 500).order[2] == 500
