"""Producing a window's outcomes in a few batched requests instead of one send per record.

Faust's per-record path (``send_soon`` -> FutureMessage -> producer buffer -> ``send``) costs
more CPU per outcome than everything else in the window (bench/PROFILE.md). The outcomes of a
window are known together, so they go out as one aiokafka batch per partition through the app's
own producer, partitioned by murmur2 over the key like any Kafka client. The returned futures
resolve when the broker has the records; the window awaits them before acking.

An outcome carries its input's key as received, which the broker may have accepted compressed
and far over the outcomes topic's record limit: :class:`OutcomeSink` cuts such a key
(:mod:`streams.core.fitting`) to fit the limit the brokers report for that topic.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka.admin.config_resource import ConfigResourceType
from aiokafka.client import ConnectionGroup
from aiokafka.errors import KafkaError, KafkaTimeoutError, for_code
from aiokafka.protocol.admin import DescribeConfigsRequest

from streams.core.fitting import Headers, fit
from streams.core.partitioning import partition_for

log = logging.getLogger(__name__)

#: While a partition's previous batch waits for the brokers: how often a batch is offered
#: again, and how often the wait is logged.
QUEUE_RETRY_S = 0.2
QUEUE_WARN_EVERY_S = 30.0

#: The topic config that bounds a record batch: the broker's ``message.max.bytes`` unless the
#: topic overrides it; the brokers report the value in force either way.
RECORD_LIMIT_CONFIG = "max.message.bytes"
#: The limit assumed when the brokers cannot say (no DescribeConfigs permission on the topic,
#: a broker without the API): far below any limit a topic is given in practice, and far above
#: any outcome whose key is not already rejected (keys over 1,024 bytes are), so it only ever
#: cuts keys that would be cut anyway.
FALLBACK_RECORD_LIMIT = 64 * 1024
#: How long asking the brokers for the limit may take before the fallback is used.
DESCRIBE_TIMEOUT_S = 10.0

#: (partition, key, value, headers) of one record to send.
Routed = tuple[int, bytes | None, bytes | None, Headers]


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
        by_partition: dict[int, list[tuple[bytes | None, bytes | None, Headers]]]
        by_partition = defaultdict(list)
        for partition, key, value, headers in await self._fitted(records):
            by_partition[partition].append((key, value, headers))
        sent: list[tuple[asyncio.Future[Any], int]] = []
        for partition, items in by_partition.items():
            sent.extend(await self._send_to(partition, items))
        return sent

    async def _fitted(
        self, records: Iterable[tuple[int, bytes | None, bytes | None]]
    ) -> list[Routed]:
        """The records as sent: whole, without headers (a subclass may cut them)."""
        return [(partition, key, value, []) for partition, key, value in records]

    async def _send_to(
        self, partition: int, records: Sequence[tuple[bytes | None, bytes | None, Headers]]
    ) -> list[tuple[asyncio.Future[Any], int]]:
        producer = self._producer()
        sent: list[tuple[asyncio.Future[Any], int]] = []
        batch, count = producer.create_batch(), 0
        for key, value, headers in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                sent.append((await self._queue(producer, batch, partition), count))
                batch, count = producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
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


class OutcomeSink(BatchSink):
    """The outcomes' sink: a record over the topic's limit has its key cut to fit it.

    The limit is asked of the brokers once, when the first outcomes are sent (the agent has
    declared the topic by then): :func:`record_limit`. A record is routed by its key as
    received, before any cut, so a consumer finds it where that key hashes to.
    """

    def __init__(self, producer: Callable[[], Any], topic: str) -> None:
        super().__init__(producer, topic)
        self._max_bytes: int | None = None

    async def _fitted(
        self, records: Iterable[tuple[int, bytes | None, bytes | None]]
    ) -> list[Routed]:
        if self._max_bytes is None:
            self._max_bytes = await record_limit(self._producer().client, self._topic)
        fitted: list[Routed] = []
        for partition, key, value in records:
            record = fit(key, value, (), max_bytes=self._max_bytes, whole_value=True)
            fitted.append((partition, record.key, record.value, record.headers))
        return fitted


async def record_limit(client: Any, topic: str) -> int:
    """The largest record batch ``topic`` accepts, as the brokers report it.

    ``client`` is an aiokafka ``AIOKafkaClient`` (the producer's: same brokers, same
    credentials). When the brokers cannot say, :data:`FALLBACK_RECORD_LIMIT`, with a warning.
    """
    resource = (ConfigResourceType.TOPIC, topic, [RECORD_LIMIT_CONFIG])
    try:
        # A connection of its own: a broker that drops it for this request (Tansu does) must
        # not take the records in flight on the producer's with it.
        request = DescribeConfigsRequest([resource])
        node = client.get_random_node()
        response = await asyncio.wait_for(
            client.send(node, request, group=ConnectionGroup.COORDINATION), DESCRIBE_TIMEOUT_S
        )
        [(error, message, _, _, entries)] = response.resources
        if error:
            raise for_code(error)(message)
        [value] = [entry[1] for entry in entries if entry[0] == RECORD_LIMIT_CONFIG]
        limit = int(value)
    except (KafkaError, OSError, TimeoutError, ValueError) as exc:
        log.warning(
            "could not read %s of %s (%s: %s); outcomes are fitted to %d bytes instead",
            RECORD_LIMIT_CONFIG, topic, type(exc).__name__, exc, FALLBACK_RECORD_LIMIT,
        )  # fmt: skip
        return FALLBACK_RECORD_LIMIT
    log.info("%s: records up to %d bytes (%s)", topic, limit, RECORD_LIMIT_CONFIG)
    return limit
