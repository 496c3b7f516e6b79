"""Dead letters that always fit: the input record as received, cut to a bounded size if it must be.

A dead letter carries the input's key and value with headers naming where it came from and why.
The input was accepted by the broker, but possibly compressed (a 5 MiB value gzips to a few KiB),
so as received it may exceed what the producer or a default broker accepts (Kafka's
``message.max.bytes`` is 1,048,588 bytes): producing it would then fail on every restart and stop
the partition for good. So a record over ``max_bytes`` keeps a prefix of its key (at most
:data:`MAX_KEY_PREFIX` bytes) and of its value (whatever room is left), and gains headers with
each cut part's original size and SHA-256, so the original can be identified and matched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from streams.core.records import Position

SOURCE_HEADERS: Final = ("source-topic", "source-partition", "source-offset", "error")
#: The longest ``error`` header (the outcome's ``info`` is bounded the same way).
MAX_ERROR_BYTES: Final = 1024
#: A key cut for room keeps at most this many bytes (a contract key is a user id, <= 128).
MAX_KEY_PREFIX: Final = 1024
#: What Kafka's record and batch framing add around one record's key, value and headers
#: (varints, CRC, attributes, timestamps, batch header: under 100 bytes), with room to spare.
FRAMING_BYTES: Final = 512
#: The headers :func:`_cut` adds for one part, at most: three names of under 25 bytes, two
#: decimal numbers of at most 20 digits and a 64-digit hash.
CUT_HEADERS_BYTES: Final = 200
#: The smallest ``max_bytes`` that still fits the headers with room for a key prefix.
MIN_MAX_BYTES: Final = 4096

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter record ready to produce: never larger than the ``max_bytes`` it was cut to."""

    key: bytes | None
    value: bytes | None
    headers: Headers

    def size(self) -> int:
        """Bytes the record takes in a batch, counted as :func:`dead_letter` budgets them."""
        return _size(self.key, self.value, self.headers)


def _size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    parts = len(key or b"") + len(value or b"")
    return FRAMING_BYTES + parts + sum(len(n.encode()) + len(v) for n, v in headers)


def _cut(name: str, data: bytes, room: int, headers: Headers) -> bytes:
    """``data``'s first ``room`` bytes, noting the original's size and hash in ``headers``."""
    headers.append((f"original-{name}-size", str(len(data)).encode()))
    headers.append((f"original-{name}-sha256", hashlib.sha256(data).hexdigest().encode()))
    headers.append((f"{name}-truncated-to", str(room).encode()))
    return data[:room]


def dead_letter(
    key: bytes | None, value: bytes | None, source: Position, error: str, *, max_bytes: int
) -> DeadLetter:
    """The dead letter of the record at ``source``, at most ``max_bytes`` (see module doc)."""
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}")
    reason = error.encode("utf-8", "replace")[:MAX_ERROR_BYTES]
    numbers = (source.topic.encode(), str(source.partition).encode(), str(source.offset).encode())
    headers: Headers = list(zip(SOURCE_HEADERS, (*numbers, reason), strict=True))
    if _size(key, value, headers) <= max_bytes:
        return DeadLetter(key, value, headers)
    room = max_bytes - _size(None, None, headers) - 2 * CUT_HEADERS_BYTES
    if key is not None and len(key) > min(MAX_KEY_PREFIX, room):
        key = _cut("key", key, min(MAX_KEY_PREFIX, room), headers)
    if value is not None and len(key or b"") + len(value) > room:
        value = _cut("value", value, room - len(key or b""), headers)
    letter = DeadLetter(key, value, headers)
    assert letter.size() <= max_bytes, "the reserve covers every cut header"
    return letter
