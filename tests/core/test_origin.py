"""Origin headers: only a worker's signature makes them count; nothing in them ever raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import origin
from streams.core.origin import NAMES, Verdict, derive_key, sign, verify
from streams.core.records import Position

KEY = derive_key(b"the app's secret key")
FROM = Position("changes", 3, 1234)


def signed(key: bytes | None = b"alice", value: bytes | None = b"{}") -> list[Any]:
    return sign(KEY, FROM, key, value)


def test_a_workers_headers_verify_and_name_the_origin() -> None:
    check = verify(KEY, signed(), b"alice", b"{}")
    assert check.verdict is Verdict.SIGNED and check.position == FROM
    assert verify(KEY, dict(signed()), b"alice", b"{}").position == FROM, "a mapping too"


def test_no_origin_headers_is_an_ordinary_record() -> None:
    assert verify(KEY, None, b"a", b"v") is origin.NO_ORIGIN
    assert verify(KEY, [("trace-id", b"x"), ("other", None)], b"a", b"v") is origin.NO_ORIGIN


def test_a_signature_binds_position_key_value_and_signing_key() -> None:
    assert verify(KEY, signed(), b"bob", b"{}").verdict is Verdict.FORGED
    assert verify(KEY, signed(), b"alice", b"{ }").verdict is Verdict.FORGED
    assert verify(KEY, signed(key=None), b"", b"{}").verdict is Verdict.FORGED, "None != empty"
    assert verify(derive_key(b"other"), signed(), b"alice", b"{}").verdict is Verdict.FORGED
    moved = [(n, b"4" if n == origin.PARTITION else v) for n, v in signed()]
    assert verify(KEY, moved, b"alice", b"{}").verdict is Verdict.FORGED


def test_unsigned_repeated_null_or_malformed_headers_are_forged() -> None:
    unsigned = signed()[:3]
    null_topic = [(n, None if n == origin.TOPIC else v) for n, v in signed()]
    repeated = [*signed(), (origin.OFFSET, b"1")]
    for headers in (unsigned, null_topic, repeated, [(origin.TOPIC, b"\xff")], [("x",)]):
        assert verify(KEY, headers, b"alice", b"{}").verdict is Verdict.FORGED, headers


header_value = st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([b"-1", b"1e3", b""]))


@settings(deadline=None, derandomize=True, max_examples=500)
@given(
    st.lists(st.tuples(st.sampled_from([*NAMES, "x"]), header_value), max_size=8),
    st.one_of(st.none(), st.binary(max_size=20)),
    st.one_of(st.none(), st.binary(max_size=20)),
)
def test_any_headers_give_a_verdict_never_an_exception(
    headers: list[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> None:
    check = verify(KEY, headers, key, value)
    assert (check.position is None) == (check.verdict is not Verdict.SIGNED)
    assert check.verdict is not Verdict.SIGNED, "hypothesis cannot forge an HMAC"
