"""Outcome records against the contract model, and the retry policy."""

import pytest

from streams.contract import Outcome, OutcomeReason, OutcomeStatus
from streams.core.coalesce import Decision
from streams.core.outcomes import for_decision, for_rejection, for_result
from streams.core.records import Rejection
from streams.core.retry import RetryPolicy
from tests.fixtures.changes import change, envelope

AT = "2026-11-25T12:00:00+00:00"


def test_outcomes_validate_against_the_contract() -> None:
    winner = change("w", 3)
    loser = change("l", 2)
    records = [
        for_result(winner, AT, code=0, info="", request_id="77", attempts=1, reason=None),
        for_result(
            winner, AT, code=51007, info="not in group", request_id="78", attempts=1,
            reason=OutcomeReason.PERMANENT,
        ),
        for_decision(Decision(loser, OutcomeStatus.SUPERSEDED, OutcomeReason.SUPERSEDED, "w"), AT),
        for_rejection(Rejection(envelope(b"x", 9), OutcomeReason.UNPARSEABLE, "bad", True), AT),
    ]  # fmt: skip
    parsed = [Outcome.model_validate(r) for r in records]
    assert [(o.status, o.reason, o.code) for o in parsed] == [
        (OutcomeStatus.APPLIED, None, 0),
        (OutcomeStatus.FAILED, OutcomeReason.PERMANENT, 51007),
        (OutcomeStatus.SUPERSEDED, OutcomeReason.SUPERSEDED, None),
        (OutcomeStatus.REJECTED, OutcomeReason.UNPARSEABLE, None),
    ]
    assert parsed[0].info is None and parsed[0].request_id == "77"
    assert parsed[2].superseded_by == "w" and parsed[2].custom_data == "value-l"
    assert parsed[3].event_id is None and parsed[3].source.offset == 9


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0, deadline_s=10)
    assert [policy.delay(n, 0.999999) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0], rel=1e-5
    )
    assert policy.delay(3, 0.0) == 0.0
    assert policy.delay(10_000, 0.5) == 0.5


def test_deadline_bounds_retries() -> None:
    policy = RetryPolicy(deadline_s=5)
    assert policy.allows(started=100.0, now=104.0, delay=0.5)
    assert not policy.allows(started=100.0, now=104.6, delay=0.5)
