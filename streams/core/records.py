"""Plain records the core passes along: where a message came from and what it turned into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.contract import CustomDataChange, OutcomeReason


@dataclass(frozen=True, slots=True)
class Position:
    """A record's place in Kafka: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def as_dict(self) -> dict[str, Any]:
        """The ``source`` object of an outcome."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class Envelope:
    """One consumed message as the core sees it (bytes untouched, no codec applied)."""

    key: bytes | None
    value: bytes | None
    position: Position
    #: The topic's partition count, to detect misrouted events.
    partitions: int
    #: Set when this record was forwarded by a worker or re-published by ``streams replay``
    #: (its origin headers verified, see :mod:`streams.core.origin`): where it was first
    #: published.
    origin: Position | None = None

    @property
    def source(self) -> Position:
        """The position an outcome reports: the original one for a forwarded record."""
        return self.origin or self.position


@dataclass(frozen=True, slots=True)
class Change:
    """A valid change and the total order key that decides last-write-wins."""

    change: CustomDataChange
    envelope: Envelope
    #: (version or -1, occurred_at in UTC microseconds, offset), compared lexicographically;
    #: the offset is the ``source`` one (the original position of a replay or forward).
    order: tuple[int, int, int]
    #: Table key of the conversation: ``<user_id>/<conversation_id>`` ('/' is not in ids).
    #: Made once here: a window reads it several times per change.
    conversation: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that will not be applied: invalid, or not even parseable."""

    envelope: Envelope
    reason: OutcomeReason
    info: str
    #: Unparseable input also goes to the dead-letter topic.
    dead_letter: bool
    #: Fields recovered from the input, when it parsed that far (the last two only from a
    #: change that validated, rejected for what it says rather than what it is).
    event_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    version: int | None = None
    occurred_at: str | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """A misrouted event: re-publish to ``partition``; no outcome for this copy."""

    envelope: Envelope
    partition: int


Order = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class LastApplied:
    """What the table remembers per conversation.

    ``event_id``/``order``: the change last confirmed applied (``None`` before the first).
    ``pending``: the order of a change whose IM write was started and not confirmed. It may be
    in the IM already (a worker dying after the write, or a timeout after the server applied
    it), so nothing older may be written after it (docs/RELIABILITY.md, finding 3).
    """

    event_id: str | None
    order: Order | None
    pending: Order | None = None

    def to_json(self) -> list[Any]:
        """Compact table value: ``[event_id, [version, occurred_us, offset], pending order]``."""
        return [self.event_id, self.order and list(self.order), self.pending and list(self.pending)]

    @classmethod
    def from_json(cls, value: Any) -> LastApplied:
        """Inverse of :meth:`to_json`."""
        event_id, order, pending = value
        return cls(
            None if event_id is None else str(event_id),
            _order(order),
            _order(pending),
        )

    @classmethod
    def of(cls, change: Change) -> LastApplied:
        """The table entry recording ``change`` as applied (and nothing pending)."""
        return cls(change.change.event_id, change.order)

    def writing(self, change: Change) -> LastApplied:
        """This entry with ``change``'s write started: recorded before the request is sent."""
        return LastApplied(self.event_id, self.order, change.order)

    def admits(self, change: Change) -> bool:
        """Whether ``change`` may still be written: newer than what the IM may hold."""
        if self.order is not None and change.order <= self.order:
            return False
        return self.pending is None or change.order >= self.pending


#: The entry of a conversation nothing was ever written to.
NOTHING_APPLIED = LastApplied(None, None)


def _order(value: Any) -> Order | None:
    if value is None:
        return None
    version, occurred_us, offset = value
    return (int(version), int(occurred_us), int(offset))
