"""Running one measured configuration: topics, emulator, workers, publish, collect, measure."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.brokers import KAFKA, TANSU, Broker, proc_usage
from streams_devkit.broker import create_topics, die_with_parent, free_port, terminate
from streams_devkit.kafka_io import consume, publish_stream
from streams_devkit.workload import LoadSpec, load_workload

SECRET = secrets.token_hex(16)
IM_ENV = {
    "STREAMS_IM_SDKAPPID": "1400000000",
    "STREAMS_IM_ADMIN": "administrator",
    "STREAMS_IM_SECRET_KEY": SECRET,
}
READY = {
    "pipeline": re.compile(r"owning \d+ partitions"),
    "ceiling": re.compile(r"\bready\b"),
    "floor": re.compile(r"\bready\b"),
    "floor-tuned": re.compile(r"\bready\b"),
    "naive": re.compile(r"\bready\b"),
    "peer": re.compile(r"\bready\b"),
}
#: The Kafka Streams peer (bench/peers/README.md), built by ``make bench-peer``.
PEER_DIR = Path(__file__).with_name("peers") / "kafka-streams"
#: The peer's JVM: a fixed heap, so its peak RSS does not follow the machine's memory size; its
#: JIT compiler threads kept for the whole run, so their CPU can be read at its end.
PEER_JVM = ("-Xms256m", "-Xmx1g", "-XX:-UseDynamicNumberOfCompilerThreads")
#: The names (``comm``) of a HotSpot JVM's JIT compiler threads.
_JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
#: Process kinds that call the IM (an emulator is started for them).
IM_KINDS = ("pipeline", "naive", "peer")
#: Process kinds that emit the contract's outcomes (windows, statuses, request ids).
OUTCOME_KINDS = ("pipeline", "peer")
#: Faust routes a baseline's prints through its logger, so match anywhere in the line.
DONE = re.compile(r"\bdone (\d+) ([\d.]+)")
_LISTENING = re.compile(r"emulator listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Emulator:
    """An emulator process for one scenario."""

    proc: subprocess.Popen[bytes]
    url: str

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/debug/stats", timeout=10) as r:  # noqa: S310
            return dict(orjson.loads(r.read()))


def start_emulator(workdir: Path, **knobs: Any) -> Emulator:
    """Start ``streams emulator`` on a free port with the given knobs."""
    log = workdir / f"emulator-{secrets.token_hex(3)}.log"
    flags = [x for k, v in knobs.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    args = ["emulator", "--port", "0", "--db", str(log.with_suffix(".sqlite3")), *flags]
    proc = _spawn([sys.executable, "-m", "streams", *args], os.environ | IM_ENV, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found:
            return Emulator(proc, found.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"emulator did not start: {log.read_text()}")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603
            args, env=env, stdout=out, stderr=out, preexec_fn=die_with_parent
        )


@dataclass
class Process:
    """A worker or baseline process and its log."""

    kind: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def usage(self) -> tuple[float, int]:
        """(CPU seconds, peak RSS bytes) so far, from /proc."""
        return proc_usage(self.proc.pid)


@dataclass
class Run:
    """One configuration: which process kind, how many, against which emulator."""

    kind: str
    spec: LoadSpec
    workers: int = 1
    partitions: int = 4
    window_ms: int = 250
    rate: float | None = None
    emulator_knobs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """What one run measured."""

    run: Run
    events: int
    seconds: float
    cpu_s: float
    peak_rss: int
    requests: int = 0
    emulator_cpu_s: float = 0.0
    lower_bound: int = 0
    applied: int = 0
    rejected_frequency: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    #: Disk used by the workers' data dirs (table state) at the end of the run.
    data_bytes: int = 0
    #: CPU seconds the broker process spent from the workers' start to the end of the reads.
    broker_cpu_s: float = 0.0
    #: CPU seconds the workers had spent when they were ready (start-up: imports, a JVM's).
    ready_cpu_s: float = 0.0
    #: CPU seconds a JVM's JIT compiler threads spent after it was ready (the peer's).
    jit_cpu_s: float = 0.0

    @property
    def applied_per_s(self) -> float:
        """Changes the IM confirmed per second of the run."""
        return self.applied / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def jit_cpu_s(pid: int) -> float:
    """CPU seconds the JIT compiler threads of the JVM ``pid`` spent so far, from /proc."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            stat = (task / "stat").read_text()
            if stat[stat.index("(") + 1 : stat.rindex(")")].startswith(_JIT_THREADS):
                fields = stat.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _jit(kind: str, procs: Sequence[Process]) -> float:
    return sum(jit_cpu_s(p.proc.pid) for p in procs) if kind == "peer" else 0.0


def disk_usage(path: Path) -> int:
    """Bytes of disk the files under ``path`` occupy (``du``: allocated blocks)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(root) / name).lstat().st_blocks * 512
    return total


def lower_bound(outcomes: Sequence[dict[str, Any]]) -> int:
    """Fewest requests the actual windows allowed: per window and user, ceil(conversations/100).

    A window is identified by its ``processed_at`` stamp; only changes sent to the SDK (applied
    or failed) count, each once.
    """
    per_window: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for doc in outcomes:
        if doc["status"] in ("applied", "failed"):
            per_window[doc["processed_at"]][doc["user_id"]].add(doc["conversation_id"])
    return sum(math.ceil(len(c) / 100) for users in per_window.values() for c in users.values())


def worker_env(broker: Broker, prefix: str, partitions: int, im_endpoint: str) -> dict[str, str]:
    """A benchmark worker's environment: the broker, the run's topics and app id (all named by
    ``prefix``), the memory store and the emulator at ``im_endpoint``.

    On Apache Kafka the worker runs as in production: no ``STREAMS_EMBEDDED_BROKER`` (not even
    from the caller's environment), so the ``kafka://`` transport and Kafka's group timings. On
    Tansu it gets the embedded broker's overrides, as ``streams demo`` does.
    """
    env = {k: v for k, v in os.environ.items() if k != "STREAMS_EMBEDDED_BROKER"}
    if broker.embedded:
        env["STREAMS_EMBEDDED_BROKER"] = "true"
    return (
        env
        | IM_ENV
        | {
            "STREAMS_BROKER": "kafka://" + broker.bootstrap.replace(",", ";"),
            "STREAMS_APP_ID": f"{prefix}app",
            "STREAMS_CHANGES_TOPIC": f"{prefix}changes",
            "STREAMS_OUTCOMES_TOPIC": f"{prefix}outcomes",
            "STREAMS_DEAD_LETTER_TOPIC": f"{prefix}dead-letters",
            "STREAMS_TOPIC_PARTITIONS": str(partitions),
            "STREAMS_TABLE_STORE": "memory://",
            "STREAMS_SDK": "tencent",
            "STREAMS_IM_ENDPOINT": im_endpoint,
            "STREAMS_LOG_LEVEL": "INFO",
        }
    )


@dataclass(frozen=True)
class Section:
    """A part of RESULTS.md between two markers that one scenario rewrites on its own
    (``bench.run.compose`` puts the file together from them)."""

    begin: str
    end: str

    def extract(self, text: str) -> str | None:
        """This section of ``text``, markers included (None when absent)."""
        start, end = text.find(self.begin), text.find(self.end)
        return text[start : end + len(self.end)] if start >= 0 and end > start else None


def sections(name: str) -> dict[str, Section]:
    """A RESULTS.md section's markers per broker: ``<!-- bench:NAME -->`` for Apache Kafka (the
    default), ``<!-- bench:NAME:tansu -->`` for the embedded Tansu (its figures kept apart)."""
    return {
        KAFKA: Section(f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"),
        TANSU: Section(f"<!-- bench:{name}:{TANSU} -->", f"<!-- /bench:{name}:{TANSU} -->"),
    }


def command(mode: str, kind: str, only: str | None = None) -> str:
    """The invocation that writes a section, as the section quotes it."""
    words = ["python -m bench.run"]
    words += [f"--only {only}"] if only else []
    words += ["--quick"] if mode == "quick" else []
    words += [f"--broker {kind}"] if kind != KAFKA else []
    return "`" + " ".join(words) + "`"


def measure(run: Run, broker: Broker, workdir: Path) -> Result:
    """Execute ``run`` on fresh topics of ``broker`` and return its figures."""
    bootstrap = broker.bootstrap
    prefix = f"b{secrets.token_hex(4)}-"
    topics = {
        f"{prefix}changes": run.partitions,
        f"{prefix}outcomes": run.partitions,
        f"{prefix}dead-letters": run.partitions,
    }
    asyncio.run(create_topics(bootstrap, topics))
    emulator = start_emulator(workdir, **run.emulator_knobs) if run.kind in IM_KINDS else None
    env = (
        worker_env(
            broker, prefix, run.partitions, emulator.url if emulator else "http://127.0.0.1:9"
        )
        | {"STREAMS_WINDOW_MS": str(run.window_ms), "BENCH_EXPECT": str(run.spec.events)}
        | run.env
    )
    procs: list[Process] = []
    broker_cpu = broker.cpu_s()
    try:
        for index in range(run.workers):
            env_i = env | {
                "STREAMS_DATA_DIR": str(workdir / f"{prefix}data-{index}"),
                # As deployed: the web port serves /metrics, with Faust's sensor behind it.
                "STREAMS_WEB_PORT": str(free_port()) if run.kind == "pipeline" else "0",
            }
            log = workdir / f"{prefix}{run.kind}-{index}.log"
            procs.append(start_process(run.kind, env_i, log))
        _wait_ready(procs, run.partitions)
        ready_cpu = sum(p.usage()[0] for p in procs)
        ready_jit = _jit(run.kind, procs)
        before = emulator.stats() if emulator else {}
        started = time.time()
        asyncio.run(
            publish_stream(bootstrap, f"{prefix}changes", load_workload(run.spec), rate=run.rate)
        )
        if run.kind.startswith("floor"):  # consume only: nothing to read back
            finished = _wait_done(procs, run.spec.events)
            outcomes: list[tuple[int, dict[str, Any]]] = []
        else:
            outcomes = asyncio.run(_outcomes(bootstrap, f"{prefix}outcomes", run.spec.events))
            finished = max(ts for ts, _ in outcomes) / 1000
        usage = [p.usage() for p in procs]
        jit = _jit(run.kind, procs) - ready_jit
        result = Result(
            run,
            run.spec.events,
            finished - started,
            cpu_s=sum(u[0] for u in usage),
            peak_rss=max(u[1] for u in usage),
            data_bytes=sum(disk_usage(workdir / f"{prefix}data-{i}") for i in range(run.workers)),
            broker_cpu_s=broker.cpu_s() - broker_cpu,
            ready_cpu_s=ready_cpu,
            jit_cpu_s=jit,
        )
        if emulator:
            after = emulator.stats()
            result.requests = after["requests"] - before.get("requests", 0)
            result.rejected_frequency = after.get("rejected_frequency", 0)
            result.emulator_cpu_s = Process("emulator", emulator.proc, Path()).usage()[0]
        if run.kind in OUTCOME_KINDS:
            docs = [doc for _, doc in outcomes]
            result.lower_bound = lower_bound(docs)
            result.applied = sum(1 for d in docs if d["status"] == "applied")
        if outcomes:
            published = asyncio.run(_timestamps(bootstrap, f"{prefix}changes", run.spec.events))
            result.latencies_ms = [
                ts - published[(d["source"]["partition"], d["source"]["offset"])]
                for ts, d in outcomes
                if (d["source"]["partition"], d["source"]["offset"]) in published
            ]
        return result
    finally:
        for p in procs:
            terminate(p.proc, timeout_s=15)
        if emulator:
            terminate(emulator.proc, timeout_s=10)


def start_process(kind: str, env: dict[str, str], log: Path) -> Process:
    """Start a ``pipeline`` worker, the Kafka Streams ``peer`` or a baseline, logging to ``log``."""
    if kind == "pipeline":
        args = [sys.executable, "-m", "streams", "worker"]
    elif kind == "peer":
        classpath = f"{PEER_DIR / 'target' / 'classes'}:{PEER_DIR / 'target' / 'lib' / '*'}"
        args = ["java", *PEER_JVM, "-cp", classpath, "streams.peer.Peer"]
    else:
        args = [sys.executable, "-m", "bench.baselines", kind]
    return Process(kind, _spawn(args, env, log), log)


#: A group of several workers counts as settled once their partitions stood still this long.
GROUP_STILL_S = 2.0
_OWNING = re.compile(r"owning (\d+) partitions")


def _wait_ready(procs: Sequence[Process], partitions: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    for p in procs:
        while not READY[p.kind].search(p.text()):
            if p.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{p.kind} did not become ready:\n{p.text()[-3000:]}")
            time.sleep(0.1)
    if len(procs) < 2 or procs[0].kind != "pipeline":
        time.sleep(0.2)
        return
    # Several workers: each logs "owning N partitions" at every assignment. On Kafka the
    # group's timings are production's (a member learns of a rebalance at its next heartbeat,
    # 3 s), so when the last worker logs its first share another may still hold an earlier,
    # larger one (or rebalance again): the run starts once the workers' latest counts add up
    # to the partitions and stood still.
    last: list[str] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = [(_OWNING.findall(p.text()) or ["0"])[-1] for p in procs]
        if counts != last:
            last, still_since = counts, time.monotonic()
        elif (
            sum(map(int, counts)) == partitions and time.monotonic() - still_since >= GROUP_STILL_S
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the group did not settle: owning {last} of {partitions} partitions")


def _wait_done(procs: Sequence[Process], expect: int, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            found = DONE.search(p.text())
            if found and int(found.group(1)) >= expect:
                return float(found.group(2))
        time.sleep(0.05)
    raise RuntimeError("baseline did not finish")


#: How often the harness looks at the outcome topic's end offsets while the run goes on, and
#: for how long they must stand still before it reads anyway.
SETTLE_POLL_S = 0.25
SETTLE_STILL_S = 2.0


async def _settled(bootstrap: str, topic: str, expect: int) -> None:
    """Return once ``topic`` holds ``expect`` records or its end offsets stop moving.

    Reading outcomes while the run goes on cost the harness ~4.5 CPU s per 200k events on the
    two cores the worker shares, which the consume-only floor (nothing to read back) never paid.
    End offsets are cheap to ask for. Apache Kafka lists the true log end, so the wait ends as
    the last outcome lands; Tansu lists the last batch's base offset + 1
    (``streams.engine.tansu``), so there the last batch never shows: offsets standing still for
    ``SETTLE_STILL_S`` end the wait too, and reading then goes on until every outcome is in.
    The measured end is the outcome records' own timestamps, so waiting does not change it.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # metadata, so the topic's partitions are known
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        last, moved = -1, time.monotonic()
        while tps and time.monotonic() - moved < SETTLE_STILL_S:
            total = sum((await consumer.end_offsets(tps)).values())
            if total >= expect:
                return
            if total != last:
                last, moved = total, time.monotonic()
            await asyncio.sleep(SETTLE_POLL_S)
    finally:
        await consumer.stop()


async def _outcomes(bootstrap: str, topic: str, expect: int) -> list[tuple[int, dict[str, Any]]]:
    """First outcome per source position, with its record timestamp (ms), read after the run."""
    await _settled(bootstrap, topic, expect)
    seen: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}
    async for record in consume(bootstrap, topic, idle_s=60.0):
        doc = orjson.loads(record.value)
        seen.setdefault(
            (doc["source"]["partition"], doc["source"]["offset"]), (record.timestamp, doc)
        )
        if len(seen) >= expect:
            break
    if len(seen) < expect:
        raise RuntimeError(f"only {len(seen)} of {expect} outcomes arrived")
    return list(seen.values())


async def _timestamps(bootstrap: str, topic: str, expect: int) -> dict[tuple[int, int], int]:
    stamps: dict[tuple[int, int], int] = {}
    async for record in consume(bootstrap, topic, idle_s=5.0):
        stamps[(record.partition, record.offset)] = record.timestamp
        if len(stamps) >= expect:
            break
    return stamps
