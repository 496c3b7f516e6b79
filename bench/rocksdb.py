"""Scenario (i): the RocksDB table store, as production runs it, beside the memory store.

``python -m bench.run --only rocksdb`` runs it alone and rewrites only its section of
``bench/RESULTS.md``; the full run includes it. Three measurements:

* **Flood**: scenario (a)'s flood with ``STREAMS_TABLE_STORE=rocksdb://`` and with
  ``memory://``, in interleaved pairs; the ratio is the median pair's.
* **Recovery at scale**: the last-applied table's changelog is seeded directly with N records
  (one per conversation) in the format the table writes (``streams.engine.table.TrackedTable``:
  orjson key ``"<user_id>/<conversation_id>"``, orjson value ``LastApplied.to_json()``, on the
  partition of the user's changes), through big producer batches; building N conversations
  through the IM emulator would take hours. Then a fresh worker recovers them: memory:// first,
  then rocksdb:// on an empty data dir; each timed from the start of the restore (the bulk
  read's first line, ``streams.engine.recovery``, or Faust's "Restoring state from changelog
  topics" when it reads record by record) to Faust's "Recovery complete" (and /readyz answering
  200), with its peak RSS (VmHWM), the data dir's disk use, and the bulk read's progress lines
  (records/s once a second), plotted in ``bench/plots/recovery.png``. A flood over the N
  conversations follows on the rocksdb:// worker (every read a table lookup among N keys), then
  the worker stops, a tail of records is appended to the changelog, and a worker restarts on
  the same data dir: only what came after the offset RocksDB persisted is read (the
  retained-volume case of the StatefulSet).
* The RocksDB options are the worker's defaults (``streams.settings``), unless the environment
  sets ``STREAMS_ROCKSDB_*``.

On Apache Kafka (the default) the workers run the production transport: the recovery reads
each changelog partition up to the end offset Kafka's ListOffsets reports, which is the log end.
On the embedded Tansu that answer is the last batch's base offset + 1, and the records read are
only right because the ``tansu://`` transport corrects the end offsets with one fetch per
partition (``streams.engine.tansu``); the seeded changelog is written in big batches, so there
the correction is what makes the recovery read all of it.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.brokers import KAFKA, Broker, broker_name, broker_setup
from bench.harness import (
    Process,
    Result,
    Run,
    _outcomes,
    _spawn,
    command,
    disk_usage,
    sections,
    start_emulator,
    worker_env,
)
from streams.core.partitioning import partition_for
from streams.engine.app import ROCKSDB_WRITE_BUFFERS
from streams.settings import Settings
from streams_devkit.broker import create_topics, free_port, terminate
from streams_devkit.kafka_io import publish_stream
from streams_devkit.workload import LoadSpec, load_workload

MIB = 2**20
#: The section's markers in bench/RESULTS.md, per broker: only what lies between them is
#: rewritten. SECTION, BEGIN and END are Apache Kafka's.
SECTIONS = sections("rocksdb")
SECTION = SECTIONS[KAFKA]
BEGIN, END = SECTION.begin, SECTION.end
#: The log lines around recovery: the bulk read's start and progress (streams.engine.recovery),
#: Faust's record-by-record start and its end (faust/tables/recovery.py).
BULK = "table recovery: reading"
RESTORING = "Restoring state from changelog topics"
COMPLETE = "Recovery complete"
#: A worker log line's timestamp, then anything up to the message.
_STAMPED = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*"
_STARTED = re.compile(_STAMPED + re.escape(BULK), re.MULTILINE)
_PROGRESS = re.compile(
    _STAMPED + r"table recovery: \d+ of \d+ records in bulk, (\d+) records/s", re.MULTILINE
)
#: Producer batches for seeding: few record batches per partition keep the broker's fetches
#: cheap (docs/EMBEDDED_BROKER.md, section g). 1 MiB is also about the largest batch Apache
#: Kafka takes by default (max.message.bytes = 1 MiB + 12 bytes).
SEED_BATCH_BYTES = 1024 * 1024
#: Seeded entries are older than anything the workload publishes (2026-11-25 09:00 UTC).
SEED_OCCURRED_US = 1_764_000_000_000_000


@dataclass(frozen=True)
class Sizes:
    """Scenario (i)'s sizes: quick or full."""

    #: Interleaved (memory, rocksdb) flood pairs; the ratio is the median pair's.
    pairs: int
    flood: int
    conversations: int
    #: Events of the flood over the seeded conversations.
    flood_at_scale: int
    #: Changelog records appended before the restart on the retained data dir.
    tail: int
    #: Partitions of the recovery topics (production: 12, k8s/base/kafkatopics.yaml).
    partitions: int = 12
    #: Interleaved (memory, rocksdb) fresh recoveries; the figures are the medians.
    rounds: int = 1


QUICK = Sizes(pairs=1, flood=30_000, conversations=100_000, flood_at_scale=30_000, tail=5_000)
FULL = Sizes(
    pairs=3, flood=200_000, conversations=1_000_000, flood_at_scale=100_000, tail=20_000, rounds=2
)
#: Scenario (a)'s workload and budget, as in bench/run.py.
BASE = LoadSpec(events=0, users=1_000, conversations=10_000, skew=1.0, repeat_share=0.2)
UNLIMITED = {"STREAMS_RATE_LIMIT": "100000"}
#: The emulator's frequency limit off (it is the service's 200/s by default): the worker alone.
NO_IM_LIMIT = {"rate_limit": 0}
MEMORY = "memory://"
ROCKSDB = "rocksdb://"


def flood_runs(sizes: Sizes) -> list[tuple[str, Run]]:
    """(label, run) of one flood pair: the memory store first, then RocksDB."""
    spec = replace(BASE, events=sizes.flood)
    return [
        (
            f"i: flood, {store}",
            Run(
                "pipeline",
                spec,
                env=UNLIMITED | {"STREAMS_TABLE_STORE": store},
                emulator_knobs=NO_IM_LIMIT,
            ),
        )
        for store in (MEMORY, ROCKSDB)
    ]


def median_pair(pairs: list[tuple[Result, Result]]) -> tuple[Result, Result]:
    """The (memory, rocksdb) pair with the median throughput ratio (the upper one of two)."""
    ranked = sorted(pairs, key=lambda pair: pair[1].events_per_s / pair[0].events_per_s)
    return ranked[len(ranked) // 2]


# -- seeding -----------------------------------------------------------------------------------


def table_key(slot: int, users: int) -> tuple[str, str]:
    """(user_id, table key) of a workload conversation (``streams_devkit.workload``)."""
    user = f"user-{slot % users:06}"
    return user, f"{user}/c2c_peer-{slot:07}"


def seed_records(
    conversations: range, users: int, partitions: int, *, generation: int = 0
) -> Iterator[tuple[int, bytes, bytes]]:
    """(partition, key, value) of the table's changelog records, one per conversation.

    Byte for byte what ``TrackedTable.on_key_set`` queues for
    ``LastApplied(event_id, (version, occurred_us, offset)).to_json()``: keys and values dumped
    with orjson, on the partition of the user's changes (murmur2 of the user id).
    """
    for slot in conversations:
        user, key = table_key(slot, users)
        order = [-1, SEED_OCCURRED_US + generation, slot]
        value = [f"seed-{generation}-{slot}", order, None]
        yield partition_for(user.encode(), partitions), orjson.dumps(key), orjson.dumps(value)


async def seed_changelog(
    bootstrap: str, topic: str, records: Iterator[tuple[int, bytes, bytes]]
) -> int:
    """Produce ``records`` in batches of up to ``SEED_BATCH_BYTES`` per partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=SEED_BATCH_BYTES, linger_ms=0
    )
    await producer.start()
    sent = 0
    try:
        open_batches: dict[int, Any] = {}
        futures = []
        for partition, key, value in records:
            batch = open_batches.get(partition) or producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            open_batches[partition] = batch
            sent += 1
        for partition, batch in open_batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


# -- one worker's recovery ----------------------------------------------------------------------


@dataclass
class Recovery:
    """One worker start: how long recovery took and what it cost."""

    label: str
    store: str
    #: "fresh" (an empty data dir) or "retained" (the previous worker's).
    kind: str
    #: Records Faust had to read from the last-applied changelog (highwater - start offset).
    records: int
    #: Faust's "Restoring state" -> "Recovery complete" (None: nothing to restore).
    restore_s: float | None
    #: Process start -> "Recovery complete"; -> /readyz 200.
    complete_s: float
    ready_s: float
    peak_rss: int
    data_bytes: int
    #: A flood after the recovery (events/s, peak RSS and disk after it), if one ran.
    flood: dict[str, float] = field(default_factory=dict)
    #: Whether the worker read the changelog in bulk (streams.engine.recovery), and its
    #: progress lines: (seconds since the bulk read began, records/s over the last second).
    bulk: bool = False
    progress: list[tuple[float, float]] = field(default_factory=list)

    @property
    def keys_per_s(self) -> float:
        seconds = self.restore_s if self.restore_s is not None else self.complete_s
        return self.records / seconds if seconds > 0 else 0.0


_ROW = re.compile(r"[│|]\s*(\S+)\s*[│|]\s*(\d+)\s*[│|]\s*(-?\d+)\s*[│|]")


def offsets_table(log: str, heading: str, topic: str) -> dict[int, int]:
    """{partition: offset} of ``topic`` in the first logged table after ``heading`` (Faust's
    highwater and start-offset tables, where a repeated topic is written as a ditto mark)."""
    at = log.lower().find(heading.lower())
    if at < 0:
        return {}
    found: dict[int, int] = {}
    current = ""
    for line in log[at:].splitlines()[1:]:
        row = _ROW.search(line)
        if row is None:
            if found or line.strip().startswith("["):
                break
            continue
        name, partition, offset = row.groups()
        current = current if name == "〃" else name
        if current == topic:
            found[int(partition)] = int(offset)
    return found


def bulk_progress(log: str) -> list[tuple[float, float]]:
    """(seconds since the bulk read began, records/s) of each progress line in a worker's log."""
    started = _STARTED.search(log)
    if started is None:
        return []
    t0 = _log_time(started.group(1))
    return [(_log_time(at) - t0, float(rate)) for at, rate in _PROGRESS.findall(log)]


def _log_time(stamp: str) -> float:
    """Seconds of a log line's local timestamp (only differences are used)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()


def records_to_read(log: str, topic: str) -> int:
    """What Faust's recovery read of ``topic``: its highwater less its start offset, summed."""
    highwaters = offsets_table(log, "Highwater for active changelog partitions", topic)
    starts = offsets_table(log, "Active offsets at start of reading", topic)
    return sum(max(0, hw - starts.get(p, -1)) for p, hw in highwaters.items())


class Recoveries:
    """Workers of one app (topics, emulator) started one after another on chosen data dirs."""

    def __init__(self, broker: Broker, workdir: Path, sizes: Sizes) -> None:
        self.broker, self.workdir, self.sizes = broker, workdir, sizes
        self.bootstrap = bootstrap = broker.bootstrap
        self.prefix = f"r{secrets.token_hex(4)}-"
        self.app_id = f"{self.prefix}app"
        self.changelog = f"{self.app_id}-last-applied-changelog"
        self.changes = f"{self.prefix}changes"
        self.outcomes = f"{self.prefix}outcomes"
        names = (self.changes, self.outcomes, f"{self.prefix}dead-letters", self.changelog)
        asyncio.run(create_topics(bootstrap, dict.fromkeys(names, sizes.partitions)))
        self.emulator = start_emulator(workdir, **NO_IM_LIMIT)
        self.started = 0

    def env(self, store: str, data_dir: Path, web_port: int) -> dict[str, str]:
        base = worker_env(self.broker, self.prefix, self.sizes.partitions, self.emulator.url)
        return base | {
            "STREAMS_TABLE_STORE": store,
            "STREAMS_DATA_DIR": str(data_dir),
            "STREAMS_WEB_PORT": str(web_port),
            **UNLIMITED,
        }

    def start(
        self, label: str, store: str, data_dir: Path, kind: str = "fresh", timeout_s: float = 600
    ) -> Recovery:
        """Start a worker and wait for its recovery and readiness; the worker keeps running."""
        port = free_port()
        log = self.workdir / f"{self.prefix}worker-{self.started}.log"
        self.started += 1
        began = time.monotonic()
        proc = _spawn(
            [sys.executable, "-m", "streams", "worker"], self.env(store, data_dir, port), log
        )
        self.proc = Process("pipeline", proc, log)
        restoring: float | None = None
        complete: float | None = None
        deadline = began + timeout_s
        while complete is None:
            text = self.proc.text()
            now = time.monotonic()
            if restoring is None and (BULK in text or RESTORING in text):
                restoring = now
            if COMPLETE in text:
                complete = now
            elif proc.poll() is not None or now > deadline:
                raise RuntimeError(f"{label}: no recovery:\n{text[-3000:]}")
            time.sleep(0.02)
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label}: never ready:\n{self.proc.text()[-3000:]}")
            time.sleep(0.05)
        ready = time.monotonic()
        text = self.proc.text()
        return Recovery(
            label,
            store,
            kind,
            records_to_read(text, self.changelog),
            None if restoring is None else complete - restoring,
            complete - began,
            ready - began,
            self.proc.usage()[1],
            disk_usage(data_dir),
            bulk=BULK in text,
            progress=bulk_progress(text),
        )

    def flood(self, recovery: Recovery, data_dir: Path, events: int) -> None:
        """Publish ``events`` over the seeded conversations (uniformly) to the running worker."""
        spec = LoadSpec(
            events=events,
            users=BASE.users,
            conversations=self.sizes.conversations,
            skew=0.0,
            repeat_share=BASE.repeat_share,
        )
        records = list(load_workload(spec))
        started = time.time()
        asyncio.run(publish_stream(self.bootstrap, self.changes, records))
        outcomes = asyncio.run(_outcomes(self.bootstrap, self.outcomes, events))
        finished = max(ts for ts, _ in outcomes) / 1000
        peak = self.proc.usage()[1]
        recovery.flood = {
            "events": events,
            "events_per_s": events / (finished - started),
            "peak_rss": peak,
            "data_bytes": disk_usage(data_dir),
            "applied": sum(1 for _, d in outcomes if d["status"] == "applied"),
        }

    def stop(self) -> None:
        terminate(self.proc.proc, timeout_s=30)

    def close(self) -> None:
        terminate(self.emulator.proc, timeout_s=10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class RecoveryResults:
    """Scenario (i)'s recovery part."""

    conversations: int
    seed_s: float
    steps: list[Recovery]
    tail: int
    partitions: int


def recovery(
    broker: Broker, workdir: Path, sizes: Sizes, log: Callable[[str], None] = print
) -> RecoveryResults:
    """Seed, then memory:// and rocksdb:// fresh recoveries, a flood, and the restart."""
    bootstrap = broker.bootstrap
    run = Recoveries(broker, workdir, sizes)
    n = sizes.conversations
    try:
        log(f"seeding {n} table records into {run.changelog}...")
        began = time.monotonic()
        records = seed_records(range(n), BASE.users, sizes.partitions)
        asyncio.run(seed_changelog(bootstrap, run.changelog, records))
        seed_s = time.monotonic() - began
        log(f"  {n / seed_s:,.0f} records/s")
        steps = []
        data_dir = workdir
        for round_ in range(sizes.rounds):
            # The stores alternate which goes first; the last round ends with RocksDB, whose
            # worker then takes the flood and leaves its data dir for the restart.
            stores = (
                (MEMORY, ROCKSDB) if (sizes.rounds - 1 - round_) % 2 == 0 else (ROCKSDB, MEMORY)
            )
            for store in stores:
                label = f"{store}, fresh, {n:,} conversations, round {round_ + 1}"
                log(f"recovering: {label}...")
                data_dir = workdir / f"{run.prefix}data-{store.split(':')[0]}-{round_}"
                step = run.start(label, store, data_dir)
                steps.append(step)
                log(f"  {step.records} records, restore {_seconds(step.restore_s)} s")
                if store == ROCKSDB and round_ == sizes.rounds - 1:
                    log(f"flood of {sizes.flood_at_scale} events over the {n:,} conversations...")
                    run.flood(step, data_dir, sizes.flood_at_scale)
                    log(f"  {step.flood['events_per_s']:,.0f} events/s")
                run.stop()
        log(f"appending {sizes.tail} records, restarting on the retained volume...")
        tail = seed_records(range(sizes.tail), BASE.users, sizes.partitions, generation=1)
        asyncio.run(seed_changelog(bootstrap, run.changelog, tail))
        label = f"rocksdb://, retained volume, {sizes.tail:,} new records"
        step = run.start(label, ROCKSDB, data_dir, kind="retained")
        steps.append(step)
        log(f"  {step.records} records, restore {step.restore_s} s, ready {step.ready_s:.1f} s")
        run.stop()
        return RecoveryResults(n, seed_s, steps, sizes.tail, sizes.partitions)
    finally:
        if getattr(run, "proc", None) is not None:
            run.stop()
        run.close()


# -- the plot and the report section -----------------------------------------------------------


def plot_name(broker: str = KAFKA) -> str:
    """``recovery.png`` on Apache Kafka, ``recovery-tansu.png`` on another broker."""
    return "recovery.png" if broker == KAFKA else f"recovery-{broker}.png"


def plot(rec: RecoveryResults, path: Path) -> None:
    """Records/s over each fresh recovery's bulk read, one line per worker start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    for step in rec.steps:
        if step.kind == "fresh" and step.progress:
            xs = [0.0, *(t for t, _ in step.progress)]
            ys = [0.0, *(r for _, r in step.progress)]
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, drawstyle="steps-pre", label=step.label)
    ax.set_xlabel("seconds since the bulk read began")
    ax.set_ylabel("changelog records applied per second")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"Table recovery of {rec.conversations:,} conversations ({rec.partitions} partitions), "
        "fresh volume",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _median(runs: list[Recovery]) -> Recovery:
    """The run with the median restore time (the upper one of two)."""
    ranked = sorted(runs, key=lambda x: x.restore_s if x.restore_s is not None else x.complete_s)
    return ranked[len(ranked) // 2]


def _ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}x" if y else "n/a"


def _mib(n: float) -> str:
    return f"{n / MIB:,.0f}"


def _seconds(s: float | None) -> str:
    return "-" if s is None else f"{s:.1f}"


def section(
    pairs: list[tuple[Result, Result]],
    rec: RecoveryResults,
    *,
    mode: str,
    load: tuple[float, float, float],
    started: datetime,
    broker: str = KAFKA,
) -> str:
    """The RESULTS.md section of scenario (i) on ``broker`` (its kind), between its markers."""
    memory, rocks = median_pair(pairs)
    rocks_runs = [x for x in rec.steps if x.store == ROCKSDB and x.kind == "fresh"]
    memory_runs = [x for x in rec.steps if x.store == MEMORY]
    fresh, mem = _median(rocks_runs), _median(memory_runs)
    flooded = rocks_runs[-1]
    retained = rec.steps[-1]
    per_million = 1_000_000 / rec.conversations
    s = Settings()
    ratios = [
        (
            f"(i) flood, rocksdb:// / memory://, median of {len(pairs)} interleaved pair(s) ("
            + ", ".join(_ratio(r.events_per_s, m.events_per_s) for m, r in pairs)
            + ")",
            _ratio(rocks.events_per_s, memory.events_per_s),
            ">= 0.9x",
        ),
        (
            f"(i) recovery of {rec.conversations:,} conversations into RocksDB, fresh volume "
            f"(restore start -> complete), median of {len(rocks_runs)} ("
            + ", ".join(f"{_seconds(x.restore_s)} s" for x in rocks_runs)
            + ")",
            f"{_seconds(fresh.restore_s)} s, {fresh.keys_per_s:,.0f} keys/s",
            "<= 10 s, about 100k keys/s",
        ),
        (
            f"(i) the same into memory://, median of {len(memory_runs)} ("
            + ", ".join(f"{_seconds(x.restore_s)} s" for x in memory_runs)
            + ")",
            f"{_seconds(mem.restore_s)} s, {mem.keys_per_s:,.0f} keys/s",
            "<= 10 s, about 100k keys/s",
        ),
        (
            "(i) the same, worker start -> /readyz 200",
            f"{fresh.ready_s:.1f} s",
            "reference",
        ),
        (
            f"(i) recovery on the retained volume, {rec.tail:,} records appended after the stop",
            f"read {retained.records:,} records in {_seconds(retained.restore_s)} s; "
            f"start -> ready {retained.ready_s:.1f} s",
            f"reads only the tail ({rec.tail:,})",
        ),
        (
            f"(i) recovery time rocksdb:// / memory:// (fresh), medians of {len(rocks_runs)} "
            "interleaved runs each",
            _ratio(fresh.restore_s or fresh.complete_s, mem.restore_s or mem.complete_s),
            "reference",
        ),
        (
            f"(i) peak RSS of the worker at {rec.conversations:,} conversations ({rec.partitions} "
            "partitions): rocksdb:// after recovery / after a flood over them / memory:// after "
            "recovery",
            f"{_mib(max(x.peak_rss for x in rocks_runs))} / "
            f"{_mib(flooded.flood.get('peak_rss', 0))} / "
            f"{_mib(max(x.peak_rss for x in memory_runs))} MiB",
            "under the pod's 1 GiB limit",
        ),
        (
            "(i) disk per 1M conversations (du of the data dir, scaled linearly), after recovery "
            "/ after the flood",
            f"{_mib(flooded.data_bytes * per_million)} / "
            f"{_mib(flooded.flood.get('data_bytes', 0) * per_million)} MiB",
            "reference",
        ),
    ]
    lines = [
        SECTIONS[broker].begin,
        f"## RocksDB table store (scenario i, issue 19) on {broker_name(broker)}",
        "",
        f"{command(mode, broker, 'rocksdb')} on {started:%Y-%m-%d %H:%M} UTC (or as part of "
        f"the full run), on {broker_setup(broker)}. Load average at the start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) on "
        f"{len(os.sched_getaffinity(0))} CPUs, shared with the broker and with whatever else "
        'ran on the machine. Method: bench/PROFILE.md, "RocksDB table store".',
        "",
        *(f"* {name}: **{value}** [{target}]" for name, value, target in ratios),
        "",
        f"![recovery: records/s over the bulk read](plots/{plot_name(broker)})",
        "",
        "| flood (scenario (a)'s shape, 4 partitions) | events | events/s | worker CPU s / 10k "
        "events | peak RSS MiB | data dir MiB |",
        "|---|---|---|---|---|---|",
    ]
    for i, (m, r) in enumerate(pairs, 1):
        for store, x in ((MEMORY, m), (ROCKSDB, r)):
            lines.append(
                f"| pair {i}, {store} | {x.events} | {x.events_per_s:,.0f} | "
                f"{x.cpu_s / x.events * 10_000:.2f} | {_mib(x.peak_rss)} | "
                f"{x.data_bytes / MIB:.1f} |"
            )
    lines += [
        "",
        f"Seeding {rec.conversations:,} changelog records took {rec.seed_s:.1f} s "
        f"({rec.conversations / rec.seed_s:,.0f} records/s).",
        "",
        f"| worker start ({rec.partitions} partitions) | records read | restore s "
        "| start -> recovery complete s | start -> ready s | keys/s | peak RSS MiB "
        "| data dir MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step in rec.steps:
        lines.append(
            f"| {step.label} | {step.records:,} | {_seconds(step.restore_s)} | "
            f"{step.complete_s:.1f} | {step.ready_s:.1f} | {step.keys_per_s:,.0f} | "
            f"{_mib(step.peak_rss)} | "
            f"{step.data_bytes / MIB:.1f} |"
        )
        if step.flood:
            f = step.flood
            lines.append(
                f"| then a flood of {int(f['events']):,} events over the {rec.conversations:,} "
                f"conversations (uniform): {f['events_per_s']:,.0f} events/s, "
                f"{int(f['applied']):,} applied | | | | | | {_mib(f['peak_rss'])} | "
                f"{f['data_bytes'] / MIB:.1f} |"
            )
    lines += [
        "",
        f"RocksDB options (the worker's defaults): write buffer {s.rocksdb_write_buffer_mb} MiB "
        f"x {ROCKSDB_WRITE_BUFFERS}, block cache {s.rocksdb_block_cache_mb} MiB, max open files "
        f"{s.rocksdb_max_open_files}, per partition; standby replicas "
        f"{s.table_standby_replicas} (one worker: none could be placed anyway).",
        SECTIONS[broker].end,
    ]
    return "\n".join(lines)
