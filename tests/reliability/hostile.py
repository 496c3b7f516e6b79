"""Hostile inputs: hypothesis strategies for the property test and a seeded sample for the broker.

Both aim at the same places: bytes that are not JSON or not UTF-8, JSON that is not an object,
deeply nested or huge JSON, wrong types and overlong strings in every field, control characters,
and the 256/257-byte boundary of ``custom_data`` in 2-, 3- and 4-byte UTF-8 characters.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

FIELDS = ("event_id", "user_id", "conversation_id", "custom_data", "occurred_at", "version")
MAX_BYTES = 64 * 1024  # the worker's default STREAMS_MAX_MESSAGE_BYTES

#: custom_data at exactly 256 UTF-8 bytes (accepted) and 257-258 (rejected), per character width.
BOUNDARY_OK = ["é" * 128, "€" * 85 + "a", "😀" * 64, "a" * 256, ""]
BOUNDARY_TOO_LARGE = ["é" * 128 + "a", "€" * 86, "😀" * 64 + "a", "a" * 257]


def to_json(value: Any, *, ascii_only: bool = False) -> bytes:
    """JSON bytes; unlike orjson this takes integers beyond 64 bits (valid JSON all the same)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def at(offset_s: float = -3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def valid_doc(n: int, user: str = "alice", **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": f"h-{n}",
        "user_id": user,
        "conversation_id": f"c2c_peer{n % 7}",
        "custom_data": f"value {n}",
        "occurred_at": at(),
        "version": n,
    }
    return doc | fields


control = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028")
nasty_text = st.text(alphabet=st.characters(codec="utf-8") | control, min_size=0, max_size=300)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=20,
)
field_values = (
    json_values
    | st.sampled_from(BOUNDARY_OK + BOUNDARY_TOO_LARGE)
    | st.integers(min_value=1, max_value=4000).map(lambda n: "x" * n)
    | st.sampled_from(
        ["c2c_", "group_", "c2c_a/b", "c2c_a b", "group_\x00", "dm_x", "c2c_" + "u" * 129]
    )
    | st.sampled_from(
        [at(), at(+3600), "2026-11-25T10:00:00", "yesterday", "2026-13-45T99:00:00Z", at(+299)]
    )
    | st.sampled_from([-1, 0, 2**53 - 1, 2**53, 2**64, 1.0, "3", True])
)


@st.composite
def mutated_change(draw: st.DrawFn) -> bytes:
    """A change with some fields replaced, removed or added, serialized (maybe then corrupted)."""
    doc = valid_doc(draw(st.integers(0, 10**6)), user=draw(st.sampled_from(["alice", "bob", "é"])))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            doc[name] = draw(field_values)
        else:
            doc.pop(name)
    for _ in range(draw(st.integers(0, 2))):
        doc[draw(nasty_text)] = draw(json_values)
    raw = to_json(doc, ascii_only=draw(st.booleans()))
    corruption = draw(st.sampled_from(["none", "none", "byte", "truncate"]))
    if corruption == "byte" and raw:
        index = draw(st.integers(0, len(raw) - 1))
        raw = raw[:index] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
        raw += raw[index + 1 :]
    elif corruption == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


def nested(depth: int, *, inside_change: bool) -> bytes:
    body = b"[" * depth + b"]" * depth
    if not inside_change:
        return body
    return orjson.dumps(valid_doc(depth))[:-1] + b',"deep":' + body + b"}"


def padded(size: int) -> bytes:
    """A valid change of exactly ``size`` bytes (padding in an unknown field)."""
    base = orjson.dumps(valid_doc(size) | {"pad": ""})
    return base[:-2] + b"p" * (size - len(base)) + base[-2:]


hostile_messages = st.one_of(
    st.binary(max_size=300),
    st.builds(to_json, json_values, ascii_only=st.booleans()),
    mutated_change(),
    st.builds(nested, st.integers(1, 3000), inside_change=st.booleans()),
    st.sampled_from([MAX_BYTES - 1, MAX_BYTES, MAX_BYTES + 1, 10 * MAX_BYTES]).map(padded),
    st.none(),
)


def broker_sample(seed: int, count: int) -> list[tuple[bytes | None, bytes]]:
    """(key, value) pairs for the broker run: edge cases first, then seeded random mutations."""
    rng = random.Random(seed)  # a repeatable sample
    values: list[bytes] = [
        b"",
        b"not json",
        b"\xff\xfe\xfd",
        b"null",
        b"[1, 2]",
        b'"text"',
        b"{" * 5000,
        nested(2000, inside_change=True),
        nested(100_000, inside_change=False),
        padded(MAX_BYTES),
        padded(MAX_BYTES + 1),
        padded(200_000),
        orjson.dumps(valid_doc(1, custom_data="ctl\x00\x01\x1f\x7f")),
        orjson.dumps(valid_doc(2, user_id="u\x00")),
        orjson.dumps(valid_doc(3, event_id="e" * 129)),
        orjson.dumps(valid_doc(4, version="3")),
        orjson.dumps(valid_doc(5, occurred_at=at(+3600))),
        *(orjson.dumps(valid_doc(10 + i, custom_data=v)) for i, v in enumerate(BOUNDARY_OK)),
        *(orjson.dumps(valid_doc(30 + i, custom_data=v)) for i, v in enumerate(BOUNDARY_TOO_LARGE)),
    ]
    while len(values) < count:
        doc = valid_doc(1000 + len(values), user=rng.choice(["alice", "bob", "carol", "é"]))
        name = rng.choice(FIELDS)
        doc[name] = rng.choice(
            [None, 7, 1.5, [], {}, "", "x" * rng.randint(100, 3000), "\x00\x1b[31m", *BOUNDARY_OK]
        )
        raw = orjson.dumps(doc)
        if rng.random() < 0.3:
            index = rng.randrange(len(raw))
            raw = raw[:index] + b"\xff" + raw[index + 1 :]
        values.append(raw)
    keys: list[bytes | None] = []
    for value in values:
        roll = rng.random()
        keys.append(None if roll < 0.1 else rng.randbytes(8) if roll < 0.2 else user_key(value))
    return list(zip(keys, values, strict=True))


def user_key(value: bytes) -> bytes | None:
    """The key a well-behaved producer would use (``user_id``), None if it cannot tell."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    user = doc.get("user_id") if isinstance(doc, dict) else None
    return user.encode() if isinstance(user, str) else None
