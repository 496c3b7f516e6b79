"""Records that fit the broker's record limit: which part is cut, and how a cut is described.

Outcomes carry the input's key and dead letters its key and value, as received. The broker
accepted the input possibly compressed (a 1.2 MB key of one repeated byte gzips to a few KiB),
so a record built from it may exceed the record limit of the topic the worker writes to (Kafka's
``message.max.bytes`` is 1,048,588 bytes by default). Producing it would fail on every restart
and stop the partition for good. So a record over its limit keeps a prefix of its key (at most
:data:`MAX_KEY_PREFIX` bytes) and, unless its value must stay whole (an outcome's JSON), of its
value (whatever room is left), and gains headers with each cut part's original size and
SHA-256, so the original can be identified and matched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from streams.contract.limits import MAX_KEY_PREFIX

#: What Kafka's record and batch framing add around one record's key, value and headers
#: (varints, CRC, attributes, timestamps, batch header: under 100 bytes), with room to spare.
FRAMING_BYTES: Final = 512
#: The headers :func:`_cut` adds for one part, at most: three names of under 25 bytes, two
#: decimal numbers of at most 20 digits and a 64-digit hash.
CUT_HEADERS_BYTES: Final = 200
#: The smallest limit that still fits a dead letter's headers with room for a key prefix.
MIN_MAX_BYTES: Final = 4096

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Fitted:
    """A record ready to produce: never larger than the limit it was fitted to."""

    key: bytes | None
    value: bytes | None
    headers: Headers

    def size(self) -> int:
        """Bytes the record takes in a batch, counted as :func:`fit` budgets them."""
        return record_size(self.key, self.value, self.headers)


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes a record takes in a batch of its own, framing included (an upper bound)."""
    parts = len(key or b"") + len(value or b"")
    return FRAMING_BYTES + parts + sum(len(n.encode()) + len(v) for n, v in headers)


def _cut(name: str, data: bytes, room: int, headers: Headers) -> bytes:
    """``data``'s first ``room`` bytes, noting the original's size and hash in ``headers``."""
    headers.append((f"original-{name}-size", str(len(data)).encode()))
    headers.append((f"original-{name}-sha256", hashlib.sha256(data).hexdigest().encode()))
    headers.append((f"{name}-truncated-to", str(room).encode()))
    return data[:room]


def fit(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    max_bytes: int,
    whole_value: bool = False,
) -> Fitted:
    """The record as is when it fits ``max_bytes``, else cut (see module doc).

    With ``whole_value`` only the key is cut: a value that leaves no room for the cut's
    headers under ``max_bytes`` is a ``ValueError`` (an outcome's value is a few KiB at most).
    """
    kept: Headers = list(headers)
    if record_size(key, value, kept) <= max_bytes:
        return Fitted(key, value, kept)
    room = max_bytes - record_size(None, None, kept) - 2 * CUT_HEADERS_BYTES
    if whole_value:
        room -= len(value or b"")
        if room < 0:
            raise ValueError(f"a value of {len(value or b'')} bytes exceeds {max_bytes} alone")
    if key is not None and len(key) > min(MAX_KEY_PREFIX, room):
        key = _cut("key", key, min(MAX_KEY_PREFIX, room), kept)
    if not whole_value and value is not None and len(key or b"") + len(value) > room:
        value = _cut("value", value, room - len(key or b""), kept)
    fitted = Fitted(key, value, kept)
    assert fitted.size() <= max_bytes, "the reserve covers every cut header"
    return fitted
