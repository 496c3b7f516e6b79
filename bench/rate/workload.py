"""The workload: changes each of its own user, spread over the partitions by weight."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import orjson

from bench.rate.scenarios import Scenario
from streams.core.partitioning import partition_for


def partition_weights(scenario: Scenario, hot: Sequence[int]) -> list[float]:
    """Each partition's share of the events: ``hot`` ones share ``hot_share`` evenly."""
    n = scenario.partitions
    if scenario.hot_share is None or not hot:
        return [1.0 / n] * n
    cold = n - len(hot)
    return [
        scenario.hot_share / len(hot) if p in hot else (1 - scenario.hot_share) / cold
        for p in range(n)
    ]


def events(
    prefix: str, partitions: int, weights: Sequence[float], count: int, seed: int = 18
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` changes, each of its own user (key), spread over partitions by ``weights``."""
    rng = random.Random(seed)  # noqa: S311 (workload shape, not security)
    pools: dict[int, list[str]] = defaultdict(list)
    candidate = 0
    at = datetime.now(UTC).isoformat()
    for i in range(count):
        partition = rng.choices(range(partitions), weights)[0]
        while not pools[partition]:
            user = f"{prefix}u{candidate}"
            candidate += 1
            pools[partition_for(user.encode(), partitions)].append(user)
        user = pools[partition].pop()
        doc = {
            "event_id": f"{prefix}e{i}",
            "user_id": user,
            "conversation_id": f"c2c_peer-{i % 97}",
            "custom_data": f"rate #{i}",
            "occurred_at": at,
            "source": "bench-rate",
        }
        yield user.encode(), orjson.dumps(doc)
