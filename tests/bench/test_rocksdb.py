"""Scenario (i) of the benchmark still works: a tiny run, no timing asserted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import rate, rocksdb
from bench.brokers import KAFKA, TANSU, Broker
from bench.harness import Result, Run
from bench.run import INTRO, MAIN, PROFILE, TITLE, compose
from streams.core.partitioning import partition_for
from streams.core.records import LastApplied
from streams_devkit.workload import LoadSpec, load_workload


def test_seeded_records_are_the_tables_own() -> None:
    """Key, value and partition as the window writes them for the workload's conversations."""
    [(partition, key, value)] = rocksdb.seed_records(range(5, 6), users=1_000, partitions=12)
    entry = LastApplied("seed-0-5", (-1, rocksdb.SEED_OCCURRED_US, 5))
    assert value == orjson.dumps(entry.to_json())
    spec = LoadSpec(events=3_000, users=1_000, conversations=10, skew=0.0)
    docs = [orjson.loads(v) for _, v in load_workload(spec)]
    conversations = {f"{d['user_id']}/{d['conversation_id']}" for d in docs}
    assert orjson.loads(key) in conversations
    assert partition == partition_for(b"user-000005", 12)


def _marked(section: rocksdb.Section, text: str) -> str:
    return f"{section.begin}\n{text}\n{section.end}"


def test_a_run_rewrites_only_its_own_sections_kafka_first() -> None:
    """Each (scenarios, broker) section is kept until a run of its own rewrites it; Apache
    Kafka's sections come before Tansu's, the profile notes last."""
    tansu_rocks = _marked(rocksdb.SECTIONS[TANSU], "tansu rocks")
    kafka_rate = _marked(rate.SECTIONS[KAFKA], "kafka rate")
    old = f"# Benchmark results\n\nunmarked\n\n{tansu_rocks}\n\n{kafka_rate}\n\nold notes\n"
    first = compose(old, {rocksdb.SECTIONS[KAFKA]: _marked(rocksdb.SECTION, "one")})
    assert first == "\n\n".join(
        [TITLE, INTRO, _marked(rocksdb.SECTION, "one"), kafka_rate, tansu_rocks,
         PROFILE.read_text(encoding="utf-8")]
    )  # fmt: skip
    second = compose(first, {MAIN[TANSU]: _marked(MAIN[TANSU], "tansu main")})
    assert second.index("one") < second.index("kafka rate") < second.index("tansu main")
    assert second.index("tansu main") < second.index("tansu rocks")
    third = compose(second, {rocksdb.SECTION: _marked(rocksdb.SECTION, "two")})
    assert third == second.replace("\none\n", "\ntwo\n")


def test_a_tiny_recovery_run(broker: str, tmp_path: Path) -> None:
    """Seed, recover into memory and RocksDB, flood, restart on the same data dir: on Apache
    Kafka, the workers on the production transport."""
    sizes = rocksdb.Sizes(
        pairs=1, flood=100, conversations=1_000, flood_at_scale=200, tail=50, partitions=2
    )
    result = rocksdb.recovery(Broker(KAFKA, broker), tmp_path, sizes, log=lambda _: None)
    memory, fresh, retained = result.steps
    assert retained.kind == "retained"
    assert memory.store == rocksdb.MEMORY and fresh.store == rocksdb.ROCKSDB
    assert memory.records == fresh.records == 1_000
    assert fresh.data_bytes > 0 and fresh.flood["events"] == 200
    # Only what came after the offsets RocksDB persisted is read again.
    assert retained.records == 50
    # Each worker read its changelog in bulk (streams.engine.recovery), not record by record.
    assert memory.bulk and fresh.bulk and retained.bulk
    spec = LoadSpec(events=10)
    run = Run("pipeline", spec)
    pair = (Result(run, 10, 1.0, 0.1, 2**20), Result(run, 10, 1.1, 0.1, 2**20, data_bytes=2**20))
    text = rocksdb.section(
        [pair, (pair[0], replace(pair[1], seconds=0.9))],
        result,
        mode="quick",
        load=(1.0, 1.0, 1.0),
        started=datetime.now(UTC),
    )
    assert text.startswith(rocksdb.BEGIN) and text.endswith(rocksdb.END)
    assert "reads only the tail (50)" in text and "keys/s" in text
    assert "on Apache Kafka 4.4.0" in text.splitlines()[1]


def test_bulk_progress_reads_the_workers_progress_lines() -> None:
    log = "\n".join(
        [
            "[2026-12-07 19:52:40,100] [1] [INFO] streams.engine.recovery: table recovery: "
            "reading 1000000 changelog records of 12 partitions in bulk",
            "[2026-12-07 19:52:41,350] [1] [INFO] streams.engine.recovery: table recovery: "
            "120000 of 1000000 records in bulk, 96000 records/s",
            "[2026-12-07 19:52:41,400] [1] [INFO] faust.something: unrelated",
            "[2026-12-07 19:52:42,350] [1] [INFO] streams.engine.recovery: table recovery: "
            "300000 of 1000000 records in bulk, 180000 records/s",
        ]
    )
    assert rocksdb.bulk_progress(log) == [(1.25, 96_000.0), (2.25, 180_000.0)]
    assert rocksdb.bulk_progress("no recovery here") == []
