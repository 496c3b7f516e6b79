"""The committed change schema and the worker's decoder agree on one corpus of changes.

Two independent judges of every message: the ``jsonschema`` package (draft 2020-12) with
``pattern`` evaluated as ECMA 262 (``regress``, the engine check-jsonschema uses; with and
without the ``u`` flag) and ``format: date-time`` asserted (check-jsonschema's RFC 3339 checker;
``jsonschema`` alone skips date-time without ``rfc3339-validator``), over the message parsed as
standard JSON; and the worker's :func:`streams.core.decode.decode`. They must agree on every
case except the documented gaps, each named here:

* ``BYTE_LIMIT``: a string within its character limit but over its UTF-8 byte limit. A plain
  validator accepts it; with the vendor keyword ``x-max-utf8-bytes`` implemented it agrees.
* ``INTEGER_SPELLING``: a version written ``1.0`` or ``1e3``. JSON Schema's data model makes it
  the integer 1 or 1000; the worker's types are strict (the version's description says so).
* ``LONE_SURROGATE`` and ``TOO_DEEP``: JSON the worker's parser refuses (a lone surrogate escape,
  nesting over 200 levels), stated in the schema's description.
* ``NOT_JSON_ACCEPTED``: ``NaN`` / ``Infinity`` in a field the worker ignores. Not JSON, so no
  schema judges it; the worker's parser (pydantic's jiter) takes them and has no switch to refuse
  them, and every field the contract names refuses them by type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
import regress
from check_jsonschema.formats.implementations import validate_rfc3339
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from streams.contract import OutcomeReason
from streams.contract.generate import DIRECTORY, MODELS
from streams.contract.models import (
    _FORBIDDEN_ID_CHARS,
    ACCOUNT_ID_PATTERN,
    MAX_JSON_DEPTH,
    MAX_UTF8_BYTES_KEYWORD,
    RFC3339_DATE_TIME,
)
from streams.core.decode import decode
from streams.core.records import Envelope, Position, Rejection

SCHEMA: Final = json.loads((DIRECTORY / "custom_data_change.schema.json").read_text("utf-8"))
#: The reasons that mean "this message breaks the change schema" (as opposed to clock skew,
#: routing or processing, which a schema cannot judge).
SCHEMA_REASONS: Final = frozenset(
    {
        OutcomeReason.UNPARSEABLE,
        OutcomeReason.SCHEMA,
        OutcomeReason.TOO_LARGE,
        OutcomeReason.BAD_CONVERSATION_ID,
    }
)
NOW: Final = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

BYTE_LIMIT: Final = "byte-limit"
INTEGER_SPELLING: Final = "integer-spelling"
LONE_SURROGATE: Final = "lone-surrogate"
TOO_DEEP: Final = "too-deep"
NOT_JSON_ACCEPTED: Final = "not-json-accepted"


# --- the two judges --------------------------------------------------------------------------


def _ecma_pattern(flags: str) -> Any:
    def pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not regress.Regex(pattern, flags).find(
            instance
        ):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    return pattern


def _max_utf8_bytes(validator: Any, limit: int, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and len(instance.encode("utf-8")) > limit:
        yield ValidationError(f"{instance!r} is over {limit} UTF-8 bytes")


FORMATS: Final = FormatChecker(formats=())
FORMATS.checks("date-time")(validate_rfc3339)
UnicodeEcma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern("u")})
LegacyEcma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern("")})
WithVendorKeyword = validators.extend(UnicodeEcma, {MAX_UTF8_BYTES_KEYWORD: _max_utf8_bytes})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> tuple[bool, Any]:
    """Standard JSON (RFC 8259), as any consumer's parser: strict UTF-8, no NaN or Infinity."""
    try:
        return True, json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return False, None


def schema_accepts(raw: bytes, cls: Any = UnicodeEcma) -> bool:
    ok, doc = parse_json(raw)
    return ok and cls(SCHEMA, format_checker=FORMATS).is_valid(doc)


def worker_accepts(raw: bytes) -> bool:
    envelope = Envelope(b"alice", raw, Position("changes", 0, 7), 4)
    result = decode(envelope, now=NOW, max_skew=timedelta(seconds=300), max_bytes=64 * 1024)
    return not (isinstance(result, Rejection) and result.reason in SCHEMA_REASONS)


# --- the corpus --------------------------------------------------------------------------------

BASE: Final[dict[str, Any]] = {
    "event_id": "e-1",
    "user_id": "alice",
    "conversation_id": "c2c_bob",
    "custom_data": "pinned",
    "occurred_at": "2026-11-25T10:00:00+08:00",
}
MISSING: Final = object()


@dataclass(frozen=True)
class Case:
    """A message, whether the contract accepts it, and the documented gap it falls in, if any."""

    name: str
    raw: bytes
    valid: bool
    gap: str | None = None
    #: The field a byte-limit case is about (its schema must carry the vendor keyword).
    about: str | None = field(default=None, compare=False)


def doc(**changes: Any) -> bytes:
    """BASE with fields changed (MISSING removes one), as JSON (non-ASCII kept as UTF-8)."""
    fields = {k: v for k, v in {**BASE, **changes}.items() if v is not MISSING}
    return json.dumps(fields, ensure_ascii=False, allow_nan=True).encode("utf-8")


def raw_with(field_text: str, name: str = "x") -> bytes:
    """BASE with ``"<name>": <field_text>`` appended verbatim (for JSON no encoder writes; a
    repeated name counts as its last occurrence for both judges)."""
    return doc()[:-1] + f', "{name}": {field_text}}}'.encode()


def nested(bracket: str, depth: int) -> str:
    """A value that makes the whole change ``depth`` levels deep (the change is level one)."""
    inner = depth - 1
    if bracket == "[":
        return "[" * inner + "]" * inner
    return '{"a": ' * inner + "1" + "}" * inner


def ok(name: str, **changes: Any) -> Case:
    return Case(name, doc(**changes), True)


def bad(name: str, **changes: Any) -> Case:
    return Case(name, doc(**changes), False)


def over_bytes(name: str, about: str, value: str) -> Case:
    return Case(name, doc(**{about: value}), False, BYTE_LIMIT, about)


ID_WHITESPACE: Final = [
    "\t", "\n", "\x0b", "\x0c", "\r", " ", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2000",
    "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
]  # fmt: skip
ID_CONTROL: Final = ["\x00", "\x01", "\x1b", "\x7f", "\x80", "\x9f"]
#: Characters an id may hold although some regex engines' ``\s`` or intuition says otherwise.
ID_ALLOWED_ODD: Final = [
    "\ufeff",
    "\u200b",
    "\u180e",
    "\u00ad",
    "@",
    "#",
    "\\",
    ":",
    "é",
    "用",
    "😀",
]
DATE_TIMES_VALID: Final = [
    "2026-11-25T10:00:00Z",
    "2026-11-25t10:00:00z",
    "2026-11-25T10:00:00-05:30",
    "2026-11-25T10:00:00-00:00",
    "2026-11-25T10:00:00+23:59",
    "2026-11-25T10:00:00.5Z",
    "2026-11-25T10:00:00.123456789Z",
    "2026-11-25T10:00:00." + "1" * 40 + "Z",
    "2024-02-29T00:00:00Z",
    "2000-02-29T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",  # far in the future: valid, then refused for clock skew
    "2026-12-31T23:59:59.999999999-23:59",
]
DATE_TIMES_INVALID: Final = [
    "1700000000",
    "1700000000000",
    "2026-11-25",
    "2026-11-25T10:00:00",
    "2026-11-25T10:00Z",
    "2026-11-25T10:00:00+0800",
    "2026-11-25T10:00:00+08",
    "2026-11-25 10:00:00Z",
    "2026-11-25_10:00:00Z",
    "2026-11-25T10:00:00.Z",
    "2026-11-25T10:00:00,5Z",
    "20261125T100000Z",
    "+2026-11-25T10:00:00Z",
    "\u0662\u0660\u0662\u0666-11-25T10:00:00Z",
    "2026-11-25T10:00:00Z\n",
    " 2026-11-25T10:00:00Z",
    "2026-11-25T23:59:60Z",  # leap second: RFC 3339 has it, Python's datetime does not
    "2016-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T10:00:00Z",  # refused by format: date-time only
    "2100-02-29T00:00:00Z",  # refused by format: date-time only
    "2026-04-31T00:00:00Z",  # refused by format: date-time only
    "2026-13-01T10:00:00Z",
    "2026-00-10T10:00:00Z",
    "2026-11-00T10:00:00Z",
    "2026-11-32T10:00:00Z",
    "2026-11-25T24:00:00Z",
    "2026-11-25T10:60:00Z",
    "2026-11-25T10:00:00+24:00",
    "2026-11-25T10:00:00+23:60",
    "2026-11-25T10:00:00UTC",
    "",
]


def corpus() -> list[Case]:
    cases = [
        ok("minimal"),
        ok("all fields", version=3, source="crm"),
        ok("version 0", version=0),
        ok("version 2^53-1", version=2**53 - 1),
        ok("version null", version=None),
        ok("source null", source=None),
        ok("source empty", source=""),
        ok("source 256 chars", source="s" * 256),
        ok("source 256 non-ASCII chars", source="é" * 256),
        ok("custom_data empty", custom_data=""),
        ok("custom_data 256 ASCII", custom_data="x" * 256),
        ok("custom_data 128 two-byte", custom_data="é" * 128),
        ok("custom_data 85 three-byte", custom_data="用" * 85),
        ok("custom_data 64 four-byte", custom_data="😀" * 64),
        ok("custom_data control chars", custom_data="a\x00\n\t\x7f\u2028b"),
        ok("custom_data JSON text", custom_data='{"pinned": true}'),
        ok("event_id 1 char", event_id="e"),
        ok("event_id 128 chars", event_id="x" * 128),
        ok("event_id 128 four-byte chars", event_id="😀" * 128),
        ok("event_id spaces and slash", event_id=" a/b \t"),
        ok("user_id 1 char", user_id="a"),
        ok("user_id 128 ASCII", user_id="u" * 128),
        ok("user_id 64 two-byte", user_id="é" * 64),
        ok("user_id 32 four-byte", user_id="😀" * 32),
        ok("conversation_id group", conversation_id="group_@TGS#1ABC"),
        ok("conversation_id c2c + 128", conversation_id="c2c_" + "b" * 128),
        ok("conversation_id group + 128", conversation_id="group_" + "g" * 128),
        ok("conversation_id c2c + 64 two-byte", conversation_id="c2c_" + "é" * 64),
        ok("conversation_id c2c_group_", conversation_id="c2c_group_x"),
        ok("conversation_id group_c2c_", conversation_id="group_c2c_"),
        ok("unknown fields", extra={"nested": [1, {"a": None}]}, more=1.5),
        ok("unknown field with a lone-surrogate-free escape", x="\u00e9"),
        Case("duplicate key, last valid", doc(user_id="a/b")[:-1] + b', "user_id": "bob"}', True),
        Case("version -0", raw_with("-0", "version"), True),
        Case("huge number in an unknown field", raw_with("1E400"), True),
        Case("trailing whitespace", doc() + b" \n\t", True),
        Case("nesting at the limit, objects", raw_with(nested("{", MAX_JSON_DEPTH)), True),
        Case("nesting at the limit, arrays", raw_with(nested("[", MAX_JSON_DEPTH)), True),
        # Missing fields, wrong shapes.
        *[bad(f"missing {name}", **{name: MISSING}) for name in BASE],
        Case("array", b"[]", False),
        Case("string", b'"change"', False),
        Case("null", b"null", False),
        Case("number", b"3", False),
        Case("empty message", b"", False),
        Case("truncated", doc()[:-1], False),
        Case("trailing garbage", doc() + b"x", False),
        Case("trailing comma", doc()[:-1] + b",}", False),
        Case("not UTF-8", doc(custom_data="\xe9").replace("é".encode(), b"\xe9"), False),
        Case("UTF-8 BOM", b"\xef\xbb\xbf" + doc(), False),
        Case("raw control char in a string", doc(custom_data="a\tb").replace(b"\\t", b"\t"), False),
        Case("NaN as a version", raw_with("NaN", "version"), False),
        # Wrong types.
        bad("event_id number", event_id=5),
        bad("event_id null", event_id=None),
        bad("user_id null", user_id=None),
        bad("user_id number", user_id=7),
        bad("conversation_id array", conversation_id=["c2c_bob"]),
        bad("custom_data number", custom_data=5),
        bad("custom_data null", custom_data=None),
        bad("custom_data object", custom_data={"a": 1}),
        bad("occurred_at number", occurred_at=1764064800),
        bad("occurred_at float", occurred_at=1764064800.5),
        bad("occurred_at bool", occurred_at=True),
        bad("occurred_at null", occurred_at=None),
        bad("version string", version="1"),
        bad("version bool", version=True),
        bad("version fraction", version=1.5),
        bad("version -1", version=-1),
        bad("version 2^53", version=2**53),
        bad("version 2^64", version=2**64),
        bad("source number", source=5),
        bad("source 257 chars", source="s" * 257),
        # Lengths and id rules.
        bad("event_id empty", event_id=""),
        bad("event_id 129 chars", event_id="x" * 129),
        bad("user_id empty", user_id=""),
        bad("user_id 129 ASCII", user_id="u" * 129),
        bad("user_id slash", user_id="a/b"),
        bad("user_id trailing newline", user_id="alice\n"),
        *[bad(f"user_id with U+{ord(c):04X}", user_id=f"a{c}b") for c in ID_WHITESPACE],
        *[bad(f"user_id with control U+{ord(c):04X}", user_id=f"a{c}b") for c in ID_CONTROL],
        *[ok(f"user_id with U+{ord(c):04X}", user_id=f"a{c}b") for c in ID_ALLOWED_ODD],
        bad("conversation_id bare", conversation_id="bob"),
        bad("conversation_id upper prefix", conversation_id="C2C_bob"),
        bad("conversation_id c2c_ only", conversation_id="c2c_"),
        bad("conversation_id group_ only", conversation_id="group_"),
        bad("conversation_id other prefix", conversation_id="room_bob"),
        bad("conversation_id leading space", conversation_id=" c2c_bob"),
        bad("conversation_id space", conversation_id="c2c_bo b"),
        bad("conversation_id slash", conversation_id="c2c_a/b"),
        bad("conversation_id newline", conversation_id="c2c_bob\n"),
        bad("conversation_id NBSP", conversation_id="group_a\xa0b"),
        bad("conversation_id c2c + 129", conversation_id="c2c_" + "b" * 129),
        bad("conversation_id group + 129", conversation_id="group_" + "g" * 129),
        bad("custom_data 257 ASCII", custom_data="x" * 257),
        *[ok(f"occurred_at {v!r}", occurred_at=v) for v in DATE_TIMES_VALID],
        *[bad(f"occurred_at {v!r}", occurred_at=v) for v in DATE_TIMES_INVALID],
        # Byte limits: within the character limit, over the UTF-8 byte limit.
        over_bytes("custom_data 129 two-byte (258 B)", "custom_data", "é" * 129),
        over_bytes("custom_data 128 two-byte + 1 (257 B)", "custom_data", "é" * 128 + "a"),
        over_bytes("custom_data 86 three-byte (258 B)", "custom_data", "用" * 86),
        over_bytes("custom_data 65 four-byte (260 B)", "custom_data", "😀" * 65),
        over_bytes("custom_data 256 two-byte (512 B)", "custom_data", "é" * 256),
        over_bytes("user_id 65 two-byte (130 B)", "user_id", "é" * 65),
        over_bytes("user_id 33 four-byte (132 B)", "user_id", "😀" * 33),
        over_bytes("user_id 127 ASCII + é (129 B)", "user_id", "u" * 127 + "é"),
        over_bytes("conversation_id c2c + 65 two-byte", "conversation_id", "c2c_" + "é" * 65),
        over_bytes("conversation_id group + 33 four-byte", "conversation_id", "group_" + "😀" * 33),
        over_bytes("conversation_id c2c + 128 two-byte", "conversation_id", "c2c_" + "é" * 128),
        # JSON Schema's integers versus the worker's strict types.
        Case("version 1.0", raw_with("1.0", "version"), False, INTEGER_SPELLING),
        Case("version 1e3", raw_with("1e3", "version"), False, INTEGER_SPELLING),
        Case("version 0.0", raw_with("0.0", "version"), False, INTEGER_SPELLING),
        # JSON the worker's parser refuses or takes against the standard.
        Case("lone surrogate in source", raw_with('"\\ud800"'), False, LONE_SURROGATE),
        Case(
            "lone low surrogate in custom_data",
            raw_with('"\\udc00"', "custom_data"),
            False,
            LONE_SURROGATE,
        ),
        Case(
            "nesting over the limit, objects",
            raw_with(nested("{", MAX_JSON_DEPTH + 1)),
            False,
            TOO_DEEP,
        ),
        Case(
            "nesting far over the limit, arrays",
            raw_with(nested("[", MAX_JSON_DEPTH + 2)),
            False,
            TOO_DEEP,
        ),
        Case("NaN in an unknown field", raw_with("NaN"), True, NOT_JSON_ACCEPTED),
        Case("-Infinity in an unknown field", raw_with("[-Infinity]"), True, NOT_JSON_ACCEPTED),
    ]
    return cases


CORPUS: Final = corpus()


def test_the_corpus_is_broad_and_names_are_unique() -> None:
    assert len(CORPUS) >= 60
    assert len({case.name for case in CORPUS}) == len(CORPUS)
    assert sum(case.valid for case in CORPUS) >= 30
    assert sum(not case.valid for case in CORPUS) >= 30
    assert {case.gap for case in CORPUS} == {
        None, BYTE_LIMIT, INTEGER_SPELLING, LONE_SURROGATE, TOO_DEEP, NOT_JSON_ACCEPTED
    }  # fmt: skip


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_worker_and_schema_agree(case: Case) -> None:
    assert worker_accepts(case.raw) is case.valid, "the worker"
    expected = case.valid if case.gap is None else not case.valid
    assert schema_accepts(case.raw) is expected, "the schema (ECMA 262 patterns, u flag)"
    assert schema_accepts(case.raw, LegacyEcma) is expected, "the schema (patterns without u)"


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if c.gap == BYTE_LIMIT], ids=lambda case: case.name
)
def test_the_vendor_keyword_covers_every_byte_limit_case(case: Case) -> None:
    assert case.about is not None
    assert MAX_UTF8_BYTES_KEYWORD in json.dumps(SCHEMA["properties"][case.about])
    assert not schema_accepts(case.raw, WithVendorKeyword)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.gap is None], ids=lambda c: c.name)
def test_the_vendor_keyword_changes_nothing_else(case: Case) -> None:
    assert schema_accepts(case.raw, WithVendorKeyword) is case.valid


def test_the_documented_gaps_are_in_the_schema() -> None:
    text = json.dumps(SCHEMA, ensure_ascii=False)
    assert "1.0 or 1e3 is refused" in SCHEMA["properties"]["version"]["description"]
    assert "lone surrogate escape" in SCHEMA["description"]
    assert f"at most {MAX_JSON_DEPTH} levels deep" in SCHEMA["description"]
    assert f"{MAX_UTF8_BYTES_KEYWORD} is a vendor keyword" in text
    limits = {name: prop.get(MAX_UTF8_BYTES_KEYWORD) for name, prop in SCHEMA["properties"].items()}
    assert limits["user_id"] == 128 and limits["custom_data"] == 256
    prefixes = SCHEMA["properties"]["conversation_id"]["anyOf"]
    assert [(p["pattern"], p[MAX_UTF8_BYTES_KEYWORD]) for p in prefixes] == [
        ("^c2c_", 132),
        ("^group_", 134),
    ]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_schema_is_valid_draft_2020_12_with_ecma_patterns(name: str) -> None:
    schema = json.loads((DIRECTORY / name).read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:conversation-custom-data-streams:schemas:v1:{name}"
    assert schema["title"] and schema["description"]
    for key, pattern in _walk(schema):
        if key == "pattern":  # every pattern compiles in both ECMA modes
            regress.Regex(pattern, "u")
            regress.Regex(pattern)


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def test_the_id_rule_is_python_s_whitespace_and_controls_in_every_code_point() -> None:
    """The explicit class means what ``[\\s/\\x00-\\x1f\\x7f-\\x9f]`` means to Python, so the
    schema's ECMA pattern (whose ``\\s`` would differ: U+FEFF) states the worker's rule."""
    import re

    python = re.compile(r"[\s/\x00-\x1f\x7f-\x9f]")
    ecma = regress.Regex(ACCOUNT_ID_PATTERN, "u")
    for point in range(0x110000):
        if 0xD800 <= point <= 0xDFFF:
            continue
        char = chr(point)
        forbidden = python.match(char) is not None
        assert (_FORBIDDEN_ID_CHARS.match(char) is not None) is forbidden, hex(point)
        if forbidden or point in (0x2F, 0xFEFF) or point % 97 == 0:  # ECMA is slower: sample
            assert (ecma.find(f"a{char}b") is None) is forbidden, hex(point)


def test_the_date_time_pattern_is_ecma_and_python_alike() -> None:
    ecma = regress.Regex(RFC3339_DATE_TIME, "u")
    import re

    python = re.compile(RFC3339_DATE_TIME)
    for value in [*DATE_TIMES_VALID, *DATE_TIMES_INVALID]:
        assert (ecma.find(value) is not None) is (python.fullmatch(value) is not None), value


# --- generated cases ---------------------------------------------------------------------------

_ID_CHARS = st.characters(
    codec="utf-8",
    categories=["L", "N", "P", "S", "Z", "Cc", "Cf"],
)
_TEXT = st.text(_ID_CHARS, max_size=140) | st.text(
    st.sampled_from("aé用😀 /\x00\ufeff"), max_size=140
)


@st.composite
def _date_time(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["0000", "0001", "1970", "2000", "2024", "2026", "2100", "9999"]))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 61)),
    )
    fraction = draw(st.sampled_from(["", ".5", ".123456789", ".", ",5"]))
    sep = draw(st.sampled_from(["T", "t", " ", "_"]))
    zone = draw(st.sampled_from(["Z", "z", "+08:00", "-23:59", "+24:00", "+0800", "+08", ""]))
    return f"{year}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"


_ANY_JSON = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=5)
_VERSION = (
    st.integers(-2, 3)
    | st.integers(2**53 - 2, 2**53 + 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | _ANY_JSON
)
_FIELDS = {
    "event_id": _TEXT | _ANY_JSON,
    "user_id": _TEXT | _ANY_JSON,
    "conversation_id": st.builds(
        str.__add__, st.sampled_from(["c2c_", "group_", "C2C_", ""]), _TEXT
    )
    | _ANY_JSON,
    "custom_data": st.text(_ID_CHARS, max_size=300)
    | st.builds(str.__mul__, st.sampled_from(["é", "😀", "a", "用"]), st.integers(60, 260))
    | _ANY_JSON,
    "occurred_at": _date_time() | _ANY_JSON,
    "version": _VERSION,
    "source": st.text(max_size=300) | _ANY_JSON,
}


@st.composite
def _change(draw: st.DrawFn) -> dict[str, Any]:
    change: dict[str, Any] = {}
    for name, strategy in _FIELDS.items():
        mode = draw(st.sampled_from(["base", "base", "drawn", "missing"]))
        if mode == "drawn":
            change[name] = draw(strategy)
        elif mode == "base" and name in BASE:
            change[name] = BASE[name]
    return change


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_change())
def test_generated_changes_agree_with_the_vendor_keyword(change: dict[str, Any]) -> None:
    raw = json.dumps(change, ensure_ascii=False).encode("utf-8")
    assert not any(
        isinstance(v, float) and math.isfinite(v) and v.is_integer() for v in change.values()
    )
    assert worker_accepts(raw) is schema_accepts(raw, WithVendorKeyword), raw
