"""Frequency-limit storm: the IM allows fewer requests per second than the workers' budget.

The emulator answers 60007 beyond ``rate_limit`` requests per 1-second bucket, applying nothing;
two workers share a budget of 1.5 times that. Their adaptive rates (streams/core/rate_control.py)
start at the partition shares, 1.47 times the quota together, and must settle under it after a
few 60007s, retrying those until everything is applied: no event lost, no outcome ``failed``,
every copy of an outcome agreeing with its event, and few requests refused.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fixtures.guarantees import (
    Ledger,
    Publisher,
    Workload,
    check_outcomes_cover,
    check_state,
    check_writes,
    emulator_state,
    read_outcomes,
    wait_for,
)
from tests.fixtures.pipeline import MakePipeline

IM_LIMIT = 20
WORKER_BUDGET = 30


def test_frequency_limit_storm_backs_off_and_loses_nothing(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline(
        rate_limit=IM_LIMIT, worker_env={"STREAMS_RATE_LIMIT": str(WORKER_BUDGET)}
    )
    work = Workload(tag=pipe.prefix, users=200, conversations=2, rounds=6, replay_share=0.1)
    pipe.start_worker()
    pipe.start_worker()
    wait_for(
        lambda: "owning 2 partitions" in pipe.worker_log(1), 60, "two workers sharing partitions"
    )
    started = time.time()
    publisher = Publisher(
        pipe.bootstrap, pipe.changes, [work.round(r) for r in range(work.rounds)], 0.5
    )
    publisher.start()
    published = publisher.join_checked()
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published, timeout_s=120)
    elapsed = time.time() - started
    stats = emulator.stats()
    ledger = Ledger({p: d for p, d in published.items() if isinstance(d, dict)}, outcomes)
    ledger.writes = emulator.writes()
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=True
    )
    failed = [d for d in outcomes if d["status"] == "failed"]
    assert not failed, f"every 60007 was retried to success within the deadline: {failed[:3]}"
    assert stats["rejected_frequency"] > 0, "the storm happened"
    accepted = stats["requests"] - stats["rejected_frequency"]
    figures |= {
        "im_limit_per_s": IM_LIMIT,
        "worker_budget_per_s": WORKER_BUDGET,
        "requests": stats["requests"],
        "answered_60007": stats["rejected_frequency"],
        "share_60007": round(stats["rejected_frequency"] / stats["requests"], 3),
        "accepted_per_s": round(accepted / elapsed, 1),
        "wall_s": round(elapsed, 1),
    }
    # The shares overshoot the quota by 47 % until the first 60007s: that start costs 10-20
    # refusals of ~415 requests, then the rates hold just under the quota. Measured 3.1-5.4 %
    # over four runs on a loaded machine (the fixed split, pause-and-halve, refused 11-15 %
    # here; docs/PERFORMANCE.md, "Rate control"): 8 % leaves room for the start, not for a
    # controller that keeps overshooting.
    assert figures["share_60007"] <= 0.08, figures
    assert accepted >= stats["requests"] * 0.92
    assert all(w.poll() is None for w in pipe.workers)
