"""A worker dies after its window reached the IM and before it acked anything (finding 3).

The dead worker's window held an older and a newer change of each conversation and wrote the
newer one. Its successor replays that window from the committed offset in windows of one event
(``STREAMS_MAX_BATCH=1``), so the older change comes first, alone. It must not be written: the
IM already holds the newer value, even though no "applied" outcome or record says so.
"""

from __future__ import annotations

from tests.fixtures.documents import assert_never_backwards, change
from tests.fixtures.guarantees import wait_for
from tests.fixtures.pipeline import MakePipeline, Pipeline

USERS = ("u-0", "u-1")
CONVERSATIONS = [f"c2c_peer{c}" for c in range(5)]


def round_of(version: int) -> list[dict]:  # type: ignore[type-arg]
    return [
        change(f"{user}-{conv}-v{version}", conv, f"v{version}", user=user, version=version)
        for user in USERS
        for conv in CONVERSATIONS
    ]


def wait_for_writes(emulator: object, value: str, count: int, pipe: Pipeline) -> None:
    def written() -> bool:
        writes = [w for w in emulator.writes() if w["custom_data"] == value]  # type: ignore[attr-defined]
        if len(writes) >= count:
            return True
        assert pipe.workers[-1].poll() is None, pipe.worker_log(len(pipe.workers) - 1)
        return False

    wait_for(written, 60, f"the worker to write {value} {count} times")


def test_replay_after_a_crash_mid_write_never_moves_a_value_back(
    reliable_pipeline: MakePipeline,
) -> None:
    pipe, emulator = reliable_pipeline(worker_env={"STREAMS_WINDOW_MS": "1000"})
    worker = pipe.start_worker()
    positions = set(pipe.publish(*round_of(1)))
    pipe.outcomes_for(set(positions))

    # The IM applies the next requests, then holds the answers: the worker is stuck right after
    # its writes reached the IM, with nothing acked and only the outcomes decided before its
    # requests (v2 superseded) sent.
    emulator.set_knobs(latency_ms=60_000)
    positions |= set(pipe.publish(*round_of(2), *round_of(3)))
    wait_for_writes(emulator, "v3", len(USERS) * len(CONVERSATIONS), pipe)
    assert not [w for w in emulator.writes() if w["custom_data"] == "v2"], (
        "v2 and v3 must share the dead worker's window (v2 superseded there)"
    )
    worker.kill()
    worker.wait()

    emulator.set_knobs(latency_ms=0)
    pipe.start_worker(STREAMS_MAX_BATCH="1")
    outcomes = pipe.outcomes_for(positions)

    writes = emulator.writes()
    assert_never_backwards(writes, {"v1": 1, "v2": 2, "v3": 3}, key=("user", "conversation_id"))
    for user in USERS:
        assert emulator.state(user) == dict.fromkeys(CONVERSATIONS, "v3")
    v2 = [d for d in outcomes if d["event_id"].endswith("-v2")]
    statuses: dict[str, list[str]] = {}
    # Only the successor gives v3 outcomes, after the v2 events before them in the partition: so
    # every replayed v2 outcome is in. One key per user: each event's outcomes in sent order.
    for outcome in v2:
        statuses.setdefault(outcome["event_id"], []).append(outcome["status"])
    assert len(statuses) == len(USERS) * len(CONVERSATIONS), statuses
    for event_id, seen in statuses.items():
        # The dead worker may have sent `superseded`; every replay (a rebalance can add one)
        # says `stale`.
        assert "stale" in seen, (event_id, seen)
        replays = seen.index("stale")
        assert set(seen[:replays]) <= {"superseded"} and set(seen[replays:]) == {"stale"}, (
            event_id,
            seen,
        )
