"""Builders for core tests: envelopes and changes with fixed positions and UTC timestamps."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.core.decode import decode
from streams.core.partitioning import partition_for
from streams.core.records import Change, Envelope, Forward, Position, Rejection

TOPIC = "changes"
PARTITIONS = 4
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)
MAX_BYTES = 64 * 1024


def home(user_id: str) -> int:
    return partition_for(user_id.encode(), PARTITIONS)


def change_doc(event_id: str, user: str = "alice", conv: str = "c2c_bob", **extra: Any) -> bytes:
    doc = {
        "event_id": event_id,
        "user_id": user,
        "conversation_id": conv,
        "custom_data": extra.pop("data", f"value-{event_id}"),
        "occurred_at": extra.pop("at", "2026-11-25T11:59:00Z"),
        **extra,
    }
    return orjson.dumps(doc)


def envelope(
    value: bytes | None, offset: int, user: str = "alice", partition: int | None = None
) -> Envelope:
    part = home(user) if partition is None else partition
    return Envelope(user.encode(), value, Position(TOPIC, part, offset), PARTITIONS)


def classify(env: Envelope) -> Change | Rejection | Forward:
    return decode(env, now=NOW, max_skew=SKEW, max_bytes=MAX_BYTES)


def change(event_id: str, offset: int, **kwargs: Any) -> Change:
    user = kwargs.get("user", "alice")
    result = classify(envelope(change_doc(event_id, **kwargs), offset, user))
    assert isinstance(result, Change), result
    return result
