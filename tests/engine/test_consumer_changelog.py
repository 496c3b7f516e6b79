"""A table's changelog records, once fetched, must reach the streams or be fetched again.

Nothing commits a changelog partition or looks for holes in it: a record fetched and thrown away
is gone, and a table recovery waiting for it never ends (docs/RELIABILITY.md, finding 7, where
the fetch loop abandoned a fetch in flight when a rebalance suspended flow; the consumer thread
went on, took the records from aiokafka and discarded them). These drive the worker's consumer
through Faust's ``getmany`` with the consumer thread replaced at its boundary: the fetch, which
goes on whatever its caller does, and aiokafka's position and seek.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.engine import internals
from streams.engine.app import create_app
from streams.engine.consumer import GaplessConsumer
from streams.settings import Settings


@dataclass
class Thread:
    """The consumer thread as the consumer sees it: fetches that run to the end even when the
    caller stops waiting, and aiokafka's positions (moved by fetches and seeks)."""

    tp: TP
    log_end: int
    position: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    fetching: asyncio.Event = field(default_factory=asyncio.Event)
    fetches: list[asyncio.Task[Any]] = field(default_factory=list)
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    assigned: bool = True

    async def getmany(self, active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        self.fetches.append(asyncio.ensure_future(self._fetch()))
        return await asyncio.shield(self.fetches[-1])  # mode's call_thread: a promise

    async def _fetch(self) -> dict[TP, list[Any]]:
        self.fetching.set()
        await self.release.wait()
        offsets = range(self.position, self.log_end)
        self.position = self.log_end  # aiokafka's fetched_records: the records are taken
        return {self.tp: [record(self.tp, offset) for offset in offsets]}

    # aiokafka's consumer, on its own thread
    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return await fun(*args)

    async def aio_position(self, tp: TP) -> int:
        if not self.assigned:
            raise IllegalStateError(f"Partition {tp} is not assigned")
        return self.position

    def aio_seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.position = offset


def record(tp: TP, offset: int) -> Any:
    return SimpleNamespace(
        topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
        headers=[], key=b"k", value=b"v", checksum=None, serialized_key_size=1,
        serialized_value_size=1,
    )  # fmt: skip


@pytest.fixture
async def consumer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GaplessConsumer]:
    """The consumer of a worker's app (never started), built in the test's event loop."""
    monkeypatch.setenv("STREAMS_SDK", "tencent")
    settings = Settings(
        broker="kafka://127.0.0.1:1", embedded_broker=True, table_store="memory://", web_port=0
    )
    app, _, table = create_app(settings)
    assert isinstance(app.consumer, GaplessConsumer)
    app.consumer.changelog_tp = TP(table.changelog_topic.get_topic_name(), 0)  # type: ignore[attr-defined]
    yield app.consumer


@pytest.fixture
def thread(consumer: Any, monkeypatch: pytest.MonkeyPatch) -> Thread:
    return attach(consumer, monkeypatch, Thread(consumer.changelog_tp, log_end=6, position=3))


def attach(consumer: Any, monkeypatch: pytest.MonkeyPatch, thread: Thread) -> Thread:
    """Put ``thread`` in place of the consumer thread, its partition assigned and resumed."""
    monkeypatch.setattr(consumer, "_getmany", thread.getmany)
    monkeypatch.setattr(consumer, "assignment", lambda: {thread.tp})
    monkeypatch.setattr(consumer, "highwater", lambda tp: thread.log_end)
    monkeypatch.setattr(consumer._thread, "call_thread", thread.call_thread)
    aio = SimpleNamespace(position=thread.aio_position, seek=thread.aio_seek)
    monkeypatch.setattr(internals, "aiokafka_consumer", lambda _: aio)

    async def perform_seek() -> None:  # seeks input partitions to their commits: none here
        return None

    monkeypatch.setattr(consumer, "perform_seek", perform_seek)
    consumer.resume_partitions({thread.tp})  # a recovery reading the changelog, or a stream
    return thread


def streams(consumer: Any, *, block_at: int | None = None) -> tuple[list[int], asyncio.Event]:
    """Faust's conductor stand-in: the offsets that reached the streams. With ``block_at``, the
    delivery of that offset waits (a stream's buffer full, flow suspended) until released."""
    arrived: list[int] = []
    unblock = asyncio.Event()

    async def deliver(message: Any) -> None:
        if message.offset == block_at:
            await unblock.wait()
        arrived.append(message.offset)

    consumer.callback = deliver
    return arrived, unblock


def accounted_for(thread: Thread, arrived: list[int], fetched: range) -> bool:
    """Every fetched record reached the streams, or aiokafka will return it again."""
    return all(offset in arrived or offset >= thread.position for offset in fetched)


async def test_a_fetch_in_flight_when_flow_is_suspended_is_not_thrown_away(
    consumer: Any, thread: Thread
) -> None:
    arrived, _ = streams(consumer)
    delivery = asyncio.ensure_future(consumer._deliver(consumer.getmany(timeout=1.0)))
    await asyncio.wait_for(thread.fetching.wait(), 5)
    consumer.stop_flow()  # a rebalance starts while the consumer thread fetches
    thread.release.set()  # ... and the fetch ends all the same, with offsets 3-5
    await asyncio.wait_for(delivery, 5)
    await asyncio.wait_for(asyncio.gather(*thread.fetches), 5)
    assert accounted_for(thread, arrived, range(3, 6)), (arrived, thread.position)
    assert thread.seeks == [(thread.tp, 3)]


async def test_the_rest_of_a_batch_whose_delivery_is_cancelled_is_fetched_again(
    consumer: Any, thread: Thread
) -> None:
    arrived, _ = streams(consumer, block_at=4)
    thread.release.set()
    delivery = asyncio.ensure_future(consumer._deliver(consumer.getmany(timeout=1.0)))
    for _ in range(100):
        if arrived:
            break
        await asyncio.sleep(0.01)
    consumer.stop_flow()
    await asyncio.wait_for(delivery, 5)
    assert arrived == [3]
    assert thread.seeks == [(thread.tp, 4)]
    assert accounted_for(thread, arrived, range(3, 6))


async def test_a_delivered_batch_is_not_fetched_again(consumer: Any, thread: Thread) -> None:
    arrived, _ = streams(consumer)
    thread.release.set()
    await asyncio.wait_for(consumer._deliver(consumer.getmany(timeout=1.0)), 5)
    assert arrived == [3, 4, 5]
    assert thread.seeks == []


async def test_a_changelog_is_only_ever_sought_backwards(consumer: Any, thread: Thread) -> None:
    thread.position = 2  # a new recovery sought it before the undelivered records: left alone
    await consumer._rewind({thread.tp: 4})
    assert thread.seeks == []
    thread.position = 6
    await consumer._rewind({thread.tp: 4})
    assert thread.seeks == [(thread.tp, 4)]
    thread.assigned = False  # revoked since: its next owner reads it from its own position
    await consumer._rewind({thread.tp: 1})
    assert thread.seeks == [(thread.tp, 4)]


async def test_an_input_record_is_handed_to_the_streams_once_unless_it_must_come_again(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of a new assignment were handed over, then the recovery's seek to the committed
    offsets fetched them again: handed over twice, a window ran twice, and the second copy of a
    quarantined record crashed the worker again (seen on Apache Kafka). A record that must come
    again (a stream skipped it, its delivery was cancelled, a hole) still does."""
    tp = TP("changes", 0)
    thread = attach(consumer, monkeypatch, Thread(tp, log_end=3, position=0))
    monkeypatch.setattr(consumer, "_acking", lambda of: of == tp)  # the agent's input topic
    arrived, _ = streams(consumer)
    thread.release.set()
    await asyncio.wait_for(consumer._deliver(consumer.getmany(timeout=1.0)), 5)
    assert arrived == [0, 1, 2]
    thread.position = 0  # a seek that did not ask for them
    await asyncio.wait_for(consumer._deliver(consumer.getmany(timeout=1.0)), 5)
    assert arrived == [0, 1, 2] and consumer.redeliveries_dropped == 3
    consumer._must_come_again(tp, 1)  # e.g. a stream skipped offset 1: it is fetched again
    thread.position = 1
    await asyncio.wait_for(consumer._deliver(consumer.getmany(timeout=1.0)), 5)
    assert arrived == [0, 1, 2, 1, 2]
    await consumer.on_partitions_revoked({tp})  # a new assignment hands everything over again
    consumer.resume_flow()
    consumer.resume_partitions({tp})
    thread.position = 0
    await asyncio.wait_for(consumer._deliver(consumer.getmany(timeout=1.0)), 5)
    assert arrived == [0, 1, 2, 1, 2, 0, 1, 2]


async def test_records_a_window_left_to_the_next_owner_no_longer_hold_the_revocation(
    consumer: Any,
) -> None:
    """Faust's revocation waits until every record handed to the streams is acked or garbage;
    the agent holds its last window's list while it waits for the next, so the records the
    window dropped for their next owner (a revocation began) held the revocation, and the
    group, until the rebalance timeout. Abandoned, they are neither acked nor committed, and
    come again if the partition comes back."""
    tp = TP("changes", 0)
    kept, dropped = (
        ConsumerMessage("changes", 0, offset, 0.0, 0, [], b"k", b"v", None, tp=tp)
        for offset in (4, 5)
    )
    consumer.track_message(kept)
    consumer.track_message(dropped)
    consumer._handed[tp] = 5
    consumer.abandon([dropped])
    assert set(consumer._unacked_messages) == {kept}, "the window in progress is still awaited"
    assert not dropped.acked and consumer._handed[tp] == 4, "never acked; handed over again"
    consumer.abandon([kept])
    assert not consumer._unacked_messages, "Faust's wait_empty returns at once"
