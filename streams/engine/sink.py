"""Producing a window's outcomes in a few batched requests instead of one send per record.

Faust's per-record path (``send_soon`` -> FutureMessage -> producer buffer -> ``send``) costs
more CPU per outcome than everything else in the window (bench/PROFILE.md). The outcomes of a
window are known together, so they go out as one aiokafka batch per partition through the app's
own producer, partitioned by murmur2 over the key like any Kafka client. The returned futures
resolve when the broker has the records; the window awaits them before acking.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from streams.core.partitioning import partition_for

log = logging.getLogger(__name__)

#: While a partition's previous batch waits for the brokers: how often a batch is offered
#: again, and how often the wait is logged.
QUEUE_RETRY_S = 0.2
QUEUE_WARN_EVERY_S = 30.0


class BatchSink:
    """Sends records to one topic as one batch per partition (split when a batch fills)."""

    def __init__(self, producer: Callable[[], Any], topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._round_robin = itertools.count()

    async def send(
        self, records: Sequence[tuple[bytes | None, bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Queue every record, partitioned by key; return the delivery futures of the batches."""
        if not records:
            return []
        count = len(await self._producer().partitions_for(self._topic))
        routed = [
            (partition_for(key, count) if key else next(self._round_robin) % count, key, value)
            for key, value in records
        ]
        return [future for future, _ in await self.send_routed(routed)]

    async def send_routed(
        self, records: Iterable[tuple[int, bytes | None, bytes | None]]
    ) -> list[tuple[asyncio.Future[Any], int]]:
        """Queue (partition, key, value) records (a None value is a tombstone); each batch's
        delivery future and size."""
        by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
        for partition, key, value in records:
            by_partition[partition].append((key, value))
        sent: list[tuple[asyncio.Future[Any], int]] = []
        for partition, items in by_partition.items():
            sent.extend(await self._send_to(partition, items))
        return sent

    async def _send_to(
        self, partition: int, records: Sequence[tuple[bytes | None, bytes | None]]
    ) -> list[tuple[asyncio.Future[Any], int]]:
        producer = self._producer()
        sent: list[tuple[asyncio.Future[Any], int]] = []
        batch, count = producer.create_batch(), 0
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                sent.append((await self._queue(producer, batch, partition), count))
                batch, count = producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(
                        f"a record of {len(value or b'')} bytes exceeds the batch size"
                    )
            count += 1
        sent.append((await self._queue(producer, batch, partition), count))
        return sent

    async def _queue(self, producer: Any, batch: Any, partition: int) -> asyncio.Future[Any]:
        """``send_batch``, waiting as long as the brokers take to make room for the batch.

        aiokafka queues a batch behind the partition's previous one only once the sender took
        that one, and gives up after the producer's request timeout with ``KafkaTimeoutError``,
        the batch not queued. With a partition below min.insync.replicas (a broker outage)
        that is no failure of these records: the idempotent producer delivers the previous
        batch when the brokers are back, so this one waits too (a worker crashed 30 s into a
        two-node outage without this, tests/reliability/test_cluster_faults.py).
        """
        warned: float | None = None
        while True:
            try:
                future: asyncio.Future[Any] = await producer.send_batch(
                    batch, self._topic, partition=partition
                )
                return future
            except KafkaTimeoutError:
                now = time.monotonic()
                if warned is None or now - warned >= QUEUE_WARN_EVERY_S:
                    warned = now
                    log.warning(
                        "%s-%d: the brokers have not taken the partition's previous batch "
                        "within the producer's request timeout; waiting",
                        self._topic, partition,
                    )  # fmt: skip
                # aiokafka may give up again at once while the previous batch is re-queued.
                await asyncio.sleep(QUEUE_RETRY_S)


class Trickle:
    """A window's outcomes, sent as they become final rather than all at the window's end.

    A window spends most of its time in SDK requests (bench/PROFILE.md). Outcomes known before
    them (rejections, duplicates, superseded) and those of the first requests need not wait for
    the last one. One send per record would cost one batch per record (and the embedded
    broker's fetches slow down with every batch a partition holds), so final records gather and
    go out at most every ``interval_s``, one batch per partition each time. The delivery
    futures are kept for the window to await before it acks.
    """

    def __init__(
        self,
        sink: BatchSink,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._interval_s = interval_s
        self._clock = clock
        self._pending: list[tuple[bytes | None, bytes]] = []
        self._sent_at = clock()
        self.futures: list[asyncio.Future[Any]] = []

    def add(self, record: tuple[bytes | None, bytes]) -> None:
        """Hold a final (key, value) record for the next send."""
        self._pending.append(record)

    async def send_due(self) -> None:
        """Send what is held if ``interval_s`` has passed since the last send."""
        if self._clock() - self._sent_at >= self._interval_s:
            await self.send()

    async def send(self) -> None:
        """Send everything held now."""
        if self._pending:
            self._sent_at = self._clock()
            records, self._pending = self._pending, []
            self.futures.extend(await self._sink.send(records))
