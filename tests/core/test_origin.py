"""Origin headers: only a worker's signature makes them count; nothing in them ever raises."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import origin
from streams.core.origin import NAMES, Verdict, derive_key, sign, verify
from streams.core.records import Position

KEY = derive_key(b"the app's secret key")
FROM = Position("changes", 3, 1234)
TOPIC = "changes"


def signed(key: bytes | None = b"alice", value: bytes | None = b"{}") -> list[Any]:
    return sign(KEY, FROM, key, value, destination=TOPIC)


def check(headers: Any, key: bytes | None, value: bytes | None, **kw: Any) -> origin.OriginCheck:
    return verify(kw.pop("signing_key", KEY), headers, key, value, topic=kw.pop("topic", TOPIC))


def test_a_workers_headers_verify_and_name_the_origin() -> None:
    found = check(signed(), b"alice", b"{}")
    assert found.verdict is Verdict.SIGNED and found.position == FROM
    assert check(dict(signed()), b"alice", b"{}").position == FROM, "a mapping too"


def test_no_origin_headers_is_an_ordinary_record() -> None:
    assert check(None, b"a", b"v") is origin.NO_ORIGIN
    assert check([("trace-id", b"x"), ("other", None)], b"a", b"v") is origin.NO_ORIGIN


def test_a_signature_binds_position_key_value_and_signing_key() -> None:
    assert check(signed(), b"bob", b"{}").verdict is Verdict.FORGED
    assert check(signed(), b"alice", b"{ }").verdict is Verdict.FORGED
    assert check(signed(key=None), b"", b"{}").verdict is Verdict.FORGED, "None != empty"
    other_key = derive_key(b"other")
    assert check(signed(), b"alice", b"{}", signing_key=other_key).verdict is Verdict.FORGED
    moved = [(n, b"4" if n == origin.PARTITION else v) for n, v in signed()]
    assert check(moved, b"alice", b"{}").verdict is Verdict.FORGED


def test_a_signature_binds_the_destination_topic() -> None:
    """Two deployments sharing an IM secret (so a signing key): a forward copied from one's
    changes topic into the other's is not signed for it, so it is ignored like a forgery."""
    elsewhere = check(signed(), b"alice", b"{}", topic="other-deployment-changes")
    assert elsewhere.verdict is Verdict.FORGED and elsewhere.position is None
    assert check(signed(), b"alice", b"{}", topic=TOPIC).verdict is Verdict.SIGNED


def test_a_signature_without_the_topic_does_not_verify() -> None:
    """The v1 signature (an older worker's: position, key and value, no topic) is forged now,
    so a rolling upgrade treats in-flight forwards as unsigned, never as signed for any topic."""
    mac = hmac.new(KEY, b"streams-origin-v1", hashlib.sha256)
    for part in (b"changes", b"3", b"1234", b"alice", b"{}"):
        mac.update(len(part).to_bytes(8, "big") + part)
    v1 = [*signed()[:3], (origin.SIGNATURE, mac.hexdigest().encode())]
    assert check(v1, b"alice", b"{}").verdict is Verdict.FORGED


def test_unsigned_repeated_null_or_malformed_headers_are_forged() -> None:
    unsigned = signed()[:3]
    null_topic = [(n, None if n == origin.TOPIC else v) for n, v in signed()]
    repeated = [*signed(), (origin.OFFSET, b"1")]
    for headers in (unsigned, null_topic, repeated, [(origin.TOPIC, b"\xff")], [("x",)]):
        assert check(headers, b"alice", b"{}").verdict is Verdict.FORGED, headers


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
    found = check(headers, key, value)
    assert (found.position is None) == (found.verdict is not Verdict.SIGNED)
    assert found.verdict is not Verdict.SIGNED, "hypothesis cannot forge an HMAC"
