"""The Kafka contract: the change event consumed and the outcome produced.

The rules are in docs/CONTRACT.md, "Events and outcomes".

Every string is bounded so that no input, however hostile, makes the worker hold unbounded data.
Unknown fields in a change are ignored, so upstream producers can add fields without breaking the
processor; the ones named here are validated strictly (no coercion from other JSON types).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StrictInt,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from streams.contract.codes import outcome_code_description
from streams.contract.limits import (
    MAX_CUSTOM_DATA_BYTES,
    MAX_ID_BYTES,
    MAX_KEY_PREFIX,
    MAX_VERSION,
)

#: What an account or group id never contains, as a character-class body valid both in Python's
#: ``re`` and in ECMA 262 (with or without the ``u`` flag), so the JSON Schema pattern means the
#: same to every validator: '/', the control characters (C0 and space, DEL, C1) and whitespace as
#: Python's ``\s`` matches it (U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
#: U+3000; U+001C..U+001F and U+0085 are control characters already). Spelled out instead of
#: ``\s`` because ECMA's ``\s`` differs: it also matches U+FEFF, which an id may contain, and
#: follows its engine's Unicode version. tests/contract checks that it equals Python's
#: ``[\s/\x00-\x1f\x7f-\x9f]`` in every code point.
ID_FORBIDDEN_CLASS: Final = r"/\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_FORBIDDEN_ID_CHARS: Final = re.compile(f"[{ID_FORBIDDEN_CLASS}]")
#: The character rule of a user or group id (1..128 characters; the limit in bytes is checked
#: in code: ``x-max-utf8-bytes`` in the schema).
ACCOUNT_ID_PATTERN: Final = f"^[^{ID_FORBIDDEN_CLASS}]{{1,{MAX_ID_BYTES}}}$"
CONVERSATION_ID_PATTERN: Final = f"^(?:c2c_|group_)[^{ID_FORBIDDEN_CLASS}]{{1,{MAX_ID_BYTES}}}$"
#: Nesting levels of a change's JSON the worker's parser accepts (the top-level object is one).
MAX_JSON_DEPTH: Final = 200
#: The vendor keyword stating a UTF-8 byte limit JSON Schema cannot express (it counts
#: characters): a string is valid only if its UTF-8 encoding has at most that many bytes.
MAX_UTF8_BYTES_KEYWORD: Final = "x-max-utf8-bytes"
_CONVERSATION_PREFIXES: Final = ("c2c_", "group_")
#: `c2c_` / `group_` plus an id of at most MAX_ID_BYTES.
MAX_CONVERSATION_ID_BYTES: Final = MAX_ID_BYTES + len("group_")
MAX_SOURCE_CHARS: Final = 256
MAX_INFO_CHARS: Final = 1024
#: RFC 3339 section 5.6 ``date-time``: full-date "T" full-time, with seconds and an offset;
#: "T" and "Z" may be lower case (its note). ECMA 262 compatible, so the JSON Schema states it
#: too. Pydantic alone also takes Unix times as strings ("1700000000", seconds or milliseconds
#: guessed by size), no seconds, "+0800", and a space or "_" as the separator. The field ranges
#: are the ones Python's datetime holds, narrower than RFC 3339's: no year 0000 and no leap
#: second (:60). The days of each month (no 02-30, 02-29 only in leap years) are left to
#: ``format: date-time``.
RFC3339_DATE_TIME: Final = (
    r"^(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"  # full-date
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"  # "T" partial-time
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"  # time-offset
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


#: The contract's version, in every schema's ``$id``: raised only for an incompatible change (a
#: field removed or renamed, a rule tightened); added optional fields keep it.
SCHEMA_VERSION: Final = 1
#: JSON Schema dialect of the generated schemas (pydantic's output).
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def schema_id(name: str) -> str:
    """The ``$id`` of schema file ``name``: a URN naming the contract version and the file."""
    return f"urn:conversation-custom-data-streams:schemas:v{SCHEMA_VERSION}:{name}"


def schema_root(name: str, description: str) -> dict[str, JsonValue]:
    """A top-level model's ``json_schema_extra``: the schema file's dialect, ``$id`` and a
    description for consumers (one paragraph, unlike the model's docstring)."""
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_id(name), "description": description}


def _bytes(limit: int) -> dict[str, JsonValue]:
    return {MAX_UTF8_BYTES_KEYWORD: limit}


AccountId = Annotated[
    str,
    Field(
        max_length=MAX_ID_BYTES,
        json_schema_extra={"minLength": 1, "pattern": ACCOUNT_ID_PATTERN, **_bytes(MAX_ID_BYTES)},
    ),
    AfterValidator(check_account_id),
]
ConversationId = Annotated[
    str,
    Field(
        max_length=MAX_CONVERSATION_ID_BYTES,
        json_schema_extra={
            "pattern": CONVERSATION_ID_PATTERN,
            # The id after the prefix is at most 128 bytes: the whole string at most 128 plus
            # the prefix's (ASCII) length.
            "anyOf": [
                {"pattern": f"^{prefix}", **_bytes(MAX_ID_BYTES + len(prefix))}
                for prefix in _CONVERSATION_PREFIXES
            ],
        },
    ),
    AfterValidator(check_conversation_id),
]
CustomData = Annotated[
    str,
    Field(max_length=MAX_CUSTOM_DATA_BYTES, json_schema_extra=_bytes(MAX_CUSTOM_DATA_BYTES)),
    AfterValidator(_check_text),
    AfterValidator(check_custom_data),
]
EventId = Annotated[str, Field(min_length=1, max_length=MAX_ID_BYTES), AfterValidator(_check_text)]
Version = Annotated[StrictInt, Field(ge=0, le=MAX_VERSION)]
SourceText = Annotated[str, Field(max_length=MAX_SOURCE_CHARS), AfterValidator(_check_text)]
InfoText = Annotated[str, Field(max_length=MAX_INFO_CHARS)]
_DATE_TIME_SCHEMA: Final[dict[str, JsonValue]] = {
    "format": "date-time",
    "pattern": RFC3339_DATE_TIME,
}
Rfc3339DateTime = Annotated[
    AwareDatetime,
    # Lax, unlike the rest of the model: after a before-validator the parser gets a Python str,
    # which strict mode refuses; check_rfc3339 lets only RFC 3339 text through to it.
    Field(strict=False, json_schema_extra=_DATE_TIME_SCHEMA),
    BeforeValidator(check_rfc3339),
]
#: An RFC 3339 date-time kept as text (an outcome's copy of the event's time).
Rfc3339Text = Annotated[
    str,
    Field(json_schema_extra=_DATE_TIME_SCHEMA),
    AfterValidator(lambda value: str(check_rfc3339(value))),
]

_ID_RULE: Final = (
    "1..128 UTF-8 bytes (x-max-utf8-bytes; the pattern bounds the characters) without '/', "
    "whitespace or control characters"
)


class CustomDataChange(BaseModel):
    """Set the custom data of conversation ``conversation_id`` in ``user_id``'s list."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        strict=True,
        title="CustomDataChange",
        json_schema_extra=schema_root(
            "custom_data_change.schema.json",
            "A change to one conversation's custom data, published to the changes topic (key: "
            "user_id as UTF-8). Unknown fields are ignored, so producers can add fields. Types "
            "are strict: no value is converted from another JSON type. Besides this schema the "
            "worker rejects an occurred_at more than STREAMS_MAX_CLOCK_SKEW_S in the future, and "
            "a message or key over its size limits. The message is UTF-8 JSON without a lone "
            "surrogate escape ('\\ud800'; I-JSON, RFC 7493, forbids them too) nested at most "
            f"{MAX_JSON_DEPTH} levels deep. {MAX_UTF8_BYTES_KEYWORD} is a vendor "
            "keyword: the string's UTF-8 encoding has at most that many bytes (JSON Schema "
            "counts characters only; a validator that does not know the keyword ignores it).",
        ),
    )

    event_id: EventId = Field(
        description="Unique per change, 1..128 characters: the deduplication key."
    )
    user_id: AccountId = Field(
        description=f"Whose conversation list; also the Kafka key. {_ID_RULE}."
    )
    conversation_id: ConversationId = Field(
        description=(
            f"c2c_<userID> or group_<groupID>; the id after the prefix is {_ID_RULE} (so the "
            "whole string at most 132 or 134 bytes: x-max-utf8-bytes under anyOf)."
        )
    )
    custom_data: CustomData = Field(
        description=(
            "The conversation's new custom data: at most 256 UTF-8 bytes (x-max-utf8-bytes), "
            "not characters; '' clears it."
        )
    )
    occurred_at: Rfc3339DateTime = Field(
        description=(
            "When the change happened: an RFC 3339 date-time with seconds and an offset "
            "(2026-11-25T10:00:00.5Z, 2026-11-25T10:00:00+08:00; 'T' and 'Z' may be lower case; "
            "no Unix time, no space for 'T', no '+0800'). Years 0001..9999, no leap second "
            "(:60); a date that does not exist (02-30) is refused, checked by format: date-time "
            "(assert the format). Orders changes after version."
        )
    )
    version: Version | None = Field(
        default=None,
        description=(
            "Optional per-conversation increasing version, 0..2^53-1; orders first, and any "
            "versioned change beats an unversioned one. Written as a JSON integer: 1.0 or 1e3 "
            "is refused, although JSON Schema's data model takes them for the integers 1 and "
            "1000."
        ),
    )
    source: SourceText | None = Field(
        default=None, description="Free-form origin label, at most 256 characters."
    )


class OutcomeStatus(StrEnum):
    """What happened to the event."""

    APPLIED = "applied"
    SUPERSEDED = "superseded"
    STALE = "stale"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _document_enum(cls, STATUS_MEANINGS, core_schema, handler)


class OutcomeReason(StrEnum):
    """Why the event was not applied; null when it was."""

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
    #: Older than the state retention horizon (STREAMS_STATE_RETENTION_S): the conversation's
    #: state may have been forgotten, so the event can no longer be compared safely.
    BEYOND_RETENTION = "beyond_retention"

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _document_enum(cls, REASON_MEANINGS, core_schema, handler)


#: Each status's meaning, in the outcome schema (the table in docs/CONTRACT.md).
STATUS_MEANINGS: Final[dict[OutcomeStatus, str]] = {
    OutcomeStatus.APPLIED: "the IM API set this value (reason null, code 0)",
    OutcomeStatus.SUPERSEDED: (
        "a later change to the same conversation in the same window won (superseded_by)"
    ),
    OutcomeStatus.STALE: (
        "older than the change last applied to that conversation, or than one whose write may "
        "already have reached the IM"
    ),
    OutcomeStatus.DUPLICATE: "this event_id was already applied (or repeated in the window)",
    OutcomeStatus.REJECTED: (
        "invalid input, or a record the worker could not process; info says why"
    ),
    OutcomeStatus.FAILED: "a permanent IM error, or retries ran past the deadline",
}
#: Each reason's meaning, in the outcome schema.
REASON_MEANINGS: Final[dict[OutcomeReason, str]] = {
    OutcomeReason.SUPERSEDED: "status superseded",
    OutcomeReason.STALE: "status stale",
    OutcomeReason.DUPLICATE: "status duplicate",
    OutcomeReason.UNPARSEABLE: (
        "rejected: no value, not UTF-8 JSON, or not a JSON object (also dead-lettered)"
    ),
    OutcomeReason.SCHEMA: "rejected: a field breaks the change schema (info names it)",
    OutcomeReason.TOO_LARGE: (
        "rejected: custom_data over 256 UTF-8 bytes, or the message or key over the worker's "
        "size limits (those two also dead-lettered)"
    ),
    OutcomeReason.BAD_CONVERSATION_ID: "rejected: conversation_id is not c2c_<id> or group_<id>",
    OutcomeReason.CLOCK_SKEW: "rejected: occurred_at too far in the future",
    OutcomeReason.PERMANENT: "failed: the IM answered with a permanent error (code)",
    OutcomeReason.RETRIES_EXHAUSTED: (
        "failed: retryable errors until the retry deadline (code is the last one)"
    ),
    OutcomeReason.MISROUTED: (
        "rejected: a record the worker forwarded to its user's partition is still not there "
        "(the partition count changed); also dead-lettered"
    ),
    OutcomeReason.INTERNAL_ERROR: (
        "rejected: the worker failed on this record itself and quarantined it (info names the "
        "exception); also dead-lettered"
    ),
    OutcomeReason.BEYOND_RETENTION: (
        "status stale: occurred_at is older than the state retention horizon, beyond which the "
        "conversation's last write may be forgotten"
    ),
}


def _document_enum(
    cls: type[StrEnum],
    meanings: Mapping[Any, str],
    core_schema: CoreSchema,
    handler: GetJsonSchemaHandler,
) -> JsonSchemaValue:
    """The enum's schema with each value's meaning in its description."""
    schema = handler(core_schema)
    target = handler.resolve_ref_schema(schema)
    lines = [f"{target.get('description', cls.__doc__)}"]
    lines += [f"{member.value}: {meanings[member]}." for member in cls]
    target["description"] = "\n".join(lines)
    return schema


class SourcePosition(BaseModel):
    """Where the input event was read (for a forwarded record: where it was first published)."""

    model_config = ConfigDict(frozen=True)

    topic: Annotated[str, Field(max_length=249)]
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]


_AS_READ: Final = (
    "as read from the event; for a rejected event it may be invalid, and it is null when the "
    "input did not parse that far (a string of at most 128 characters)"
)
_ORDER: Final = (
    "With version and occurred_at, source.offset completes the order last-write-wins decided "
    "by, (version or -1, occurred_at in UTC microseconds, offset), so a consumer can rebuild it."
)


class Outcome(BaseModel):
    """Exactly one per input event, emitted before the event's offset is committed."""

    model_config = ConfigDict(
        frozen=True,
        title="Outcome",
        # The worker writes every field, null or not.
        json_schema_serialization_defaults_required=True,
        json_schema_extra=schema_root(
            "outcome.schema.json",
            "The result of one change, published to the outcomes topic (key: the change "
            "record's key bytes exactly as received, unless the outcome would then exceed the "
            "topic's record limit: such a key is cut to its first "
            f"{MAX_KEY_PREFIX:,} bytes at most, and the record gains the headers "
            "original-key-size, original-key-sha256 (hex) and key-truncated-to; the value is "
            "never cut). Exactly one per input record, produced "
            "before the record's offset is committed; a replay after a crash can give a record "
            "a second outcome (duplicate or stale, never a different applied value). Every "
            f"field is always present. {MAX_UTF8_BYTES_KEYWORD} is a vendor keyword: the "
            "string's UTF-8 encoding has at most that many bytes.",
        ),
    )

    event_id: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None = Field(
        description=f"The event's event_id, {_AS_READ}."
    )
    user_id: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None = Field(
        description=f"The event's user_id, {_AS_READ}."
    )
    conversation_id: Annotated[str, Field(max_length=MAX_CONVERSATION_ID_BYTES)] | None = Field(
        description=f"The event's conversation_id, {_AS_READ}."
    )
    version: Annotated[int, Field(ge=0, le=MAX_VERSION)] | None = Field(
        default=None,
        description=("The event's version; null when it had none or did not validate. " + _ORDER),
    )
    occurred_at: Rfc3339Text | None = Field(
        default=None,
        description=(
            "The event's occurred_at as an RFC 3339 date-time (its instant; the offset may be "
            "written differently); null when unknown (the event did not validate). " + _ORDER
        ),
    )
    status: OutcomeStatus
    reason: OutcomeReason | None = None
    code: int | None = Field(default=None, description=outcome_code_description())
    info: InfoText | None = Field(
        default=None, description="Why, in words, when not applied (the error, the field)."
    )
    custom_data: (
        Annotated[
            str,
            Field(
                max_length=MAX_CUSTOM_DATA_BYTES,
                json_schema_extra=_bytes(MAX_CUSTOM_DATA_BYTES),
            ),
        ]
        | None
    ) = Field(default=None, description="The event's custom_data, when it validated.")
    superseded_by: Annotated[str, Field(max_length=MAX_ID_BYTES)] | None = Field(
        default=None, description="The event_id of the change that won (status superseded)."
    )
    request_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="The IM request's random, to find it in Tencent's logs."
    )
    attempts: Annotated[int, Field(ge=0)] = Field(
        default=0, description="IM requests made for this event (retries included)."
    )
    processed_at: datetime = Field(description="When the worker decided this outcome.")
    source: SourcePosition = Field(
        description="Where the event was read (a forwarded one: where it was first published)."
    )
