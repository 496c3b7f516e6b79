"""confluent-kafka (librdkafka) against a real worker on Apache Kafka: which partitioner forwards.

The example client (examples/python/confluent_client.py, run as its users run it) publishes the
same workload twice through the session's Apache Kafka to a worker process: with
``partitioner=murmur2_random`` every record is on the partition the worker computes and nothing
is forwarded; with librdkafka's default (``consistent_random``, CRC32) most users' records are
not, the worker forwards each of those exactly once, and every change is still applied as
last-write-wins says. Its consumer reads the outcomes in a consumer group. `make examples` runs
the same client, the Java and the Go ones at a larger size (examples/run.sh).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.core.partitioning import partition_for
from streams_devkit.broker import free_port
from tests.fixtures.guarantees import wait_for as wait_until
from tests.fixtures.pipeline import PARTITIONS, Pipeline
from tests.fixtures.probes import get, metric, wait_for_status

Make = Callable[..., tuple[Pipeline, Any]]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "confluent_client.py"
CHANGES, USERS, CONVERSATIONS = 60, 12, 2
WAIT_S = 60.0


def example(*args: str) -> list[dict[str, Any]]:
    """Run the example client; its JSON lines on standard output."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=WAIT_S + 30,
        check=False,
    )
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def forwards(base: str) -> int:
    return round(metric(get(f"{base}/metrics")[1].decode(), "streams_misrouted_forwards_total"))


def publish_and_read(pipe: Pipeline, partitioner: str) -> tuple[list[Any], list[Any]]:
    run_id = f"cf-{partitioner}"  # fixed: the same keys, so the same routing, in every run
    published = example(
        "produce", "--brokers", pipe.bootstrap, "--topic", pipe.changes, "--n", str(CHANGES),
        "--users", str(USERS), "--conversations", str(CONVERSATIONS), "--run-id", run_id,
        "--partitioner", partitioner,
    )  # fmt: skip
    outcomes = example(
        "consume", "--brokers", pipe.bootstrap, "--topic", pipe.outcomes,
        "--group", f"{pipe.prefix}{run_id}", "--event-prefix", f"{run_id}-",
        "--expect", str(CHANGES), "--timeout-s", str(WAIT_S),
    )  # fmt: skip
    return published, outcomes


def misrouted(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in published if r["partition"] != partition_for(r["key"].encode(), PARTITIONS)]


def assert_applied_as_last_write_wins(
    published: list[dict[str, Any]], outcomes: list[dict[str, Any]], emulator: Any
) -> None:
    """One outcome per record; all applied or superseded; each conversation's last write (the
    highest version) applied and held by the IM."""
    positions = {(r["partition"], r["offset"]): r["event_id"] for r in published}
    by_source = {(o["source"]["partition"], o["source"]["offset"]): o for o in outcomes}
    assert len(by_source) == len(outcomes) == CHANGES
    assert {p: o["event_id"] for p, o in by_source.items()} == positions
    assert {o["status"] for o in outcomes} <= {"applied", "superseded"}, outcomes
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for o in outcomes:
        key = (o["user_id"], o["conversation_id"])
        if key not in last or o["version"] > last[key]["version"]:
            last[key] = o
    assert len(last) == USERS * CONVERSATIONS
    for (user, conversation), winner in last.items():
        assert winner["status"] == "applied", winner
        assert emulator.state(user)[conversation] == winner["custom_data"]


def test_murmur2_random_needs_no_hop_and_the_default_partitioner_is_forwarded(
    pipeline_factory: Make,
) -> None:
    pipe, emulator = pipeline_factory()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    wait_for_status(f"{base}/readyz", 200, timeout_s=WAIT_S)

    published, outcomes = publish_and_read(pipe, "murmur2_random")
    assert misrouted(published) == []
    assert_applied_as_last_write_wins(published, outcomes, emulator)
    assert forwards(base) == 0

    published, outcomes = publish_and_read(pipe, "default")
    wrong = misrouted(published)
    assert wrong, "librdkafka's CRC32 put every key where murmur2 does: nothing was tested"
    assert_applied_as_last_write_wins(published, outcomes, emulator)
    # The counter is added up after each window: wait until it holds them all, then compare.
    wait_until(lambda: forwards(base) >= len(wrong), 20, f"{len(wrong)} forwards counted")
    assert forwards(base) == len(wrong), "each misrouted record, once"
