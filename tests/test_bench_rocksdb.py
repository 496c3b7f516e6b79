"""Scenario (i) of the benchmark still works: a tiny run, no timing asserted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import rocksdb
from bench.harness import Result, Run
from bench.run import PROFILE, with_profile
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


def test_the_section_replaces_only_itself() -> None:
    heading = PROFILE.read_text(encoding="utf-8").splitlines()[0]
    others = f"# Benchmark results\n\nother sections\n\n{heading}\n\nold notes\n"
    first = rocksdb.SECTION.replace(others, f"{rocksdb.BEGIN}\none\n{rocksdb.END}", heading)
    assert first.startswith("# Benchmark results\n\nother sections\n\n" + rocksdb.BEGIN)
    second = rocksdb.SECTION.replace(first, f"{rocksdb.BEGIN}\ntwo\n{rocksdb.END}", heading)
    assert second == first.replace("\none\n", "\ntwo\n")
    refreshed = with_profile(second)
    assert refreshed.endswith(PROFILE.read_text(encoding="utf-8"))
    assert rocksdb.SECTION.extract(refreshed) == f"{rocksdb.BEGIN}\ntwo\n{rocksdb.END}"


def test_a_tiny_recovery_run(broker: str, tmp_path: Path) -> None:
    """Seed, recover into memory and RocksDB, flood, restart on the same data dir."""
    sizes = rocksdb.Sizes(
        pairs=1, flood=100, conversations=1_000, flood_at_scale=200, tail=50, partitions=2
    )
    result = rocksdb.recovery(broker, tmp_path, sizes, log=lambda _: None)
    memory, fresh, retained = result.steps
    assert retained.kind == "retained"
    assert memory.store == rocksdb.MEMORY and fresh.store == rocksdb.ROCKSDB
    assert memory.records == fresh.records == 1_000
    assert fresh.data_bytes > 0 and fresh.flood["events"] == 200
    # Only what came after the offsets RocksDB persisted is read again.
    assert retained.records == 50
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
