"""Every stand-in the tests use for Kafka-side objects, in one place.

The window processor talks to Faust through a few duck-typed surfaces (a table with a changelog
flush, topics with ``send_soon``, an outcome sink, an applier): these replace them in-process,
recording what the window produced, or failing the way a broker outage does. Integration tests
use the real broker and emulator instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from streams.apply import Applied, ApplyReport, OnRequestDone
from streams.core.coalesce import PlannedRequest
from streams.pipeline import WindowStats


def delivered(result: Any = None) -> asyncio.Future[Any]:
    """A delivery future that has resolved."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


def undelivered() -> asyncio.Future[Any]:
    """A delivery future that failed as a broker outage does."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(KafkaTimeoutError("delivery timed out"))
    return future


class Table(dict[str, Any]):
    """The last-applied (or crash) table: a mapping whose changelog is always delivered."""

    async def flush_changelog(self) -> list[Any]:
        return []


@dataclass
class RecordingTopic:
    """A topic that delivers at once and keeps every record sent to it."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send_soon(self, **record: Any) -> asyncio.Future[Any]:
        self.sent.append(record)
        return delivered()


class UndeliverableTopic:
    """A topic whose records are accepted but never delivered."""

    def send_soon(self, **_: Any) -> asyncio.Future[Any]:
        return undelivered()


@dataclass
class RecordingSink:
    """The outcome sink: delivers at once and keeps the outcome documents."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Any]:
        self.outcomes.extend(orjson.loads(value) for _, value in records)
        return [delivered()]


class WriteCountingSink:
    """Delivers at once, noting each send's outcomes and how many IM writes preceded it."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.sends: list[tuple[int, list[tuple[str, str]]]] = []

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Any]:
        outcomes = [orjson.loads(value) for _, value in records]
        writes = len(self.emulator.writes())
        self.sends.append((writes, [(o["event_id"], o["status"]) for o in outcomes]))
        return [delivered()]


class UndeliverableSink:
    """The outcome sink of a broker that never confirms delivery."""

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Any]:
        return [undelivered() for _ in records]


def recording_topics() -> SimpleNamespace:
    """Changes (forwards), outcomes and dead-letter topics that record what they get."""
    return SimpleNamespace(
        changes=RecordingTopic(), outcomes=RecordingTopic(), dead_letters=RecordingTopic()
    )


class ScriptedApplier:
    """Answers each planned request with ``code_for(index)`` for all its changes."""

    def __init__(self, code_for: Callable[[int], int] = lambda index: 0) -> None:
        self.code_for = code_for
        self.requests: list[PlannedRequest] = []

    async def apply(self, plans: Sequence[PlannedRequest], on_done: OnRequestDone) -> ApplyReport:
        report = ApplyReport()
        for request in plans:
            index = len(self.requests)
            self.requests.append(request)
            code = self.code_for(index)
            results = [
                Applied(change, code, "" if code == 0 else "scripted", str(index), 1, code != 0)
                for change in request.changes
            ]
            report.results.extend(results)
            report.requests += 1
            await on_done(results, [])
        return report


def message_event(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> Any:
    """A consumed record as the window sees it (a Faust event's ``message``)."""
    message = SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=key, value=value,
        headers=list(headers),
    )  # fmt: skip
    return SimpleNamespace(message=message)


def broker_error(cause: BaseException) -> ProducerSendError:
    """A send failure as Faust raises it: ``ProducerSendError`` from the client's error."""
    try:
        raise ProducerSendError("Error while sending") from cause
    except ProducerSendError as exc:
        return exc


class FailingProcessor:
    """Fails any window holding a bad offset; records what it processed and quarantined."""

    def __init__(self, bad: set[int], dead_letter_fails: int = 0) -> None:
        self.bad = bad
        self.dead_letter_fails = dead_letter_fails
        self.windows: list[list[int]] = []
        self.quarantined: list[tuple[int, int | None]] = []

    async def process(self, events: list[Any]) -> tuple[list[Any], WindowStats]:
        offsets = [e.message.offset for e in events]
        if self.bad & set(offsets):
            raise RuntimeError("a bug")
        self.windows.append(offsets)
        return events, WindowStats(events=len(events))

    async def quarantine(
        self, event: Any, exc: Exception, *, dead_letter_max_bytes: int | None = None
    ) -> WindowStats:
        if self.dead_letter_fails:
            self.dead_letter_fails -= 1
            raise broker_error(MessageSizeTooLargeError())
        self.quarantined.append((event.message.offset, dead_letter_max_bytes))
        return WindowStats(events=1, quarantined=1)
