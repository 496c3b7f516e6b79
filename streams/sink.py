"""Producing a window's outcomes in a few batched requests instead of one send per record.

Faust's per-record path (``send_soon`` -> FutureMessage -> producer buffer -> ``send``) costs
more CPU per outcome than everything else in the window (profiled: ~25 % of the worker). The
outcomes of a window are known together, so they go out as one aiokafka batch per partition
through the app's own producer, partitioned by murmur2 over the key like any Kafka client. The
returned futures resolve when the broker has the records; the window awaits them before acking.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from streams.core.decode import partition_for


class BatchSink:
    """Sends records to one topic as one batch per partition (split when a batch fills)."""

    def __init__(self, producer: Callable[[], Any], topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._round_robin = itertools.count()

    async def send(
        self, records: Sequence[tuple[bytes | None, bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Queue every record; return the delivery futures of the batches."""
        if not records:
            return []
        producer = self._producer()
        count = len(await producer.partitions_for(self._topic))
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        for key, value in records:
            part = partition_for(key, count) if key else next(self._round_robin) % count
            by_partition[part].append((key, value))
        futures = []
        for part, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, self._topic, partition=part))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a record of {len(value)} bytes exceeds the batch size")
            futures.append(await producer.send_batch(batch, self._topic, partition=part))
        return futures
