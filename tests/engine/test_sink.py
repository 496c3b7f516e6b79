"""The outcomes' batch sink: a batch waits while the brokers have not taken the previous one."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.engine import sink as sink_module
from streams.engine.sink import BatchSink


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
