"""The trickle of a window's outcomes: held records go out at most every interval."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.engine import sink as sink_module
from streams.engine.sink import BatchSink, Trickle
from tests.fakes import CountingSink


def test_held_records_wait_for_the_interval_and_a_send_takes_everything() -> None:
    clock = [0.0]
    sink = CountingSink()
    trickle = Trickle(sink, 0.025, clock=lambda: clock[0])

    async def scenario() -> None:
        trickle.add((b"k", b"1"))
        await trickle.send_due()
        assert sink.sends == [], "25 ms have not passed since the trickle started"
        clock[0] = 0.03
        trickle.add((b"k", b"2"))
        await trickle.send_due()
        clock[0] = 0.04
        trickle.add((None, b"3"))
        await trickle.send_due()
        assert sink.sends == [[b"1", b"2"]], "10 ms after a send, the next is not due"
        await trickle.send()
        await trickle.send()
        clock[0] = 1.0
        await trickle.send_due()

    asyncio.run(scenario())
    assert sink.sends == [[b"1", b"2"], [b"3"]], "nothing held: no empty sends"
    assert len(trickle.futures) == 2


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(
        self, *, key: bytes | None, value: bytes | None, timestamp: None, headers: object
    ) -> object:
        self.records.append((key, value))
        return object()


class _FullPartitionProducer:
    """aiokafka's answer while a partition's previous batch waits for the brokers: send_batch
    gives up with KafkaTimeoutError (the batch not queued), ``refusals`` times."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.queued: list[tuple[int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> _Batch:
        return _Batch()

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        if self.refusals:
            self.refusals -= 1
            raise KafkaTimeoutError()
        self.queued.append((partition, batch.records))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_a_batch_waits_while_the_brokers_have_not_taken_the_previous_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sink_module, "QUEUE_RETRY_S", 0.0)
    producer = _FullPartitionProducer(refusals=3)
    batches = BatchSink(lambda: producer, "outcomes")

    async def scenario() -> list[asyncio.Future[Any]]:
        return await batches.send([(None, b"1")])

    futures = asyncio.run(scenario())
    assert len(futures) == 1
    assert producer.refusals == 0
    assert [records for _, records in producer.queued] == [[(None, b"1")]], "queued once"
