"""The benchmark's Kafka Streams peer (bench/peers) builds and runs end to end: every event of
the demo workload (duplicates, out-of-order versions, invalid and unparseable records, a clock
beyond the skew allowance) gets exactly the outcome the contract gives it. Nothing is timed.

The reference is the worker's own core (``streams.core``: decode, then last-write-wins against
the last applied change), replayed over the windows the peer reports (one ``processed_at`` per
partition and window), so the check holds whatever the windows turned out to be.
"""

from __future__ import annotations

import asyncio
import subprocess
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.brokers import KAFKA, Broker
from bench.harness import (
    Run,
    _outcomes,
    _wait_ready,
    measure,
    start_emulator,
    start_process,
    worker_env,
)
from bench.run import PEER, PEER_LABEL, PeerSizes, peer_report, peer_scenarios
from streams.contract import OutcomeStatus
from streams.core.coalesce import group_by_conversation, resolve
from streams.core.decode import decode
from streams.core.records import Change, Envelope, LastApplied, Position, Rejection
from streams_devkit.broker import create_topics, terminate
from streams_devkit.kafka import KafkaCluster
from streams_devkit.kafka_io import consume, publish_stream
from streams_devkit.workload import LoadSpec, demo_workload

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 2


@pytest.fixture(scope="module")
def peer_built() -> None:
    """``make bench-peer``: Maven builds the peer (a no-op when its stamp is fresh)."""
    subprocess.run(["make", "-s", "bench-peer"], cwd=ROOT, check=True)


@pytest.fixture
def kafka(broker: str, kafka_cluster: KafkaCluster) -> Broker:
    return Broker(KAFKA, broker, kafka_cluster.nodes[0].pid)


def _keyed(lines: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    """The demo's records keyed by their user, as a producer would (none when unreadable)."""
    records: list[tuple[bytes | None, bytes]] = []
    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            doc = None
        user = doc.get("user_id") if isinstance(doc, dict) else None
        records.append((user.encode() if isinstance(user, str) else None, line))
    return records


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return orjson.loads(response.read())


def _expected(
    topic: str, outcomes: list[dict[str, Any]], records: dict[tuple[int, int], tuple[Any, Any]]
) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[str, dict[str, str]]]:
    """What the contract says of each event, given the peer's windows; and the IM state after."""
    windows: dict[tuple[int, str], list[int]] = defaultdict(list)
    for doc in outcomes:
        windows[(doc["source"]["partition"], doc["processed_at"])].append(doc["source"]["offset"])
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    marks: dict[str, dict[str, str]] = defaultdict(dict)
    last: dict[str, LastApplied] = {}
    now, skew = datetime.now(UTC), timedelta(seconds=300)
    # A partition's windows hold consecutive offsets: their first offsets order them.
    for (partition, _), offsets in sorted(windows.items(), key=lambda w: (w[0][0], min(w[1]))):
        changes: list[Change] = []
        for offset in sorted(offsets):
            key, value = records[(partition, offset)]
            envelope = Envelope(key, value, Position(topic, partition, offset), PARTITIONS)
            decoded = decode(envelope, now=now, max_skew=skew, max_bytes=64 * 1024)
            if isinstance(decoded, Rejection):
                expected[(partition, offset)] = {"status": "rejected", "reason": decoded.reason}
            else:
                assert isinstance(decoded, Change)
                changes.append(decoded)
        resolution = resolve(group_by_conversation(changes), last)
        for decision in resolution.decided:
            expected[(partition, decision.change.envelope.position.offset)] = {
                "status": decision.status,
                "reason": decision.reason,
                "superseded_by": decision.superseded_by,
                "event_id": decision.change.change.event_id,
            }
        for winner in resolution.winners:
            last[winner.conversation] = LastApplied.of(winner)
            c = winner.change
            marks[c.user_id][c.conversation_id] = c.custom_data
            expected[(partition, winner.envelope.position.offset)] = {
                "status": OutcomeStatus.APPLIED,
                "reason": None,
                "code": 0,
                "event_id": c.event_id,
                "user_id": c.user_id,
                "conversation_id": c.conversation_id,
                "custom_data": c.custom_data,
                "version": c.version,
                "occurred_at": c.occurred_at.isoformat(),
            }
    return expected, marks


def test_peer_gives_every_event_its_contract_outcome(
    peer_built: None, kafka: Broker, tmp_path: Path
) -> None:
    prefix = "peer-e2e-"
    topic = f"{prefix}changes"
    asyncio.run(create_topics(kafka.bootstrap, {topic: PARTITIONS, f"{prefix}outcomes": 2}))
    emulator = start_emulator(tmp_path)
    env = worker_env(kafka, prefix, PARTITIONS, emulator.url) | {
        "STREAMS_DATA_DIR": str(tmp_path / "peer-data")
    }
    peer = start_process("peer", env, tmp_path / "peer.log")
    try:
        _wait_ready([peer], PARTITIONS)
        lines = _keyed(demo_workload(seed=11, users=12, conversations=5))
        asyncio.run(publish_stream(kafka.bootstrap, topic, lines))
        read = asyncio.run(_outcomes(kafka.bootstrap, f"{prefix}outcomes", len(lines)))
        outcomes = [doc for _, doc in read]
        stats = emulator.stats()
        state = {
            user: _get(f"{emulator.url}/debug/state?user={urllib.parse.quote(user)}")
            for user in {doc["user_id"] for doc in outcomes if doc["status"] == "applied"}
        }
    finally:
        terminate(peer.proc, timeout_s=15)
        terminate(emulator.proc, timeout_s=10)
    positions = {(doc["source"]["partition"], doc["source"]["offset"]): doc for doc in outcomes}
    assert len(positions) == len(lines) == len(outcomes)
    # Which record landed where: the published bytes, read back by position.
    records = asyncio.run(_records(kafka.bootstrap, topic, len(lines)))
    expected, marks = _expected(topic, outcomes, records)
    assert set(expected) == set(positions)
    for position, want in expected.items():
        got = positions[position]
        assert {k: got[k] for k in want} == want, (position, got)
        assert got["source"]["topic"] == topic
        if got["status"] == "applied":
            assert got["request_id"] and got["attempts"] == 1
    assert {s for s in (d["status"] for d in outcomes)} >= {
        "applied",
        "superseded",
        "duplicate",
        "rejected",
    }
    assert state == marks
    # One request per user and window (each under 100 conversations here), nothing retried.
    applied = [d for d in outcomes if d["status"] == "applied"]
    assert stats["requests"] == len({d["request_id"] for d in applied})
    assert stats["requests"] == len({(d["processed_at"], d["user_id"]) for d in applied})


async def _records(
    bootstrap: str, topic: str, expect: int
) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    async for record in consume(bootstrap, topic, idle_s=10.0):
        found[(record.partition, record.offset)] = (record.key, record.value)
        if len(found) >= expect:
            break
    return found


def test_bench_measures_the_peer_and_reports_it(
    peer_built: None, kafka: Broker, tmp_path: Path
) -> None:
    """The bench's peer rows: one tiny run through the harness, the section rendered from it."""
    spec = LoadSpec(events=300, users=20, conversations=100)
    result = measure(Run("peer", spec, partitions=2), kafka, tmp_path)
    assert result.events == 300 and result.cpu_s > 0 and result.peak_rss > 0
    assert result.requests >= result.lower_bound > 0 and result.applied > 0
    assert len(result.latencies_ms) == 300 and 0 < result.ready_cpu_s <= result.cpu_s
    assert 0 <= result.jit_cpu_s < result.cpu_s
    labels = [label for label, _ in peer_scenarios(PeerSizes(unlimited=300, quota=100))]
    text = peer_report(dict.fromkeys(labels, result), "quick", (1.0, 1.0, 1.0))
    assert text.startswith(PEER[KAFKA].begin) and text.endswith(PEER[KAFKA].end)
    assert f"200/s quota: {PEER_LABEL}" in text and "Kafka Streams 4.4.0" in text
    assert "`python -m bench.run --only peer --quick`" in text
    assert "200/s quota: applied changes/s: **1.00x** [>= 1.0x]" in text
