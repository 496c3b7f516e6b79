"""One run: start the emulator and the workers, publish the demand, sample, collect; stop all."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from bench.brokers import Broker
from bench.harness import Emulator, Process, _spawn, start_emulator, worker_env
from bench.rate.logs import OWNING, parse_assignment
from bench.rate.metrics import scrape
from bench.rate.runs import RunResult, Sample, seconds_table
from bench.rate.scenarios import QUOTA, Scenario
from bench.rate.workload import events, partition_weights
from streams.core.rate_control import RateControl
from streams_devkit.broker import create_topics, free_port, terminate
from streams_devkit.kafka_io import publish_stream


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
        owning = [OWNING.findall(t) for t in texts]
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
