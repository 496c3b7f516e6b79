"""Bounded reads of a topic for the tools: all of it up to now, or chosen positions.

Both stop at the end of each partition as it was when they started reading it, not after an
idle time, so the result does not depend on how fast the broker answers. The end is the high
watermark of the first Fetch answer, not ``end_offsets()``: the embedded broker (Tansu) answers
``ListOffsets(latest)`` with the last record batch's base offset + 1, which would cut off the
rest of that batch (docs/EMBEDDED_BROKER.md, section c); Kafka gives the same value both ways.
Neither joins a consumer group or commits anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.client.connection import BrokerSettings

Progress = Callable[[int], None]
#: Empty fetches in a row after which a wanted record counts as gone.
EMPTY_FETCHES = 5


class TopicMissingError(LookupError):
    """The topic does not exist (or the client may not describe it)."""


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    # The cluster's metadata, all topics. Not consumer.partitions_for_topic(): the consumer's
    # own metadata holds only the topics it tracks, none before assign(), so it knew the
    # partitions on Tansu (which answers a request for no topics with all of them) but never
    # on Apache Kafka (found when replay and verify first ran against it).
    cluster = await consumer._client.fetch_all_metadata()
    ids = cluster.partitions_for_topic(topic)
    if not ids:
        raise TopicMissingError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(ids)]


async def _starts(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    since: datetime | None,
) -> tuple[dict[TopicPartition, int], set[TopicPartition]]:
    """Where each partition's read starts, and the partitions known to hold a record there.

    With ``since``, the first offset whose timestamp is at or after it (ListOffsets by
    timestamp); a partition with none has nothing to read.
    """
    if since is None:
        return await consumer.beginning_offsets(partitions), set()
    found = await consumer.offsets_for_times(
        {tp: int(since.timestamp() * 1000) for tp in partitions}
    )
    starts = {tp: at.offset for tp, at in found.items() if at is not None}
    return starts, set(starts)


async def scan(
    settings: BrokerSettings,
    topic: str,
    *,
    since: datetime | None = None,
    on_total: Progress | None = None,
    on_read: Progress | None = None,
) -> AsyncIterator[Any]:
    """Every record of ``topic`` from the beginning, or from the first record timestamped at or
    after ``since``, up to the end offsets at the start. Records before the start are never
    fetched.

    ``on_total(n)`` is called once with the number of records to read, ``on_read(n)`` as they
    are read (a progress bar).
    """
    consumer = AIOKafkaConsumer(**settings.aiokafka_options(), enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        start, holding = await _starts(consumer, partitions, since)
        start = {tp: start.get(tp, end[tp]) for tp in partitions}
        if on_total is not None:
            on_total(sum(max(end[tp] - start[tp], 0) for tp in partitions))
        for tp in partitions:
            consumer.seek(tp, start[tp])
        # Empty when the listed end is the start (Tansu's answer is > start for any data),
        # unless a record was found at the start (Tansu's end may be below it).
        remaining = {tp for tp in partitions if end[tp] > start[tp] or tp in holding}
        consumer.pause(*(set(partitions) - remaining))
        fixed: set[TopicPartition] = set()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                if tp not in fixed:
                    end[tp] = max(end[tp], consumer.highwater(tp) or 0)
                    fixed.add(tp)
                wanted = [r for r in records if r.offset < end[tp]]
                for record in wanted:
                    yield record
                if on_read is not None:
                    on_read(len(wanted))
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()


async def read_positions(
    settings: BrokerSettings, positions: Iterable[tuple[str, int, int]]
) -> dict[tuple[str, int, int], Any]:
    """The records at ``positions`` (topic, partition, offset); missing ones are left out.

    Per partition, it seeks to each wanted offset that is not just ahead and reads on from
    there, so neighbouring positions cost one fetch.
    """
    requested = set(positions)
    wanted: dict[TopicPartition, list[int]] = {}
    for topic, partition, offset in requested:
        wanted.setdefault(TopicPartition(topic, partition), []).append(offset)
    found: dict[tuple[str, int, int], Any] = {}
    if not wanted:
        return found
    consumer = AIOKafkaConsumer(**settings.aiokafka_options(), enable_auto_commit=False)
    try:
        await consumer.start()
        consumer.assign(list(wanted))
        for tp, offsets in wanted.items():
            consumer.pause(*wanted)
            consumer.resume(tp)
            for offset in sorted(set(offsets)):
                key = (tp.topic, tp.partition, offset)
                if key in found:
                    continue
                consumer.seek(tp, offset)
                empty = 0
                # Records read past the wanted offset serve the next wanted ones.
                while key not in found and await consumer.position(tp) <= offset:
                    batch = await consumer.getmany(tp, timeout_ms=1000, max_records=500)
                    for record in batch.get(tp, []):
                        found[(tp.topic, tp.partition, record.offset)] = record
                    empty = 0 if batch else empty + 1
                    highwater = consumer.highwater(tp)  # None before the first answer
                    if (highwater is not None and highwater <= offset) or empty >= EMPTY_FETCHES:
                        break  # past the end, below the log start (retention) or compacted
    finally:
        await consumer.stop()
    return {position: found[position] for position in requested if position in found}
