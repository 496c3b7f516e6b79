"""The core is pure logic: importing it loads no Kafka client and no stream engine."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import streams.core
from streams.core.partitioning import murmur2, partition_for

ENGINES = ("faust", "mode", "aiokafka")


def test_importing_every_core_module_loads_no_engine() -> None:
    modules = [f"streams.core.{m.name}" for m in pkgutil.iter_modules(streams.core.__path__)]
    assert len(modules) >= 10, modules
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ENGINES!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]", loaded


def test_murmur2_is_kafkas() -> None:
    """Against aiokafka's (the Java client's) on every tail length and a spread of inputs."""
    from aiokafka.partitioner import murmur2 as reference

    samples = [b"", b"a", b"ab", b"abc", b"abcd", b"alice", "é€😀".encode(), bytes(range(256))]
    samples += [bytes([i % 251]) * i for i in range(1, 70)]
    for data in samples:
        assert murmur2(data) == reference(data), data
    # Known answers of the Java client (org.apache.kafka.common.utils.UtilsTest).
    assert murmur2(b"21") == 0xFFFFFFFF & -973932308
    assert murmur2(b"foobar") == 0xFFFFFFFF & -790332482
    assert partition_for(b"alice", 8) == (murmur2(b"alice") & 0x7FFFFFFF) % 8
