"""The contract's models: accepted and rejected examples for every rule, and schema freshness."""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from streams.contract import (
    CustomDataChange,
    Outcome,
    OutcomeReason,
    OutcomeStatus,
    SourcePosition,
    ValueCallback,
)
from streams.contract.generate import DIRECTORY, MODELS, render
from streams.core.records import Rejection
from tests.fixtures.changes import change_doc, classify, envelope

BASE: dict[str, Any] = {
    "event_id": "e-1",
    "user_id": "alice",
    "conversation_id": "c2c_bob",
    "custom_data": "pinned",
    "occurred_at": "2026-11-25T10:00:00+08:00",
}


def parse(**changes: Any) -> CustomDataChange:
    doc = {**BASE, **changes}
    return CustomDataChange.model_validate_json(orjson.dumps(doc))


def rejected_fields(**changes: Any) -> set[str]:
    with pytest.raises(ValidationError) as info:
        parse(**changes)
    return {str(err["loc"][0]) for err in info.value.errors()}


def test_minimal_change_is_accepted() -> None:
    change = parse()
    assert change.occurred_at == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert change.version is None and change.source is None


@pytest.mark.parametrize(
    "changes",
    [
        {"conversation_id": "group_@TGS#1ABC"},
        {"custom_data": ""},
        {"custom_data": "é" * 128},  # 256 bytes of two-byte text
        {"custom_data": "😀" * 64},  # 256 bytes of four-byte text
        {"version": 0},
        {"version": 2**53 - 1},
        {"source": "crm"},
        {"event_id": "x" * 128},
        {"user_id": "u" * 128},
        {"occurred_at": "2026-11-25T10:00:00.123456Z"},
        {"unknown_field": {"nested": True}},
    ],
)
def test_accepted(changes: dict[str, Any]) -> None:
    parse(**changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"custom_data": "é" * 128 + "a"}, "custom_data"),  # 257 bytes, 129 characters
        ({"custom_data": "😀" * 64 + "a"}, "custom_data"),
        ({"custom_data": 5}, "custom_data"),
        ({"conversation_id": "c2c_"}, "conversation_id"),
        ({"conversation_id": "group_"}, "conversation_id"),
        ({"conversation_id": "bob"}, "conversation_id"),
        ({"conversation_id": "C2C_bob"}, "conversation_id"),
        ({"conversation_id": "c2c_bo b"}, "conversation_id"),
        ({"conversation_id": "c2c_" + "b" * 129}, "conversation_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "a/b"}, "user_id"),
        ({"user_id": "a\tb"}, "user_id"),
        ({"user_id": "a\x00b"}, "user_id"),
        ({"user_id": "a\u0085b"}, "user_id"),
        ({"user_id": "é" * 65}, "user_id"),  # 65 characters, 130 bytes
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"occurred_at": "2026-11-25T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1764064800}, "occurred_at"),
        ({"version": -1}, "version"),
        ({"version": 2**53}, "version"),
        ({"version": 1.0}, "version"),
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"source": "s" * 257}, "source"),
    ],
)
def test_rejected(changes: dict[str, Any], field: str) -> None:
    assert rejected_fields(**changes) == {field}


#: Not RFC 3339 (section 5.6) date-times; the first ones and the forms without seconds, with
#: "+0800" or with a space or "_" were accepted by pydantic's datetime parser alone.
NOT_RFC3339 = [
    "1700000000",  # Unix seconds, as text
    "1700000000000",  # Unix milliseconds, as text
    1764064800,
    1764064800.5,
    True,
    None,
    "2026-11-25",  # date only
    "2026-11-25T10:00:00",  # no offset
    "2026-11-25T10:00Z",  # no seconds
    "2026-11-25T10:00:00+0800",
    "2026-11-25T10:00:00+08",
    "2026-11-25 10:00:00Z",
    "2026-11-25_10:00:00Z",
    "2026-11-25T10:00:00.Z",
    "20261125T100000Z",
    "+2026-11-25T10:00:00Z",
    "\u0662\u0660\u0662\u0666-11-25T10:00:00Z",  # Arabic-Indic digits (Unicode \d)
    "2026-11-25T10:00:00Z\n",
]


@pytest.mark.parametrize("value", NOT_RFC3339, ids=repr)
def test_occurred_at_must_be_rfc3339(value: object) -> None:
    assert rejected_fields(occurred_at=value) == {"occurred_at"}
    rejection = classify(envelope(change_doc("e", at=value), 0))
    assert isinstance(rejection, Rejection)
    assert rejection.reason is OutcomeReason.SCHEMA
    assert rejection.info.startswith("occurred_at: ")


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-11-25T10:00:00Z", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25t10:00:00z", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00+08:00", datetime(2026, 11, 25, 2, tzinfo=UTC)),
        ("2026-11-25T10:00:00-05:30", datetime(2026, 11, 25, 15, 30, tzinfo=UTC)),
        ("2026-11-25T10:00:00-00:00", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00.5Z", datetime(2026, 11, 25, 10, 0, 0, 500_000, tzinfo=UTC)),
        ("2026-11-25T10:00:00.123456789Z", datetime(2026, 11, 25, 10, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_rfc3339_forms_are_accepted(value: str, utc: datetime) -> None:
    assert parse(occurred_at=value).occurred_at == utc


@pytest.mark.parametrize("field", sorted(BASE))
def test_required_fields(field: str) -> None:
    doc = {k: v for k, v in BASE.items() if k != field}
    with pytest.raises(ValidationError) as info:
        CustomDataChange.model_validate_json(orjson.dumps(doc))
    assert [err["loc"] for err in info.value.errors()] == [(field,)]


def test_outcome_serializes_the_contract_names() -> None:
    outcome = Outcome(
        event_id="e-1",
        user_id="alice",
        conversation_id="c2c_bob",
        status=OutcomeStatus.APPLIED,
        code=0,
        processed_at=datetime(2026, 11, 25, tzinfo=UTC),
        source=SourcePosition(topic="changes", partition=1, offset=7),
    )
    doc = orjson.loads(outcome.model_dump_json())
    assert doc["status"] == "applied" and doc["reason"] is None
    assert doc["source"] == {"topic": "changes", "partition": 1, "offset": 7}
    assert set(doc) == {
        "event_id", "user_id", "conversation_id", "version", "occurred_at", "status", "reason",
        "code", "info", "custom_data", "superseded_by", "request_id", "attempts", "processed_at",
        "source",
    }  # fmt: skip
    assert doc["version"] is None and doc["occurred_at"] is None


def test_value_callback_uses_seed_names() -> None:
    doc = {"code": 0, "desc": "OK", "data": [
        {"conversationID": "c2c_a", "resultCode": 0, "resultInfo": ""}
    ]}  # fmt: skip
    parsed = ValueCallback.model_validate(doc)
    assert parsed.data[0].conversation_id == "c2c_a"
    assert orjson.loads(parsed.model_dump_json()) == doc


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_json_schemas_are_current(name: str) -> None:
    committed = (DIRECTORY / name).read_text(encoding="utf-8")
    assert committed == render(MODELS[name]), f"run `python -m streams.contract.generate` ({name})"
