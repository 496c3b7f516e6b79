"""Dead letters that always fit: the input record as received, cut to a bounded size if it must be.

A dead letter carries the input's key and value with headers naming where it came from and why.
A record over ``max_bytes`` keeps a prefix of its key and of its value, with headers giving each
cut part's original size and SHA-256 (:mod:`streams.core.fitting`).
"""

from __future__ import annotations

from typing import Final

from streams.core.fitting import MIN_MAX_BYTES, Fitted, fit
from streams.core.records import Position

SOURCE_HEADERS: Final = ("source-topic", "source-partition", "source-offset", "error")
#: The longest ``error`` header (the outcome's ``info`` is bounded the same way).
MAX_ERROR_BYTES: Final = 1024


def dead_letter(
    key: bytes | None, value: bytes | None, source: Position, error: str, *, max_bytes: int
) -> Fitted:
    """The dead letter of the record at ``source``, at most ``max_bytes`` (see module doc)."""
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}")
    reason = error.encode("utf-8", "replace")[:MAX_ERROR_BYTES]
    numbers = (source.topic.encode(), str(source.partition).encode(), str(source.offset).encode())
    headers = list(zip(SOURCE_HEADERS, (*numbers, reason), strict=True))
    return fit(key, value, headers, max_bytes=max_bytes)
