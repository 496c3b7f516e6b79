"""The shared outcome checks can fail: each contradiction the contract rules out is caught.

No broker: a ledger of two events of one conversation (``e1`` superseded by ``e2`` in one
window, ``e2`` applied), then one field or status changed at a time.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fixtures.guarantees import Doc, Ledger, authoritative, change, check_outcomes_cover

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
E1 = change("e1", "u1", "c2c_bob", "1:e1", at=AT, version=1)
E2 = change("e2", "u1", "c2c_bob", "2:e2", at=AT, version=2)


def outcome(event: Doc, offset: int, status: str, **fields: Any) -> Doc:
    reason = {"superseded": "superseded", "stale": "stale", "duplicate": "duplicate"}.get(status)
    applied = status == "applied"
    return {
        "event_id": event["event_id"],
        "user_id": event["user_id"],
        "conversation_id": event["conversation_id"],
        "version": event["version"],
        "occurred_at": event["occurred_at"],
        "status": status,
        "reason": reason,
        "code": 0 if applied else None,
        "info": None,
        "custom_data": event["custom_data"],
        "superseded_by": None,
        "request_id": "r1" if applied else None,
        "attempts": 1 if applied else 0,
        "processed_at": AT.isoformat(),
        "source": {"topic": "changes", "partition": 0, "offset": offset},
        **fields,
    }


def ledger() -> Ledger:
    write = {
        "at": 0.0,
        "user": "u1",
        "conversation_id": "c2c_bob",
        "custom_data": "2:e2",
        "request_id": "r1",
    }
    return Ledger(
        {(0, 0): E1, (0, 1): E2},
        [outcome(E1, 0, "superseded", superseded_by="e2"), outcome(E2, 1, "applied")],
        [write],
    )


def test_a_consistent_ledger_passes_and_a_redelivered_copy_agrees() -> None:
    good = ledger()
    good.outcomes.append(outcome(E2, 1, "duplicate"))  # the window came again after a rebalance
    figures = check_outcomes_cover(good)
    assert figures["duplicates"] == 1
    assert figures["authoritative_outcomes"] == {"applied": 1, "superseded": 1}


def test_the_authoritative_outcome_is_the_first_final_one() -> None:
    copies = [outcome(E2, 1, "superseded", superseded_by="e3"), outcome(E2, 1, "applied")]
    assert authoritative(copies)["status"] == "applied"
    assert authoritative(copies[:1])["status"] == "superseded"


def _broken(index: int, **fields: Any) -> Ledger:
    bad = ledger()
    bad.outcomes[index] = outcome(E1 if index == 0 else E2, index, **fields)
    return bad


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_broken(0, status="superseded", superseded_by="e9"), "contradict"),
        (_broken(1, status="superseded", superseded_by="e1"), "contradict"),  # e1 is older
        (_broken(1, status="stale"), "contradict"),  # nothing newer than e2
        (_broken(0, status="duplicate"), "contradict"),  # e1 was never applied nor repeated
        (_broken(1, status="applied", custom_data="1:e1"), "custom_data"),
        (_broken(1, status="applied", version=1), "version"),
    ],
    ids=[
        "unknown-winner",
        "older-winner",
        "stale-newest",
        "duplicate-never-applied",
        "other-value",
        "other-version",
    ],
)
def test_a_contradicted_outcome_fails(bad: Ledger, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_outcomes_cover(bad)


def test_a_redelivered_copy_that_disagrees_fails() -> None:
    bad = ledger()
    other = copy.deepcopy(bad.outcomes[1])
    other |= {
        "status": "duplicate",
        "reason": "duplicate",
        "code": None,
        "request_id": None,
        "custom_data": "2:e2-changed",
    }
    bad.outcomes.append(other)
    with pytest.raises(AssertionError, match="custom_data"):
        check_outcomes_cover(bad)
