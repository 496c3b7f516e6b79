"""Every outcome's key is the input record's key exactly as received, for every status.

Through the real broker and a real worker: keys that match the body, a null key, a non-UTF-8
key, a key that differs from the body's ``user_id`` (valid, so forwarded to bob's partition,
and invalid), and the statuses applied, superseded, stale, duplicate, rejected and failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.contract import Outcome
from streams.core.partitioning import partition_for
from streams_devkit.kafka_io import consume
from tests.fixtures.pipeline import PARTITIONS, Pipeline

Make = Callable[..., tuple[Pipeline, Any]]
#: (key, value, explicit partition or None for the key's murmur2 partition)
Record = tuple[bytes | None, bytes, int | None]


def change(event_id: str, user: str, conversation: str, **extra: Any) -> bytes:
    doc = {"event_id": event_id, "user_id": user, "conversation_id": conversation,
           "custom_data": event_id, "occurred_at": "2026-11-25T10:00:00Z", **extra}  # fmt: skip
    return orjson.dumps(doc)


def other_home_user() -> str:
    """A user whose partition is not alice's, so a record keyed alice naming them is misrouted."""
    alice = partition_for(b"alice", PARTITIONS)
    return next(
        u for u in (f"bob{i}" for i in range(100)) if partition_for(u.encode(), PARTITIONS) != alice
    )


async def publish(pipe: Pipeline, records: Sequence[Record]) -> dict[tuple[int, int], bytes | None]:
    """Send in one batch; the published key of each (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=pipe.bootstrap, linger_ms=50)
    await producer.start()
    try:
        futures = [
            await producer.send(pipe.changes, value, key=key, partition=partition)
            for key, value, partition in records
        ]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {(m.partition, m.offset): key for m, (key, _, _) in zip(metadata, records, strict=True)}


async def outcome_records(pipe: Pipeline, wanted: set[tuple[int, int]]) -> list[Any]:
    for _ in range(40):
        records = [r async for r in consume(pipe.bootstrap, pipe.outcomes, idle_s=1.5)]
        seen = {
            (d["source"]["partition"], d["source"]["offset"])
            for d in (orjson.loads(r.value) for r in records)
        }
        if wanted <= seen:
            return records
    raise AssertionError(f"not every event got an outcome: {wanted - seen}")


def test_outcome_key_is_the_input_key_for_every_status(pipeline_factory: Make) -> None:
    # One window for the first batch, so e1 is superseded by e2 in it.
    pipe, emulator = pipeline_factory(fail_conversations="group_closed")
    pipe.start_worker(STREAMS_WINDOW_MS="1500")
    bob = other_home_user()
    first = asyncio.run(
        publish(
            pipe,
            [
                (b"alice", change("e1", "alice", "c2c_x", version=1), None),
                (b"alice", change("e2", "alice", "c2c_x", version=2), None),
                (b"alice", change("f1", "alice", "group_closed"), None),
                (None, b"not json", 0),
                (b"\xff\xfe\x00 not utf-8", b"{}", 1),
                (b"alice", change("fw", bob, "c2c_y"), partition_for(b"alice", PARTITIONS)),
                (b"alice", change("bad", bob, "dm_y"), partition_for(b"alice", PARTITIONS)),
                (b"carol", change("big", "carol", "c2c_x", custom_data="x" * 300), None),
            ],
        )
    )
    asyncio.run(outcome_records(pipe, set(first)))
    second = asyncio.run(
        publish(
            pipe,
            [
                (b"alice", change("e0", "alice", "c2c_x", version=0), None),
                (b"alice", change("e2", "alice", "c2c_x", version=2), None),
            ],
        )
    )
    published = first | second
    records = asyncio.run(outcome_records(pipe, set(published)))

    statuses: dict[str, set[str]] = {}
    for record in records:
        outcome = Outcome.model_validate_json(record.value)
        source = (outcome.source.partition, outcome.source.offset)
        assert record.key == published[source], (outcome, record.key)
        statuses.setdefault(outcome.status.value, set()).add(outcome.event_id or "?")
        # The order last-write-wins decided by, for a consumer to rebuild it: null when unknown.
        doc = orjson.loads(record.value)
        if outcome.event_id in ("e0", "e1", "e2"):
            expected = {
                "version": int(outcome.event_id[1]),
                "occurred_at": "2026-11-25T10:00:00+00:00",
            }
        elif outcome.event_id in ("f1", "fw"):
            expected = {"version": None, "occurred_at": "2026-11-25T10:00:00+00:00"}
        else:  # rejected before the change validated
            expected = {"version": None, "occurred_at": None}
        assert {k: doc[k] for k in expected} == expected, doc
    assert statuses == {
        "superseded": {"e1"},
        "applied": {"e2", "fw"},
        "failed": {"f1"},
        "rejected": {"?", "bad", "big"},
        "stale": {"e0"},
        "duplicate": {"e2"},
    }
    assert emulator.state(bob) == {"c2c_y": "fw"}, "the forwarded change was applied"
    forwarded = asyncio.run(forwards(pipe))
    assert [r.key for r in forwarded] == [b"alice"], "the forward keeps the key as received"


async def forwards(pipe: Pipeline) -> list[Any]:
    """The forwarded copies on the changes topic (they carry origin headers)."""
    records = [r async for r in consume(pipe.bootstrap, pipe.changes, idle_s=1.5)]
    return [r for r in records if any(k.startswith("streams-origin") for k, _ in r.headers)]
