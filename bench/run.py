"""``python -m bench.run [--quick] [--only main|rate|rocksdb] [--broker kafka|tansu]``: every
scenario with its baselines, in one invocation, on one broker.

The broker is one single-node Apache Kafka (``--broker kafka``, the default: what production
runs, started here for the invocation, ``bench.brokers``) or the embedded Tansu
(``--broker tansu``: what ``streams demo`` runs). The ceiling (a plain aiokafka loop), the
floors (stock Faust), the naive agent and the pipeline all run on that broker, in that run.

Writes ``bench/RESULTS.md``: one marked section per (scenarios, broker), each naming its broker
and version, Apache Kafka's first, then Tansu's, then the profile notes. A run rewrites only
the sections of its own broker and scenarios and keeps the others: ``--only main`` runs (a) to
(e) (ratios, table, parameters and machine); ``--only peer`` the pipeline beside the Kafka
Streams peer (``bench/peers``, Apache Kafka only), without a quota and under the 200/s one;
``--only rate`` scenarios (f), (g), (h), the shared IM quota (``bench.rate``), and redraws
their plots in ``bench/plots``; ``--only rocksdb`` scenario (i) (``bench.rocksdb``). Without
``--only`` all four, in that order.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench import rate as shared_quota
from bench import rocksdb
from bench.brokers import KAFKA, KINDS, TANSU, Broker, broker_name, broker_setup, running
from bench.harness import PEER_DIR, PEER_JVM, Result, Run, Section, command, measure, sections
from streams_devkit.workload import LoadSpec

RESULTS = Path(__file__).with_name("RESULTS.md")
#: Hand-written profile notes (before/after figures), appended to every report.
PROFILE = Path(__file__).with_name("PROFILE.md")
#: Scenarios (a) to (e)'s section, per broker.
MAIN = sections("main")
#: The Kafka Streams peer's section (Apache Kafka only: its Tansu marker stays unused).
PEER = sections("peer")
#: Every section of RESULTS.md in the file's order: Apache Kafka's, then Tansu's.
ORDER: tuple[Section, ...] = tuple(
    group[kind] for kind in KINDS for group in (MAIN, PEER, rocksdb.SECTIONS, shared_quota.SECTIONS)
)
TITLE = "# Benchmark results"
INTRO = (
    "Written by `python -m bench.run` (bench/run.py). Each section names the broker it ran on: "
    f"{broker_name(KAFKA)} first (the default and what production runs; one single-node "
    "cluster per invocation, the ceiling, the floors and the pipeline on it), then the embedded "
    f"Tansu (`--broker {TANSU}`, what `streams demo` runs), kept for demo users. A run rewrites "
    "only its own broker's sections of the scenarios it ran; the profile notes at the end are "
    "hand-written (bench/PROFILE.md)."
)
#: Scenarios (a), (b), (d), (e) measure the pipeline itself: the app-wide budget is lifted
#: there and the emulator's frequency limit (the service's 200/s by default) turned off;
#: scenario (c) applies the real 200/s.
UNLIMITED = {"STREAMS_RATE_LIMIT": "100000"}
NO_IM_LIMIT = {"rate_limit": 0}


@dataclass(frozen=True)
class Sizes:
    """Event counts of (a) to (e): quick (about 4 minutes on Kafka, its warm-up included, at a
    load average of 3-7 on two cores) or full (about 15-20 minutes on a quiet machine)."""

    #: Interleaved (floor, pipeline) pairs of scenario (a); its ratio is the median pair's.
    pairs: int
    a: int
    b_naive: int
    c: int
    d: int
    e: tuple[int, int]


QUICK = Sizes(pairs=1, a=30_000, b_naive=300, c=3_000, d=30_000, e=(20_000, 100_000))
FULL = Sizes(pairs=3, a=200_000, b_naive=1_000, c=20_000, d=200_000, e=(100_000, 1_000_000))
BASE = LoadSpec(events=0, users=1_000, conversations=10_000, skew=1.0, repeat_share=0.2)


def scenarios(sizes: Sizes) -> list[tuple[str, Run]]:
    """(label, run) in execution order; labels are what the report refers to."""
    a = replace(BASE, events=sizes.a)
    # (c): many users, few updates each, so the workload needs more requests than the budget.
    c = replace(BASE, events=sizes.c, users=sizes.c, conversations=sizes.c, skew=0.0)
    return [
        ("a: ceiling (aiokafka loop)", Run("ceiling", a)),
        ("a: Faust floor, the worker's tunings", Run("floor-tuned", a)),
        (FLOOR, Run("floor", a)),
        (
            "a: pipeline, emulator latency 0",
            Run("pipeline", a, env=UNLIMITED, emulator_knobs=NO_IM_LIMIT),
        ),
        (
            "b: naive agent, latency 20 ms",
            Run(
                "naive",
                replace(a, events=sizes.b_naive),
                emulator_knobs=NO_IM_LIMIT | {"latency_ms": 20},
            ),
        ),
        (
            "b: pipeline, latency 20 ms",
            Run("pipeline", a, env=UNLIMITED, emulator_knobs=NO_IM_LIMIT | {"latency_ms": 20}),
        ),
        ("c: pipeline, limit 200/s", Run("pipeline", c, emulator_knobs={"rate_limit": 200})),
        (
            "d: pipeline, 1 worker, 8 partitions",
            Run(
                "pipeline",
                replace(a, events=sizes.d),
                partitions=8,
                env=UNLIMITED,
                emulator_knobs=NO_IM_LIMIT,
            ),
        ),
        (
            "d: pipeline, 2 workers, 8 partitions",
            Run(
                "pipeline",
                replace(a, events=sizes.d),
                partitions=8,
                workers=2,
                env=UNLIMITED,
                emulator_knobs=NO_IM_LIMIT,
            ),
        ),
        (
            f"e: pipeline, N={sizes.e[0]}",
            Run(
                "pipeline", replace(a, events=sizes.e[0]), env=UNLIMITED, emulator_knobs=NO_IM_LIMIT
            ),
        ),
        (
            f"e: pipeline, N={sizes.e[1]}",
            Run(
                "pipeline", replace(a, events=sizes.e[1]), env=UNLIMITED, emulator_knobs=NO_IM_LIMIT
            ),
        ),
    ]


FLOOR = "a: Faust floor (consume only)"
PIPELINE_A = "a: pipeline, emulator latency 0"
HALF_RATE = "a: pipeline at half that rate (latency)"


@dataclass(frozen=True)
class PeerSizes:
    """Events of the peer comparison: without a quota, and under the 200/s quota."""

    unlimited: int
    quota: int


PEER_QUICK = PeerSizes(unlimited=30_000, quota=10_000)
PEER_FULL = PeerSizes(unlimited=200_000, quota=30_000)
PEER_LABEL = "Kafka Streams peer"


def peer_scenarios(sizes: PeerSizes) -> list[tuple[str, Run]]:
    """(label, run) pairs, the pipeline first, each pair back to back on the same workload
    (scenario (a)'s: 1,000 users, 10,000 Zipf-skewed conversations)."""
    unlimited = replace(BASE, events=sizes.unlimited)
    quota = replace(BASE, events=sizes.quota)
    return [
        (
            f"no quota: {kind_label}",
            Run(kind, unlimited, env=UNLIMITED, emulator_knobs=NO_IM_LIMIT),
        )
        for kind, kind_label in (("pipeline", "pipeline"), ("peer", PEER_LABEL))
    ] + [
        (f"200/s quota: {kind_label}", Run(kind, quota, emulator_knobs={"rate_limit": 200}))
        for kind, kind_label in (("pipeline", "pipeline"), ("peer", PEER_LABEL))
    ]


def kafka_streams_version() -> str:
    """The kafka-streams version the peer's pom.xml pins."""
    found = re.search(r"<kafka\.version>([^<]+)<", (PEER_DIR / "pom.xml").read_text())
    return found.group(1) if found else "unknown"


def _load_sentence(load: tuple[float, float, float] | None) -> str:
    """The machine's load when a run started, for the reader to judge its figures by."""
    if not load:
        return ""
    one, five, fifteen = load
    return f" Load average at the start {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)."


def _ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}x" if y else "n/a"


def median_pair(pairs: list[tuple[Result, Result]]) -> tuple[Result, Result]:
    """The (floor, pipeline) pair with the median throughput ratio (the upper one of two)."""
    ranked = sorted(pairs, key=lambda pair: pair[1].events_per_s / pair[0].events_per_s)
    return ranked[len(ranked) // 2]


def java_version() -> str:
    """The Java runtime's version line (what runs Apache Kafka), or "unknown"."""
    java = shutil.which("java")
    if java is None:
        return "unknown"
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    lines = (done.stderr or done.stdout).splitlines()
    return lines[1].strip() if len(lines) > 1 else (lines[0].strip() if lines else "unknown")


def report(
    results: dict[str, Result],
    sizes: Sizes,
    mode: str,
    pairs: list[tuple[Result, Result]],
    broker: str = KAFKA,
    load: tuple[float, float, float] | None = None,
) -> str:
    """Scenarios (a) to (e)'s section on ``broker`` (its kind); ``results`` holds the median
    pair of scenario (a)."""
    r = results
    pipe_a = r[PIPELINE_A]
    half = r[HALF_RATE]
    half_p99 = half.percentile(0.99) or 0.0
    pipe_b = r["b: pipeline, latency 20 ms"]
    naive = r["b: naive agent, latency 20 ms"]
    limited = r["c: pipeline, limit 200/s"]
    one, two = r["d: pipeline, 1 worker, 8 partitions"], r["d: pipeline, 2 workers, 8 partitions"]
    small, big = r[f"e: pipeline, N={sizes.e[0]}"], r[f"e: pipeline, N={sizes.e[1]}"]
    every = [*r.values(), *(pipeline for _, pipeline in pairs)]
    worst = max((x.requests / x.lower_bound for x in every if x.lower_bound), default=0.0)
    floor = r[FLOOR].events_per_s
    floor_tuned = r["a: Faust floor, the worker's tunings"].events_per_s
    ceiling = r["a: ceiling (aiokafka loop)"].events_per_s
    used = limited.requests / limited.seconds
    ratios = [
        (
            (
                f"(a) pipeline / Faust floor, the median of {len(pairs)} interleaved pairs ("
                if len(pairs) > 1
                else "(a) pipeline / Faust floor, one pair ("
            )
            + ", ".join(_ratio(p.events_per_s, f.events_per_s) for f, p in pairs)
            + ")",
            _ratio(pipe_a.events_per_s, floor),
            ">= 1.0x",
        ),
        (
            "(a) pipeline / Faust floor with the worker's tunings",
            _ratio(pipe_a.events_per_s, floor_tuned),
            "reference: the same loop, consumer and settings",
        ),
        ("(a) pipeline / ceiling", _ratio(pipe_a.events_per_s, ceiling), "toward 0.4x"),
        (
            "(b) pipeline / naive at 20 ms",
            _ratio(pipe_b.events_per_s, naive.events_per_s),
            ">= 100x",
        ),
        (
            "p99 latency at half the maximum rate",
            f"{half_p99:.0f} ms",
            f"<= window + 250 = {half.run.window_ms + 250} ms",
        ),
        ("(c) requests/s of the 200/s budget", f"{used:.0f} ({used / 2:.0f} %)", ">= 90 %"),
        ("(c) frequency-limit rejections", str(limited.rejected_frequency), "0"),
        ("SDK requests / lower bound, worst scenario", f"{worst:.2f}", "<= 1.1"),
        (
            "(d) 2 workers / 1 worker",
            _ratio(two.events_per_s, one.events_per_s),
            ">= 1.6x where the machine allows",
        ),
        (
            f"(e) peak RSS N={sizes.e[1]} / N={sizes.e[0]}",
            _ratio(big.peak_rss, small.peak_rss),
            "<= 1.2x",
        ),
    ]
    loaded = _load_sentence(load)
    lines = [
        MAIN[broker].begin,
        f"## Scenarios (a) to (e) on {broker_name(broker)}",
        "",
        f"{command(mode, broker)} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on "
        f"{broker_setup(broker)}. All processes (the broker, emulator, workers, publisher, "
        f"consumer) share this machine.{loaded}",
        "",
        "### Ratios (targets in brackets)",
        "",
        *(f"* {name}: **{value}** [{target}]" for name, value, target in ratios),
        "",
        "### Per scenario",
        "",
        "| scenario | events | events/s | SDK requests | lower bound | applied per request "
        "| p50 ms | p99 ms | worker CPU s / 10k events | emulator CPU s | broker CPU s "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, x in results.items():
        per_req = f"{x.applied / x.requests:.1f}" if x.requests and x.applied else "-"
        p50, p99 = x.percentile(0.5), x.percentile(0.99)
        lines.append(
            f"| {label} | {x.events} | {x.events_per_s:,.0f} | {x.requests or '-'} | "
            f"{x.lower_bound or '-'} | {per_req} | {'-' if p50 is None else f'{p50:.0f}'} | "
            f"{'-' if p99 is None else f'{p99:.0f}'} | {x.cpu_s / x.events * 10_000:.2f} | "
            f"{x.emulator_cpu_s:.1f} | {x.broker_cpu_s:.1f} | {x.peak_rss / 2**20:.0f} |"
        )
    lines += [
        "",
        "### Parameters",
        "",
        *(
            f"* {label}: {x.run.spec.describe()}, partitions={x.run.partitions}, "
            f"workers={x.run.workers}, window={x.run.window_ms} ms, "
            f"emulator={x.run.emulator_knobs or '{}'}, env={x.run.env or '{}'}"
            for label, x in results.items()
        ),
        "",
        "### Machine",
        "",
        f"* {platform.platform()}, Python {platform.python_version()}, "
        f"{len(os.sched_getaffinity(0))} CPUs",
        f"* faust-streaming {version('faust-streaming')}, aiokafka {version('aiokafka')}, "
        f"aiohttp {version('aiohttp')}, httptools {version('httptools')}, "
        f"orjson {version('orjson')}",
        f"* broker: {broker_name(broker)}" + (f", on {java_version()}" if broker == KAFKA else ""),
        MAIN[broker].end,
    ]
    return "\n".join(lines)


def peer_report(
    results: dict[str, Result],
    mode: str,
    load: tuple[float, float, float] | None = None,
) -> str:
    """The peer's section: the pipeline against the Kafka Streams peer, same broker, emulator
    settings and workload, without a quota and under the 200/s quota."""
    rows = [
        (scope, results[f"{scope}: pipeline"], results[f"{scope}: {PEER_LABEL}"])
        for scope in ("no quota", "200/s quota")
    ]

    def per_change(x: Result) -> float:
        return x.requests / x.events if x.events else 0.0

    def cpu(x: Result, *, steady: bool = False) -> float:
        spent = x.cpu_s - x.ready_cpu_s - x.jit_cpu_s if steady else x.cpu_s
        return spent / x.events * 10_000

    ratios = []
    for scope, pipe, peer in rows:
        p99_pipe, p99_peer = pipe.percentile(0.99) or 0.0, peer.percentile(0.99) or 0.0
        goal = scope != "no quota"
        ratios += [
            (f"{scope}: events/s", _ratio(pipe.events_per_s, peer.events_per_s), "as it is"),
            (
                f"{scope}: applied changes/s",
                _ratio(pipe.applied_per_s, peer.applied_per_s),
                ">= 1.0x" if goal else "as it is",
            ),
            (
                f"{scope}: IM requests per change",
                _ratio(per_change(pipe), per_change(peer)),
                "<= 1.0x" if goal else "as it is",
            ),
            (f"{scope}: CPU s per 10k events", _ratio(cpu(pipe), cpu(peer)), "as it is"),
            (
                f"{scope}: CPU s per 10k events after start-up, less the peer's JIT",
                _ratio(cpu(pipe, steady=True), cpu(peer, steady=True)),
                "as it is",
            ),
            (f"{scope}: p99 latency", _ratio(p99_pipe, p99_peer), "as it is"),
            (f"{scope}: peak RSS", _ratio(pipe.peak_rss, peer.peak_rss), "as it is"),
        ]
    loaded = _load_sentence(load)
    lines = [
        PEER[KAFKA].begin,
        f"## The pipeline beside a Kafka Streams peer on {broker_name(KAFKA)}",
        "",
        f"{command(mode, KAFKA, 'peer')} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on "
        f"{broker_setup(KAFKA)}. The peer (bench/peers/README.md: Kafka Streams "
        f"{kafka_streams_version()}, Processor API, RocksDB stores, java.net.http, a token "
        f"bucket) and the pipeline each ran once per row, back to back, on the same broker, "
        "workload and emulator settings; each row has its own emulator. All processes share "
        f"this machine.{loaded}",
        "",
        "### Ratios, pipeline / peer (goals in brackets)",
        "",
        *(f"* {name}: **{value}** [{target}]" for name, value, target in ratios),
        "",
        "### Per run",
        "",
        "| run | events | events/s | applied/s | IM requests | IM requests/s "
        "| requests per change | frequency-limit rejections | p50 ms | p99 ms "
        "| CPU s / 10k events | start-up CPU s | JIT CPU s after start-up | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, x in results.items():
        p50, p99 = x.percentile(0.5), x.percentile(0.99)
        lines.append(
            f"| {label} | {x.events} | {x.events_per_s:,.0f} | {x.applied_per_s:,.0f} | "
            f"{x.requests} | {x.requests / x.seconds:.0f} | {per_change(x):.3f} | "
            f"{x.rejected_frequency} | {'-' if p50 is None else f'{p50:.0f}'} | "
            f"{'-' if p99 is None else f'{p99:.0f}'} | {cpu(x):.2f} | {x.ready_cpu_s:.1f} | "
            f"{f'{x.jit_cpu_s:.1f}' if x.run.kind == 'peer' else '-'} | "
            f"{x.peak_rss / 2**20:.0f} |"
        )
    lines += [
        "",
        "CPU counts each process from its start: the start-up column is what it had spent when "
        "it was ready (Python's imports; the JVM's start, class loading and first JIT), paid "
        "once per run and so a larger share of a short run. The JIT column is what the peer's "
        "C1 and C2 compiler threads spent after that, compiling the hot paths as the load "
        "came: a warm-up cost that a long-running JVM pays once. Under the quota a run is "
        "bound by it only while its IM requests/s reach 200; below that the machine bound it.",
        "",
        "### Parameters",
        "",
        *(
            f"* {label}: {x.run.spec.describe()}, partitions={x.run.partitions}, "
            f"window={x.run.window_ms} ms, emulator={x.run.emulator_knobs or '{}'}, "
            f"env={x.run.env or '{}'}"
            for label, x in results.items()
        ),
        f"* peer JVM: {java_version()}, {' '.join(PEER_JVM)}",
        PEER[KAFKA].end,
    ]
    return "\n".join(lines)


def run_peer(sizes: PeerSizes, broker: Broker, workdir: Path) -> dict[str, Result]:
    """The peer comparison's runs, in order."""
    results: dict[str, Result] = {}
    for label, run in peer_scenarios(sizes):
        print(f"running {label} ({run.spec.events} events)...", flush=True)
        results[label] = result = measure(run, broker, workdir)
        print(
            f"  {result.events_per_s:,.0f} events/s, {result.applied_per_s:,.0f} applied/s, "
            f"{result.requests} requests",
            flush=True,
        )
    return results


def run_rocksdb(sizes: rocksdb.Sizes, broker: Broker, workdir: Path, mode: str, plots: Path) -> str:
    """Scenario (i): interleaved memory/rocksdb flood pairs, then recovery (plotted); its
    section."""
    load = os.getloadavg()
    started = datetime.now(UTC)
    pairs: list[tuple[Result, Result]] = []
    for _ in range(sizes.pairs):
        pair = []
        for label, run in rocksdb.flood_runs(sizes):
            print(f"running {label} ({run.spec.events} events)...", flush=True)
            result = measure(run, broker, workdir)
            print(f"  {result.events_per_s:,.0f} events/s", flush=True)
            pair.append(result)
        pairs.append((pair[0], pair[1]))
    recovered = rocksdb.recovery(broker, workdir, sizes, log=lambda m: print(m, flush=True))
    rocksdb.plot(recovered, plots / rocksdb.plot_name(broker.kind))
    return rocksdb.section(
        pairs, recovered, mode=mode, load=load, started=started, broker=broker.kind
    )


def compose(previous: str, new: Mapping[Section, str]) -> str:
    """RESULTS.md from scratch: the title, every section in ``ORDER`` (the ``new`` text where
    given, else the one in ``previous``, else left out), the profile notes."""
    parts = [TITLE, INTRO]
    for section in ORDER:
        text = new.get(section) or section.extract(previous)
        if text:
            parts.append(text)
    return "\n\n".join([*parts, PROFILE.read_text(encoding="utf-8")])


def main() -> None:
    """Run the scenarios on one broker and write their sections of bench/RESULTS.md (or --out)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: about 20 minutes for all (4 for main, 4 peer, 10 rate, 2 rocksdb)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        choices=["main", "peer", "rate", "rocksdb"],
        help=(
            "run only (a) to (e), the Kafka Streams peer, (f) to (h) or (i), and rewrite only "
            "their section of --out"
        ),
    )
    parser.add_argument(
        "--broker",
        choices=KINDS,
        default=KAFKA,
        help="Apache Kafka, started for this run (default), or the embedded Tansu (the demo's)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    rocks_sizes = rocksdb.QUICK if args.quick else rocksdb.FULL
    rate_sizes = shared_quota.QUICK if args.quick else shared_quota.FULL
    peer_sizes = PEER_QUICK if args.quick else PEER_FULL

    def write(section: Section, new: str) -> None:
        """Put ``new`` into --out at once, so a later scenario failing loses nothing."""
        previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        args.out.write_text(compose(previous, {section: new}), encoding="utf-8")
        print(new, flush=True)

    with running(args.broker) as broker, tempfile.TemporaryDirectory() as tmp:
        print(f"broker: {broker.name} on {broker.bootstrap}", flush=True)
        workdir = Path(tmp)
        warm_up(broker, workdir)
        if args.only in (None, "main"):
            load = os.getloadavg()
            results, pairs = run_main(sizes, broker, workdir)
            write(MAIN[broker.kind], report(results, sizes, mode, pairs, broker.kind, load))
        if args.only in (None, "peer"):
            if broker.kind == KAFKA:
                load = os.getloadavg()
                write(PEER[KAFKA], peer_report(run_peer(peer_sizes, broker, workdir), mode, load))
            else:
                print("the Kafka Streams peer runs on Apache Kafka only: skipped", flush=True)
        # The plots beside --out: the sections link them as plots/*.png.
        plots = args.out.parent / "plots"
        if args.only in (None, "rate"):
            shared = shared_quota.run_all(rate_sizes, broker, workdir, mode, plots=plots)
            write(shared_quota.SECTIONS[broker.kind], shared)
        if args.only in (None, "rocksdb"):
            # Last in a full run: its million seeded records stay in the broker.
            rocks = run_rocksdb(rocks_sizes, broker, workdir, mode, plots)
            write(rocksdb.SECTIONS[broker.kind], rocks)


#: Events of each throwaway run that warms the broker up before anything is measured, and at
#: most how many such runs.
WARM_UP_EVENTS = 30_000
WARM_UP_RUNS = 4


def warm_up(broker: Broker, workdir: Path) -> None:
    """Unmeasured runs on throwaway topics: the ceiling until the broker's CPU for one stops
    falling, then one pipeline flood.

    A fresh Kafka JVM interprets its code until the JIT has compiled the hot paths, on the
    cores the scenarios share: in a quick run without warm-up the first scenario (the ceiling)
    cost the broker twice the CPU of the pipeline's flood after it (8.2 against 4.0 s for the
    same 30k events in and out) and came out below the floors; successive 30k-event ceiling
    runs cost it 4.7-7.0, 2.8-3.4, 2.2-2.3 and 1.3-2.2 s. The first pipeline run after those
    still cost the broker about twice what later ones did (3.9-4.4 s against 1.7-2.2 s for the
    same 30k events: the worker's paths, its table's compacted changelog, Faust's producer),
    so one goes first too. Tansu is native code: no warm-up.
    """
    if broker.kind != KAFKA:
        return
    spec = replace(BASE, events=WARM_UP_EVENTS)
    previous = None
    for index in range(1, WARM_UP_RUNS + 1):
        print(
            f"warming up {broker.name}: ceiling, run {index} ({spec.events} events)...", flush=True
        )
        cpu = measure(Run("ceiling", spec), broker, workdir).broker_cpu_s
        print(f"  broker CPU {cpu:.1f} s", flush=True)
        if previous is not None and cpu > 0.8 * previous:
            break
        previous = cpu
    print(f"warming up {broker.name}: pipeline ({spec.events} events)...", flush=True)
    run = Run("pipeline", spec, env=UNLIMITED, emulator_knobs=NO_IM_LIMIT)
    print(f"  broker CPU {measure(run, broker, workdir).broker_cpu_s:.1f} s", flush=True)


def run_main(
    sizes: Sizes, broker: Broker, workdir: Path
) -> tuple[dict[str, Result], list[tuple[Result, Result]]]:
    """Scenarios (a) to (e) with their baselines: the results (scenario (a)'s median pair) and
    every (floor, pipeline) pair of (a)."""
    results: dict[str, Result] = {}
    pairs: list[tuple[Result, Result]] = []

    def run_one(label: str, run: Run) -> Result:
        print(f"running {label} ({run.spec.events} events)...", flush=True)
        results[label] = result = measure(run, broker, workdir)
        p99 = result.percentile(0.99)
        print(
            f"  {result.events_per_s:,.0f} events/s, {result.requests} requests"
            + (f", p99 {p99:.0f} ms" if p99 is not None else "")
            + f", broker CPU {result.broker_cpu_s:.1f} s",
            flush=True,
        )
        return result

    plan = scenarios(sizes)
    for label, run in plan:
        run_one(label, run)
        if label == PIPELINE_A:
            # The machine's speed drifts by more than the gap being measured: the floor and
            # the pipeline run back to back, several times, and the median pair counts.
            pairs.append((results[FLOOR], results[PIPELINE_A]))
            floor_run = dict(plan)[FLOOR]
            for _ in range(sizes.pairs - 1):
                pairs.append((run_one(FLOOR, floor_run), run_one(PIPELINE_A, run)))
            results[FLOOR], results[PIPELINE_A] = median_pair(pairs)
            # Latency is judged at half the measured maximum rate, not under a flood.
            rate = results[PIPELINE_A].events_per_s / 2
            half = replace(run, rate=rate)
            if broker.kind == KAFKA:
                # An unmeasured paced run first: on Apache Kafka the first paced run after the
                # floods was the worst of every series (slow produce acknowledgements, windows
                # stretched to 1.8 s; bench/PROFILE.md, "Latency at half rate on Apache Kafka").
                warm = replace(half, spec=replace(half.spec, events=WARM_UP_EVENTS))
                print(f"warming up the paced path ({WARM_UP_EVENTS} events)...", flush=True)
                measure(warm, broker, workdir)
            run_one(HALF_RATE, half)
    return results, pairs


if __name__ == "__main__":
    main()
