"""Worker crashes (SIGKILL) and group membership changes while a stream is being processed.

Two workers share the consumer group over 4 partitions; a background publisher writes rounds of
changes (200 users x 10 conversations, a rising version per conversation per round, plus late
events and exact replays) while one worker is SIGKILLed and restarted, or a third joins and
leaves. Afterwards every published position must have an outcome, no event may be both applied
and failed, the IM state must be last-write-wins, and the write log must never move backwards.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.guarantees import (
    FAST,
    OWNING,
    UNLIMITED,
    Publisher,
    Workload,
    last_processed,
    longest_gap,
    owned,
    stalls,
    verify,
    wait_for,
)
from tests.fixtures.pipeline import PARTITIONS, MakePipeline, Pipeline


@dataclass(frozen=True)
class Scale:
    rounds: int
    interval_s: float
    cycles: int
    users: int = 200
    conversations: int = 10


DEFAULT = Scale(rounds=10, interval_s=0.8, cycles=1)
SOAK = Scale(rounds=60, interval_s=0.8, cycles=5)
SCALES = [
    pytest.param(DEFAULT, id="default"),
    pytest.param(SOAK, id="soak", marks=pytest.mark.soak),
]


def assignments(pipe: Pipeline, index: int) -> int:
    return len(OWNING.findall(pipe.worker_log(index)))


def wait_owning(
    pipe: Pipeline, index: int, *, since: int = 0, empty_ok: bool = False, timeout_s: float = 60.0
) -> float:
    """Seconds until worker ``index`` reports an assignment (after ``since`` earlier ones)."""
    return wait_for(
        lambda: assignments(pipe, index) > since and (empty_ok or bool(owned(pipe, index))),
        timeout_s,
        f"worker {index} to own partitions:\n{pipe.worker_log(index)[-3000:]}",
    )


def start_pair(pipe: Pipeline) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    first, second = pipe.start_worker(), pipe.start_worker()
    wait_for(
        lambda: (
            owned(pipe, 0) is not None
            and owned(pipe, 1) is not None
            and (owned(pipe, 0) or 0) + (owned(pipe, 1) or 0) == PARTITIONS
            and bool(owned(pipe, 1))
        ),
        60,
        "both workers to share the partitions",
    )
    return first, second


def check_exits(pipe: Pipeline, indexes: list[int], figures: dict[str, Any]) -> None:
    """No worker stopped on its own, except through the recovery watchdog.

    ``streams.engine.runner`` stops a worker whose table recovery stopped reading (finding 7);
    its partitions then move on, which the outcome checks have shown. In Kubernetes the pod
    restarts. Any other exit is a failure.
    """
    dead = [i for i in indexes if pipe.workers[i].poll() is not None]
    watchdog = [i for i in dead if "RecoveryStalledError" in pipe.worker_log(i)]
    tails = [pipe.worker_log(i)[-2000:] for i in dead]
    assert dead == watchdog, f"a worker died on its own: {tails}"
    figures["recovery_watchdog_stops"] = len(watchdog)


@pytest.mark.parametrize("scale", SCALES)
def test_sigkill_and_restart_mid_stream(
    reliable_pipeline: MakePipeline, figures: dict[str, Any], scale: Scale
) -> None:
    pipe, emulator = reliable_pipeline(worker_env=FAST, **UNLIMITED)
    work = Workload(
        tag=pipe.prefix, users=scale.users, conversations=scale.conversations, rounds=scale.rounds
    )
    start_pair(pipe)
    slots = [0, 1]  # index in pipe.workers (and log number) of each of the two live workers
    started = time.time()
    publisher = Publisher(
        pipe.bootstrap, pipe.changes, [work.round(r) for r in range(scale.rounds)], scale.interval_s
    )
    publisher.start()
    publisher.wait_round(1)
    wait_for(lambda: emulator.stats()["items_applied"] > 0, 30, "the first writes")
    kills: list[float] = []
    takeovers: list[float] = []
    rejoins: list[float] = []
    step = scale.rounds // (scale.cycles + 1)
    for cycle in range(scale.cycles):
        victim, survivor = cycle % 2, 1 - cycle % 2  # alternate which worker dies
        publisher.wait_round(1 + cycle * step + step // 3)
        before = assignments(pipe, slots[survivor])
        pipe.workers[slots[victim]].kill()
        pipe.workers[slots[victim]].wait()
        kills.append(time.time())
        takeovers.append(round(wait_owning(pipe, slots[survivor], since=before), 2))
        publisher.wait_round(1 + cycle * step + 2 * step // 3)
        pipe.start_worker()
        slots[victim] = len(pipe.workers) - 1
        rejoins.append(round(wait_owning(pipe, slots[victim]), 2))
    figures |= {
        "scale": scale.__dict__,
        "events_per_round": work.per_round,
        "kills": len(kills),
        "survivor_took_over_after_s": takeovers,
        "restarted_worker_assigned_after_s": rejoins,
    }
    outcomes = verify(pipe, emulator, work, publisher, figures)
    figures |= {
        "time_to_recover_s": [max(stalls(outcomes, after=k).values()) for k in kills],
        "longest_partition_stall_s": longest_gap(outcomes, started, last_processed(outcomes)),
        "wall_s": round(time.time() - started, 1),
    }
    assert figures["events"] >= 20_000
    check_exits(pipe, slots, figures)


@pytest.mark.parametrize("scale", SCALES)
def test_third_worker_joins_and_leaves_mid_stream(
    reliable_pipeline: MakePipeline, figures: dict[str, Any], scale: Scale
) -> None:
    pipe, emulator = reliable_pipeline(worker_env=FAST, **UNLIMITED)
    work = Workload(
        tag=pipe.prefix, users=scale.users, conversations=scale.conversations, rounds=scale.rounds
    )
    start_pair(pipe)
    started = time.time()
    publisher = Publisher(
        pipe.bootstrap, pipe.changes, [work.round(r) for r in range(scale.rounds)], scale.interval_s
    )
    publisher.start()
    joins: list[float] = []
    leaves: list[float] = []
    exit_codes: list[int] = []
    third_owned: list[int] = []
    step = scale.rounds // (scale.cycles + 1)
    for cycle in range(scale.cycles):
        publisher.wait_round(1 + cycle * step + step // 4)
        third = pipe.start_worker()
        index = len(pipe.workers) - 1
        # Faust's sticky assignor may leave the third of 3 workers on 4 partitions idle (at most
        # ceil(4/3) = 2 each): the join still revokes and reassigns on the other two.
        joins.append(round(wait_owning(pipe, index, empty_ok=True), 2))
        third_owned.append(owned(pipe, index) or 0)
        publisher.wait_round(1 + cycle * step + 3 * step // 4)
        before = assignments(pipe, 0)
        leaving = time.monotonic()
        third.terminate()
        exit_codes.append(third.wait(timeout=60))
        leaves.append(round(time.monotonic() - leaving, 2))
        wait_owning(pipe, 0, since=before, empty_ok=True)
    figures |= {
        "scale": scale.__dict__,
        "events_per_round": work.per_round,
        "joins": len(joins),
        "joined_worker_assigned_after_s": joins,
        "joined_worker_partitions": third_owned,
        "sigterm_to_exit_s": leaves,
        "exit_codes": exit_codes,
    }
    outcomes = verify(pipe, emulator, work, publisher, figures)
    figures |= {
        "longest_partition_stall_s": longest_gap(outcomes, started, last_processed(outcomes)),
        "wall_s": round(time.time() - started, 1),
    }
    assert figures["events"] >= 20_000
    assert exit_codes == [0] * len(exit_codes), "SIGTERM is a clean shutdown"
    check_exits(pipe, [0, 1], figures)
