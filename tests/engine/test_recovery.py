"""Table recovery in bulk (``streams.engine.recovery``) against the session's Apache Kafka.

The changelog is written with Kafka's own semantics in it (a key written twice, a tombstone, a
key written again after its tombstone, records after the restore's highwater) and read into the
table's real stores, memory and RocksDB: the store must hold what Faust's record-by-record loop
leaves (the last record per key, a tombstone deletes), nothing past the highwater, and only the
records after what the store held when it started (a retained volume). Each test fails if the
bulk read applied out of order, skipped a tombstone, or read past the highwater.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.core.restore import Restore
from streams.engine.app import create_app
from streams.engine.recovery import restore_in_bulk
from streams.settings import Settings
from streams_devkit.broker import create_topics

#: (partition, key, value) in produce order; a None value is a tombstone.
HISTORY: list[tuple[int, str, list[Any] | None]] = [
    (0, "alice/c2c_1", ["e1", [1, 10, 0], None]),
    (0, "alice/c2c_2", ["e2", [1, 11, 1], None]),
    (0, "alice/c2c_1", ["e3", [2, 12, 2], None]),  # the last write of c2c_1 wins
    (0, "alice/c2c_2", None),  # deleted
    (0, "alice/c2c_3", ["e5", [1, 14, 4], None]),
    (1, "bob/c2c_4", ["e6", [1, 15, 0], None]),
    (1, "bob/c2c_4", None),
    (1, "bob/c2c_4", ["e8", [3, 17, 2], None]),  # written again after its tombstone
]
#: Written after the restore's highwaters were taken: left to Faust's loop.
LATE = [
    (0, "alice/c2c_3", ["late", [9, 99, 5], None]),
    (1, "bob/c2c_5", ["late", [9, 99, 3], None]),
]


async def produce(bootstrap: str, topic: str, records: list[tuple[int, str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, key, value in records:
            encoded = None if value is None else orjson.dumps(value)
            await producer.send_and_wait(topic, encoded, key=orjson.dumps(key), partition=partition)
    finally:
        await producer.stop()


@pytest.fixture(params=["memory://", "rocksdb://"])
def app_table(
    request: pytest.FixtureRequest,
    broker: str,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, Any, str]]:
    """A worker's app (never started), its last-applied table on the chosen store, and the
    table's changelog topic (two partitions, the history written)."""
    monkeypatch.setenv("STREAMS_SDK", "tencent")
    settings = Settings(
        broker=f"kafka://{broker}",
        app_id=f"{topic_prefix}app",
        table_store=request.param,
        data_dir=tmp_path,
        topic_partitions=2,
        web_port=0,
    )
    app, _, table = create_app(settings)
    changelog = table.changelog_topic.get_topic_name()
    asyncio.run(create_topics(broker, {changelog: 2}))
    asyncio.run(produce(broker, changelog, HISTORY))
    yield app, table, changelog


def restore(
    app: Any,
    table: Any,
    plan: Restore[TP],
    *,
    budget_s: float = 120.0,
    clock: Callable[[], float] = monotonic,
) -> dict[TP, int]:
    """Run the bulk read into ``table``; what it noted as each partition's last offset."""
    noted: dict[TP, int] = {}
    asyncio.run(
        restore_in_bulk(
            app,
            plan,
            apply=lambda tp, events: table.apply_changelog_batch(events),
            note=noted.__setitem__,
            budget_s=budget_s,
            clock=clock,
        )
    )
    return noted


def contents(table: Any, keys: list[str]) -> dict[str, Any]:
    return {key: table.data[key] for key in keys if key in table.data}


KEYS = ["alice/c2c_1", "alice/c2c_2", "alice/c2c_3", "bob/c2c_4", "bob/c2c_5"]


def test_bulk_restore_keeps_the_last_record_per_key_and_honours_tombstones(
    app_table: tuple[Any, Any, str], broker: str
) -> None:
    app, table, changelog = app_table
    tp0, tp1 = TP(changelog, 0), TP(changelog, 1)
    # Faust's highwaters: the last offset of each partition when the restore began.
    plan = Restore.plan({tp0: -1, tp1: -1}, {tp0: 4, tp1: 2})
    asyncio.run(produce(broker, changelog, LATE))

    noted = restore(app, table, plan)

    assert noted == {tp0: 4, tp1: 2}
    assert contents(table, KEYS) == {
        "alice/c2c_1": ["e3", [2, 12, 2], None],
        "alice/c2c_3": ["e5", [1, 14, 4], None],  # not the late record
        "bob/c2c_4": ["e8", [3, 17, 2], None],
    }


def test_a_retained_store_reads_only_the_records_after_what_it_holds(
    app_table: tuple[Any, Any, str],
) -> None:
    """RocksDB on a retained volume holds up to its persisted offset: here partition 0 up to
    offset 2 and partition 1 whole; only records 3 and 4 of partition 0 are read."""
    app, table, changelog = app_table
    tp0, tp1 = TP(changelog, 0), TP(changelog, 1)
    plan = Restore.plan({tp0: 2, tp1: 2}, {tp0: 4, tp1: 2})
    assert list(plan.spans) == [tp0]

    noted = restore(app, table, plan)

    assert noted == {tp0: 4}
    assert plan.applied_records == 2
    # c2c_2's tombstone applied to nothing; c2c_1 and c2c_4 were never read.
    assert contents(table, KEYS) == {"alice/c2c_3": ["e5", [1, 14, 4], None]}


def test_past_its_time_budget_the_bulk_read_leaves_the_rest_to_fausts_loop(
    app_table: tuple[Any, Any, str],
) -> None:
    """The read stops (and returns) when its budget is spent: Faust's recovery offsets still
    say what is left, and its own loop reads it."""
    app, table, changelog = app_table
    tp0 = TP(changelog, 0)
    plan = Restore.plan({tp0: -1}, {tp0: 4})
    ticks = iter([0.0, 31.0])

    noted = restore(app, table, plan, budget_s=30.0, clock=lambda: next(ticks, 31.0))

    assert noted == {}
    assert plan.remaining == 5 and not plan.done
    assert contents(table, KEYS) == {}


def test_a_record_the_store_cannot_take_hands_the_rest_to_fausts_loop(
    app_table: tuple[Any, Any, str], broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Something else wrote a record that is not JSON into the changelog: the memory store
    cannot decode it, and the bulk read stops there instead of stopping the worker (Faust's
    loop logs such a record and goes on). RocksDB stores the bytes as they are."""
    app, table, changelog = app_table
    tp1 = TP(changelog, 1)

    async def garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        try:
            await producer.send_and_wait(changelog, b"\xffnot json", key=b'"bob/x"', partition=1)
        finally:
            await producer.stop()

    asyncio.run(garbage())
    plan = Restore.plan({tp1: -1}, {tp1: 3})

    noted = restore(app, table, plan)

    if app.conf.store.scheme == "memory":
        assert not plan.done and noted == {}
        assert "could not be written in bulk (JSONDecodeError" in caplog.text
    else:
        assert plan.done and noted == {tp1: 3}
        assert contents(table, KEYS) == {"bob/c2c_4": ["e8", [3, 17, 2], None]}
