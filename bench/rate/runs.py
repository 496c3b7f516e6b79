"""What one (scenario, control) run recorded, and its requests per second and per worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.rate.scenarios import Scenario
from streams.core.partitioning import partition_for
from streams.core.rate_control import RateControl
from streams.sdk import codes

#: The request-level codes of a frequency limit (the worker's own list).
FREQUENCY_CODES = codes.FREQUENCY_LIMIT_CODES


@dataclass
class Sample:
    """One scrape: seconds since the demand started, each worker's streams_im_rate_limit."""

    t: float
    rate_limits: list[float | None]


@dataclass
class RunResult:
    """What one (scenario, control) run recorded."""

    scenario: Scenario
    control: RateControl
    started: float
    #: Worker index -> partitions of the changes topic it owned while the demand ran.
    owned: dict[int, list[int]]
    #: (time, code, user) of every REST call, from the emulator.
    calls: list[tuple[float, int, str | None]]
    samples: list[Sample]
    #: Each worker's final /metrics, summed over labels per sample name.
    final_metrics: list[dict[str, float]]
    published: int
    rebalanced: bool = False
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hot_worker: int | None = None
    per_second: dict[int, list[list[int]]] = field(default_factory=dict)

    def worker_of(self) -> Callable[[str | None], int | None]:
        owner = {p: w for w, parts in self.owned.items() for p in parts}
        n = self.scenario.partitions
        return lambda user: None if user is None else owner.get(partition_for(user.encode(), n))


def seconds_table(result: RunResult) -> dict[int, list[list[int]]]:
    """Second of the demand -> per worker [accepted, rejected] (a last row: unattributed)."""
    workers = result.scenario.workers
    worker_of = result.worker_of()
    table: dict[int, list[list[int]]] = {}
    base = int(result.started)  # the emulator's buckets are whole seconds of its clock
    for at, code, user in result.calls:
        second = int(at) - base
        row = table.setdefault(second, [[0, 0] for _ in range(workers + 1)])
        worker = worker_of(user)
        row[workers if worker is None else worker][1 if code in FREQUENCY_CODES else 0] += 1
    return table
