"""An outcome whose input key is over the outcomes topic's limit is cut, and the worker goes on.

A key of 1.2 MB of one repeated byte, gzip-compressed by its producer to a few KiB, is accepted
by the broker. It is rejected (keys over 1,024 bytes are), but its outcome carries the key, and
whole it would be over Kafka's default record limit (1,048,588 bytes): the broker refused it on
every restart, and the crash guard's quarantine outcome carried the same key. With a real
worker on Apache Kafka, between two valid changes of the same partition: the record gets an
outcome with a cut key and the original's size and SHA-256 in headers, the worker never stops
or records a crash, and the change after it is applied.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.contract import Outcome
from streams.contract.limits import MAX_KEY_PREFIX
from streams.core.partitioning import partition_for
from tests.fixtures.guarantees import change, position, read_topic
from tests.fixtures.pipeline import PARTITIONS, MakePipeline
from tests.reliability.hostile import at

#: One repeated byte: gzip makes a few KiB of it.
BIG_KEY = b"k" * 1_200_000
#: Kafka's default message.max.bytes, which the session broker keeps.
KAFKA_LIMIT = 1_048_588


def user_on(partition: int) -> str:
    """A user whose own partition is ``partition`` (so its changes are not forwarded)."""
    return next(
        u
        for u in (f"user{i}" for i in range(1000))
        if partition_for(u.encode(), PARTITIONS) == partition
    )


async def publish_compressed(
    bootstrap: str, topic: str, partition: int, records: list[tuple[bytes, bytes]]
) -> list[tuple[int, int]]:
    """One gzip batch to ``partition``; the producer takes requests far over 1 MiB before
    compression, as a client with ``compression.type=gzip`` and a large max.request.size does."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type="gzip",
        max_request_size=4 * 1024 * 1024,
        linger_ms=100,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=partition)
            for key, value in records
        ]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in sent]


def test_an_outcome_over_the_record_limit_is_cut_and_the_worker_goes_on(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline()
    worker = pipe.start_worker()
    home = partition_for(BIG_KEY, PARTITIONS)
    user = user_on(home)
    moment = datetime.fromisoformat(at())

    def doc(event_id: str, version: int) -> bytes:
        value = change(event_id, user, f"c2c_{event_id}", event_id, at=moment, version=version)
        return orjson.dumps(value)

    before, big, after = asyncio.run(
        publish_compressed(
            pipe.bootstrap,
            pipe.changes,
            home,
            [
                (user.encode(), doc("before", 1)),
                (BIG_KEY, doc("big", 2)),
                (user.encode(), doc("after", 3)),
            ],
        )
    )

    def done(records: list[Any]) -> bool:
        seen = {position(orjson.loads(r.value)) for r in records}
        return worker.poll() is not None or {before, big, after} <= seen

    records = read_topic(pipe.bootstrap, pipe.outcomes, done)
    log = pipe.worker_log()
    assert worker.poll() is None, f"the worker stopped:\n{log[-3000:]}"
    assert "window crashed" not in log, log[-3000:]
    by_position = {position(orjson.loads(r.value)): r for r in records}
    assert set(by_position) == {before, big, after}, f"one outcome each:\n{log[-3000:]}"

    cut = by_position[big]
    outcome = Outcome.model_validate_json(cut.value)
    assert (outcome.status.value, outcome.reason) == ("rejected", "too_large"), outcome
    assert cut.key == BIG_KEY[:MAX_KEY_PREFIX]
    assert dict(cut.headers) == {
        "original-key-size": str(len(BIG_KEY)).encode(),
        "original-key-sha256": hashlib.sha256(BIG_KEY).hexdigest().encode(),
        "key-truncated-to": str(MAX_KEY_PREFIX).encode(),
    }
    assert f"{pipe.outcomes}: records up to {KAFKA_LIMIT} bytes" in log, "the broker's limit"
    for whole in (before, after):
        record = by_position[whole]
        assert record.key == user.encode() and not record.headers
        assert orjson.loads(record.value)["status"] == "applied"
    assert emulator.state(user) == {"c2c_before": "before", "c2c_after": "after"}
    figures |= {"key_bytes": len(BIG_KEY), "outcome_key_bytes": len(cut.key), "limit": KAFKA_LIMIT}
