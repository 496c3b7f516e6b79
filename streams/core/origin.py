"""Signed origin headers: where a forwarded record was first published, and proof a worker said so.

A misrouted event is forwarded to its user's partition with headers naming its original
position, so its outcome can report that position in ``source``; ``streams replay`` puts the
same headers on an event it re-publishes, so the worker orders it by its original position and
a replay can never beat a change published after the original (docs/RELIABILITY.md). Anyone
who can publish to the changes topic can write those headers too, so they are signed: an
HMAC-SHA256, under a key the workers share, over the position, the topic the record was
written to *and* the record's key and value, so a signature copied onto another record, or a
record copied to another deployment's topic under the same secret, does not verify. Headers
are input like any other: a missing, repeated, non-UTF-8, null or badly signed origin header is
ignored (and counted), never trusted, and it never decides routing
(:func:`streams.core.decode.decode` checks every record's partition).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, cast

from streams.core.records import Position

TOPIC: Final = "streams-origin-topic"
PARTITION: Final = "streams-origin-partition"
OFFSET: Final = "streams-origin-offset"
SIGNATURE: Final = "streams-origin-signature"
NAMES: Final = (TOPIC, PARTITION, OFFSET, SIGNATURE)
#: Bounds on what a header may hold before it is even parsed (topic names are <= 249 chars).
_MAX_TOPIC: Final = 249
_MAX_NUMBER_DIGITS: Final = 20
#: Domain separation of the signing key derived from a shared secret.
_KEY_CONTEXT: Final = b"streams-origin-v1"
#: Domain of a signature. v2 covers the destination topic; a v1 signature (an older worker's,
#: over the position, key and value only) never verifies, so it counts as forged.
_SIGNATURE_CONTEXT: Final = b"streams-origin-v2"

Header = tuple[str, bytes | None]


class Verdict(Enum):
    """What a record's origin headers turned out to be."""

    #: No origin header at all: an ordinary record.
    ABSENT = "absent"
    #: Complete, well-formed and signed by a worker: ``source`` is the original position.
    SIGNED = "signed"
    #: Some origin header present but malformed, incomplete, repeated or badly signed: ignored.
    FORGED = "forged"


@dataclass(frozen=True, slots=True)
class OriginCheck:
    """The verified original position (``None`` unless signed) and the verdict."""

    position: Position | None
    verdict: Verdict


NO_ORIGIN: Final = OriginCheck(None, Verdict.ABSENT)
_FORGED: Final = OriginCheck(None, Verdict.FORGED)


def derive_key(secret: bytes) -> bytes:
    """The signing key, derived from a secret every worker already has (domain-separated)."""
    return hmac.new(secret, _KEY_CONTEXT, hashlib.sha256).digest()


def _signature(
    key: bytes,
    origin: Position,
    destination: str,
    record_key: bytes | None,
    record_value: bytes | None,
) -> bytes:
    mac = hmac.new(key, _SIGNATURE_CONTEXT, hashlib.sha256)
    for part in (
        origin.topic.encode(),
        str(origin.partition).encode(),
        str(origin.offset).encode(),
        destination.encode(),
        record_key,
        record_value,
    ):
        # Length-prefixed (None distinct from empty), so no two inputs sign the same bytes.
        mac.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
    return mac.hexdigest().encode()


def sign(
    key: bytes,
    origin: Position,
    record_key: bytes | None,
    record_value: bytes | None,
    *,
    destination: str,
) -> list[tuple[str, bytes]]:
    """The headers of a record re-published from ``origin`` to the topic ``destination``: a
    worker's forward, or a replay."""
    return [
        (TOPIC, origin.topic.encode()),
        (PARTITION, str(origin.partition).encode()),
        (OFFSET, str(origin.offset).encode()),
        (SIGNATURE, _signature(key, origin, destination, record_key, record_value)),
    ]


def _number(raw: bytes) -> int | None:
    if not raw or len(raw) > _MAX_NUMBER_DIGITS or not raw.isdigit():
        return None
    return int(raw)


def verify(
    key: bytes,
    headers: Iterable[Header] | Mapping[str, bytes | None] | None,
    record_key: bytes | None,
    record_value: bytes | None,
    *,
    topic: str,
) -> OriginCheck:
    """Check the origin headers of a record consumed from ``topic``; never raises, whatever
    the headers hold. Headers signed for another topic are forged."""
    if not headers:
        return NO_ORIGIN
    found: dict[str, bytes | None] = {}
    repeated = False
    for item in headers.items() if isinstance(headers, Mapping) else headers:
        try:
            name, value = item
        except (TypeError, ValueError):
            return _FORGED
        if name in NAMES:
            repeated |= name in found
            found[name] = value
    if not found:
        return NO_ORIGIN
    if repeated or len(found) != len(NAMES):
        return _FORGED
    values = [found[name] for name in NAMES]
    if not all(isinstance(value, bytes) for value in values):
        return _FORGED  # a header with a null value
    origin_topic, partition, offset, signature = cast(list[bytes], values)
    number_partition, number_offset = _number(partition), _number(offset)
    if number_partition is None or number_offset is None:
        return _FORGED
    if not 0 < len(origin_topic) <= _MAX_TOPIC:
        return _FORGED
    try:
        origin = Position(origin_topic.decode("ascii"), number_partition, number_offset)
    except UnicodeDecodeError:
        return _FORGED
    expected = _signature(key, origin, topic, record_key, record_value)
    if not hmac.compare_digest(expected, signature):
        return _FORGED
    return OriginCheck(origin, Verdict.SIGNED)
