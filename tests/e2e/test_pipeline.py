"""The pipeline end to end: real broker, real emulator over HTTP, real worker processes."""

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.core.partitioning import partition_for
from streams_devkit.kafka_io import consume
from tests.fixtures.documents import assert_never_backwards, change
from tests.fixtures.guarantees import Pos, authoritative, position, wait_for
from tests.fixtures.pipeline import PARTITIONS, Pipeline

Make = Callable[..., tuple[Pipeline, Any]]


def by_event(outcomes: list[dict]) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    grouped: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for doc in outcomes:
        grouped.setdefault(doc["event_id"] or f"@{doc['source']['offset']}", []).append(doc)
    return grouped


def copies_at(outcomes: list[dict], pos: Pos) -> list[dict]:  # type: ignore[type-arg]
    """Every outcome record of the event at ``pos``, in topic order.

    A window may be redelivered (a rebalance, a restart before its ack): an event can have more
    than one record, its first final one authoritative (README, "Outcomes"). Tests assert on the
    authoritative one and that every copy agrees, never on a count of one.
    """
    copies = [doc for doc in outcomes if position(doc) == pos]
    assert copies, f"no outcome for {pos}"
    return copies


def settled(outcomes: list[dict], pos: Pos) -> dict:  # type: ignore[type-arg]
    """The authoritative outcome of the event at ``pos``."""
    return authoritative(copies_at(outcomes, pos))


def owned(log: str) -> int:
    """How many partitions a worker's log says it owns now (0 before its first assignment)."""
    counts = re.findall(r"owning (\d+) partitions", log)
    return int(counts[-1]) if counts else 0


def test_scripted_scenario(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory()
    pipe.start_worker()
    first = pipe.publish(
        change("e1", "c2c_bob", "v1", version=1),
        change("e2", "c2c_bob", "v2", version=2),
        change("g1", "group_team", "团队 🌟", user="alice"),
        b"not json at all",
        change("bad", "dm_bob", "x"),
    )
    outcomes = by_event(pipe.outcomes_for(set(first)))
    assert outcomes["e1"][0]["status"] == "superseded"
    assert outcomes["e1"][0]["superseded_by"] == "e2"
    assert outcomes["e2"][0]["status"] == "applied" and outcomes["e2"][0]["code"] == 0
    assert outcomes["g1"][0]["status"] == "applied"
    assert outcomes["bad"][0]["status"] == "rejected"
    assert outcomes["bad"][0]["reason"] == "bad_conversation_id"
    garbage = outcomes[f"@{first[3][1]}"][0]
    assert (garbage["status"], garbage["reason"]) == ("rejected", "unparseable")
    [dead] = pipe.dead_letter_records(1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == b"not json at all"
    assert headers["source-topic"] == pipe.changes
    assert (int(headers["source-partition"]), int(headers["source-offset"])) == first[3]
    assert "JSON" in headers["error"]

    second = pipe.publish(
        change("e0", "c2c_bob", "v0", version=0),  # older than e2: stale
        change("e2", "c2c_bob", "v2", version=2),  # replay of e2: duplicate
        change("e3", "c2c_bob", "v3", version=3),
    )
    records = pipe.outcomes_for(set(second))
    outcomes = by_event(records)
    assert outcomes["e0"][0]["status"] == "stale"
    # e2 applied at its first position, its replay a duplicate; a redelivered window may add
    # copies that come out `duplicate` or `stale`, never applied again (docs/CONTRACT.md,
    # "Guarantees and their limits").
    assert settled(records, first[1])["status"] == "applied"
    replayed = {"duplicate", "stale"}
    assert {d["status"] for d in copies_at(records, first[1])[1:]} <= replayed
    assert settled(records, second[1])["status"] == "duplicate"
    assert {d["status"] for d in copies_at(records, second[1])} <= replayed
    assert outcomes["e3"][0]["status"] == "applied"
    for docs in outcomes.values():
        finals = {d["status"] for d in docs if d["status"] in ("applied", "failed")}
        assert len(finals) <= 1, docs
    assert emulator.state("alice") == {"c2c_bob": "v3", "group_team": "团队 🌟"}
    writes = emulator.writes(user="alice")
    assert_never_backwards(writes, {"v0": 0, "v1": 1, "v2": 2, "v3": 3, "团队 🌟": 0})
    assert [w["custom_data"] for w in writes if w["conversation_id"] == "c2c_bob"] == ["v2", "v3"]


def test_permanent_failure_only_for_that_conversation(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory(fail_conversations="group_closed")
    pipe.start_worker()
    published = pipe.publish(change("ok", "c2c_bob", "fine"), change("no", "group_closed", "nope"))
    outcomes = by_event(pipe.outcomes_for(set(published)))
    assert outcomes["ok"][0]["status"] == "applied"
    failed = outcomes["no"][0]
    assert (failed["status"], failed["reason"], failed["code"]) == ("failed", "permanent", 51007)
    assert failed["attempts"] == 1
    assert emulator.state("alice") == {"c2c_bob": "fine"}


def test_retryable_failure_then_success(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory(item_fail_rate=1.0)
    pipe.start_worker()
    [pos] = pipe.publish(change("r1", "c2c_bob", "eventually"))
    # Two 50004 answers: the worker retried under its 20 s deadline instead of failing.
    wait_for(lambda: emulator.stats()["injected_failures"] >= 2, 60, "two 50004 answers")
    emulator.set_knobs(item_fail_rate=0.0)
    outcome = settled(pipe.outcomes_for({pos}), pos)
    assert outcome["status"] == "applied" and outcome["attempts"] >= 3, outcome
    assert emulator.state("alice") == {"c2c_bob": "eventually"}


def test_retries_exhausted_fail_and_stop(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory(fail_rate=1.0)
    pipe.env_overrides = {"STREAMS_SDK_RETRY_DEADLINE_S": "1", "STREAMS_SDK_RETRY_CAP_S": "0.2"}
    pipe.start_worker()
    [pos] = pipe.publish(change("x1", "c2c_bob", "lost?"))
    outcome = settled(pipe.outcomes_for({pos}), pos)
    assert (outcome["status"], outcome["reason"]) == ("failed", "retries_exhausted")
    assert outcome["code"] == 70169 and outcome["attempts"] > 1
    pipe.stop()

    pipe.env_overrides["STREAMS_ON_RETRY_EXHAUSTED"] = "stop"
    stopper = pipe.start_worker()
    [pos] = pipe.publish(change("x2", "c2c_bob", "kept"))
    assert stopper.wait(timeout=60) != 0
    assert "RetriesExhaustedError" in pipe.worker_log(1)
    emulator.set_knobs(fail_rate=0.0)
    pipe.start_worker()
    records = pipe.outcomes_for({pos})
    assert {d["status"] for d in copies_at(records, pos)} <= {"applied", "duplicate"}, records
    assert settled(records, pos)["status"] == "applied", "the unacked window is redelivered"
    assert emulator.state("alice") == {"c2c_bob": "kept"}


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_table_survives_worker_restart(pipeline_factory: Make, store: str) -> None:
    """A new worker recovers the last-applied table from its changelog: replays stay stale."""
    pipe, emulator = pipeline_factory()
    pipe.env_overrides["STREAMS_TABLE_STORE"] = store
    pipe.start_worker()
    convs = [f"c2c_peer{i}" for i in range(20)]
    first = pipe.publish(*(change(f"new-{c}", c, "new", version=5) for c in convs))
    pipe.outcomes_for(set(first))
    pipe.stop()
    pipe.start_worker()
    replays = pipe.publish(
        *(change(f"old-{c}", c, "old", version=4) for c in convs),
        *(change(f"new-{c}", c, "new", version=5) for c in convs),
    )
    records = pipe.outcomes_for(set(replays))
    old, new = replays[: len(convs)], replays[len(convs) :]
    assert {d["status"] for p in old for d in copies_at(records, p)} == {"stale"}
    assert {d["status"] for p in new for d in copies_at(records, p)} == {"duplicate"}
    assert emulator.state("alice") == dict.fromkeys(convs, "new")
    assert all(w["custom_data"] == "new" for w in emulator.writes(user="alice"))
    # The memory store's new worker read the changelog in bulk (streams.engine.recovery), not
    # record by record; RocksDB's kept its data dir, which holds the whole changelog already.
    read_in_bulk = re.search(r"table recovery: \d+ records read in bulk", pipe.worker_log(1))
    assert bool(read_in_bulk) == (store == "memory://")


def test_misrouted_event_is_forwarded_once(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory()
    pipe.start_worker()
    home = partition_for(b"alice", PARTITIONS)
    wrong = (home + 1) % PARTITIONS
    value = orjson.dumps(change("m1", "c2c_bob", "moved"))

    async def send_to_wrong_partition() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=pipe.bootstrap)
        await producer.start()
        try:
            meta = await producer.send_and_wait(pipe.changes, value, key=b"alice", partition=wrong)
        finally:
            await producer.stop()
        return int(meta.offset)

    offset = asyncio.run(send_to_wrong_partition())
    records = pipe.outcomes_for({(wrong, offset)})
    # Only the forward's outcome, naming the original position (one per copy of the forward).
    assert [position(d) for d in records] == [(wrong, offset)] * len(records), records
    assert settled(records, (wrong, offset))["status"] == "applied"
    assert records[0]["source"] == {"topic": pipe.changes, "partition": wrong, "offset": offset}
    assert emulator.state("alice") == {"c2c_bob": "moved"}
    copies = asyncio.run(_records(pipe))
    # Forwarded to its home partition (again if the original is redelivered before its ack),
    # and a forward is never forwarded on: nothing else is on the topic.
    forwarded = [r for r in copies if r.partition == home]
    assert forwarded and len(copies) == 1 + len(forwarded), copies
    for record in forwarded:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["streams-origin-partition"] == str(wrong)
        assert headers["streams-origin-offset"] == str(offset)


async def _records(pipe: Pipeline) -> list[Any]:
    return [r async for r in consume(pipe.bootstrap, pipe.changes, idle_s=1.5)]


def test_worker_killed_midway_loses_nothing_and_never_moves_back(pipeline_factory: Make) -> None:
    """SIGKILL mid-stream, restart: every event gets an outcome; values only move forward."""
    pipe, emulator = pipeline_factory()
    convs = [(f"user-{u}", f"c2c_peer-{c}") for u in range(20) for c in range(5)]

    def round_of(r: int) -> list[dict]:  # type: ignore[type-arg]
        return [change(f"{u}-{c}-{r}", c, f"v{r}", user=u, version=r) for u, c in convs]

    worker = pipe.start_worker()
    positions = set(pipe.publish(*round_of(0)))
    pipe.outcomes_for(set(positions))
    for r in range(1, 5):
        positions |= set(pipe.publish(*round_of(r)))
    worker.kill()
    worker.wait()
    for r in range(5, 10):
        positions |= set(pipe.publish(*round_of(r), *round_of(r - 5)))  # replays of older rounds
    pipe.start_worker()
    outcomes = pipe.outcomes_for(positions)

    assert positions <= {position(doc) for doc in outcomes}, "every event has an outcome"
    for docs in by_event(outcomes).values():
        finals = {d["status"] for d in docs if d["status"] in ("applied", "failed")}
        assert finals != {"applied", "failed"}, docs
    for user in {u for u, _ in convs}:
        assert emulator.state(user) == {c: "v9" for u, c in convs if u == user}
    writes = emulator.writes()
    assert_never_backwards(writes, {f"v{r}": r for r in range(10)}, key=("user", "conversation_id"))


def test_partition_moved_to_another_worker_keeps_replays_stale(pipeline_factory: Make) -> None:
    """Worker B takes over partitions from A mid-life; B's table knows what A applied."""
    pipe, emulator = pipeline_factory()
    users = [f"user-{u}" for u in range(16)]  # spread over all 4 partitions
    pipe.start_worker()
    applied = pipe.publish(*(change(f"{u}-new", "c2c_x", "new", user=u, version=2) for u in users))
    pipe.outcomes_for(set(applied))
    second = pipe.start_worker()
    # Settled: the two workers' latest assignments split the partitions, B owning some.
    wait_for(
        lambda: (
            owned(pipe.worker_log(1)) > 0
            and owned(pipe.worker_log(0)) + owned(pipe.worker_log(1)) == PARTITIONS
        ),
        60,
        "the second worker to take over partitions from the first",
    )
    assert second.poll() is None, pipe.worker_log(1)
    stale = pipe.publish(*(change(f"{u}-old", "c2c_x", "old", user=u, version=1) for u in users))
    records = pipe.outcomes_for(set(stale))
    assert {d["status"] for p in stale for d in copies_at(records, p)} == {"stale"}
    assert all(emulator.state(u) == {"c2c_x": "new"} for u in users)
    # Still split: the stale events of B's partitions were decided by B's recovered table.
    assert owned(pipe.worker_log(1)) > 0, pipe.worker_log(1)
    assert owned(pipe.worker_log(0)) + owned(pipe.worker_log(1)) == PARTITIONS


def test_cli_produce_and_tail(pipeline_factory: Make, tmp_path: Path) -> None:
    pipe, _ = pipeline_factory()
    pipe.start_worker()
    source = tmp_path / "changes.jsonl"
    docs = [change(f"cli-{i}", f"c2c_p{i}", "x", user=f"u{i}") for i in range(5)]
    source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs) + b"oops\n")
    cli = [sys.executable, "-m", "streams"]
    refused = subprocess.run([*cli, "produce", str(source)], env=pipe.env(), capture_output=True,
                             timeout=60)  # fmt: skip
    assert refused.returncode == 1
    assert b"1 invalid change(s), nothing published" in refused.stderr
    assert b"line 6: " in refused.stderr
    produced = subprocess.run([*cli, "produce", "--raw", "--positions", str(source)],
                              env=pipe.env(), capture_output=True, timeout=60,
                              check=True)  # fmt: skip
    assert b"published 6 changes" in produced.stderr
    positions = [orjson.loads(line) for line in produced.stdout.splitlines()]
    assert len(positions) == 6 and positions[0]["partition"] == partition_for(b"u0", PARTITIONS)
    tailed = subprocess.run([*cli, "tail", "--max", "6", "--idle", "30"], env=pipe.env(),
                            capture_output=True, timeout=90, check=True)  # fmt: skip
    statuses = sorted(orjson.loads(line)["status"] for line in tailed.stdout.splitlines())
    assert statuses == ["applied"] * 5 + ["rejected"]
