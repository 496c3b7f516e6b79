"""The retention horizon end to end: a worker forgets conversations last written before it (their
table entries go, and tombstones reach the changelog), refuses changes older than it, and never
moves a value back because it forgot."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams_devkit.kafka_io import consume
from tests.fixtures.pipeline import Pipeline

Make = Callable[..., tuple[Pipeline, Any]]
HORIZON_S = 5


def change(event_id: str, conversation: str, at: datetime) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": "alice", "conversation_id": conversation,
            "custom_data": event_id, "occurred_at": at.isoformat()}  # fmt: skip


def changelog(pipe: Pipeline) -> list[Any]:
    topic = f"{pipe.prefix}app-last-applied-changelog"

    async def read() -> list[Any]:
        return [r async for r in consume(pipe.bootstrap, topic, idle_s=1.5)]

    return asyncio.run(read())


def test_entries_older_than_the_horizon_are_forgotten_and_their_changes_refused(
    pipeline_factory: Make,
) -> None:
    pipe, emulator = pipeline_factory()
    pipe.start_worker(STREAMS_STATE_RETENTION_S=str(HORIZON_S))
    # A started worker first: the changes below must reach it well inside the horizon.
    pipe.outcomes_for(set(pipe.publish(change("warm-up", "c2c_x", datetime.now(UTC)))))
    written = datetime.now(UTC)
    conversations = [f"c2c_old{i}" for i in range(5)]
    first = pipe.publish(*(change(f"first-{c}", c, written) for c in conversations))
    assert {o["status"] for o in pipe.outcomes_for(set(first))} == {"applied"}
    forgotten = {orjson.loads(r.key) for r in changelog(pipe) if r.value is None}
    assert not forgotten & {f"alice/{c}" for c in conversations}, "none of them forgotten yet"

    # Past the horizon: the next window on alice's partition sweeps her expired entries.
    time.sleep(HORIZON_S + 1.5)
    now = datetime.now(UTC)
    late = pipe.publish(
        change("trigger", "c2c_new", now),
        # Older than the horizon: refused, though its entry (now gone) would have refused it too.
        change("older", "c2c_old0", written - timedelta(seconds=1)),
        # Newer than the forgotten write: applied as before.
        change("newer", "c2c_old1", now),
    )
    outcomes = {o["event_id"]: o for o in pipe.outcomes_for(set(late))}
    assert outcomes["trigger"]["status"] == "applied"
    assert (outcomes["older"]["status"], outcomes["older"]["reason"]) == (
        "stale",
        "beyond_retention",
    )
    assert outcomes["newer"]["status"] == "applied"

    # The warm-up's entry too, in this sweep or an earlier one (the worker's start-up may take
    # longer than the horizon).
    tombstones = {orjson.loads(r.key) for r in changelog(pipe) if r.value is None}
    assert tombstones == {f"alice/{c}" for c in [*conversations, "c2c_x"]}
    state = emulator.state("alice")
    assert state["c2c_old0"] == "first-c2c_old0", "the forgotten value was never moved back"
    assert state["c2c_old1"] == "newer"
    assert re.search(r"forgot [56] conversations", pipe.worker_log())
