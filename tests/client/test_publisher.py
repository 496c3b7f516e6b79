"""Publisher: changes validated as the worker validates them, keyed and partitioned by user
(murmur2, as the worker and the Java client compute it), every position returned; one invalid
change publishes nothing."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.client import InvalidChangeError, Publisher
from streams.client.publisher import MAX_CHANGE_BYTES, encode_change, murmur2_partitioner
from streams.contract import CustomDataChange
from streams.core.decode import decode
from streams.core.partitioning import partition_for
from streams.core.records import Change, Envelope, Position
from tests.fixtures.client import new_topic, settings_for

PARTITIONS = 3


def change(event_id: str, user: str = "alice", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user,
        "conversation_id": "c2c_bob",
        "custom_data": f"data of {event_id}",
        "occurred_at": "2026-11-25T10:00:00Z",
    } | extra


# encode_change ------------------------------------------------------------------------------


def test_json_text_is_sent_byte_for_byte() -> None:
    text = (
        b'{ "user_id":"\\u00e9l\xc3\xa9na", "event_id":"e1","conversation_id":"group_g",\n'
        b' "custom_data":"", "occurred_at":"2026-11-25t10:00:00.5+08:00", "extra":[1, 2]}'
    )
    key, value = encode_change(text)
    assert value is text
    assert key == "éléna".encode()  # the user_id as the worker reads it, UTF-8


def test_a_mapping_is_dumped_as_json() -> None:
    doc = change("e1", user="用户", version=7, source="crm")
    key, value = encode_change(doc)
    assert key == "用户".encode()
    assert orjson.loads(value) == doc


def test_a_model_is_dumped_without_nulls() -> None:
    model = CustomDataChange(
        event_id="e1",
        user_id="alice",
        conversation_id="c2c_bob",
        custom_data="x",
        occurred_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
    )
    key, value = encode_change(model)
    assert key == b"alice"
    doc = orjson.loads(value)
    assert "version" not in doc and "source" not in doc
    assert CustomDataChange.model_validate_json(value) == model


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (b"not json", ["value: Invalid JSON"]),
        (b"[1]", ["value: Input should be an object"]),
        (change("e1", user="a b"), ["user_id: Value error, must not contain '/', whitespace"]),
        (change("e1", conversation_id="bob"), ["conversation_id: Value error, must be 'c2c_"]),
        (change("e1", custom_data=1), ["custom_data: Input should be a valid string"]),
        (change("e1", custom_data="é" * 129), ["custom_data: Value error, is 258 UTF-8 bytes"]),
        (change("e1", version=1.0), ["version: "]),
        (change("e1", occurred_at="2026-11-25 10:00:00Z"), ["occurred_at: Value error"]),
        (
            {"event_id": "e1", "user_id": "a"},
            [
                "conversation_id: Field required",
                "custom_data: Field required",
                "occurred_at: Field required",
            ],
        ),
    ],
)
def test_an_invalid_change_names_its_fields(given: Any, named: list[str]) -> None:
    with pytest.raises(ValueError) as raised:
        encode_change(given)
    message = str(raised.value)
    assert message.startswith(named[0]), message
    at = [message.find(f"; {part}") for part in named[1:]]
    assert -1 not in at and at == sorted(at), message  # each named, in order, "; " between


def test_the_size_limit_is_the_workers() -> None:
    valid = orjson.dumps(change("e1"))
    padded = valid[:-1] + b" " * (MAX_CHANGE_BYTES - len(valid)) + b"}"
    assert len(padded) == MAX_CHANGE_BYTES
    assert encode_change(padded)[1] is padded
    over = padded[:-1] + b" }"
    with pytest.raises(
        ValueError,
        match=rf"^{MAX_CHANGE_BYTES + 1} bytes; the worker accepts "
        rf"at most {MAX_CHANGE_BYTES}$",
    ):
        encode_change(over)


@pytest.mark.parametrize(
    "value",
    [
        orjson.dumps(change("e1")),
        orjson.dumps(change("e1", version=2**53 - 1, unknown={"a": [1]})),
        orjson.dumps(change("e1", version=2**53)),
        orjson.dumps(change("e1", occurred_at="0000-01-01T00:00:00Z")),
        orjson.dumps(change("e1", occurred_at="2026-02-30T00:00:00Z")),
        orjson.dumps(change("e1", conversation_id="c2c_")),
        b'{"event_id":"e1","user_id":"a","conversation_id":"c2c_b","custom_data":"\\ud800",'
        b'"occurred_at":"2026-11-25T10:00:00Z"}',
        b'{"event_id":"e1","user_id":"a","conversation_id":"c2c_b","custom_data":"x",'
        b'"occurred_at":"2026-11-25T10:00:00Z","deep":' + b"[" * 300 + b"]" * 300 + b"}",
        b'{"event_id":"e1","event_id":"e2","user_id":"a","conversation_id":"c2c_b",'
        b'"custom_data":"x","occurred_at":"2026-11-25T10:00:00Z"}',
        b"\xef\xbb\xbf" + orjson.dumps(change("e1")),
    ],
)
def test_accepted_exactly_when_the_worker_accepts(value: bytes) -> None:
    """The worker's own decoder (far from any clock skew, on the user's partition) agrees."""
    try:
        key, _ = encode_change(value)
    except ValueError:
        key = None
    worker_key = json.loads(value).get("user_id", "").encode()  # json: lone surrogates too
    partitions = 4
    envelope = Envelope(
        worker_key, value, Position("c", partition_for(worker_key, partitions), 0), partitions
    )
    decided = decode(
        envelope,
        now=datetime(9000, 1, 1, tzinfo=UTC),
        max_skew=timedelta(0),
        max_bytes=MAX_CHANGE_BYTES,
    )
    assert (key is not None) == isinstance(decided, Change), decided
    if key is not None:
        assert key == worker_key


# murmur2_partitioner -----------------------------------------------------------------------


def test_the_partitioner_agrees_with_the_worker_and_aiokafka() -> None:
    rng = random.Random(7)
    keys = [b"", b"a", b"alice", "用户-é".encode(), bytes(range(256))]
    keys += [rng.randbytes(rng.randrange(0, 40)) for _ in range(3000)]
    aiokafka = DefaultPartitioner()
    for count in (1, 2, 3, 7, 12, 64):
        partitions = list(range(count))
        seen = set()
        for key in keys:
            ours = murmur2_partitioner(key, partitions, partitions)
            assert ours == partition_for(key, count) == aiokafka(key, partitions, partitions)
            seen.add(ours)
        assert seen == set(partitions)  # the keys do spread: a constant would fail here
    # A partition list that comes unsorted (aiokafka passes a set's order) changes nothing.
    assert murmur2_partitioner(b"alice", [2, 0, 1], [1]) == partition_for(b"alice", 3)


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    assert murmur2_partitioner(None, [0, 1, 2], [2]) == 2
    assert murmur2_partitioner(None, [0, 1, 2], []) == 0


# Publisher end to end ------------------------------------------------------------------------


async def read_all(bootstrap: str, topic: str, count: int) -> dict[tuple[int, int], Any]:
    """(partition, offset) -> record of the first ``count`` records of ``topic``, then checks
    for more within a second (plain consumer, every partition from the beginning)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        records: dict[tuple[int, int], Any] = {}
        async with asyncio.timeout(30):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records |= {(r.partition, r.offset): r for r in batch}
        more = await consumer.getmany(timeout_ms=1000)
        assert not more, "records nobody published"
        return records
    finally:
        await consumer.stop()


async def test_publish_returns_each_records_position(broker: str, topic_prefix: str) -> None:
    topic = await new_topic(broker, f"{topic_prefix}changes", PARTITIONS)
    users = ["alice", "bob", "carol", "dave", "用户", "erin"]
    changes: list[Any] = [change(f"d{i}", user=u) for i, u in enumerate(users)]
    changes += [
        CustomDataChange.model_validate_json(orjson.dumps(change(f"m{i}", user=u, version=i)))
        for i, u in enumerate(users)
    ]
    changes.append(orjson.dumps(change("raw", user="bob")))
    async with Publisher(settings_for(broker), topic) as publisher:
        positions = await publisher.publish(changes)
    assert [p.event_id for p in positions] == [
        *(f"d{i}" for i in range(6)),
        *(f"m{i}" for i in range(6)),
        "raw",
    ]
    expected = [encode_change(c) for c in changes]
    assert {p.topic for p in positions} == {topic}
    assert [p.partition for p in positions] == [partition_for(k, PARTITIONS) for k, _ in expected]
    assert len({p.partition for p in positions}) > 1
    records = await read_all(broker, topic, len(changes))
    assert set(records) == {(p.partition, p.offset) for p in positions}
    for position, (key, value) in zip(positions, expected, strict=True):
        record = records[(position.partition, position.offset)]
        assert (record.key, record.value) == (key, value)


async def test_one_invalid_change_publishes_nothing(broker: str, topic_prefix: str) -> None:
    topic = await new_topic(broker, f"{topic_prefix}changes", PARTITIONS)
    alice, carol = (partition_for(u, PARTITIONS) for u in (b"alice", b"carol"))
    assert alice != carol
    good = [change("g1", user="alice"), change("g2", user="carol"), change("g3", user="alice")]
    sent: list[int] = []
    async with Publisher(settings_for(broker), topic) as publisher:
        with pytest.raises(InvalidChangeError) as raised:
            # A generator: validation runs to the end before anything is sent.
            await publisher.publish(
                c for c in [good[0], good[1], change("bad", custom_data=None), good[2]]
            )
        assert raised.value.index == 2
        assert raised.value.problems.startswith("custom_data: Input should be a valid string")
        assert str(raised.value).startswith("change #2 is invalid: custom_data: ")
        # Nothing went out: the same changes now land at the start of their partitions.
        positions = await publisher.publish(good, on_sent=sent.append)
    assert sum(sent) == 3
    offsets: dict[int, list[int]] = {}
    for p in positions:
        offsets.setdefault(p.partition, []).append(p.offset)
    assert offsets == {alice: [0, 1], carol: [0]}
