"""The worker's consumer must never commit an offset the agent has not processed.

Faust's consumer loses events around rebalances and restarts (docs/RELIABILITY.md, finding 2):
it fills jumps in a partition's offsets with acked "gaps", drops fetched messages below a stale
read offset, acks the events its streams skip, and its commit rule lets some holes through.
The crash and rebalance tests catch those end to end, by chance; this checks each rule
deterministically on the consumer the worker really builds (both transports); Faust's stock
consumer breaks each of them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from mode.utils.futures import maybe_async

from streams.engine.app import create_app
from streams.engine.consumer import (
    BUFFERED_POLL_S,
    HOLE_REFETCH_S,
    HOLE_REFETCHES,
    ROOM_POLL_S,
    GaplessConsumer,
)
from streams.settings import Settings


@pytest.fixture(params=[True, False], ids=["tansu", "kafka"])
async def consumer(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """The consumer of a worker's app (never started: only its bookkeeping is exercised).

    Built inside the test's event loop, which its flow-control events bind to.
    """
    monkeypatch.setenv("STREAMS_SDK", "tencent")
    settings = Settings(
        broker="kafka://127.0.0.1:1",  # never contacted: nothing here starts the app
        embedded_broker=request.param,
        table_store="memory://",
        web_port=0,
    )
    app, _, _ = create_app(settings)
    assert isinstance(app.consumer, GaplessConsumer)
    # What the conductor does once the agent subscribes: acks count for the changes topic.
    cast(Any, app.topics)._acking_topics.add(settings.changes_topic)
    app.consumer.changes_topic = settings.changes_topic  # for the tests' convenience
    yield app.consumer


def message(consumer: Any, offset: int, partition: int = 0, generation: int = 0) -> Any:
    msg = ConsumerMessage(
        consumer.changes_topic, partition, offset, 0.0, 0, None, b"k", b"v", None,
        tp=TP(consumer.changes_topic, partition), generation_id=generation,
    )  # fmt: skip
    consumer.track_message(msg)
    return msg


@pytest.fixture
def seeks(consumer: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Offsets the consumer seeks partition 0 to (the I/O boundary: recorded, not done)."""
    tp = TP(consumer.changes_topic, 0)
    done: list[int] = []

    async def seek(partition: TP, offset: int) -> None:
        assert partition == tp
        done.append(offset)

    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(consumer, "assignment", lambda: {tp})
    return done


@pytest.fixture
def now(consumer: Any) -> list[float]:
    """The consumer's clock: a one-item list the test moves forward."""
    clock = [1000.0]
    consumer.clock = lambda: clock[0]
    return clock


def fetched(consumer: Any, tp: TP, offset: int) -> Any:
    """What Faust's fetch loop makes of a record aiokafka returned."""
    record = SimpleNamespace(
        topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
        headers=[], key=b"k", value=b"v", checksum=None, serialized_key_size=1,
        serialized_value_size=1,
    )  # fmt: skip
    return consumer._to_message(tp, record)


async def fetched_batch(consumer: Any, tp: TP, *offsets: int) -> AsyncIterator[tuple[TP, Any]]:
    """A fetched batch as Faust's ``getmany`` yields it to the fetch loop."""
    for offset in offsets:
        yield tp, fetched(consumer, tp, offset)


async def deliver(consumer: Any, tp: TP, *offsets: int) -> list[int]:
    """Run the consumer's fetch-loop delivery over a batch of fetched records.

    Returns the offsets that reached the streams (recorded by a stand-in for Faust's conductor).
    """
    arrived: list[int] = []

    async def streams(msg: Any) -> None:
        arrived.append(msg.offset)

    consumer.callback = streams
    await consumer._deliver(fetched_batch(consumer, tp, *offsets))
    return arrived


def processed(consumer: Any, *offsets: int) -> None:
    """What the agent does after a window: mark processed, then ack (through the message)."""
    for offset in offsets:
        msg = message(consumer, offset)
        consumer.mark_processed(msg)
        msg.ack(consumer)


async def test_a_jump_in_offsets_is_not_committed(consumer: Any) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 2408
    # Offset 2443 arrives right after 2408: Faust's fetch loop filled 2409..2442 as a gap.
    assert await deliver(consumer, tp, 2408, 2443) == [2408, 2443]
    processed(consumer, 2443)
    assert consumer._new_offset(tp) is None, "offsets 2408..2442 were never processed"


def test_a_one_offset_hole_after_the_commit_is_not_committed(consumer: Any) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 100
    processed(consumer, 101, 102)
    assert consumer._new_offset(tp) is None, "offset 100 was never processed"
    processed(consumer, 100)
    assert consumer._new_offset(tp) == 103


def test_a_partition_without_a_commit_commits_from_its_earliest_offset(consumer: Any) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer._start[tp] = 0  # what perform_seek records for a partition with no commit
    processed(consumer, 3, 4)
    assert consumer._new_offset(tp) is None, "offsets 0..2 were never processed"
    processed(consumer, 0, 1, 2)
    assert consumer._new_offset(tp) == 5


def test_events_a_stream_skipped_are_untracked_but_never_committed(consumer: Any) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 7
    skipped = message(consumer, 7, generation=1)
    skipped.ack(consumer)  # what Stream does with an event of an older generation
    assert skipped.acked and skipped not in consumer._unacked_messages
    assert consumer._new_offset(tp) is None
    processed(consumer, 7)
    assert consumer._new_offset(tp) == 8


async def test_every_fetched_message_is_delivered(consumer: Any) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer._read_offset[tp] = 500  # Faust writes the last read offset back after a seek
    arrived = await deliver(consumer, tp, 498, 499, 500)
    assert arrived == [498, 499, 500], "Faust's fetch loop drops messages below the read offset"


async def test_a_hole_nothing_will_fill_is_fetched_again_once(
    consumer: Any, seeks: list[int]
) -> None:
    tp = TP(consumer.changes_topic, 0)
    consumer.app.consumer_generation_id = 3
    consumer._committed_offset[tp] = 50
    in_flight = message(consumer, 50, generation=3)
    processed(consumer, 52)
    await consumer._refetch_holes()
    assert seeks == [], "offset 50 is still being processed"
    consumer.mark_processed(in_flight)
    in_flight.ack(consumer)
    await consumer._refetch_holes()
    assert seeks == [], "50 is acked: the commit moves up to the hole at 51 on its own"
    consumer._committed_offset[tp] = consumer._new_offset(tp)  # what a commit does
    assert consumer._committed_offset[tp] == 51
    await consumer._refetch_holes()
    assert seeks == [51], "51 was dropped: nothing will ever ack it"
    await consumer._refetch_holes()
    assert seeks == [51], "fetched again at most every HOLE_REFETCH_S"
    assert consumer.refetches == 1


async def test_an_offset_refetches_never_deliver_holds_no_record(
    consumer: Any, seeks: list[int], now: list[float]
) -> None:
    """A transaction marker: fetched again HOLE_REFETCHES times, then committed past."""
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 10
    processed(consumer, 11, 12)
    for _ in range(HOLE_REFETCHES):
        await consumer._refetch_holes()
        now[0] += HOLE_REFETCH_S
    assert seeks == [10] * HOLE_REFETCHES
    assert consumer._new_offset(tp) is None, "not yet given up on"
    await consumer._refetch_holes()
    assert seeks == [10] * HOLE_REFETCHES
    assert consumer._new_offset(tp) == 13


async def test_a_skipped_event_with_nothing_after_it_is_fetched_again(
    consumer: Any, seeks: list[int]
) -> None:
    """The last event of a quiet partition, skipped by the stream: no later ack reveals it."""
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 1
    skipped = message(consumer, 1)
    skipped.ack(consumer)  # Faust's stream skipping it (paused flow or an older generation)
    await consumer._refetch_holes()
    assert seeks == [1]


async def test_a_fetched_message_faust_never_delivered_is_fetched_again(
    consumer: Any, seeks: list[int]
) -> None:
    """Flow suspended (rebalance, recovery) while a message is on its way to the streams: its
    delivery is cancelled and the fetch loop moves on; the consumer remembers which one."""
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 4
    arrived: list[int] = []
    blocked = asyncio.Event()

    async def streams(msg: Any) -> None:  # Faust's conductor: the stream's queue is full
        blocked.set()
        await asyncio.Event().wait()
        arrived.append(msg.offset)

    consumer.callback = streams
    delivering = asyncio.ensure_future(consumer._deliver(fetched_batch(consumer, tp, 4, 5)))
    await blocked.wait()
    consumer.suspend_flow.set()
    await asyncio.wait_for(delivering, timeout=5)
    assert arrived == []
    await consumer._refetch_holes()
    assert seeks == [4], "4 was fetched, never delivered, and nothing will fill the hole"


async def test_a_fetched_event_that_never_reached_the_agent_is_fetched_again_when_idle(
    consumer: Any, seeks: list[int], now: list[float]
) -> None:
    """Delivered to Faust's streams, yet never processed, and the partition went quiet."""
    tp = TP(consumer.changes_topic, 0)
    consumer._committed_offset[tp] = 7
    assert await deliver(consumer, tp, 7) == [7]
    await consumer._refetch_holes()
    assert seeks == [], "it may still be on its way to the agent"
    now[0] += HOLE_REFETCH_S
    await consumer._refetch_holes()
    assert seeks == [7]


async def test_a_partition_that_comes_back_starts_with_a_clean_slate(
    consumer: Any, seeks: list[int], now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Revoked and assigned again: until the new assignment's seek (after table recovery, which
    can take long) nothing from before counts as evidence of a hole or as processed."""
    tp = TP(consumer.changes_topic, 0)
    consumer._start[tp] = 0  # first assignment: no commit, read from the earliest offset
    assert await deliver(consumer, tp, 0, 1, 2, 3) == [0, 1, 2, 3]
    processed(consumer, 0, 1, 2)
    consumer._committed_offset[tp] = consumer._new_offset(tp)  # what a commit does
    consumer.mark_processed(message(consumer, 3))  # its ack never came: revoked first

    async def app_revoked(revoked: set[TP]) -> None:  # the app's own handler (tables, agents)
        """Not under test here."""

    monkeypatch.setattr(consumer, "_on_partitions_revoked", app_revoked)
    await consumer.on_partitions_revoked({tp})
    consumer.app.consumer_generation_id = 1
    for _ in range(HOLE_REFETCHES + 2):  # assigned again; recovery still running
        now[0] += HOLE_REFETCH_S
        await consumer._refetch_holes()
    assert seeks == [], "offset 0 was committed long ago; 3 will be read again after the seek"
    assert consumer._new_offset(tp) is None
    skipped = message(consumer, 3, generation=0)
    skipped.ack(consumer)  # a stream skipping the old generation's message
    consumer._committed_offset[tp] = 3  # the new assignment's seek
    assert consumer._new_offset(tp) is None, "3 was never acked after processing"


async def test_seeks_run_on_the_consumer_thread(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka's consumer lives on Faust's consumer thread and is not thread-safe; Faust's own
    ``_seek`` called it from the app's thread."""
    seen: list[tuple[str, int]] = []
    thread = consumer._thread
    monkeypatch.setattr(
        thread, "seek", lambda tp, offset: seen.append((threading.current_thread().name, offset))
    )

    async def call_thread(fun: Any, *args: Any) -> Any:  # mode's: run on the thread's own loop
        result: list[Any] = []
        worker = threading.Thread(
            target=lambda: result.append(asyncio.run(maybe_async(fun(*args)))), name="consumer"
        )
        worker.start()
        await asyncio.get_running_loop().run_in_executor(None, worker.join)
        return result[0]

    monkeypatch.setattr(thread, "call_thread", call_thread)
    await consumer.seek(TP(consumer.changes_topic, 0), 42)
    assert seen == [("consumer", 42)]


async def test_a_poll_is_short_while_a_partition_waits_for_the_stream_buffer(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust polls the partitions active when the poll starts, for up to a second; one left
    out for a full stream buffer comes back only with the next poll."""
    polls: list[tuple[set[TP], float]] = []

    async def getmany(active_partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:
        polls.append((set(active_partitions), timeout))
        return {}

    monkeypatch.setattr(consumer, "_getmany", getmany)
    read, full = TP(consumer.changes_topic, 0), TP(consumer.changes_topic, 1)
    consumer._set_active_tps({read, full})
    await consumer._wait_next_records(1.0)
    consumer.on_buffer_full(full)  # Faust's conductor, when the stream's queue fills
    await consumer._wait_next_records(1.0)
    consumer.on_buffer_drop(full)
    await consumer._wait_next_records(1.0)
    assert polls == [({read, full}, 1.0), ({read}, BUFFERED_POLL_S), ({read, full}, 1.0)]


async def test_a_message_for_a_full_stream_waits_for_room(consumer: Any) -> None:
    """Faust's conductor hands a message for a full stream buffer over through a task and an
    ``asyncio.wait`` of its own; under a flood that was every message. Delivery waits for room
    instead, and nothing is lost or reordered on the way."""
    tp = TP(consumer.changes_topic, 0)
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
    queue.put_nowait(-2)
    queue.put_nowait(-1)
    stream = type("Channel", (), {"queue": queue})()  # what the conductor indexes per partition
    cast(Any, consumer.app.topics)._tp_index[tp].add(stream)

    async def conductor(msg: Any) -> None:
        assert not queue.full(), "handed to the conductor while the stream's buffer was full"
        queue.put_nowait(msg.offset)

    consumer.callback = conductor
    looked = 0
    full = queue.full

    def counted_full() -> bool:
        nonlocal looked
        looked += 1
        return full()

    queue.full = counted_full  # type: ignore[method-assign]
    delivery = asyncio.ensure_future(consumer._deliver(fetched_batch(consumer, tp, 0, 1, 2)))

    async def looked_for_room(times: int) -> None:
        while looked < times:
            await asyncio.sleep(ROOM_POLL_S)

    # Not a pause: the delivery has found the buffer full five times and handed nothing over.
    await asyncio.wait_for(looked_for_room(5), timeout=5)
    assert not delivery.done()
    assert list(queue._queue) == [-2, -1]  # type: ignore[attr-defined]
    # The stream draining its buffer.
    taken = [await asyncio.wait_for(queue.get(), timeout=5) for _ in range(5)]
    await asyncio.wait_for(delivery, timeout=5)
    assert taken == [-2, -1, 0, 1, 2]


async def test_which_partitions_count_acks_is_asked_again_after_a_rebalance(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept per partition between rebalances (asked for every fetched record)."""
    tp = TP(consumer.changes_topic, 0)

    async def app_rebalance(*args: Any) -> None:  # the app's own handlers: not under test
        """Nothing."""

    monkeypatch.setattr(consumer, "_on_partitions_revoked", app_rebalance)
    monkeypatch.setattr(consumer, "_on_partitions_assigned", app_rebalance)
    acking_topics = cast(Any, consumer.app.topics)._acking_topics
    assert consumer._acking(tp)
    acking_topics.discard(consumer.changes_topic)
    assert consumer._acking(tp), "kept until the next rebalance"
    await consumer.on_partitions_revoked({tp})
    assert not consumer._acking(tp)
    acking_topics.add(consumer.changes_topic)
    await consumer.on_partitions_assigned({tp})
    assert consumer._acking(tp)
