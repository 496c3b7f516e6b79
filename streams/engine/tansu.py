"""Faust transport for the embedded Tansu broker (``tansu://host:port``): two measured fixes.

1. Tansu holds an empty fetch for about half of the fetch long-poll and does not wake when
   data arrives, which delays every hop. 25 ms cut the pipeline's p99 further than 100 or
   50 ms, at a small idle cost (the Kafka transport's is 100 ms: streams.engine.consumer).
2. Tansu answers ListOffsets(latest) with the last record batch's base offset + 1 instead of
   the log end, so Faust's table recovery stopped short of the changelog's end (lost keys with
   the memory store, ``ConsistencyError`` with RocksDB). The Fetch high watermark is right, so
   end offsets are corrected by one short fetch per partition at each rebalance.

Measurements: docs/EMBEDDED_BROKER.md (sections b, c) and bench/PROFILE.md. Production uses
``kafka://`` unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import cast

import aiokafka
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.engine.consumer import ConsumerThread, GaplessConsumer, Producer
from streams.engine.consumer import Transport as GaplessTransport

FETCH_MAX_WAIT_MS = 25


async def true_end_offsets(
    bootstrap: list[str] | str, listed: Mapping[TP, int], timeout_s: float = 10.0
) -> dict[TP, int]:
    """End offsets from the Fetch high watermark, fetching from the last batch's base offset."""
    result = dict(listed)
    need = [tp for tp, offset in listed.items() if offset is not None and offset > 0]
    if not need:
        return result
    probe = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=1,  # the broker still returns the first whole batch
    )
    await probe.start()
    try:
        tps = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in need]
        probe.assign(tps)
        for tp in tps:
            probe.seek(tp, listed[TP(tp.topic, tp.partition)] - 1)
        pending = set(tps)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            await probe.getmany(*pending, timeout_ms=100)
            for tp in list(pending):
                highwater = probe.highwater(tp)
                if highwater is not None:
                    pending.discard(tp)
                    key = TP(tp.topic, tp.partition)
                    result[key] = max(listed[key], highwater)
    finally:
        await probe.stop()
    return result


class TansuConsumerThread(ConsumerThread):
    """Consumer thread with a shorter fetch long-poll and corrected end offsets."""

    fetch_max_wait_ms = FETCH_MAX_WAIT_MS

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await super()._highwaters(partitions)
        transport = cast(faust_aiokafka.Transport, self.transport)
        bootstrap = faust_aiokafka.server_list(transport.url, transport.default_port)
        return await true_end_offsets(bootstrap, listed)


class TansuConsumer(GaplessConsumer):
    """The worker's consumer (no gap filling) with :class:`TansuConsumerThread`."""

    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(GaplessTransport):
    """Selected by ``broker="tansu://127.0.0.1:PORT"``: the worker's transport, this consumer,
    and a producer that is not idempotent (Tansu 0.6 answers InitProducerId with an error)."""

    Consumer = TansuConsumer
    Producer = Producer


TRANSPORTS.aliases.setdefault("tansu", f"{__name__}:Transport")
