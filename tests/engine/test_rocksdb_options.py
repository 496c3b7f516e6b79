"""The RocksDB settings reach Faust's store, and their worst case fits the pods' memory limit.

Faust opens one RocksDB database per table partition a worker holds (its own and, with standby
replicas, others'), each with its own write buffers and block cache (``faust.stores.rocksdb``),
so the per-partition sizes multiply by the partition count (docs/PERFORMANCE.md, "RocksDB").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from faust.stores.rocksdb import Store as RocksDBStore

from streams.engine.app import (
    ROCKSDB_WRITE_BUFFERS,
    create_app,
    rocksdb_partition_mib,
    rocksdb_worst_case_mib,
)
from streams.engine.internals import set_current_event
from streams.settings import Settings
from tests.fakes import message_event

K8S = Path(__file__).parents[2] / "k8s"
MIB = 1024 * 1024

#: What a worker needs besides RocksDB's caches and memtables: the Python heap, Faust, aiokafka's
#: buffers, the allocator's slack, RocksDB's index and filter blocks. Measured (bench/RESULTS.md):
#: 232-267 MiB peak RSS under scenario (a)'s flood on either store; 483-497 MiB for a rocksdb://
#: worker at 1M conversations after a uniform flood over them, its caches and memtables (at most
#: 288 MiB at 12 partitions) included, so about 200-210 MiB besides them.
WORKER_MIB = 384

#: Settings that size RocksDB's memory, as a ConfigMap may set them.
SIZING = (
    "STREAMS_TOPIC_PARTITIONS",
    "STREAMS_ROCKSDB_WRITE_BUFFER_MB",
    "STREAMS_ROCKSDB_BLOCK_CACHE_MB",
    "STREAMS_TABLE_STANDBY_REPLICAS",
)


@pytest.fixture(autouse=True)
def _no_sizing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SIZING, "STREAMS_ROCKSDB_MAX_OPEN_FILES", "STREAMS_TABLE_STORE"):
        monkeypatch.delenv(name, raising=False)


def _options_file(db_dir: Path) -> dict[str, str]:
    """``name=value`` lines of the newest OPTIONS file RocksDB wrote for a database."""
    newest = max(db_dir.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    pairs = (line.strip().split("=", 1) for line in newest.read_text().splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_the_settings_reach_the_rocksdb_database_faust_opens(tmp_path: Path) -> None:
    settings = Settings(
        broker="kafka://127.0.0.1:1",
        table_store="rocksdb://",
        data_dir=tmp_path,
        topic_partitions=4,
        web_port=0,
        rocksdb_write_buffer_mb=3,
        rocksdb_block_cache_mb=5,
        rocksdb_max_open_files=77,
        table_standby_replicas=2,
    )
    app, topics, table = create_app(settings)
    assert app.conf.table_standby_replicas == 2
    store: Any = table.data
    assert isinstance(store, RocksDBStore)
    # A table write as the window makes it: Faust opens the partition's database itself.
    current = message_event(topics.changes.get_topic_name(), 2, 0, None, None)
    set_current_event(current)
    table["u1/c2c_u2"] = ["e1", [3, 1_700_000_000_000_000, 42], None]
    assert table["u1/c2c_u2"] == ["e1", [3, 1_700_000_000_000_000, 42], None]
    db_dir = Path(store.partition_path(2))
    written = _options_file(db_dir)
    assert written["write_buffer_size"] == str(3 * MIB)
    assert written["max_write_buffer_number"] == str(ROCKSDB_WRITE_BUFFERS)
    assert written["max_open_files"] == "77"
    # The block cache's size is not in the OPTIONS file; the open database reports it.
    db = store._db_for_partition(2)
    assert db.property_int_value("rocksdb.block-cache-capacity") == 5 * MIB
    assert rocksdb_partition_mib(settings) == 3 * ROCKSDB_WRITE_BUFFERS + 5


def test_the_memory_store_takes_the_same_table() -> None:
    settings = Settings(broker="kafka://127.0.0.1:1", table_store="memory://", web_port=0)
    app, _, table = create_app(settings)
    assert not isinstance(table.data, RocksDBStore)
    assert app.conf.table_standby_replicas == settings.table_standby_replicas


def _quantity_mib(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def _literals(kustomization: Path) -> dict[str, str]:
    doc = yaml.safe_load(kustomization.read_text())
    found: dict[str, str] = {}
    for generator in doc.get("configMapGenerator", []):
        if generator["name"] == "streams-config":
            found |= dict(line.split("=", 1) for line in generator.get("literals", []))
    return found


def _memory_limit_mib(manifest: Path) -> int | None:
    doc = yaml.safe_load(manifest.read_text())
    for container in doc["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "worker":
            limit = container.get("resources", {}).get("limits", {}).get("memory")
            return None if limit is None else _quantity_mib(limit)
    return None


def _changelog_partitions() -> int:
    for doc in yaml.safe_load_all((K8S / "base" / "kafkatopics.yaml").read_text()):
        if doc and doc["metadata"]["name"].endswith("-last-applied-changelog"):
            return int(doc["spec"]["partitions"])
    raise AssertionError("no last-applied changelog KafkaTopic in k8s/base/kafkatopics.yaml")


def _deployments() -> list[tuple[str, int, dict[str, str]]]:
    """(name, memory limit MiB, ConfigMap literals) of the base and of the example overlay."""
    base_limit = _memory_limit_mib(K8S / "base" / "statefulset.yaml")
    base = _literals(K8S / "base" / "kustomization.yaml")
    example = K8S / "overlays" / "example"
    example_limit = _memory_limit_mib(example / "patches" / "statefulset.yaml") or base_limit
    assert base_limit is not None and example_limit is not None
    return [
        ("base", base_limit, base),
        ("overlays/example", example_limit, base | _literals(example / "kustomization.yaml")),
    ]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d[0])
def test_the_worst_case_fits_the_statefulset_memory_limit(
    deployment: tuple[str, int, dict[str, str]],
) -> None:
    """Every partition (and its standbys) on one worker: caches full, memtables full."""
    _, limit_mib, literals = deployment
    sizing = {
        name.removeprefix("STREAMS_").lower(): literals[name] for name in SIZING if name in literals
    }
    settings = Settings(**sizing)
    partitions = max(settings.topic_partitions, _changelog_partitions())
    worst = rocksdb_worst_case_mib(settings, partitions)
    assert worst == rocksdb_partition_mib(settings) * partitions * (
        1 + settings.table_standby_replicas
    )
    assert worst + WORKER_MIB <= limit_mib, (
        f"{partitions} partitions x {1 + settings.table_standby_replicas} copies x "
        f"{rocksdb_partition_mib(settings)} MiB + {WORKER_MIB} MiB > the {limit_mib} MiB limit"
    )


def test_faust_defaults_would_not_fit() -> None:
    """Why the settings exist: Faust's own sizes, 64 MiB x 3 + 2 GiB per partition."""
    faust_partition_mib = 64 * 3 + 2048
    assert faust_partition_mib * _changelog_partitions() > _memory_limit_mib(
        K8S / "base" / "statefulset.yaml"
    )  # type: ignore[operator]
