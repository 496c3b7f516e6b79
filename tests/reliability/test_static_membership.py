"""Static group membership on Apache Kafka (KIP-345): a pod restarted within the session timeout
moves no partition.

The StatefulSet sets ``STREAMS_GROUP_INSTANCE_ID`` to the pod's name (k8s/base/statefulset.yaml).
A static member does not leave the group when it stops, and the broker hands a member that
rejoins under the same instance id its partitions back without a rebalance of the others. Seen
from the other worker: its rebalance count (Faust's ``*_total_rebalances`` gauge) does not
move, and it keeps its partitions, while the restarted one is back on its own.

Timings are never asserted; every wait is a poll with a timeout that fails loudly.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from streams_devkit.broker import free_port
from tests.fixtures.pipeline import PARTITIONS, MakePipeline, Pipeline
from tests.fixtures.probes import get, wait_for_status

WAIT_S = 90.0


def rebalances(base: str) -> float:
    """Rebalances this worker completed (Faust's ``faust_rebalance_done_latency`` samples)."""
    status, body = get(f"{base}/metrics")
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith("faust_rebalance_done_latency_count "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no faust_rebalance_done_latency_count in /metrics")


def change(n: int, user: str) -> dict[str, str]:
    return {
        "event_id": f"e{n}-{user}", "user_id": user, "conversation_id": "c2c_peer",
        "custom_data": f"v{n}", "occurred_at": "2026-11-25T10:00:00Z", "version": n,
    }  # fmt: skip


#: Users spread over every partition (murmur2 of these names covers all 4).
USERS = [f"user{i}" for i in range(16)]


def applied_everywhere(pipe: Pipeline, n: int) -> set[int]:
    """Publish one change per user (every partition); wait until each is applied."""
    positions = pipe.publish(*(change(n, u) for u in USERS))
    assert {p for p, _ in positions} == set(range(PARTITIONS)), "users cover every partition"
    docs = pipe.outcomes_for(set(positions))
    first: dict[tuple[int, int], str] = {}
    for d in docs:
        first.setdefault((d["source"]["partition"], d["source"]["offset"]), d["status"])
    assert [first[p] for p in positions] == ["applied"] * len(USERS), first
    return {p for p, _ in positions}


def test_a_static_member_restarted_within_the_session_moves_no_partition(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, _emulator = reliable_pipeline()
    ports = [free_port(), free_port()]
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    # The production session timeout (30 s) said plainly: the restart must fit inside it.
    env = {"STREAMS_BROKER_SESSION_TIMEOUT_S": "30"}
    first = pipe.start_worker(
        STREAMS_WEB_PORT=str(ports[0]), STREAMS_GROUP_INSTANCE_ID="w-0", **env
    )
    for base in (a,):
        wait_for_status(f"{base}/readyz", 200, timeout_s=WAIT_S)
    pipe.start_worker(STREAMS_WEB_PORT=str(ports[1]), STREAMS_GROUP_INSTANCE_ID="w-1", **env)
    wait_for_status(f"{b}/readyz", 200, timeout_s=WAIT_S)
    applied_everywhere(pipe, 1)
    before = rebalances(b)

    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    stopped = time.monotonic()
    pipe.start_worker(STREAMS_WEB_PORT=str(ports[0]), STREAMS_GROUP_INSTANCE_ID="w-0", **env)
    wait_for_status(f"{a}/readyz", 200, timeout_s=WAIT_S)
    back = time.monotonic() - stopped
    applied_everywhere(pipe, 2)

    figures.update(rebalances_of_the_other_before=before, after=rebalances(b),
                   restart_to_ready_s=round(back, 1))  # fmt: skip
    assert rebalances(b) == before, "the other worker went through a rebalance"
    assert pipe.workers[1].poll() is None and pipe.workers[2].poll() is None
