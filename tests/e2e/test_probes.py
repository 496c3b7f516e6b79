"""The probes against real worker processes: start-up covers table recovery, an IM outage leaves
the pods ready and alive, a stuck agent fails liveness (docs/OPERATING.md, "Probes").

Timings are never asserted: each test polls with generous timeouts, and the thresholds the
worker works with are shortened through its settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from streams_devkit.broker import create_topics, free_port
from tests.fixtures.changelog import seed_changelog, seed_records
from tests.fixtures.pipeline import PARTITIONS, Pipeline
from tests.fixtures.probes import get, wait_for_status

Make = Callable[..., tuple[Pipeline, Any]]

#: Table records seeded into the changelog: enough for a recovery the probes can be seen in
#: (read in bulk at 100k+ records/s into the memory store: 2-4 s, sampled every 0.2 s).
SEEDED = 400_000
PROBES = ("/startupz", "/readyz", "/healthz")


def change(event_id: str, conversation: str = "c2c_bob") -> dict[str, str]:
    return {
        "event_id": event_id, "user_id": "alice", "conversation_id": conversation,
        "custom_data": "x", "occurred_at": "2026-11-25T10:00:00Z",
    }  # fmt: skip


def answers(base: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each probe's status and body, asked one after the other."""
    seen = {}
    for path in PROBES:
        status, body = get(base + path)
        seen[path] = (status, orjson.loads(body) if body else {})
    return seen


def test_start_up_waits_for_table_recovery(pipeline_factory: Make) -> None:
    """While the table recovers: not started, not ready, alive (a liveness probe would be fine);
    then all three answer 200."""
    pipe, _ = pipeline_factory()
    changelog = f"{pipe.prefix}app-last-applied-changelog"
    asyncio.run(create_topics(pipe.bootstrap, {changelog: PARTITIONS}))
    asyncio.run(
        seed_changelog(pipe.bootstrap, changelog, seed_records(range(SEEDED), 5000, PARTITIONS))
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    wait_for_status(f"{base}/healthz", 200, timeout_s=60)
    samples = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        samples.append(answers(base))
        if samples[-1]["/startupz"][0] == 200:
            break
        time.sleep(0.2)
    recovering = [
        s for s in samples if s["/startupz"][1].get("problems") == ["table recovery not finished"]
    ]
    assert recovering, f"recovery never seen in progress: {samples[:3]} ... {samples[-1:]}"
    for sample in recovering:
        assert sample["/startupz"][0] == 503
        assert sample["/healthz"] == (200, {"status": "ok", "problems": []}), sample
    # The probes are asked one after the other: recovery may end between two of them.
    assert any(s["/readyz"][0] == 503 for s in recovering), recovering
    assert samples[-1]["/startupz"] == (200, {"status": "started", "problems": []})
    assert orjson.loads(wait_for_status(f"{base}/readyz", 200))["status"] == "ready"
    assert f"table recovery: {SEEDED} records read in bulk" in pipe.worker_log(0)


def test_an_im_outage_leaves_the_worker_ready_and_alive(pipeline_factory: Make) -> None:
    """The IM endpoint refuses connections: events fail after the retry deadline, one window
    after another, and the worker stays ready and alive past the liveness threshold."""
    pipe, emulator = pipeline_factory(
        worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "2", "STREAMS_LIVENESS_STALL_S": "8"}
    )
    emulator.stop()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    assert orjson.loads(wait_for_status(f"{base}/readyz", 200))["status"] == "ready"
    published: set[tuple[int, int]] = set()
    samples = []
    # Three rounds of input, each retried until the deadline: the agent always has events
    # waiting for longer than the liveness threshold, and completes a window every few seconds.
    for round_ in range(3):
        published |= set(pipe.publish(*(change(f"r{round_}-{i}", f"c2c_{i}") for i in range(3))))
        until = time.monotonic() + 4
        while time.monotonic() < until:
            samples.append(answers(base))
            time.sleep(0.3)
    outcomes = pipe.outcomes_for(published)
    assert {o["status"] for o in outcomes} == {"failed"}, outcomes
    bad = [s for s in samples if s["/readyz"][0] != 200 or s["/healthz"][0] != 200]
    assert not bad, bad[:3]
    assert len(samples) > 10


def test_a_stuck_agent_fails_liveness_and_a_restart_recovers(pipeline_factory: Make) -> None:
    """The agent hangs on a record (a test entry point injects it): /healthz turns 503 after
    the threshold while the agent's task is alive (ready); a normal worker then processes the
    record."""
    pipe, _ = pipeline_factory(
        worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "1", "STREAMS_LIVENESS_STALL_S": "7"}
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stuck = pipe.start_worker(module="tests.reliability.stuck_worker", STREAMS_WEB_PORT=str(port))
    assert orjson.loads(wait_for_status(f"{base}/readyz", 200))["status"] == "ready"
    assert orjson.loads(wait_for_status(f"{base}/healthz", 200))["status"] == "ok"
    published = set(pipe.publish(change("stuck-1")))
    body = orjson.loads(wait_for_status(f"{base}/healthz", 503, timeout_s=60))
    assert body["status"] == "stalled"
    assert "no window completed" in body["problems"][0], body
    assert get(f"{base}/readyz")[0] == 200, "the agent's task is alive: only liveness says"
    assert "liveness fails" in pipe.worker_log(0)
    # Its stop would wait for the stuck window for ever too: the kubelet kills it after the
    # grace period.
    stuck.kill()
    stuck.wait(timeout=30)

    # The restart Kubernetes would make: the same record, processed.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    outcomes = pipe.outcomes_for(published)
    assert [o["status"] for o in outcomes] == ["applied"], outcomes
    assert get(f"{base}/healthz")[0] == 200
