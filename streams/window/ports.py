"""What the window needs of the stream engine, as typed protocols the engine implements.

The window's work (decode, coalesce, the IM requests, outcomes, the commit protocol) depends on
these and on nothing of Faust or aiokafka: :mod:`streams.engine` implements them (its tables,
topics, batch sinks and rebalance hooks) and the tests' fakes (``tests/fakes.py``) do too, so
mypy checks both against the same declarations and the imports run one way, engine -> window.
"""

from __future__ import annotations

from collections.abc import Awaitable, ItemsView, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streams.core.fitting import Headers

#: A record's delivery: resolves when the brokers have it, raises when they refused it.
Delivery = Awaitable[Any]


class Message(Protocol):
    """A consumed record: where it was read and what it holds."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any:
        """The record's headers as the client hands them over (pairs or a mapping)."""


class Event(Protocol):
    """A consumed record as the window sees it: of an engine's event, only its message."""

    @property
    def message(self) -> Message: ...


class ChangelogTable(Protocol):
    """A table whose writes become changelog records the window delivers itself.

    A write (set or delete) only queues its record, routed by the current event's partition
    (:class:`CurrentEvent`); :meth:`flush_changelog` sends what is queued, and the window awaits
    the deliveries before anything that depends on them (the commit protocol,
    :mod:`streams.window.checkpoint`).
    """

    def get(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...
    def __delitem__(self, key: str) -> None: ...
    def __len__(self) -> int: ...
    def items(self) -> ItemsView[str, Any]: ...

    async def flush_changelog(self) -> Sequence[Delivery]:
        """Send the records queued since the last flush; their deliveries."""


class RecordSink(Protocol):
    """Sends (key, value) records to one topic in batches, partitioned by key."""

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> Sequence[Delivery]:
        """Queue ``records``; the deliveries of the batches they went out in."""


class TopicSink(Protocol):
    """Sends one record at a time to one topic (dead letters, forwards)."""

    def send_soon(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> Delivery:
        """Queue one record (to ``partition``, or the one its key hashes to); its delivery."""


@dataclass(frozen=True, slots=True)
class RecordSinks:
    """Where a window's records go besides its table."""

    #: Outcomes, sent in batches as they become final (:class:`streams.window.trickle.Trickle`).
    outcomes: RecordSink
    #: Records rejected as unreadable, too large or bad, for inspection.
    dead_letters: TopicSink
    #: Records whose key hashes to another partition, re-sent to the one it names.
    forwards: TopicSink


class Ownership(Protocol):
    """Whether this worker owns a partition of the changes topic right now.

    False from the moment a revocation begins: from then on the window sends no IM request, no
    outcome and no ack for that partition; its new owner redelivers its events.
    """

    def __call__(self, partition: int, /) -> bool: ...


class CurrentEvent(Protocol):
    """Makes ``event`` the engine's current event, by whose partition table writes are routed.

    A table write's changelog record, and its store, follow the current event's partition
    (faust-streaming #497): every write happens with an event of its key's partition current.
    """

    def __call__(self, event: Event, /) -> None: ...


class ClientFailure(Protocol):
    """Whether ``exc`` itself (not what it wraps) is a Kafka client's or broker's failure.

    Such a failure (authorization, fencing, a closed producer, a timeout...) is never one
    record's fault; the few a record can cause (its size, its bytes) are not among them.
    """

    def __call__(self, exc: BaseException, /) -> bool: ...
