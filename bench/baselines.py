"""Baselines the pipeline is compared with, each run as its own process like the worker.

* ``ceiling``: a plain aiokafka loop, consume -> orjson -> one ``send()`` per event, no SDK:
  what Python on this machine can move at all.
* ``floor``: a Faust agent that only consumes: what Faust can read here at all.
* ``floor-tuned``: the same agent on the worker's Faust settings, transport, app class, changes
  schema and event loop: what Faust reads here as the worker runs it (the worker's tunings speed
  up reading too).
* ``naive``: a Faust agent that awaits one SDK request and one outcome send per event: what a
  first implementation looks like.

The Faust baselines except ``floor-tuned`` run Faust's own consumer, Faust's settings and
asyncio's event loop, not the worker's: they show what stock Faust does here. On Apache Kafka
that is Faust's ``kafka://`` transport as shipped; on the embedded Tansu
(``STREAMS_EMBEDDED_BROKER``) Faust's consumer with only the embedded broker's two fixes from
``streams.engine.tansu``, which Faust cannot do without there.

All read ``STREAMS_*`` like the worker; each prints ``ready`` once consuming and ``done <n>
<unix time>`` when it has seen ``BENCH_EXPECT`` events.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, cast

import faust
import orjson
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.client.connection import bootstrap_of
from streams.engine.app import StreamsApp, changes_schema, faust_settings
from streams.engine.consumer import GaplessConsumer
from streams.engine.runner import use_event_loop
from streams.engine.tansu import TansuConsumerThread
from streams.settings import Settings


class StockConsumer(faust_aiokafka.Consumer):
    """Faust's consumer as shipped, on the embedded broker's consumer thread."""

    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class StockTransport(faust_aiokafka.Transport):
    """Selected by ``stocktansu://``: the baselines' transport."""

    Consumer = StockConsumer


TRANSPORTS.aliases.setdefault("stocktansu", f"{__name__}:StockTransport")

#: The worker's Faust settings that change how fast Faust itself reads (streams.engine.app).
WORKER_TUNINGS = ("Table", "Monitor", "broker_max_poll_records")


def _expect() -> int:
    return int(os.environ["BENCH_EXPECT"])


def _done(count: int) -> None:
    print(f"done {count} {time.time():.6f}", flush=True)


def _outcome(value: bytes, partition: int, offset: int, topic: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    return {
        "event_id": doc.get("event_id"),
        "user_id": doc.get("user_id"),
        "conversation_id": doc.get("conversation_id"),
        "status": "applied",
        "reason": None,
        "code": 0,
        "info": None,
        "custom_data": doc.get("custom_data"),
        "superseded_by": None,
        "request_id": None,
        "attempts": 1,
        "processed_at": datetime.now(UTC).isoformat(),
        "source": {"topic": topic, "partition": partition, "offset": offset},
    }


async def ceiling(settings: Settings) -> None:
    """aiokafka consume -> orjson -> produce, one send per event, commit per fetched batch."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    bootstrap = bootstrap_of(settings.broker)
    # Tansu holds a JoinGroup for about half the session timeout, so there the group's timings
    # are short (docs/EMBEDDED_BROKER.md, section a). Apache Kafka refuses sessions under its
    # group.min.session.timeout.ms (6 s) and answers a join at once: aiokafka's defaults.
    timings = (
        {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}
        if settings.embedded_broker
        else {}
    )
    consumer = AIOKafkaConsumer(
        settings.changes_topic,
        bootstrap_servers=bootstrap,
        group_id=settings.app_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        **timings,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    await consumer.start()
    print("ready", flush=True)
    seen, expect = 0, _expect()
    try:
        while seen < expect:
            batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
            futures = []
            for tp, records in batches.items():
                for r in records:
                    out = orjson.dumps(_outcome(r.value, tp.partition, r.offset, tp.topic))
                    futures.append(await producer.send(settings.outcomes_topic, out, key=r.key))
            await asyncio.gather(*futures)
            if batches:
                await consumer.commit()
            seen += len(futures)
        _done(seen)
        await asyncio.Event().wait()
    finally:
        await consumer.stop()
        await producer.stop()


def _faust_app(settings: Settings, name: str, *, tuned: bool = False) -> faust.App:
    conf = faust_settings(settings)
    if tuned:
        use_event_loop(settings.event_loop)
    else:
        # Faust's own consumer: kafka:// as shipped (faust_settings picked the worker's
        # transport, streamskafka://), or on Tansu the consumer with its two fixes.
        conf["broker"] = (
            conf["broker"].replace("tansu://", "stocktansu://")
            if settings.embedded_broker
            else settings.broker
        )
        for tuning in WORKER_TUNINGS:
            del conf[tuning]  # Faust's defaults: the baselines show stock Faust
    return (StreamsApp if tuned else faust.App)(f"{settings.app_id}-{name}", **conf)


def floor(settings: Settings, *, tuned: bool = False) -> None:
    """A Faust agent that only counts what it reads."""
    app = _faust_app(settings, "floor", tuned=tuned)
    if tuned:
        topic = app.topic(settings.changes_topic, schema=changes_schema())
    else:
        topic = app.topic(settings.changes_topic, value_serializer="raw", key_serializer="raw")
    expect = _expect()
    # The worker's consumer commits only what the agent marked processed; unmarked acks count
    # as skipped events, and it would fetch the partitions again from their start.
    mark = cast(GaplessConsumer, app.consumer).mark_processed if tuned else None

    @app.agent(topic)
    async def read(stream: Any) -> None:
        seen = 0
        print("ready", flush=True)
        async for _ in stream:
            if mark is not None:
                mark(stream.current_event.message)
            seen += 1
            if seen == expect:
                _done(seen)

    _run(app)


def naive(settings: Settings) -> None:
    """A Faust agent awaiting one SDK request and one outcome send per event."""
    from streams.sdk.client import TencentIMClient
    from streams.sdk.config import IMSettings

    app = _faust_app(settings, "naive")
    changes = app.topic(settings.changes_topic, value_serializer="raw", key_serializer="raw")
    outcomes = app.topic(settings.outcomes_topic, value_serializer="raw", key_serializer="raw")
    client = TencentIMClient(IMSettings())
    expect = _expect()

    @app.agent(changes)
    async def apply(stream: Any) -> None:
        seen = 0
        print("ready", flush=True)
        async for event in stream.events():
            doc = orjson.loads(event.value)
            await client.mark(doc["user_id"], [(doc["conversation_id"], doc["custom_data"])])
            msg = event.message
            out = _outcome(event.value, msg.partition, msg.offset, msg.topic)
            await outcomes.send(key=msg.key, value=orjson.dumps(out))
            seen += 1
            if seen == expect:
                _done(seen)

    _run(app)


def _run(app: faust.App) -> None:
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


def main() -> None:
    """``python -m bench.baselines ceiling|floor|floor-tuned|naive``."""
    settings = Settings()
    kind = sys.argv[1]
    if kind == "ceiling":
        asyncio.run(ceiling(settings))
    elif kind == "floor":
        floor(settings)
    elif kind == "floor-tuned":
        floor(settings, tuned=True)
    elif kind == "naive":
        naive(settings)
    else:
        raise SystemExit(f"unknown baseline {kind!r}")


if __name__ == "__main__":
    main()
