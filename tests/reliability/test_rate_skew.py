"""Skewed load under a budget equal to the IM quota: the hot worker uses what the idle one leaves.

Two workers, each owning two of the four partitions, share ``STREAMS_RATE_LIMIT`` = the emulator's
``rate_limit``. Nearly all users live on one partition, so one worker is budget-bound while the
other idles. With the fixed split the hot worker could never send more than its half (9.8/s,
at most 10 requests in one of the emulator's 1-second buckets); with adaptive rate control it
grows into the idle share. Checked: every event applied, the counts add up between the
emulator and both workers' /metrics, few 60007s, and seconds in which the hot partition alone
got more requests accepted than its worker's share allows.
"""

from __future__ import annotations

import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.partitioning import partition_for
from streams_devkit.broker import free_port
from tests.fixtures.guarantees import (
    Doc,
    Ledger,
    Publisher,
    change,
    check_outcomes_cover,
    check_state,
    check_writes,
    emulator_state,
    read_outcomes,
    wait_for,
)
from tests.fixtures.pipeline import PARTITIONS, MakePipeline

IM_LIMIT = 20
HOT_PARTITION = 0
#: The hot worker's fixed share: the budget x 0.98 x 2 of 4 partitions.
HOT_SHARE = IM_LIMIT * 0.98 * 2 / PARTITIONS


def users_on(prefix: str, partition: int, count: int) -> list[str]:
    """``count`` user ids whose key lands on ``partition`` (Kafka's murmur2 partitioner)."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        user = f"{prefix}s{n:04d}"
        if partition_for(user.encode(), PARTITIONS) == partition:
            found.append(user)
        n += 1
    return found


def rounds(users: list[str], count: int, conversations: int) -> list[list[Doc]]:
    """Round ``r`` sets every conversation of every user to version ``r``."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def event(user: str, c: int, r: int) -> Doc:
        event_id = f"{user}-c{c}-r{r}"
        at = base + timedelta(seconds=r)
        return change(event_id, user, f"c2c_peer{c}", f"{r}:{event_id}", at=at, version=r)

    return [[event(u, c, r) for u in users for c in range(conversations)] for r in range(count)]


def scrape(port: int) -> dict[str, float]:
    """The worker's /metrics, summed over labels per sample name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: Counter[str] = Counter()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name.split("{", 1)[0]] += float(value)
    return dict(samples)


def test_skewed_load_lets_the_hot_worker_use_the_idle_share(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline(
        rate_limit=IM_LIMIT, worker_env={"STREAMS_RATE_LIMIT": str(IM_LIMIT)}
    )
    hot = users_on(pipe.prefix, HOT_PARTITION, 90)
    cold = [u for p in range(1, PARTITIONS) for u in users_on(pipe.prefix, p, 2)]
    ports = [free_port(), free_port()]
    for port in ports:
        pipe.start_worker(STREAMS_WEB_PORT=str(port))
    wait_for(
        lambda: "owning 2 partitions" in pipe.worker_log(1), 60, "two workers sharing partitions"
    )
    publisher = Publisher(pipe.bootstrap, pipe.changes, rounds(hot + cold, 4, 2), 0.5)
    publisher.start()
    published = publisher.join_checked()
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published, timeout_s=120)
    stats = emulator.stats()
    ledger = Ledger({p: d for p, d in published.items() if isinstance(d, dict)}, outcomes)
    ledger.writes = emulator.writes()
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(ledger, emulator_state(emulator, hot + cold), everything_applies=True)
    failed = [d for d in outcomes if d["status"] == "failed"]
    assert not failed, f"every 60007 was retried to success within the deadline: {failed[:3]}"

    # Per worker, from its own /metrics, once the last window's figures are in.
    def scraped() -> list[dict[str, float]]:
        return [scrape(port) for port in ports]

    wait_for(
        lambda: sum(m["streams_sdk_requests_total"] for m in scraped()) == stats["requests"],
        20,
        "the workers' request counts to add up to the emulator's",
    )
    workers = scraped()
    requests = [m["streams_sdk_requests_total"] for m in workers]
    limited = [m["streams_im_frequency_limited_total"] for m in workers]
    assert sum(limited) == stats["rejected_frequency"], (limited, stats)
    assert all(m["streams_im_budget"] == IM_LIMIT for m in workers)
    busy = max(range(2), key=lambda i: requests[i])
    # Requests the hot partition got accepted per emulator second (its fixed 1-second buckets).
    hot_users = set(hot)
    per_second: dict[int, set[str | None]] = {}
    for write in ledger.writes:
        if write["user"] in hot_users:
            per_second.setdefault(int(write["at"]), set()).add(write["request_id"])
    hot_counts = sorted((len(ids) for ids in per_second.values()), reverse=True)
    figures |= {
        "im_limit_per_s": IM_LIMIT,
        "hot_share_per_s": HOT_SHARE,
        "requests": stats["requests"],
        "answered_60007": stats["rejected_frequency"],
        "share_60007": round(stats["rejected_frequency"] / stats["requests"], 3),
        "requests_per_worker": requests,
        "bound_s_per_worker": [
            round(m["streams_im_budget_bound_seconds_total"], 1) for m in workers
        ],
        "hot_requests_per_second": hot_counts,
    }
    assert requests[busy] > 3 * requests[1 - busy], "the load is skewed as intended"
    assert figures["share_60007"] <= 0.05, figures
    over_share = [n for n in hot_counts if n > HOT_SHARE + 2]
    assert len(over_share) >= 3, f"the hot partition never went past its worker's share: {figures}"
    assert all(n <= IM_LIMIT for n in hot_counts), "never past the quota (the emulator's own rule)"
    assert all(w.poll() is None for w in pipe.workers)
