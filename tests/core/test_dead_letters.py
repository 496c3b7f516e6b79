"""Dead letters never exceed their limit: under, at and over it, for keys and values."""

from __future__ import annotations

import hashlib

import pytest

from streams.contract.limits import MAX_KEY_PREFIX
from streams.core.dead_letters import SOURCE_HEADERS, dead_letter
from streams.core.fitting import FRAMING_BYTES, MIN_MAX_BYTES, Fitted
from streams.core.records import Position

SOURCE = Position("changes", 2, 77)
LIMIT = 1_000_000


def letter(key: bytes | None, value: bytes | None, limit: int = LIMIT) -> Fitted:
    return dead_letter(key, value, SOURCE, "too_large: 5 MiB", max_bytes=limit)


def headers(d: Fitted) -> dict[str, bytes]:
    return dict(d.headers)


def room_for_value(key: bytes | None) -> int:
    """The largest value that goes out whole next to ``key`` at LIMIT."""
    return LIMIT - letter(key, b"").size()


def test_source_headers_name_the_position_and_error() -> None:
    d = letter(b"alice", b"{}")
    assert [n for n, _ in d.headers] == list(SOURCE_HEADERS)
    assert headers(d)["source-partition"] == b"2" and headers(d)["source-offset"] == b"77"
    assert (d.key, d.value) == (b"alice", b"{}"), "as received when it fits"


@pytest.mark.parametrize("delta", [-1, 0, 1, 1000, 5 * 1024 * 1024])
@pytest.mark.parametrize("key", [None, b"alice"])
def test_values_just_under_at_and_over_the_limit(delta: int, key: bytes | None) -> None:
    size = room_for_value(key) + delta
    value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    d = letter(key, value)
    assert d.size() <= LIMIT
    if delta <= 0:
        assert d.value == value and "original-value-size" not in headers(d)
        return
    assert d.value is not None and value.startswith(d.value) and len(d.value) < len(value)
    assert headers(d)["original-value-size"] == str(len(value)).encode()
    assert headers(d)["original-value-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers(d)["value-truncated-to"] == str(len(d.value)).encode()
    assert d.key == key, "a short key is kept whole"


@pytest.mark.parametrize("value", [None, b"", b"v" * 2 * LIMIT])
def test_an_oversized_key_keeps_a_bounded_prefix(value: bytes | None) -> None:
    key = b"k" * (2 * LIMIT)
    d = letter(key, value)
    assert d.size() <= LIMIT and d.key == key[:MAX_KEY_PREFIX]
    assert headers(d)["original-key-size"] == str(len(key)).encode()
    assert headers(d)["original-key-sha256"] == hashlib.sha256(key).hexdigest().encode()


def test_the_smallest_limit_still_fits_and_smaller_ones_are_refused() -> None:
    d = letter(b"k" * 5000, b"v" * 5000, MIN_MAX_BYTES)
    assert d.size() <= MIN_MAX_BYTES and d.key and d.value
    with pytest.raises(ValueError, match="at least"):
        letter(b"k", b"v", MIN_MAX_BYTES - 1)


def test_the_size_counts_what_kafka_frames() -> None:
    d = letter(b"ab", b"cde")
    wire = sum(len(n) + len(v) for n, v in d.headers) + 5
    assert d.size() == FRAMING_BYTES + wire
    long_error = dead_letter(None, None, SOURCE, "e" * 10_000, max_bytes=LIMIT)
    assert len(headers(long_error)["error"]) == 1024
