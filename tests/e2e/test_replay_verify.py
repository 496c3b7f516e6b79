"""``streams replay`` across an emulated IM outage, a replay racing a later change, and
``streams verify`` finding a write whose answer was lost: end to end, the CLI as a subprocess
against the broker, emulator and worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from streams.client import BrokerSettings
from streams.client.scan import scan
from tests.fixtures.guarantees import wait_for
from tests.fixtures.pipeline import WAIT_S, Pipeline

Make = Callable[..., tuple[Pipeline, Any]]
CLI = [sys.executable, "-m", "streams"]


def change(event_id: str, user: str, conversation: str, data: str, at: str) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "conversation_id": conversation,
            "custom_data": data, "occurred_at": f"2026-11-25T10:00:{at}Z"}  # fmt: skip


def cli(pipe: Pipeline, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], env=pipe.env(), capture_output=True, timeout=120)


def lines(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def records(pipe: Pipeline, topic: str) -> list[Any]:
    async def read() -> list[Any]:
        return [r async for r in scan(BrokerSettings(broker=pipe.bootstrap), topic)]

    return asyncio.run(read())


def changes_count(pipe: Pipeline) -> int:
    return len(records(pipe, pipe.changes))


def outcomes_until(
    pipe: Pipeline, done: Callable[[list[dict[str, Any]]], bool], what: str
) -> list[dict[str, Any]]:
    """Every outcome record, once ``done`` holds of them (fails after WAIT_S)."""
    docs: list[dict[str, Any]] = []

    def ready() -> bool:
        docs[:] = [orjson.loads(r.value) for r in records(pipe, pipe.outcomes)]
        return done(docs)

    wait_for(ready, WAIT_S, what)
    return docs


def of_event(docs: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["event_id"] == event_id]


def position(doc: dict[str, Any]) -> tuple[int, int]:
    return (doc["source"]["partition"], doc["source"]["offset"])


def test_replay_republishes_failed_events_once(pipeline_factory: Make) -> None:
    pipe, emulator = pipeline_factory()
    pipe.start_worker(STREAMS_SDK_RETRY_DEADLINE_S="1", STREAMS_SDK_RETRY_CAP_S="0.2")
    before = pipe.publish(change("ok", "alice", "c2c_a", "before", "00"))
    pipe.outcomes_for(set(before))
    emulator.set_knobs(fail_rate=1.0)  # the outage: every request 70169
    during = pipe.publish(
        change("a1", "alice", "c2c_b", "a1", "01"),
        change("a2", "alice", "group_g", "a2", "02"),
        change("b1", "bob", "c2c_c", "b1", "03"),
    )
    failed = [o for o in pipe.outcomes_for(set(during)) if o["event_id"] != "ok"]
    assert [o["status"] for o in failed] == ["failed"] * 3
    emulator.set_knobs(fail_rate=0.0)
    published = changes_count(pipe)

    dry = cli(pipe, "replay", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = lines(dry)
    assert sorted(p["event_id"] for p in planned) == ["a1", "a2", "b1"], dry.stderr
    assert all(p["found"] and p["replayed_to"] is None for p in planned)
    assert {p["reason"] for p in planned} == {"retries_exhausted"}
    assert changes_count(pipe) == published, "a dry run publishes nothing"
    only_bob = cli(pipe, "replay", "--dry-run", "--user", "bob")
    assert [p["event_id"] for p in lines(only_bob)] == ["b1"]
    assert lines(cli(pipe, "replay", "--dry-run", "--code", "0")) == []

    done = cli(pipe, "replay")
    assert done.returncode == 0, done.stderr
    replayed = lines(done)
    assert b"re-published 3 failed events; 0 source records gone" in done.stderr
    # Each copy's outcome names its original position (the failed outcome's source).
    originals = {o["event_id"]: position(o) for o in failed}
    outcomes = outcomes_until(
        pipe,
        lambda docs: all(len(of_event(docs, e)) == 2 for e in originals),
        "an outcome for each replayed copy",
    )
    of_replays = {e: [(o["status"], position(o)) for o in of_event(outcomes, e)] for e in originals}
    assert of_replays == {e: [("failed", at), ("applied", at)] for e, at in originals.items()}
    assert all(r["replayed_to"] is not None for r in replayed)
    assert emulator.state("alice") == {"c2c_a": "before", "c2c_b": "a1", "group_g": "a2"}
    assert emulator.state("bob") == {"c2c_c": "b1"}

    again = cli(pipe, "replay")
    assert again.returncode == 0 and lines(again) == []
    assert b"re-published 0 failed events; 0 source records gone; 3 skipped" in again.stderr
    assert changes_count(pipe) == published + 3


def test_verify_finds_a_failed_event_the_im_applied(pipeline_factory: Make) -> None:
    # Answers after the client's 5 s timeout, past a 2 s deadline: `failed` though applied.
    pipe, emulator = pipeline_factory()
    pipe.start_worker(STREAMS_SDK_RETRY_DEADLINE_S="2")
    first = pipe.publish(change("v1", "alice", "c2c_v", "first", "00"),
                         change("w1", "alice", "c2c_w", "kept", "00"))  # fmt: skip
    pipe.outcomes_for(set(first))
    clean = cli(pipe, "verify")
    assert clean.returncode == 0, clean.stderr
    assert b"checked 2 conversations: 0 differ" in clean.stderr

    emulator.set_knobs(latency_ms=6000)
    lost = pipe.publish(change("v2", "alice", "c2c_v", "second", "01"))
    [outcome] = [o for o in pipe.outcomes_for(set(lost)) if o["event_id"] == "v2"]
    assert (outcome["status"], outcome["code"]) == ("failed", -1)
    emulator.set_knobs(latency_ms=0)
    assert emulator.state("alice")["c2c_v"] == "second"

    found = cli(pipe, "verify")
    assert found.returncode == 1, found.stderr
    assert lines(found) == [
        {
            "user_id": "alice",
            "conversation_id": "c2c_v",
            "im_value": "second",
            "expected": "first",
            "expected_event_id": "v1",
            "failed_but_applied": "v2",
        }
    ]
    assert lines(cli(pipe, "verify", "--user", "bob")) == []

    # Replaying the failed event settles it: applied, and verify agrees.
    replayed = lines(cli(pipe, "replay"))
    assert [r["event_id"] for r in replayed] == ["v2"]
    [copy] = outcomes_until(pipe, lambda docs: len(of_event(docs, "v2")) == 2, "v2's copy")[-1:]
    assert (copy["status"], copy["source"]) == ("applied", outcome["source"])
    assert cli(pipe, "verify").returncode == 0


def test_a_replay_never_beats_a_later_change(pipeline_factory: Make) -> None:
    """Issue 24, item 3. Unversioned A fails; B (the same second, a later offset) is published
    while `streams replay` runs (the worker is paused, so B has no outcome yet and replay
    re-publishes A, after B). A's copy ranks at A's original offset, so it loses: stale, or
    superseded by B in a shared window. The IM keeps B and never held A; verify agrees, and a
    second replay skips A. Before, the copy ranked at its new offset, beat B and was applied
    (and verify ranked it there too, so it saw nothing wrong)."""
    pipe, emulator = pipeline_factory()
    worker = pipe.start_worker(STREAMS_SDK_RETRY_DEADLINE_S="1", STREAMS_SDK_RETRY_CAP_S="0.2")
    emulator.set_knobs(fail_rate=1.0)
    [a_at] = pipe.publish(change("A", "alice", "c2c_x", "value A", "00"))
    outcomes_until(pipe, lambda docs: len(of_event(docs, "A")) == 1, "A's outcome")
    emulator.set_knobs(fail_rate=0.0)
    os.kill(worker.pid, signal.SIGSTOP)  # well within the 30 s session: no rebalance
    try:
        [b_at] = pipe.publish(change("B", "alice", "c2c_x", "value B", "00"))
        done = cli(pipe, "replay")
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    assert done.returncode == 0, done.stderr
    [replayed] = lines(done)
    copy_at = (replayed["replayed_to"]["partition"], replayed["replayed_to"]["offset"])
    assert replayed["event_id"] == "A" and copy_at[0] == b_at[0] == a_at[0]
    assert a_at[1] < b_at[1] < copy_at[1], "the copy lands after B"

    docs = outcomes_until(
        pipe,
        lambda docs: len(of_event(docs, "A")) == 2 and len(of_event(docs, "B")) == 1,
        "B's outcome and the outcome of A's copy",
    )
    assert emulator.state("alice") == {"c2c_x": "value B"}
    assert [w["custom_data"] for w in emulator.writes("alice")] == ["value B"]
    [b] = of_event(docs, "B")
    first, again = of_event(docs, "A")
    assert (first["status"], b["status"]) == ("failed", "applied")
    # Stale when B's window came first, superseded by B when both shared a window.
    assert (again["status"], again["superseded_by"]) in {("stale", None), ("superseded", "B")}
    assert position(again) == a_at, "the copy is named by A's original position"

    checked = cli(pipe, "verify")
    assert checked.returncode == 0, checked.stderr
    assert b"checked 1 conversations: 0 differ" in checked.stderr
    again_run = cli(pipe, "replay", "--dry-run")
    assert again_run.returncode == 0 and lines(again_run) == []
    assert b"1 skipped" in again_run.stderr
