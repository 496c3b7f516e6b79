"""OutcomeReader: each event's authoritative outcome once (first outcome; a later final one
after a non-final one corrects it, and so does an applied one after a failed one), records
that are not outcomes skipped and counted, and consumer-group commits of exactly what was
yielded."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.client import BrokerSettings, OutcomeReader, ReceivedOutcome
from streams.client.reader import Deduplicator
from tests.fixtures.client import make_outcome, new_topic, outcome_dict, settings_for

# Deduplicator ------------------------------------------------------------------------------


def test_the_first_outcome_of_a_source_wins() -> None:
    dedup = Deduplicator()
    assert dedup.admit(make_outcome("applied", 1)) == (True, False)
    assert dedup.admit(make_outcome("failed", 2)) == (True, False)  # another source
    assert dedup.admit(make_outcome("duplicate", 1, reason="duplicate")) == (False, False)
    assert dedup.admit(make_outcome("applied", 1)) == (False, False)
    assert dedup.admit(make_outcome("failed", 2)) == (False, False)
    assert dedup.dropped == 3


def test_an_applied_outcome_after_a_failed_one_corrects_it() -> None:
    """A replayed copy names its original source: its ``applied`` is the news a reader needs
    ("failed" only meant "not confirmed"); a failed or non-final one after it changes nothing."""
    dedup = Deduplicator()
    assert dedup.admit(make_outcome("failed", 1)) == (True, False)
    assert dedup.admit(make_outcome("stale", 1, reason="stale")) == (False, False)
    assert dedup.admit(make_outcome("applied", 1)) == (True, True)
    assert dedup.admit(make_outcome("failed", 1)) == (False, False)
    assert dedup.admit(make_outcome("applied", 1)) == (False, False)


def test_the_same_offset_of_another_partition_or_topic_is_another_event() -> None:
    dedup = Deduplicator()
    assert dedup.admit(make_outcome("applied", 5))[0]
    assert dedup.admit(make_outcome("applied", 5, partition=1))[0]
    assert dedup.admit(make_outcome("applied", 5, topic="other"))[0]
    assert dedup.dropped == 0


def test_a_final_outcome_after_a_non_final_one_corrects_it_once() -> None:
    for first in ("superseded", "stale", "duplicate", "rejected"):
        for final in ("applied", "failed"):
            dedup = Deduplicator()
            assert dedup.admit(
                make_outcome(first, 1, reason=first if first != "rejected" else "schema")
            ) == (True, False)
            assert dedup.admit(make_outcome(final, 1)) == (True, True), (first, final)
            # Now final: nothing displaces it but an applied after a failed.
            assert dedup.admit(make_outcome(final, 1)) == (False, False)
            assert dedup.admit(make_outcome("stale", 1, reason="stale")) == (False, False)
            assert dedup.dropped == 2


def test_a_later_non_final_outcome_is_dropped_and_counted() -> None:
    dedup = Deduplicator()
    assert dedup.admit(make_outcome("stale", 1, reason="stale")) == (True, False)
    assert dedup.admit(make_outcome("duplicate", 1, reason="duplicate")) == (False, False)
    assert dedup.admit(make_outcome("stale", 1, reason="stale")) == (False, False)
    assert dedup.dropped == 2
    assert dedup.admit(make_outcome("failed", 1)) == (True, True)  # still corrects


def test_the_bounded_memory_forgets_the_oldest_source() -> None:
    dedup = Deduplicator(remember=2)
    for offset in (1, 2, 3):
        assert dedup.admit(make_outcome("applied", offset))[0]
    assert dedup.admit(make_outcome("applied", 3)) == (False, False)  # remembered
    assert dedup.admit(make_outcome("applied", 2)) == (False, False)  # remembered
    assert dedup.admit(make_outcome("applied", 1)) == (True, False)  # forgotten: new again
    assert dedup.admit(make_outcome("applied", 2)) == (True, False)  # 1 pushed 2 out
    assert dedup.dropped == 2


# OutcomeReader end to end -----------------------------------------------------------------


def record(status: str, source_offset: int, **fields: Any) -> bytes:
    return orjson.dumps(outcome_dict(status, source_offset, **fields))


#: The outcomes topic's records, in order: (value, what the reader yields for it or None).
RECORDS: list[tuple[bytes, tuple[str, int, bool] | None]] = [
    (record("applied", 10), ("applied", 10, False)),  # 0
    (b"not an outcome", None),  # 1: malformed
    (record("duplicate", 10, reason="duplicate"), None),  # 2: a replay's repeat
    (record("stale", 11, reason="stale"), ("stale", 11, False)),  # 3
    (b'{"status": "applied"}', None),  # 4: JSON, but not an outcome
    (record("applied", 11), ("applied", 11, True)),  # 5: corrects 3
    (record("failed", 11, code=70169, reason="retries_exhausted"), None),  # 6
    (record("failed", 12, code=70169, reason="retries_exhausted"), ("failed", 12, False)),  # 7
    (record("failed", 12, code=70169, reason="retries_exhausted"), None),  # 8
    (record("applied", 12), ("applied", 12, True)),  # 9: a replay's, corrects 7
    (record("rejected", 13, reason="schema", info="custom_data"), ("rejected", 13, False)),  # 10
    (record("rejected", 13, reason="schema", info="custom_data"), None),  # 11
]
EXPECTED = [(offset, *y) for offset, (_, y) in enumerate(RECORDS) if y is not None]


def seen(received: list[ReceivedOutcome]) -> list[tuple[int, str, int, bool]]:
    """(own offset, status, source offset, corrects) of each yielded outcome."""
    for r in received:
        assert r.partition == 0 and r.key == b"alice"
    return [
        (r.offset, r.outcome.status.value, r.outcome.source.offset, r.corrects) for r in received
    ]


async def read(reader: OutcomeReader, stop_after: int | None = None) -> list[ReceivedOutcome]:
    got = []
    async with asyncio.timeout(30):
        async for received in reader:
            got.append(received)
            if len(got) == stop_after:
                break
    return got


async def test_reader_yields_each_authoritative_outcome_once(
    broker: str, topic_prefix: str
) -> None:
    topic = await new_topic(broker, f"{topic_prefix}outcomes")
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=50)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=b"alice", partition=0) for value, _ in RECORDS
        ]
        assert [(await s).offset for s in sent] == list(range(len(RECORDS)))
    finally:
        await producer.stop()
    settings = BrokerSettings(broker=f"kafka://{broker}")
    group = f"{topic_prefix}group"

    async def without_group() -> None:
        async with OutcomeReader(settings_for(broker), topic, idle_s=1) as reader:
            assert seen(await read(reader)) == EXPECTED
            assert (reader.malformed, reader.dedup.dropped) == (2, 4)
        async with OutcomeReader(settings_for(broker), topic, idle_s=1) as again:
            assert seen(await read(again)) == EXPECTED, "every read starts at the beginning"

    async def in_group() -> None:
        # Stops after the correction at offset 5, in the middle of what one fetch returned.
        async with OutcomeReader(settings, topic, group_id=group, idle_s=1) as reader:
            assert seen(await read(reader, stop_after=3)) == EXPECTED[:3]
            assert (reader.malformed, reader.dedup.dropped) == (2, 1)
            await reader.commit()
        # The same group resumes after what was yielded: nothing of offsets 0..5 again. The
        # memory of sources is per reader, so 6 (source 11, already settled) comes out once.
        async with OutcomeReader(settings, topic, group_id=group, idle_s=1) as reader:
            assert seen(await read(reader)) == [(6, "failed", 11, False), *EXPECTED[3:]]
            assert (reader.malformed, reader.dedup.dropped) == (0, 2)

    await asyncio.gather(without_group(), in_group())
