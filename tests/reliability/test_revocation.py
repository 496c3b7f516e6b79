"""A budget-bound worker's partitions move while its window still has a backlog to send.

One worker starts on a backlog that takes its request budget far longer than the rebalance
timeout to send (1,000 users, one request each per window, at 40 requests/s: 25 s against
12 s). Once it writes, newer versions of every conversation are published and a second worker
joins. Before the fix, the first worker went on sending after the group had given its
partitions to the second (the revocation waited for its window until the rebalance timeout,
then the group went on without it), so its late requests put older values back over the ones
the new owner had applied: 537 writes went backwards. With the window's bound but without the
revocation hook, still 56: the bound cuts each window, but the agent runs what a window left
as the next one, and the revocation waits for all of them. Now ownership ends when the
revocation begins, and no window sends past its bound (``STREAMS_WINDOW_BOUND_S``).

Checked against the emulator's write log: no conversation's value ever moves backwards, every
published event has an outcome, the final state is last-write-wins, and the bound did leave
events to later windows (which the outcomes show were all processed).
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

USERS = 1_000
BUDGET_PER_S = 40
#: The rebalance timeout is short so the test is; the window's bound, the IM client's timeout
#: and the producing budget (5 s) fit under it, as the worker requires.
BUDGET_BOUND = {
    "STREAMS_RATE_LIMIT": str(BUDGET_PER_S),
    "STREAMS_BROKER_REBALANCE_TIMEOUT_S": "12",
    "STREAMS_WINDOW_BOUND_S": "3",
    "STREAMS_SDK_RETRY_DEADLINE_S": "2",
    "STREAMS_IM_TIMEOUT_S": "3.5",
}
BACKLOG_ROUNDS = 3
ROUNDS = 5


def test_a_revoked_window_never_writes_after_the_new_owner(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline(worker_env=BUDGET_BOUND, rate_limit=0)
    work = Workload(tag=pipe.prefix, users=USERS, conversations=1, rounds=ROUNDS)
    backlog = Publisher(
        pipe.bootstrap, pipe.changes, [work.round(r) for r in range(BACKLOG_ROUNDS)], 0
    )
    backlog.start()
    backlog.join_checked()
    started = time.time()
    pipe.start_worker()
    wait_for(lambda: emulator.stats()["items_applied"] > 0, 60, "the first worker's first writes")
    # The newer versions are all in the topic before the second worker joins: its first window
    # holds them, while the first worker's window in progress holds only the backlog's.
    newer = Publisher(
        pipe.bootstrap, pipe.changes, [work.round(r) for r in range(BACKLOG_ROUNDS, ROUNDS)], 0
    )
    newer.start()
    newer.join_checked()
    pipe.start_worker()
    wait_for(
        lambda: "owning 0 partitions" not in pipe.worker_log(1) and "owning" in pipe.worker_log(1),
        60,
        f"the second worker to own partitions:\n{pipe.worker_log(1)[-3000:]}",
    )
    published = {**backlog.published, **newer.published}
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published, timeout_s=240)
    ledger = Ledger({p: d for p, d in published.items() if isinstance(d, dict)}, outcomes)
    ledger.writes = emulator.writes()
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=True
    )
    figures |= {
        "requests": emulator.stats()["requests"],
        "left_for_next_window": sum(
            pipe.worker_log(i).count("left for the next window") for i in (0, 1)
        ),
        "wall_s": round(time.time() - started, 1),
    }
    assert figures["left_for_next_window"] > 0, "the bound cut the budget-bound windows"
    assert all(w.poll() is None for w in pipe.workers), "no worker stopped"
