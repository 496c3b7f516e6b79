"""Outcomes built by the worker's own builder, and topics on the embedded broker."""

from __future__ import annotations

from typing import Any

from streams.client import BrokerSettings
from streams.contract import Outcome, OutcomeReason, OutcomeStatus
from streams.core.outcomes import outcome
from streams.core.records import Position
from streams_devkit.broker import create_topics

CHANGES = "changes"
PROCESSED_AT = "2026-11-25T10:00:30+00:00"


def make_outcome(status: str, offset: int, **fields: Any) -> Outcome:
    """A valid outcome (the worker's dict, validated by the contract model) for one source;
    the arguments of :func:`outcome_dict`."""
    return Outcome.model_validate(outcome_dict(status, offset, **fields))


def outcome_dict(
    status: str,
    offset: int,
    *,
    partition: int = 0,
    topic: str = CHANGES,
    event_id: str | None = None,
    user_id: str | None = "alice",
    conversation_id: str | None = "c2c_bob",
    processed_at: str = PROCESSED_AT,
    reason: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The outcome record exactly as :func:`streams.core.outcomes.outcome` writes it."""
    return outcome(
        OutcomeStatus(status),
        Position(topic, partition, offset),
        processed_at,
        event_id=f"e{offset}" if event_id is None else event_id,
        user_id=user_id,
        conversation_id=conversation_id,
        reason=None if reason is None else OutcomeReason(reason),
        **fields,
    )


async def new_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    """Create ``name`` on the broker (it must be new: names carry the test's prefix)."""
    created = await create_topics(bootstrap, {name: partitions})
    assert created == {name: True}, f"topic {name} already existed"
    return name


def settings_for(bootstrap: str) -> BrokerSettings:
    """Plaintext settings for the embedded broker (no environment read)."""
    return BrokerSettings(broker=f"kafka://{bootstrap}", broker_security_protocol="PLAINTEXT")
