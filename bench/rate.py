"""Scenarios (f), (g), (h): workers sharing the IM quota (issue 18), fixed against adaptive.

The emulator limits requests like the service, per fixed 1-second bucket of its clock. Each run
publishes a paced stream of changes whose every event is its own user (one request per event:
nothing coalesces), so the demand in requests per second is the publishing rate and stays above
the quota for the whole run. Every run is made twice in one invocation, with
``STREAMS_RATE_CONTROL=fixed`` and ``adaptive``:

* (f) skew: 4 workers, 8 partitions, a budget equal to the quota; once the group has settled,
  the two partitions of one worker carry 70 % of the events, the other six 5 % each.
* (g) a misconfigured budget: ``STREAMS_RATE_LIMIT`` five times the quota, 2 workers.
* (h) the quota halved, then restored, through the emulator's live knobs: 4 workers.

Per second and per worker, from the emulator's request log (``GET /debug/requests``: time,
code and From_Account of every call, 60007s included; each user is mapped to its partition by
``partition_for`` and to its worker by the assignment read from the workers' logs): requests
sent, accepted and answered 60007. Each worker's ``/metrics`` (its own ``STREAMS_WEB_PORT``)
is scraped every second for ``streams_im_rate_limit``; its request counters move only when a
window ends (a budget-bound window lasts minutes), so they serve as a cross-check at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.brokers import KAFKA, Broker, broker_name, broker_setup
from bench.harness import Emulator, Process, _spawn, command, sections, start_emulator, worker_env
from streams.contract.limits import REQUESTS_PER_SECOND
from streams.core.partitioning import partition_for
from streams.core.rate_control import RateControl
from streams.sdk import codes
from streams_devkit.broker import create_topics, free_port, terminate
from streams_devkit.kafka_io import publish_stream

#: The section's markers per broker; SECTION, BEGIN and END are Apache Kafka's.
SECTIONS = sections("rate")
SECTION = SECTIONS[KAFKA]
BEGIN, END = SECTION.begin, SECTION.end
PLOTS = Path(__file__).with_name("plots")
QUOTA = REQUESTS_PER_SECOND
#: The request-level codes of a frequency limit (the worker's own list).
FREQUENCY_CODES = codes.FREQUENCY_LIMIT_CODES
#: Figures count from this second of the demand on (slow start and the first cuts before).
SKIP_S = 10
#: Converged once no later second had more than this share of the quota answered 60007 (the
#: simulation's definition, tests/core/test_rate_control.py).
CONVERGED_REJECTED = 0.1
#: Settled after a quota rise once the accepted requests of this many seconds average 90 %.
SETTLE_SPAN_S = 5
_ASSIGNED = re.compile(r"Setting newly assigned partitions \{(.*)\} for group")
_TP = re.compile(r"TopicPartition\(topic='([^']+)', partition=(\d+)\)")
_OWNING = re.compile(r"owning (\d+) partitions")
CONTROLS = (RateControl.FIXED, RateControl.ADAPTIVE)


@dataclass(frozen=True)
class Scenario:
    """One shared-quota configuration."""

    key: str
    title: str
    workers: int
    partitions: int
    #: STREAMS_RATE_LIMIT.
    budget: float
    #: Events (= requests) per second published.
    demand: float
    duration_s: float
    #: Share of the events on the first worker's partitions (None: uniform over partitions).
    hot_share: float | None = None
    #: (second, emulator limit) changes after the start, through POST /debug/knobs.
    quota_steps: tuple[tuple[float, int], ...] = ()
    #: Seconds of demand published at once before the paced stream: a backlog from the start,
    #: so the workers send at their own rate limits at once (a restart after an outage).
    prefill_s: float = 0.0

    def quota(self, second: float) -> int:
        """The emulator's limit in force at ``second`` of the demand."""
        limit = QUOTA
        for at, value in self.quota_steps:
            if second >= at:
                limit = value
        return limit


@dataclass(frozen=True)
class Sizes:
    """Run lengths: quick (about 10 minutes for the three on Kafka: every run also starts its
    workers, waits for the group to settle and stops them) or full (about 16)."""

    skew_s: float
    budget_s: float
    #: Length of each of (h)'s three phases: the quota, its half, the quota again.
    phase_s: float


QUICK = Sizes(skew_s=35, budget_s=35, phase_s=20)
FULL = Sizes(skew_s=75, budget_s=75, phase_s=35)


def scenarios(sizes: Sizes) -> list[Scenario]:
    """(f), (g), (h) at ``sizes``."""
    p = sizes.phase_s
    return [
        Scenario(
            "f",
            "skew: one worker's partitions carry 70 % of the demand",
            workers=4,
            partitions=8,
            budget=QUOTA,
            demand=1.5 * QUOTA,
            duration_s=sizes.skew_s,
            hot_share=0.7,
        ),
        Scenario(
            "g",
            "misconfigured budget: STREAMS_RATE_LIMIT five times the quota",
            workers=2,
            partitions=8,
            budget=5 * QUOTA,
            demand=1.5 * QUOTA,
            duration_s=sizes.budget_s,
            prefill_s=10,
        ),
        Scenario(
            "h",
            "the quota halved, then restored (emulator's live knobs)",
            workers=4,
            partitions=8,
            budget=QUOTA,
            demand=1.5 * QUOTA,
            duration_s=3 * p,
            quota_steps=((p, QUOTA // 2), (2 * p, QUOTA)),
        ),
    ]


# --- the workload ----------------------------------------------------------------------------


def partition_weights(scenario: Scenario, hot: Sequence[int]) -> list[float]:
    """Each partition's share of the events: ``hot`` ones share ``hot_share`` evenly."""
    n = scenario.partitions
    if scenario.hot_share is None or not hot:
        return [1.0 / n] * n
    cold = n - len(hot)
    return [
        scenario.hot_share / len(hot) if p in hot else (1 - scenario.hot_share) / cold
        for p in range(n)
    ]


def events(
    prefix: str, partitions: int, weights: Sequence[float], count: int, seed: int = 18
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` changes, each of its own user (key), spread over partitions by ``weights``."""
    rng = random.Random(seed)  # noqa: S311 (workload shape, not security)
    pools: dict[int, list[str]] = defaultdict(list)
    candidate = 0
    at = datetime.now(UTC).isoformat()
    for i in range(count):
        partition = rng.choices(range(partitions), weights)[0]
        while not pools[partition]:
            user = f"{prefix}u{candidate}"
            candidate += 1
            pools[partition_for(user.encode(), partitions)].append(user)
        user = pools[partition].pop()
        doc = {
            "event_id": f"{prefix}e{i}",
            "user_id": user,
            "conversation_id": f"c2c_peer-{i % 97}",
            "custom_data": f"rate #{i}",
            "occurred_at": at,
            "source": "bench-rate",
        }
        yield user.encode(), orjson.dumps(doc)


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """One scrape: seconds since the demand started, each worker's streams_im_rate_limit."""

    t: float
    rate_limits: list[float | None]


@dataclass
class RunResult:
    """What one (scenario, control) run recorded."""

    scenario: Scenario
    control: RateControl
    started: float
    #: Worker index -> partitions of the changes topic it owned while the demand ran.
    owned: dict[int, list[int]]
    #: (time, code, user) of every REST call, from the emulator.
    calls: list[tuple[float, int, str | None]]
    samples: list[Sample]
    #: Each worker's final /metrics, summed over labels per sample name.
    final_metrics: list[dict[str, float]]
    published: int
    rebalanced: bool = False
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hot_worker: int | None = None
    per_second: dict[int, list[list[int]]] = field(default_factory=dict)

    def worker_of(self) -> Callable[[str | None], int | None]:
        owner = {p: w for w, parts in self.owned.items() for p in parts}
        n = self.scenario.partitions
        return lambda user: None if user is None else owner.get(partition_for(user.encode(), n))


def seconds_table(result: RunResult) -> dict[int, list[list[int]]]:
    """Second of the demand -> per worker [accepted, rejected] (a last row: unattributed)."""
    workers = result.scenario.workers
    worker_of = result.worker_of()
    table: dict[int, list[list[int]]] = {}
    base = int(result.started)  # the emulator's buckets are whole seconds of its clock
    for at, code, user in result.calls:
        second = int(at) - base
        row = table.setdefault(second, [[0, 0] for _ in range(workers + 1)])
        worker = worker_of(user)
        row[workers if worker is None else worker][1 if code in FREQUENCY_CODES else 0] += 1
    return table


def parse_assignment(log: str, topic: str) -> list[int] | None:
    """Partitions of ``topic`` in the worker's last 'Setting newly assigned partitions'."""
    found = _ASSIGNED.findall(log)
    if not found:
        return None
    return sorted(int(p) for t, p in _TP.findall(found[-1]) if t == topic)


def scrape(port: int) -> dict[str, float]:
    """A worker's /metrics, summed over labels per sample name (code-labelled ones kept too)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
        text = response.read().decode()
    samples: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name.split("{", 1)[0]] += float(value)
            if name.startswith("streams_sdk_requests_total{"):
                samples[name] = float(value)
    return dict(samples)


def _set_quota(emulator: Emulator, limit: int) -> None:
    request = urllib.request.Request(  # noqa: S310 - the emulator's own http URL
        f"{emulator.url}/debug/knobs",
        data=orjson.dumps({"rate_limit": limit}),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass


def _request_log(emulator: Emulator, since: float) -> list[tuple[float, int, str | None]]:
    with urllib.request.urlopen(f"{emulator.url}/debug/requests?since={since}", timeout=30) as r:  # noqa: S310
        lines = r.read().splitlines()
    return [(d["at"], d["code"], d["user"]) for d in map(orjson.loads, lines)]


def _wait_settled(
    procs: Sequence[Process], topic: str, partitions: int, timeout_s: float = 120
) -> dict[int, list[int]]:
    """Each worker's partitions, once every one owns its part and the group stood still 3 s."""
    deadline = time.monotonic() + timeout_s
    want = partitions // len(procs)
    last: dict[int, list[int]] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"a worker exited:\n{p.text()[-3000:]}")
        texts = [p.text() for p in procs]
        owning = [_OWNING.findall(t) for t in texts]
        owned = {i: parse_assignment(t, topic) or [] for i, t in enumerate(texts)}
        complete = all(o and int(o[-1]) == want for o in owning) and sorted(
            p for parts in owned.values() for p in parts
        ) == list(range(partitions))
        if not complete or owned != last:
            last, still_since = owned if complete else None, time.monotonic()
        elif time.monotonic() - still_since >= 3:
            return owned
        time.sleep(0.2)
    raise RuntimeError("the group did not settle: " + repr(last))


def run_one(
    scenario: Scenario,
    control: RateControl,
    broker: Broker,
    workdir: Path,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Start the emulator and the workers, publish the demand, sample, collect; stop all."""
    bootstrap = broker.bootstrap
    prefix = f"r{secrets.token_hex(4)}-"
    changes = f"{prefix}changes"
    topics = {changes: scenario.partitions}
    topics |= {f"{prefix}outcomes": scenario.partitions, f"{prefix}dead-letters": 1}
    asyncio.run(create_topics(bootstrap, topics))
    emulator = start_emulator(workdir, rate_limit=QUOTA)
    env = worker_env(broker, prefix, scenario.partitions, emulator.url) | {
        "STREAMS_WINDOW_MS": "250",
        "STREAMS_RATE_LIMIT": f"{scenario.budget:g}",
        "STREAMS_RATE_CONTROL": control.value,
    }
    procs: list[Process] = []
    ports = [free_port() for _ in range(scenario.workers)]
    try:
        for index, port in enumerate(ports):
            env_i = env | {
                "STREAMS_DATA_DIR": str(workdir / f"{prefix}data-{index}"),
                "STREAMS_WEB_PORT": str(port),
            }
            path = workdir / f"{prefix}worker-{index}.log"
            args = [sys.executable, "-m", "streams", "worker"]
            procs.append(Process("pipeline", _spawn(args, env_i, path), path))
        owned = _wait_settled(procs, changes, scenario.partitions)
        assigned = [p.text().count("Setting newly assigned partitions") for p in procs]
        hot = owned[0] if scenario.hot_share is not None else []
        weights = partition_weights(scenario, hot)
        prefill = int(scenario.demand * scenario.prefill_s)
        count = prefill + int(scenario.demand * scenario.duration_s)
        records = list(events(prefix, scenario.partitions, weights, count))
        log(f"  owned {owned}; publishing {count} events at {scenario.demand:g}/s")
        load = os.getloadavg()
        started = time.time()
        if prefill:
            asyncio.run(publish_stream(bootstrap, changes, records[:prefill]))
            records = records[prefill:]
        publisher = threading.Thread(
            target=lambda: asyncio.run(
                publish_stream(bootstrap, changes, records, rate=scenario.demand)
            ),
            daemon=True,
        )
        publisher.start()
        samples: list[Sample] = []
        steps = list(scenario.quota_steps)
        tick = 0
        while (now := time.time() - started) < scenario.duration_s:
            while steps and now >= steps[0][0]:
                _set_quota(emulator, steps.pop(0)[1])
            limits: list[float | None] = []
            for port in ports:
                try:
                    limits.append(scrape(port).get("streams_im_rate_limit"))
                except OSError:
                    limits.append(None)
            samples.append(Sample(now, limits))
            tick += 1
            time.sleep(max(0.0, started + tick - time.time()))
        publisher.join(timeout=60)
        calls = _request_log(emulator, started)
        final = [scrape(port) for port in ports]
        rebalanced = [
            p.text().count("Setting newly assigned partitions") for p in procs
        ] != assigned
        result = RunResult(
            scenario, control, started, owned, calls, samples, final, count, rebalanced, load
        )
        result.hot_worker = 0 if scenario.hot_share is not None else None
        result.per_second = seconds_table(result)
        return result
    finally:
        for p in procs:
            terminate(p.proc, timeout_s=15)
        terminate(emulator.proc, timeout_s=10)


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Requests of all workers in whole seconds [start, end) of the demand."""

    accepted: int
    rejected: int
    quota: int

    @property
    def used(self) -> float:
        return self.accepted / self.quota if self.quota else 0.0

    @property
    def rejected_share(self) -> float:
        sent = self.accepted + self.rejected
        return self.rejected / sent if sent else 0.0


def span(result: RunResult, start: int, end: int, worker: int | None = None) -> Span:
    """Totals over [start, end) seconds, of one worker or all (the quota is always the app's)."""
    accepted = rejected = 0
    for second in range(start, end):
        rows = result.per_second.get(second)
        if not rows:
            continue
        for index, (a, r) in enumerate(rows):
            if worker is None or index == worker:
                accepted += a
                rejected += r
    quota = sum(result.scenario.quota(s) for s in range(start, end))
    return Span(accepted, rejected, quota)


def end_second(result: RunResult) -> int:
    """The last whole second of the demand (exclusive)."""
    return int(result.scenario.duration_s)


def converged_at(result: RunResult, start: int = 0, end: int | None = None) -> int | None:
    """Seconds after ``start`` until no later second (before ``end``) had more than 10 % of
    its quota answered 60007; None when the last second still had."""
    end = end_second(result) if end is None else end
    late = [
        s
        for s in range(start, end)
        if span(result, s, s + 1).rejected > CONVERGED_REJECTED * result.scenario.quota(s)
    ]
    if late and late[-1] == end - 1:
        return None
    return (late[-1] + 1 - start) if late else 0


def risen_at(result: RunResult, start: int, end: int) -> int | None:
    """Seconds after ``start`` until SETTLE_SPAN_S seconds in a row averaged >= 90 % of the
    quota accepted; None if never before ``end``."""
    for s in range(start, end - SETTLE_SPAN_S + 1):
        if span(result, s, s + SETTLE_SPAN_S).used >= 0.9:
            return s - start
    return None


def settled_at(result: RunResult, start: int, end: int) -> int | None:
    """Seconds after ``start`` until both: SETTLE_SPAN_S seconds averaged >= 90 % of the quota
    accepted, and no later second had more than 10 % of it answered 60007."""
    risen, converged = risen_at(result, start, end), converged_at(result, start, end)
    return None if risen is None or converged is None else max(risen, converged)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _secs(x: int | None, limit: float) -> str:
    return f"> {limit:g} s (not settled)" if x is None else f"{x} s"


@dataclass
class Figures:
    """(label, fixed, adaptive, target) rows of one scenario."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def figures(pair: dict[RateControl, RunResult]) -> Figures:
    """The scenario's rows, fixed against adaptive."""
    out = Figures()
    any_run = next(iter(pair.values()))
    sc = any_run.scenario
    end = end_second(any_run)

    def row(label: str, fn: Callable[[RunResult], str], target: str = "") -> None:
        out.rows.append(
            (label, fn(pair[RateControl.FIXED]), fn(pair[RateControl.ADAPTIVE]), target)
        )

    if sc.key in ("f", "g"):
        row(
            f"quota used, seconds {SKIP_S}-{end}",
            lambda r: _pct(span(r, SKIP_S, end).used),
            ">= 95 %" if sc.key == "f" else ">= 90 %",
        )
        row(
            f"requests answered 60007, seconds {SKIP_S}-{end}",
            lambda r: _pct(span(r, SKIP_S, end).rejected_share),
            "<= 1 %" if sc.key == "f" else "<= 2 %",
        )
        row(f"quota used, seconds 0-{end}", lambda r: _pct(span(r, 0, end).used))
        row(f"answered 60007, seconds 0-{end}", lambda r: _pct(span(r, 0, end).rejected_share))
    if sc.key == "f":
        row(
            f"hot worker's accepted requests/s, seconds {SKIP_S}-{end} (its fixed share "
            f"{QUOTA * 0.98 / sc.workers:.0f}/s, its demand {sc.demand * 0.7:.0f}/s)",
            lambda r: f"{span(r, SKIP_S, end, 0).accepted / (end - SKIP_S):.0f}",
        )
        row(
            f"each cold worker's accepted requests/s (demand {sc.demand * 0.1:.0f}/s each)",
            lambda r: ", ".join(
                f"{span(r, SKIP_S, end, w).accepted / (end - SKIP_S):.0f}"
                for w in range(1, sc.workers)
            ),
        )
    if sc.key == "g":
        row(
            "time to converge (no later second with > 10 % of the quota answered 60007)",
            lambda r: _secs(converged_at(r), end),
            "<= 10 s",
        )
    if sc.key == "h":
        (low_at, _), (high_at, _) = sc.quota_steps
        lo, hi = int(low_at), int(high_at)
        row(f"quota used, seconds {SKIP_S}-{lo} (200/s)", lambda r: _pct(span(r, SKIP_S, lo).used))
        row(
            f"answered 60007, seconds {SKIP_S}-{lo}",
            lambda r: _pct(span(r, SKIP_S, lo).rejected_share),
        )
        row(
            f"halved at {lo} s: time to settle ({SETTLE_SPAN_S} s averaging >= 90 % of the half "
            "accepted, no later second with > 10 % of it answered 60007)",
            lambda r: _secs(settled_at(r, lo, hi), hi - lo),
            "<= 5 s",
        )
        row(
            f"answered 60007 while halved, seconds {lo}-{hi} (requests)",
            lambda r: f"{_pct(span(r, lo, hi).rejected_share)} ({span(r, lo, hi).rejected})",
        )
        row(
            f"quota used while halved, seconds {lo + 5}-{hi}",
            lambda r: _pct(span(r, lo + 5, hi).used),
        )
        row(
            f"restored at {hi} s: time to settle (the same, of the whole quota)",
            lambda r: _secs(settled_at(r, hi, end), end - hi),
            "<= 5 s",
        )
        row(
            f"answered 60007 after the restore, seconds {hi}-{end} (requests)",
            lambda r: f"{_pct(span(r, hi, end).rejected_share)} ({span(r, hi, end).rejected})",
        )
        row(f"quota used, seconds {hi + 10}-{end}", lambda r: _pct(span(r, hi + 10, end).used))

    def paced(r: RunResult) -> str:
        start = SKIP_S if sc.key != "h" else int(sc.quota_steps[-1][0]) + 10
        seconds = end - start
        out = []
        for w in range(sc.workers):
            limits = [x for x in (s.rate_limits[w] for s in r.samples if s.t >= start) if x]
            sent = span(r, start, end, w)
            mean = sum(limits) / len(limits) if limits else 0.0
            out.append(f"{mean:.0f} / {(sent.accepted + sent.rejected) / seconds:.0f}")
        return ", ".join(out)

    row(
        "per worker: mean streams_im_rate_limit / requests sent per second"
        + (f", seconds {SKIP_S}-{end}" if sc.key != "h" else " after the restore"),
        paced,
    )

    def unattributed(r: RunResult) -> str:
        n = sum(rows[-1][0] + rows[-1][1] for rows in r.per_second.values())
        return str(n)

    row("requests not attributed to a worker (user off the assignment)", unattributed, "0")
    for r in pair.values():
        if r.rebalanced:
            out.notes.append(f"{r.control.value}: the group rebalanced during the run")
    return out


# --- plots -----------------------------------------------------------------------------------


def plot(pair: dict[RateControl, RunResult], path: Path) -> None:
    """Two panels, fixed and adaptive: each worker's requests/s, the accepted total, the quota."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = next(iter(pair.values())).scenario
    end = end_second(next(iter(pair.values())))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4), sharey=True, layout="constrained")
    top = 0.0
    for ax, control in zip(axes, CONTROLS, strict=True):
        r = pair[control]
        xs = list(range(end))
        for w in range(sc.workers):
            sent = [sum(r.per_second.get(s, [[0, 0]] * (sc.workers + 1))[w]) for s in xs]
            label = f"worker {w} sent" + (" (hot, 70 %)" if w == r.hot_worker else "")
            line = ax.plot(xs, sent, lw=1.2, label=label, drawstyle="steps-post")[0]
            limit = [(s.t, s.rate_limits[w]) for s in r.samples if s.rate_limits[w] is not None]
            ax.plot([t for t, _ in limit], [v for _, v in limit], lw=0.9, ls=":",
                    color=line.get_color())  # fmt: skip
            top = max(top, *sent)
        accepted = [span(r, s, s + 1).accepted for s in xs]
        rejected = [span(r, s, s + 1).rejected for s in xs]
        ax.bar(xs, rejected, width=1.0, align="edge", color="tab:red", alpha=0.35,
               label="answered 60007 (all)")  # fmt: skip
        ax.plot(xs, accepted, color="black", lw=2.2, label="accepted (all)", drawstyle="steps-post")
        quota = [sc.quota(s) for s in [*xs, end]]
        ax.plot([*xs, end], quota, color="tab:red", ls="--", lw=1.5, label="quota",
                drawstyle="steps-post")  # fmt: skip
        top = max(top, *accepted, *rejected, *quota)
        total = span(r, SKIP_S, end)
        ax.set_title(
            f"STREAMS_RATE_CONTROL={control.value}\nfrom {SKIP_S} s: {_pct(total.used)} of the "
            f"quota used, {_pct(total.rejected_share)} answered 60007",
            fontsize=10,
        )
        ax.set_xlabel("seconds since the demand started (emulator's 1-second buckets)")
        ax.plot([], [], color="grey", ls=":", lw=0.9, label="worker's rate limit (dotted)")
        ax.grid(alpha=0.3)
        ax.set_xlim(0, end)
    axes[0].set_ylabel("requests per second")
    axes[0].set_ylim(0, min(top * 1.08, 3.2 * QUOTA))
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(
        f"({sc.key}) {sc.title}\n{sc.workers} workers, {sc.partitions} partitions, "
        f"STREAMS_RATE_LIMIT={sc.budget:g}, demand {sc.demand:g} requests/s",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_name(scenario: Scenario, broker: str = KAFKA) -> str:
    """``rate-f.png`` on Apache Kafka, ``rate-f-tansu.png`` on another broker."""
    return f"rate-{scenario.key}.png" if broker == KAFKA else f"rate-{scenario.key}-{broker}.png"


# --- the report section ----------------------------------------------------------------------


def section(
    results: dict[str, dict[RateControl, RunResult]],
    *,
    mode: str,
    started: datetime,
    broker: str = KAFKA,
) -> str:
    """The RESULTS.md section of scenarios (f), (g), (h) on ``broker`` (its kind)."""
    loads = [r.load for pair in results.values() for r in pair.values()]
    lines = [
        SECTIONS[broker].begin,
        f"## Rate control under a shared quota (scenarios f, g, h, issue 18) on "
        f"{broker_name(broker)}",
        "",
        f"{command(mode, broker, 'rate')} on {started:%Y-%m-%d %H:%M} UTC, on "
        f"{broker_setup(broker)}; load average (1 min) at the runs' starts "
        + ", ".join(f"{load[0]:.1f}" for load in loads)
        + ". The emulator limits requests like the service (fixed 1-second buckets, 200/s); "
        "each event is its own user, so the demand in requests per second is the publishing "
        "rate. Per second and per worker from the emulator's request log (users mapped to "
        "partitions and to the workers owning them). Fixed and adaptive run back to back.",
        "",
    ]
    for key, pair in results.items():
        sc = next(iter(pair.values())).scenario
        fig = figures(pair)
        lines += [
            f"### ({key}) {sc.title}",
            "",
            f"{sc.workers} workers, {sc.partitions} partitions, STREAMS_RATE_LIMIT="
            f"{sc.budget:g}, emulator limit {QUOTA}/s"
            + (
                "".join(f", {v}/s from {at:g} s" for at, v in sc.quota_steps)
                if sc.quota_steps
                else ""
            )
            + f", demand {sc.demand:g} requests/s for {sc.duration_s:g} s"
            + (
                f" after {sc.prefill_s:g} s of it published at once (a backlog from the start)"
                if sc.prefill_s
                else ""
            )
            + (
                f" ({sc.hot_share:.0%} on worker 0's partitions, the rest spread evenly)"
                if sc.hot_share
                else ", spread evenly over the partitions"
            )
            + ".",
            "",
            "| figure | fixed | adaptive | target |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in fig.rows),
            "",
            *(f"* {note}" for note in fig.notes),
            *([""] if fig.notes else []),
            f"![({key}) fixed and adaptive](plots/{plot_name(sc, broker)})",
            "",
        ]
    lines.append(SECTIONS[broker].end)
    return "\n".join(lines)


def run_all(
    sizes: Sizes,
    broker: Broker,
    workdir: Path,
    mode: str,
    *,
    only: str = "fgh",
    plots: Path = PLOTS,
    raw: Path | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Every scenario, fixed then adaptive; the plots written; the section returned."""
    started = datetime.now(UTC)
    results: dict[str, dict[RateControl, RunResult]] = {}
    for scenario in scenarios(sizes):
        if scenario.key not in only:
            continue
        pair: dict[RateControl, RunResult] = {}
        for control in CONTROLS:
            log(f"running ({scenario.key}) {scenario.title}, {control.value}...")
            pair[control] = result = run_one(scenario, control, broker, workdir, log)
            total = span(result, SKIP_S, end_second(result))
            log(f"  {_pct(total.used)} of the quota used, {_pct(total.rejected_share)} 60007")
            if raw is not None:
                raw.mkdir(parents=True, exist_ok=True)
                (raw / f"{scenario.key}-{control.value}.json").write_bytes(
                    orjson.dumps(dump(result), option=orjson.OPT_NON_STR_KEYS)
                )
        results[scenario.key] = pair
        plot(pair, plots / plot_name(scenario, broker.kind))
    return section(results, mode=mode, started=started, broker=broker.kind)


def dump(result: RunResult) -> dict[str, Any]:
    """A run's raw figures as JSON-ready data (for looking into a run afterwards)."""
    return {
        "scenario": result.scenario.key,
        "control": result.control.value,
        "owned": result.owned,
        "per_second": {str(s): rows for s, rows in sorted(result.per_second.items())},
        "rate_limits": [(round(s.t, 2), s.rate_limits) for s in result.samples],
        "final_metrics": [
            {k: v for k, v in m.items() if k.startswith("streams_")} for m in result.final_metrics
        ],
    }
