"""``streams replay`` across an emulated IM outage, and ``streams verify`` finding a write whose
answer was lost: end to end, the CLI as a subprocess against the broker, emulator and worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from streams.client import BrokerSettings
from streams.client.scan import scan
from tests.fixtures.pipeline import Pipeline

Make = Callable[..., tuple[Pipeline, Any]]
CLI = [sys.executable, "-m", "streams"]


def change(event_id: str, user: str, conversation: str, data: str, at: str) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "conversation_id": conversation,
            "custom_data": data, "occurred_at": f"2026-11-25T10:00:{at}Z"}  # fmt: skip


def cli(pipe: Pipeline, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], env=pipe.env(), capture_output=True, timeout=120)


def lines(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def changes_count(pipe: Pipeline) -> int:
    async def count() -> int:
        return len([r async for r in scan(BrokerSettings(broker=pipe.bootstrap), pipe.changes)])

    return asyncio.run(count())


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
    targets = {(r["replayed_to"]["partition"], r["replayed_to"]["offset"]) for r in replayed}
    outcomes = pipe.outcomes_for(targets)
    of_replays = {
        o["event_id"]: o["status"]
        for o in outcomes
        if (o["source"]["partition"], o["source"]["offset"]) in targets
    }
    assert of_replays == {"a1": "applied", "a2": "applied", "b1": "applied"}
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
    target = replayed[0]["replayed_to"]
    pipe.outcomes_for({(target["partition"], target["offset"])})
    assert cli(pipe, "verify").returncode == 0
