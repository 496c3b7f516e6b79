"""Bytes to change: size limit, JSON parse, schema validation, clock skew and routing checks.

Every message comes out as exactly one of Change, Rejection or Forward, so the window can give
each input one outcome. The size limit is checked before any parsing, so a 10 MB message costs
a length comparison, not an object tree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from streams.contract import CustomDataChange, OutcomeReason
from streams.core.partitioning import partition_for
from streams.core.records import Change, Envelope, Forward, Rejection

#: Error types meaning "this is not a JSON object at all" (as opposed to a bad field).
_UNPARSEABLE_TYPES: Final = frozenset({"json_invalid", "json_type", "model_type"})
_MAX_INFO: Final = 512
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: A key is the user id (at most 128 bytes); a far longer one is refused before anything else,
#: so no record the worker forwards or dead-letters carries an unbounded key.
MAX_KEY_BYTES: Final = 1024


class Unreadable(bytes):
    """The value of a record the consumer could not read in full, and why (``why``).

    Made by the fetch (:mod:`streams.engine.fetch_guard`) for a record whose header name is not
    UTF-8 (its value's bytes kept) and for each offset of a batch that could not be read at all
    (a decompression bomb, corrupt data, a CRC mismatch: empty). A type, not a header, so no
    producer can make a record look like one.
    """

    why: str

    def __new__(cls, data: bytes, why: str) -> Unreadable:
        """``data`` marked unreadable for the reason ``why``."""
        value = super().__new__(cls, data)
        value.why = why
        return value


def _describe(errors: list[ErrorDetails]) -> str:
    text = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in errors
    )
    return text[:_MAX_INFO]


def _reason(errors: list[ErrorDetails]) -> OutcomeReason:
    fields = {str(err["loc"][0]) for err in errors if err["loc"]}
    if fields == {"custom_data"} and all(
        err["type"] in ("value_error", "string_too_long") for err in errors
    ):
        return OutcomeReason.TOO_LARGE
    if fields == {"conversation_id"}:
        return OutcomeReason.BAD_CONVERSATION_ID
    return OutcomeReason.SCHEMA


def _partial_fields(raw: bytes) -> dict[str, Any]:
    """Best-effort ids from an invalid change, so its outcome can name them."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(doc, dict):
        return {}
    names = ("event_id", "user_id", "conversation_id")
    return {
        name: value
        for name in names
        if isinstance(value := doc.get(name), str) and len(value) <= 128
    }


def micros(moment: datetime) -> int:
    """UTC microseconds since the epoch, exact (no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def decode(
    envelope: Envelope, *, now: datetime, max_skew: timedelta, max_bytes: int
) -> Change | Rejection | Forward:
    """Classify one consumed message."""
    raw = envelope.value
    if isinstance(raw, Unreadable):
        return Rejection(envelope, OutcomeReason.UNPARSEABLE, raw.why[:_MAX_INFO], True)
    if envelope.key is not None and len(envelope.key) > MAX_KEY_BYTES:
        info = f"key is {len(envelope.key)} bytes; at most {MAX_KEY_BYTES} are accepted"
        return Rejection(envelope, OutcomeReason.TOO_LARGE, info, True)
    if raw is None:
        return Rejection(envelope, OutcomeReason.UNPARSEABLE, "message has no value", True)
    if len(raw) > max_bytes:
        info = f"message is {len(raw)} bytes; at most {max_bytes} are accepted"
        return Rejection(envelope, OutcomeReason.TOO_LARGE, info, True)
    try:
        change = CustomDataChange.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(not err["loc"] and err["type"] in _UNPARSEABLE_TYPES for err in errors):
            info = "not a JSON object: " + _describe(errors)
            return Rejection(envelope, OutcomeReason.UNPARSEABLE, info, True)
        return Rejection(
            envelope, _reason(errors), _describe(errors), False, **_partial_fields(raw)
        )
    ids: dict[str, Any] = {
        "event_id": change.event_id,
        "user_id": change.user_id,
        "conversation_id": change.conversation_id,
        "version": change.version,
        "occurred_at": change.occurred_at.isoformat(),
    }
    if change.occurred_at > now + max_skew:
        info = f"occurred_at is more than {max_skew.total_seconds():g} s in the future"
        return Rejection(envelope, OutcomeReason.CLOCK_SKEW, info, False, **ids)
    home = partition_for(change.user_id.encode(), envelope.partitions)
    if home != envelope.position.partition:
        if envelope.origin is None:
            return Forward(envelope, home)
        info = (
            f"forwarded from {envelope.origin.topic}/{envelope.origin.partition} but not on its "
            f"user's partition {home} of {envelope.partitions} either (the partition count "
            "changed?); a record is never forwarded twice"
        )
        return Rejection(envelope, OutcomeReason.MISROUTED, info, True, **ids)
    version = -1 if change.version is None else change.version
    # The offset is the source's: a replayed (or forwarded) copy ranks where its original was
    # published, not where the copy landed, so a replay never beats a change published after
    # its original and applied meanwhile (docs/RELIABILITY.md).
    order = (version, micros(change.occurred_at), envelope.source.offset)
    return Change(change, envelope, order, f"{change.user_id}/{change.conversation_id}")
