"""scan and read_positions on Apache Kafka and on the embedded broker: every record up to the
end, also the rest of a last multi-record batch that Tansu's ListOffsets(latest) leaves out;
chosen positions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.client.scan import TopicMissingError, read_positions, scan
from tests.fixtures.client import new_topic, settings_for


async def produce_batch(
    producer: AIOKafkaProducer, topic: str, partition: int, values: list[bytes]
) -> list[int]:
    """Send ``values`` as one record batch (queued together within the producer's linger
    time); their offsets."""
    sent = [await producer.send(topic, v, key=b"k", partition=partition) for v in values]
    return [(await s).offset for s in sent]


async def listed_ends(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return [ends[tp] for tp in tps]
    finally:
        await consumer.stop()


#: ListOffsets(latest) of the fixture's partitions: Kafka's log end; Tansu's last batch's base
#: offset + 1 (the quirk the scan must see past: docs/EMBEDDED_BROKER.md, section c).
LISTED_ENDS = {"kafka": [8, 4], "tansu": [6, 1]}


@pytest.fixture(params=sorted(LISTED_ENDS))
def broker(request: pytest.FixtureRequest) -> str:
    """Each test runs on the session's Apache Kafka and on the embedded Tansu."""
    if request.param == "kafka":
        bootstrap: str = request.getfixturevalue("kafka_cluster").bootstrap
    else:
        bootstrap = request.getfixturevalue("tansu_broker").bootstrap
    return bootstrap


@pytest.fixture
async def topic(broker: str, topic_prefix: str, request: pytest.FixtureRequest) -> str:
    """Two partitions: 0 holds a batch of 5 then a batch of 3 records, 1 a batch of 4."""
    name = await new_topic(broker, f"{topic_prefix}scanned", 2)
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=200)
    await producer.start()
    try:
        assert await produce_batch(producer, name, 0, [b"a0", b"a1", b"a2", b"a3", b"a4"]) == [
            0,
            1,
            2,
            3,
            4,
        ]
        assert await produce_batch(producer, name, 0, [b"a5", b"a6", b"a7"]) == [5, 6, 7]
        assert await produce_batch(producer, name, 1, [b"b0", b"b1", b"b2", b"b3"]) == [0, 1, 2, 3]
    finally:
        await producer.stop()
    kind = request.node.callspec.params["broker"]
    assert await listed_ends(broker, name, 2) == LISTED_ENDS[kind], f"{kind} changed"
    return name


ALL = {(0, i): f"a{i}".encode() for i in range(8)} | {(1, i): f"b{i}".encode() for i in range(4)}


async def test_scan_reads_every_record_to_the_end(broker: str, topic: str) -> None:
    totals: list[int] = []
    read: list[int] = []
    async with asyncio.timeout(30):
        records = [
            r
            async for r in scan(
                settings_for(broker), topic, on_total=totals.append, on_read=read.append
            )
        ]
    assert {(r.partition, r.offset): r.value for r in records} == ALL
    assert len(records) == len(ALL)  # each once
    for partition in (0, 1):
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == sorted(offsets)
    assert sum(read) == len(ALL)
    assert len(totals) == 1


async def test_scan_stops_at_the_end_it_found(broker: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    seen = []
    try:
        async with asyncio.timeout(30):
            async for record in scan(settings_for(broker), topic):
                if record.partition == 0 and record.offset == 0:
                    # Partition 0's end is fixed by now: these come after it.
                    await producer.send_and_wait(topic, b"late", partition=0)
                seen.append((record.partition, record.offset))
    finally:
        await producer.stop()
    assert sorted(seen) == sorted(ALL)


async def test_scan_of_an_empty_topic_ends(broker: str, topic_prefix: str) -> None:
    topic = await new_topic(broker, f"{topic_prefix}empty", 3)
    totals: list[int] = []
    async with asyncio.timeout(30):
        assert [r async for r in scan(settings_for(broker), topic, on_total=totals.append)] == []
    assert totals == [0]


async def test_scan_of_a_missing_topic_raises(broker: str, topic_prefix: str) -> None:
    with pytest.raises(TopicMissingError, match=f"'{topic_prefix}missing' does not exist"):
        async with asyncio.timeout(30):
            [r async for r in scan(settings_for(broker), f"{topic_prefix}missing")]


async def test_read_positions_returns_exactly_the_wanted_records(
    broker: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the high watermark may end the search for the position past the end: with the
    # fallback (empty fetches in a row) out of reach, a miss would run into the timeout.
    monkeypatch.setattr("streams.client.scan.EMPTY_FETCHES", 10**6)
    wanted = [
        (topic, 0, 4),
        (topic, 0, 1),
        (topic, 1, 3),
        (topic, 0, 7),
        (topic, 0, 99),
        (topic, 1, 3),
    ]
    async with asyncio.timeout(20):
        found = await read_positions(settings_for(broker), wanted)
    assert {position: (r.partition, r.offset, r.value) for position, r in found.items()} == {
        (topic, 0, 4): (0, 4, b"a4"),  # the last record of the first batch
        (topic, 0, 1): (0, 1, b"a1"),
        (topic, 0, 7): (0, 7, b"a7"),  # the last record of the partition
        (topic, 1, 3): (1, 3, b"b3"),
    }
    assert await read_positions(settings_for(broker), []) == {}


async def test_scan_since_starts_at_the_first_record_at_or_after_it(
    kafka_cluster: Any, topic_prefix: str
) -> None:
    """``since`` seeks each partition by timestamp (ListOffsets): records before it are never
    fetched, so the scan yields, and its total counts, only the records from there on; a
    partition with nothing that recent is not read at all. On Apache Kafka only: Tansu answers
    a ListOffsets by timestamp with an earlier offset, so there the tools read more than they
    need and the ``--since`` filter (on ``processed_at``) does the rest."""
    broker = kafka_cluster.bootstrap
    name = await new_topic(broker, f"{topic_prefix}timed", 2)
    now = datetime.now(UTC)
    old, since, new = now - timedelta(days=2), now - timedelta(days=1), now - timedelta(hours=1)
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=200)
    await producer.start()
    try:
        for partition, values, moment in [
            (0, [b"old0", b"old1", b"old2"], old),
            (0, [b"new3", b"new4"], new),
            (1, [b"old0", b"old1"], old),
        ]:
            stamp = int(moment.timestamp() * 1000)
            sent = [
                await producer.send(name, v, key=b"k", partition=partition, timestamp_ms=stamp)
                for v in values
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    totals: list[int] = []
    read: list[int] = []
    async with asyncio.timeout(30):
        records = [
            r
            async for r in scan(
                settings_for(broker),
                name,
                since=since,
                on_total=totals.append,
                on_read=read.append,
            )
        ]
    assert [(r.partition, r.offset, r.value) for r in records] == [(0, 3, b"new3"), (0, 4, b"new4")]
    assert totals == [2] and sum(read) == 2
    async with asyncio.timeout(30):
        assert [r async for r in scan(settings_for(broker), name, since=now)] == []
        everything = [r async for r in scan(settings_for(broker), name, since=old)]
    assert len(everything) == 7, "since at the oldest timestamp: every record"
