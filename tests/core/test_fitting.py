"""Fitting a record whose value must stay whole (an outcome): only its key is ever cut."""

from __future__ import annotations

import hashlib

import pytest

from streams.contract.limits import MAX_KEY_PREFIX
from streams.core.fitting import fit, record_size

LIMIT = 1_048_588
VALUE = b'{"status":"rejected","reason":"too_large"}'


@pytest.mark.parametrize("delta", [-1, 0, 1, 1_200_000])
def test_a_key_just_under_at_and_over_the_limit(delta: int) -> None:
    key = b"k" * (LIMIT - record_size(None, VALUE, []) + delta)
    record = fit(key, VALUE, (), max_bytes=LIMIT, whole_value=True)
    assert record.size() <= LIMIT and record.value == VALUE
    if delta <= 0:
        assert (record.key, record.headers) == (key, []), "as received when it fits"
        return
    assert record.key == key[:MAX_KEY_PREFIX]
    assert dict(record.headers) == {
        "original-key-size": str(len(key)).encode(),
        "original-key-sha256": hashlib.sha256(key).hexdigest().encode(),
        "key-truncated-to": str(MAX_KEY_PREFIX).encode(),
    }


def test_a_small_limit_keeps_a_shorter_prefix_and_the_whole_value() -> None:
    record = fit(b"k" * 10_000, b"v" * 3000, (), max_bytes=4096, whole_value=True)
    assert record.size() <= 4096 and record.value == b"v" * 3000
    assert record.key is not None and 0 < len(record.key) < MAX_KEY_PREFIX
    assert dict(record.headers)["key-truncated-to"] == str(len(record.key)).encode()


def test_a_value_that_cannot_fit_whole_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds 4096 alone"):
        fit(b"k" * 10_000, b"v" * 4000, (), max_bytes=4096, whole_value=True)
