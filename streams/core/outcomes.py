"""Outcome records as plain dicts, serialized once with orjson.

Their fields and statuses are in docs/CONTRACT.md, "Events and outcomes".

Built as dicts rather than pydantic models because one is made per input event on the hot path;
tests validate them against :class:`streams.contract.Outcome`.
"""

from __future__ import annotations

from typing import Any

from streams.contract import OutcomeReason, OutcomeStatus
from streams.core.coalesce import Decision
from streams.core.records import Change, Position, Rejection


def outcome(
    status: OutcomeStatus,
    source: Position,
    processed_at: str,
    *,
    event_id: str | None,
    user_id: str | None,
    conversation_id: str | None,
    version: int | None = None,
    occurred_at: str | None = None,
    reason: OutcomeReason | None = None,
    code: int | None = None,
    info: str | None = None,
    custom_data: str | None = None,
    superseded_by: str | None = None,
    request_id: str | None = None,
    attempts: int = 0,
) -> dict[str, Any]:
    """One outcome record, every field of the contract present.

    ``version`` and ``occurred_at`` are the event's (null when it had no version or did not
    validate): with ``source.offset`` they are the order last-write-wins decided by, so a
    consumer can rebuild it.
    """
    return {
        "event_id": event_id,
        "user_id": user_id,
        "conversation_id": conversation_id,
        "version": version,
        "occurred_at": occurred_at,
        "status": status.value,
        "reason": None if reason is None else reason.value,
        "code": code,
        "info": info,
        "custom_data": custom_data,
        "superseded_by": superseded_by,
        "request_id": request_id,
        "attempts": attempts,
        "processed_at": processed_at,
        "source": source.as_dict(),
    }


def event_fields(change: Change) -> dict[str, Any]:
    """What an outcome names of a valid change: its ids and its last-write-wins order."""
    c = change.change
    return {
        "event_id": c.event_id,
        "user_id": c.user_id,
        "conversation_id": c.conversation_id,
        "version": c.version,
        "occurred_at": c.occurred_at.isoformat(),
    }


def _ids(change: Change) -> dict[str, Any]:
    return {**event_fields(change), "custom_data": change.change.custom_data}


def for_rejection(rejection: Rejection, processed_at: str) -> dict[str, Any]:
    """``rejected``: the input was invalid; ``info`` says why."""
    return outcome(
        OutcomeStatus.REJECTED,
        rejection.envelope.source,
        processed_at,
        event_id=rejection.event_id,
        user_id=rejection.user_id,
        conversation_id=rejection.conversation_id,
        version=rejection.version,
        occurred_at=rejection.occurred_at,
        reason=rejection.reason,
        info=rejection.info,
    )


def for_decision(decision: Decision, processed_at: str) -> dict[str, Any]:
    """``superseded`` / ``stale`` / ``duplicate``: decided without calling the SDK."""
    return outcome(
        decision.status,
        decision.change.envelope.source,
        processed_at,
        reason=decision.reason,
        superseded_by=decision.superseded_by,
        **_ids(decision.change),
    )


def for_result(
    change: Change,
    processed_at: str,
    *,
    code: int,
    info: str,
    request_id: str,
    attempts: int,
    reason: OutcomeReason | None,
) -> dict[str, Any]:
    """``applied`` (code 0) or ``failed`` (permanent or retries exhausted) after SDK calls."""
    return outcome(
        OutcomeStatus.APPLIED if code == 0 else OutcomeStatus.FAILED,
        change.envelope.source,
        processed_at,
        reason=None if code == 0 else reason,
        code=code,
        info=None if code == 0 else info,
        request_id=request_id,
        attempts=attempts,
        **_ids(change),
    )
