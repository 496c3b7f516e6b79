"""Plain loopback helpers for the demo, the load generator, the benchmarks and the tests.

Users' tools go through :mod:`streams.client` (validation, TLS/SASL, deduplication); these
speak to an unauthenticated broker by its bootstrap address.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.client import BrokerSettings, Publisher

__all__ = ["consume", "produce", "publish_stream"]


async def produce(
    bootstrap: str, topic: str, values: Iterable[tuple[bytes | None, bytes]]
) -> list[tuple[int, int]]:
    """Send (key, value) records as they are, murmur2-partitioned; their (partition, offset)."""
    async with Publisher(BrokerSettings(broker=bootstrap), topic) as publisher:
        published = await publisher.publish_raw(values)
    return [(p.partition, p.offset) for p in published]


async def consume(
    bootstrap: str, topic: str, *, idle_s: float, group_id: str | None = None
) -> AsyncIterator[Any]:
    """Yield records of ``topic`` from the beginning until none arrives for ``idle_s``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=group_id is not None,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=int(idle_s * 1000), max_records=10_000)
            if not batches:
                return
            for records in batches.values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()


#: 50 ms, not finer: each slice leaves a record batch per partition, and the embedded broker's
#: fetch cost grows with a partition's batch count, so 10 ms slices slowed the broker and the
#: worker's fetches over a long paced run (docs/EMBEDDED_BROKER.md, section g).
PACING_SLICE_S = 0.05


async def publish_stream(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    *,
    rate: float | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Publish records as fast as possible or at ``rate`` per second; return how many were sent.

    Paced in slices of ``PACING_SLICE_S``: each slice's records are sent at once, then the
    publisher sleeps until the next slice is due, so a target rate holds without one timer per
    record and each slice leaves as one record batch per partition.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
            if on_sent is not None and sent % 1_000 == 0:
                on_sent(1_000)
            if rate is not None and sent % max(1, int(rate * PACING_SLICE_S)) == 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
        if on_sent is not None:
            on_sent(sent % 1_000)
    finally:
        await producer.stop()
    return sent
