"""Scenarios (f), (g), (h) of the benchmark: the workload, the per-second figures and the
section writer, without running workers (a real run takes minutes)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bench import rate
from bench.brokers import TANSU
from bench.rate import RunResult, Sample, Scenario
from streams.core.partitioning import partition_for
from streams.core.rate_control import RateControl
from streams_devkit.kafka import KAFKA_VERSION

LOG_LINE = (
    "[2026-12-02 02:30:12,582] [1] [INFO] aiokafka.consumer.group_coordinator: Setting newly "
    "assigned partitions {TopicPartition(topic='p-changes', partition=5), TopicPartition("
    "topic='p-app-last-applied-changelog', partition=5), TopicPartition(topic='p-changes', "
    "partition=1)} for group p-app"
)


def test_the_assignment_is_read_from_the_workers_last_assignment_line() -> None:
    older = LOG_LINE.replace("partition=5", "partition=7")
    assert rate.parse_assignment(older + "\n" + LOG_LINE, "p-changes") == [1, 5]
    assert rate.parse_assignment("no assignment yet", "p-changes") is None


def test_each_event_is_its_own_user_on_the_partitions_the_weights_give() -> None:
    scenario = rate.scenarios(rate.QUICK)[0]
    weights = rate.partition_weights(scenario, [2, 6])
    assert weights[2] == weights[6] == pytest.approx(0.35)
    assert sum(weights) == pytest.approx(1.0)
    records = list(rate.events("t-", 8, weights, 4_000))
    users = [key for key, _ in records]
    assert len(set(users)) == len(users) == 4_000, "one request per event: nothing coalesces"
    per_partition = Counter(partition_for(key, 8) for key in users)
    assert (per_partition[2] + per_partition[6]) / 4_000 == pytest.approx(0.7, abs=0.03)
    doc = orjson.loads(records[0][1])
    assert doc["user_id"].encode() == records[0][0]


def _result(calls: list[tuple[float, int, str | None]], scenario: Scenario) -> RunResult:
    users = {}
    n = 0
    while len(users) < scenario.partitions:  # one user per partition
        user = f"x{n}"
        users.setdefault(partition_for(user.encode(), scenario.partitions), user)
        n += 1
    owned = {w: [p for p in range(scenario.partitions) if p % scenario.workers == w]
             for w in range(scenario.workers)}  # fmt: skip
    named = [(at, code, users[int(user)] if user else None) for at, code, user in calls]
    result = RunResult(scenario, RateControl.ADAPTIVE, 1000.2, owned, named, [], [], 0)
    result.per_second = rate.seconds_table(result)
    return result


def test_figures_per_second_and_per_worker_from_the_request_log() -> None:
    scenario = Scenario("g", "t", workers=2, partitions=4, budget=1000, demand=300, duration_s=6)
    # Seconds 0-1: 250 sent, 50 refused each; then 190 accepted and none refused.
    calls = []
    for second in range(6):
        for i in range(250 if second < 2 else 190):
            code = 60007 if second < 2 and i >= 200 else 0
            calls.append((1000.0 + second + i / 1000, code, str(i % 4)))
    calls.append((1003.5, 0, None))
    result = _result(calls, scenario)
    assert result.per_second[0][0] == [100, 25] and result.per_second[0][1] == [100, 25]
    assert result.per_second[3][2] == [1, 0], "a call without a user is counted apart"
    assert rate.span(result, 2, 6).used == pytest.approx((4 * 190 + 1) / 800)
    assert rate.span(result, 0, 2).rejected_share == pytest.approx(0.2)
    assert rate.span(result, 0, 6, worker=1).accepted == 100 + 100 + 4 * 95
    assert rate.converged_at(result) == 2
    late = _result([*calls, *((1005.5, 60007, "1") for _ in range(21))], scenario)
    assert rate.converged_at(late) is None, "still refusing > 10 % in the last second"


def test_settling_after_the_quota_changes() -> None:
    scenario = Scenario("h", "t", workers=2, partitions=4, budget=200, demand=300,
                        duration_s=12, quota_steps=((4, 100), (8, 200)))  # fmt: skip
    assert [scenario.quota(s) for s in (0, 3, 4, 7, 8, 11)] == [200, 200, 100, 100, 200, 200]
    accepted = [195, 195, 195, 195, 100, 100, 100, 100, 120, 185, 190, 190]
    refused = [0, 0, 0, 0, 60, 15, 0, 0, 0, 0, 0, 0]
    calls = [
        (1000.0 + s + i / 1000, code, str(i % 4))
        for s in range(12)
        for i, code in enumerate([0] * accepted[s] + [60007] * refused[s])
    ]
    result = _result(calls, scenario)
    assert rate.converged_at(result, 4, 8) == 2, "second 5 still refused > 10 % of 100"
    assert rate.risen_at(result, 8, 12) is None, "5 s spans do not fit in the last 4"
    longer = Scenario("h", "t", workers=2, partitions=4, budget=200, demand=300,
                      duration_s=14, quota_steps=((4, 100), (8, 200)))  # fmt: skip
    more = [*calls, *((1012.0 + s + i / 1000, 0, "0") for s in range(2) for i in range(190))]
    assert rate.risen_at(_result(more, longer), 8, 14) == 1


def test_the_section_names_its_broker_and_plots_are_drawn(tmp_path: Path) -> None:
    scenario = Scenario("h", "t", workers=2, partitions=4, budget=200, demand=300,
                        duration_s=12, quota_steps=((4, 100), (8, 200)))  # fmt: skip
    calls = [(1000.0 + s + i / 1000, 0, str(i % 4)) for s in range(12) for i in range(150)]
    pair = {control: _result(calls, scenario) for control in rate.CONTROLS}
    for r in pair.values():
        r.samples = [Sample(float(s), [90.0, None]) for s in range(12)]
        r.final_metrics = [{}, {}]
    rate.plot(pair, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = rate.figures(pair)
    assert any("halved" in label for label, *_ in fig.rows)
    started = datetime.now(UTC)
    on_kafka = rate.section({"h": pair}, mode="quick", started=started)
    assert on_kafka.startswith(rate.BEGIN) and on_kafka.endswith(rate.END)
    assert f"on Apache Kafka {KAFKA_VERSION}" in on_kafka.splitlines()[1]
    assert "`python -m bench.run --only rate --quick`" in on_kafka
    assert "(plots/rate-h.png)" in on_kafka
    on_tansu = rate.section({"h": pair}, mode="full", started=started, broker=TANSU)
    assert on_tansu.startswith(rate.SECTIONS[TANSU].begin) and "on Tansu " in on_tansu
    assert "`python -m bench.run --only rate --broker tansu`" in on_tansu
    assert "(plots/rate-h-tansu.png)" in on_tansu
