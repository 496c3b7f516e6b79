"""Every stand-in the tests use for Kafka-side objects, in one place.

The window talks to Faust through the ports of :mod:`streams.window.ports` (a table with a
changelog flush, topic sinks with ``send_soon``, an outcome sink) and to the IM through an
applier (:class:`streams.window.apply.Applies`): these implement them in-process, recording
what the window produced, or failing the way a broker outage does. mypy checks them against
the protocols (``pyproject.toml``); integration tests use the real broker and emulator instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from streams.core.coalesce import PlannedRequest
from streams.core.fitting import Headers
from streams.sdk import codes
from streams.sdk.types import ItemResult, RequestResult
from streams.window import ports
from streams.window.apply import Applied, ApplyReport, OnRequestDone
from streams.window.ports import Delivery, RecordSink, RecordSinks
from streams.window.processor import WindowStats

T = TypeVar("T")


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

    async def flush_changelog(self) -> list[Delivery]:
        return []


@dataclass
class RecordingTopic:
    """A topic that delivers at once and keeps every record sent to it."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send_soon(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> Delivery:
        record: dict[str, Any] = {"key": key, "value": value, "headers": headers}
        if partition is not None:
            record["partition"] = partition
        self.sent.append(record)
        return delivered()


class UndeliverableTopic:
    """A topic whose records are accepted but never delivered."""

    def send_soon(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> Delivery:
        return undelivered()


@dataclass
class RecordingSink:
    """The outcome sink: delivers at once and keeps the outcome documents."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Delivery]:
        self.outcomes.extend(orjson.loads(value) for _, value in records)
        return [delivered()]


class WriteCountingSink:
    """Delivers at once, noting each send's outcomes and how many IM writes preceded it."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.sends: list[tuple[int, list[tuple[str, str]]]] = []

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Delivery]:
        outcomes = [orjson.loads(value) for _, value in records]
        writes = len(self.emulator.writes())
        self.sends.append((writes, [(o["event_id"], o["status"]) for o in outcomes]))
        return [delivered()]


class UndeliverableSink:
    """The outcome sink of a broker that never confirms delivery."""

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Delivery]:
        return [undelivered() for _ in records]


def later(journal: list[str], what: str, *, fails: bool = False) -> Delivery:
    """A delivery that resolves (or fails as a broker outage does) on the loop's next turn,
    noting ``what`` in ``journal`` then: a step that does not await it journals first."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def settle() -> None:
        if fails:
            journal.append(f"{what} failed")
            future.set_exception(KafkaTimeoutError("delivery timed out"))
        else:
            journal.append(f"{what} delivered")
            future.set_result(None)

    asyncio.get_running_loop().call_soon(settle)
    return future


class JournalTable(Table):
    """The last-applied table, journaling each changelog flush (the entries it carries, as
    ``key=pending`` or ``key=applied``) and its delivery; flush number ``fail_flush`` (from 1)
    is not delivered."""

    def __init__(self, journal: list[str], *, fail_flush: int = 0) -> None:
        super().__init__()
        self.journal = journal
        self.fail_flush = fail_flush
        self._flushes = 0
        self._queued: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._queued.append(f"{key}={'pending' if value[2] else 'applied'}")

    async def flush_changelog(self) -> list[Delivery]:
        queued, self._queued = self._queued, []
        if not queued:
            return []
        self._flushes += 1
        what = f"changelog {' '.join(queued)}"
        self.journal.append(f"{what} sent")
        return [later(self.journal, what, fails=self._flushes == self.fail_flush)]


class JournalSink:
    """The outcome sink, journaling each send (its outcomes' statuses) and its delivery; send
    number ``fail_send`` (from 1) is not delivered."""

    def __init__(self, journal: list[str], *, fail_send: int = 0) -> None:
        self.journal = journal
        self.fail_send = fail_send
        self._sends = 0

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Delivery]:
        self._sends += 1
        statuses = " ".join(orjson.loads(value)["status"] for _, value in records)
        what = f"outcomes {statuses}"
        self.journal.append(f"{what} sent")
        return [later(self.journal, what, fails=self._sends == self.fail_send)]


class JournalTopic:
    """A topic (dead letters, forwards) journaling each record as ``name`` and its delivery."""

    def __init__(self, journal: list[str], name: str, *, fails: bool = False) -> None:
        self.journal = journal
        self.name = name
        self.fails = fails

    def send_soon(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> Delivery:
        self.journal.append(f"{self.name} sent")
        return later(self.journal, self.name, fails=self.fails)


@dataclass
class RecordingTopics:
    """The changes (forwards) and dead-letter topics, recording what they get."""

    changes: RecordingTopic = field(default_factory=RecordingTopic)
    dead_letters: RecordingTopic = field(default_factory=RecordingTopic)

    def sinks(self, outcomes: RecordSink) -> RecordSinks:
        """The window's sinks: these topics, and ``outcomes`` for its outcomes."""
        return RecordSinks(outcomes=outcomes, dead_letters=self.dead_letters, forwards=self.changes)


def undeliverable_sinks() -> RecordSinks:
    """Sinks of a broker that never confirms delivery."""
    topic = UndeliverableTopic()
    return RecordSinks(outcomes=UndeliverableSink(), dead_letters=topic, forwards=topic)


class ScriptedApplier:
    """Answers each planned request with ``code_for(index)`` for all its changes; notes each
    request in ``journal`` (``IM <user> <conversations>``) when given one."""

    def __init__(
        self, code_for: Callable[[int], int] = lambda index: 0, journal: list[str] | None = None
    ) -> None:
        self.code_for = code_for
        self.journal = journal
        self.requests: list[PlannedRequest] = []

    async def apply(self, plans: Sequence[PlannedRequest], on_done: OnRequestDone) -> ApplyReport:
        report = ApplyReport()
        for request in plans:
            index = len(self.requests)
            self.requests.append(request)
            if self.journal is not None:
                names = " ".join(c.change.conversation_id for c in request.changes)
                self.journal.append(f"IM {request.user_id} {names}")
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
) -> Event:
    """A consumed record as the window sees it (a Faust event's ``message``)."""
    message = SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=key, value=value,
        headers=list(headers),
    )  # fmt: skip
    return Event(message)


class Event:
    """A Faust event as the window and the table read it (its message; weakly referable, as
    Faust's current event is)."""

    def __init__(self, message: Any) -> None:
        self.message = message


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

    async def process(self, events: Sequence[ports.Event]) -> tuple[list[ports.Event], WindowStats]:
        offsets = [e.message.offset for e in events]
        if self.bad & set(offsets):
            raise RuntimeError("a bug")
        self.windows.append(offsets)
        return list(events), WindowStats(events=len(events))

    async def quarantine(
        self, event: ports.Event, exc: Exception, *, dead_letter_max_bytes: int | None = None
    ) -> WindowStats:
        if self.dead_letter_fails:
            self.dead_letter_fails -= 1
            raise broker_error(MessageSizeTooLargeError())
        self.quarantined.append((event.message.offset, dead_letter_max_bytes))
        return WindowStats(events=1, quarantined=1)


class ScriptedIM:
    """Answers each conversation with the next code of its script (then 0)."""

    def __init__(self, scripts: dict[str, list[int]], clock: list[float]) -> None:
        self.scripts = scripts
        self.calls: list[list[str]] = []
        self.clock = clock

    async def mark(self, user_id: str, values: Sequence[tuple[str, str]]) -> RequestResult:
        self.calls.append([cid for cid, _ in values])
        self.clock[0] += 0.5  # each request takes half a second of the injected clock
        rid = str(len(self.calls))
        items = []
        for cid, _ in values:
            script = self.scripts.get(cid, [])
            code = script.pop(0) if script else 0
            items.append(ItemResult(cid, code, f"code {code}", rid, codes.is_retryable(code)))
        return RequestResult(rid, 0, "", 200, tuple(items))


class SlowIM:
    """Answers every conversation with 0 after 10 ms; notes each answered request's user."""

    def __init__(self) -> None:
        self.answered: list[str] = []

    async def mark(self, user_id: str, values: Sequence[tuple[str, str]]) -> RequestResult:
        await asyncio.sleep(0.01)
        self.answered.append(user_id)
        items = tuple(ItemResult(cid, 0, "", "r", False) for cid, _ in values)
        return RequestResult("r", 0, "", 200, items)


class CountingSink:
    """Notes each send's values; returns one resolved delivery future per send."""

    def __init__(self) -> None:
        self.sends: list[list[bytes]] = []

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[Delivery]:
        self.sends.append([value for _, value in records])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return [future]


class FakeEvent(str):
    """A pushed event: its name, and the message's partition the window reads."""

    message: SimpleNamespace


class FakeStream:
    """What :func:`streams.engine.windows.windows` uses of a Faust stream, and nothing else."""

    def __init__(self) -> None:
        self.current_event: Any = None
        self.enable_acks = True
        self.should_stop = False
        self._processors: list[Callable[[Any], Any]] = []
        self._registered = asyncio.Event()
        self.channel = self

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration

    def add_processor(self, processor: Callable[[Any], Any]) -> None:
        self._processors.append(processor)
        self._registered.set()

    async def registered(self, timeout_s: float = 5.0) -> None:
        """Wait until the windows generator has added its processor (fails after the timeout)."""
        await asyncio.wait_for(self._registered.wait(), timeout_s)

    def _enable_passive(self, channel: Any) -> None:
        """Faust starts reading the channel here; the test pushes events itself."""

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def push(self, name: str, partition: int = 0) -> Any:
        """Deliver one event as Faust does: current event set, then the processor's result."""
        event = FakeEvent(name)
        event.message = SimpleNamespace(partition=partition)
        self.current_event = event
        (processor,) = self._processors
        return processor(event)


#: How far the virtual clock moves on a turn of the loop that waits for nothing.
TICK_S = 1e-6


class _JumpingSelector:
    """The loop's selector, except that a wait for a timer jumps the loop's clock instead."""

    def __init__(self, selector: Any, loop: VirtualTimeLoop) -> None:
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None) -> Any:
        ready = self._selector.select(0)
        if not ready and timeout is not None:
            # At least a tick per turn of the loop, as a real clock moves: a sleep shorter than
            # the clock's float resolution would otherwise be due for ever and never over.
            self._loop.now += max(timeout, TICK_S)
        elif not ready:
            ready = self._selector.select(None)  # nothing scheduled: only I/O can wake it
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: ``asyncio.sleep`` and timeouts take no real time.

    Whenever nothing is ready, the clock jumps to the next timer. Code under test given
    ``clock=loop.time`` sees exactly the seconds the scenario spends, on a loaded machine too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now


def run_virtual(scenario: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``scenario(loop)`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(scenario(loop))
    finally:
        loop.close()
