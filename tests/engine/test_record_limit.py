"""The outcomes topic's record limit as the brokers report it, and the fallback when they can't.

Against the session's Apache Kafka: a topic's own ``max.message.bytes`` override, the broker's
``message.max.bytes`` for a topic without one, and the fallback for a topic the brokers refuse
to describe (here: one that does not exist). And against Tansu, the embedded default, whatever
it answers: a limit, or the fallback with the worker still able to produce.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.engine.sink import FALLBACK_RECORD_LIMIT, record_limit
from streams_devkit.broker import EmbeddedBroker, create_topics

#: Kafka's default message.max.bytes (the session broker keeps it).
KAFKA_DEFAULT = 1_048_588


async def limits(bootstrap: str, topics: list[str]) -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        found = [await record_limit(producer.client, topic) for topic in topics]
        # The producer's connection is still good for records after the question.
        await producer.send_and_wait(topics[0], b"still producing")
        return found
    finally:
        await producer.stop()


async def create_with_limit(bootstrap: str, topic: str, limit: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"max.message.bytes": str(limit)}
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=config)])
    finally:
        await admin.close()


def test_the_limit_is_the_topics_then_the_brokers_then_the_fallback(
    broker: str, topic_prefix: str
) -> None:
    own, default, missing = (f"{topic_prefix}{name}" for name in ("own", "default", "missing"))
    asyncio.run(create_with_limit(broker, own, 200_000))
    asyncio.run(create_topics(broker, {default: 1}))
    found = asyncio.run(limits(broker, [own, default, missing]))
    assert found == [200_000, KAFKA_DEFAULT, FALLBACK_RECORD_LIMIT]


def test_tansu_answers_a_limit_or_the_fallback(
    tansu_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}outcomes"
    asyncio.run(create_topics(tansu_broker.bootstrap, {topic: 1}))
    [found] = asyncio.run(limits(tansu_broker.bootstrap, [topic]))
    assert found >= FALLBACK_RECORD_LIMIT
