"""The Kafka contract (DESIGN section 3): the change event consumed and the outcome produced.

Every string is bounded so that no input, however hostile, makes the worker hold unbounded data.
Unknown fields in a change are ignored, so upstream producers can add fields without breaking the
processor; the ones named here are validated strictly (no coercion from other JSON types).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

from streams.contract.limits import MAX_CUSTOM_DATA_BYTES, MAX_ID_BYTES, MAX_VERSION

#: Control characters (C0, DEL, C1) and whitespace are never part of an account or group id.
_FORBIDDEN_ID_CHARS: Final = re.compile(r"[\s/\x00-\x1f\x7f-\x9f]")
_CONVERSATION_PREFIXES: Final = ("c2c_", "group_")
#: `c2c_` / `group_` plus an id of at most MAX_ID_BYTES.
MAX_CONVERSATION_ID_BYTES: Final = MAX_ID_BYTES + len("group_")
MAX_SOURCE_CHARS: Final = 256
MAX_INFO_CHARS: Final = 1024
#: RFC 3339 section 5.6 ``date-time``: full-date "T" full-time, with seconds and an offset;
#: "T" and "Z" may be lower case (its note). ECMA 262 compatible, so the JSON Schema states it
#: too. Pydantic alone also takes Unix times as strings ("1700000000", seconds or milliseconds
#: guessed by size), no seconds, "+0800", and a space or "_" as the separator.
RFC3339_DATE_TIME: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"  # full-date
    r"[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"  # "T" partial-time
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"  # time-offset
)
_RFC3339: Final = re.compile(RFC3339_DATE_TIME)


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes; surrogates (not encodable) count as 3, the size they would take."""
    return len(text.encode("utf-8", "surrogatepass"))


def check_account_id(value: str) -> str:
    """Validate a user or group id: 1..128 UTF-8 bytes, no '/', whitespace or control chars."""
    if not value:
        raise ValueError("must not be empty")
    if utf8_len(value) > MAX_ID_BYTES:
        raise ValueError(f"must be at most {MAX_ID_BYTES} UTF-8 bytes")
    if _FORBIDDEN_ID_CHARS.search(value):
        raise ValueError("must not contain '/', whitespace or control characters")
    return value


def check_conversation_id(value: str) -> str:
    """Validate ``c2c_<userID>`` / ``group_<groupID>`` with a valid, non-empty id."""
    for prefix in _CONVERSATION_PREFIXES:
        if value.startswith(prefix):
            try:
                check_account_id(value[len(prefix) :])
            except ValueError as exc:
                raise ValueError(f"the id after {prefix!r} {exc}") from None
            return value
    raise ValueError("must be 'c2c_<userID>' or 'group_<groupID>'")


def check_custom_data(value: str) -> str:
    """Enforce the API's 256-byte limit, counted in UTF-8 bytes rather than characters."""
    size = utf8_len(value)
    if size > MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"is {size} UTF-8 bytes; at most {MAX_CUSTOM_DATA_BYTES} are allowed")
    return value


def check_rfc3339(value: object) -> object:
    """Let only RFC 3339 date-time text (or, from Python, a datetime) reach the datetime parser."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-25T10:00:00Z")
    return value


def _check_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


AccountId = Annotated[str, Field(max_length=MAX_ID_BYTES), AfterValidator(check_account_id)]
ConversationId = Annotated[
    str, Field(max_length=MAX_CONVERSATION_ID_BYTES), AfterValidator(check_conversation_id)
]
CustomData = Annotated[
    str,
    Field(max_length=MAX_CUSTOM_DATA_BYTES),
    AfterValidator(_check_text),
    AfterValidator(check_custom_data),
]
EventId = Annotated[str, Field(min_length=1, max_length=MAX_ID_BYTES), AfterValidator(_check_text)]
Version = Annotated[StrictInt, Field(ge=0, le=MAX_VERSION)]
SourceText = Annotated[str, Field(max_length=MAX_SOURCE_CHARS), AfterValidator(_check_text)]
InfoText = Annotated[str, Field(max_length=MAX_INFO_CHARS)]
Rfc3339DateTime = Annotated[
    AwareDatetime,
    # Lax, unlike the rest of the model: after a before-validator the parser gets a Python str,
    # which strict mode refuses; check_rfc3339 lets only RFC 3339 text through to it.
    Field(strict=False, json_schema_extra={"pattern": RFC3339_DATE_TIME}),
    BeforeValidator(check_rfc3339),
]


class CustomDataChange(BaseModel):
    """Set the custom data of conversation ``conversation_id`` in ``user_id``'s list."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    event_id: EventId = Field(description="Unique per change; the deduplication key.")
    user_id: AccountId = Field(description="Whose conversation list; also the Kafka key.")
    conversation_id: ConversationId = Field(description="c2c_<userID> or group_<groupID>.")
    custom_data: CustomData = Field(description="At most 256 UTF-8 bytes; '' clears it.")
    occurred_at: Rfc3339DateTime = Field(
        description="RFC 3339 event time with an offset; orders changes without a version."
    )
    version: Version | None = Field(
        default=None, description="Optional per-conversation increasing version; orders first."
    )
    source: SourceText | None = Field(default=None, description="Free-form origin label.")


class OutcomeStatus(StrEnum):
    """What happened to one input event (DESIGN section 3)."""

    APPLIED = "applied"
    SUPERSEDED = "superseded"
    STALE = "stale"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"


class OutcomeReason(StrEnum):
    """Why an event was not applied; null when it was."""

    SUPERSEDED = "superseded"
    STALE = "stale"
    DUPLICATE = "duplicate"
    UNPARSEABLE = "unparseable"
    SCHEMA = "schema"
    TOO_LARGE = "too_large"
    BAD_CONVERSATION_ID = "bad_conversation_id"
    CLOCK_SKEW = "clock_skew"
    PERMANENT = "permanent"
    RETRIES_EXHAUSTED = "retries_exhausted"
    #: A forwarded record (signed origin headers) that is still not on its user's partition:
    #: the changes topic's partition count changed; it is never forwarded twice.
    MISROUTED = "misrouted"
    #: The worker failed on this record itself (a bug, a library exception) until it was
    #: quarantined: processed alone, rejected and dead-lettered so the partition moves on.
    INTERNAL_ERROR = "internal_error"


class SourcePosition(BaseModel):
    """Where the input event was read (for a forwarded record: where it was first published)."""

    model_config = ConfigDict(frozen=True)

    topic: Annotated[str, Field(max_length=249)]
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]


class Outcome(BaseModel):
    """Exactly one per input event, emitted before the event's offset is committed."""

    model_config = ConfigDict(frozen=True)

    event_id: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None
    user_id: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None
    conversation_id: Annotated[str, Field(max_length=MAX_CONVERSATION_ID_BYTES)] | None
    status: OutcomeStatus
    reason: OutcomeReason | None = None
    code: int | None = Field(default=None, description="REST code verbatim; 0 when applied.")
    info: InfoText | None = None
    custom_data: Annotated[str, Field(max_length=MAX_CUSTOM_DATA_BYTES)] | None = None
    superseded_by: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None = None
    request_id: Annotated[str, Field(max_length=64)] | None = None
    attempts: Annotated[int, Field(ge=0)] = 0
    processed_at: datetime
    source: SourcePosition
