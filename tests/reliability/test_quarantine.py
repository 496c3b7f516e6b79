"""A record that crashes the worker again and again is quarantined, and the partition moves on.

A real worker process with a bug injected by the test (``tests/reliability/failing_worker.py``:
any window holding a ``poison`` event raises). The worker must stop each time, acking nothing,
until ``STREAMS_QUARANTINE_AFTER_CRASHES`` crashes on those offsets are recorded; the next start
processes them one record at a time, rejects the poison record ``internal_error`` with a dead
letter and an ERROR line naming its position, applies everything else, and keeps running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fixtures.guarantees import authoritative, change, position, read_topic
from tests.fixtures.pipeline import MakePipeline
from tests.reliability.hostile import at

FAILING = "tests.reliability.failing_worker"
#: STREAMS_QUARANTINE_AFTER_CRASHES, set by the test: not the default (3), so a worker that
#: ignored the setting would crash once more on the next start and fail the test.
CRASHES = 2


def doc(event_id: str, user: str) -> dict[str, Any]:
    return change(
        event_id, user, "c2c_peer", f"value of {event_id}", at=datetime.fromisoformat(at())
    )


def test_a_record_that_keeps_crashing_the_worker_is_quarantined(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline(
        worker_env={"STREAMS_QUARANTINE_AFTER_CRASHES": str(CRASHES)}
    )
    users = [f"user{u}" for u in range(8)]
    good = [doc(f"good-{u}", u) for u in users]
    positions = pipe.publish(*good[:4], doc("poison-1", "alice"), *good[4:])
    poison_at = positions[4]

    exits = []
    for _ in range(CRASHES):
        worker = pipe.start_worker(module=FAILING)
        exits.append(worker.wait(timeout=120))
    assert all(code != 0 for code in exits), f"the worker did not stop on the bug: {exits}"
    emitted = read_topic(pipe.bootstrap, pipe.outcomes, lambda rs: True, settle_s=1.0)
    assert not emitted, "nothing was emitted (or acked) around the failure"

    worker = pipe.start_worker(module=FAILING)
    outcomes = pipe.outcomes_for(set(positions))
    log = pipe.worker_log(CRASHES)
    assert worker.poll() is None, f"the worker stopped again:\n{log[-3000:]}"
    # Per event, its authoritative outcome (a redelivered window may add agreeing copies).
    copies: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for o in outcomes:
        copies.setdefault(position(o), []).append(o)
    by_position = {pos: authoritative(docs) for pos, docs in copies.items()}
    assert {o["status"] for o in copies[poison_at]} == {"rejected"}, copies[poison_at]
    poison = by_position[poison_at]
    assert (poison["status"], poison["reason"]) == ("rejected", "internal_error"), poison
    assert "RuntimeError" in poison["info"] and poison["event_id"] == "poison-1"
    assert {by_position[p]["status"] for p in positions if p != poison_at} == {"applied"}
    assert {u: emulator.state(u) for u in users} == {
        u: {"c2c_peer": f"value of good-{u}"} for u in users
    }
    assert "alice" not in {w["user"] for w in emulator.writes()}, "the poison was never applied"
    dead_letters = read_topic(pipe.bootstrap, pipe.dead_letters, lambda rs: len(rs) >= 1)
    assert dead_letters, "the quarantined record was dead-lettered"
    for dead in dead_letters:  # one per delivery of the quarantined window
        headers = dict(dead.headers)
        assert (int(headers["source-partition"]), int(headers["source-offset"])) == poison_at
    line = f"quarantined the record at {pipe.changes}:{poison_at[0]} offset {poison_at[1]}"
    assert line in log, log[-3000:]

    [later] = pipe.publish(doc("after-quarantine", "user0") | {"conversation_id": "c2c_next"})
    outcome = authoritative([o for o in pipe.outcomes_for({later}) if position(o) == later])
    assert outcome["status"] == "applied" and worker.poll() is None
    figures |= {
        "quarantine_after_crashes": CRASHES,
        "crash_exits": exits,
        "events": len(positions),
        "quarantined": poison_at,
    }
