"""Metrics from window stats (a fresh registry per test), readiness reasons, JSON log lines."""

import logging
from dataclasses import replace
from types import SimpleNamespace

import orjson
from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.core.progress import AgentProgress
from streams.engine.monitor import LeanPrometheusMonitor
from streams.observability import JsonFormatter, Liveness, Metrics, Readiness
from streams.window.apply import ApplyReport
from streams.window.processor import WindowStats


def test_window_stats_become_metrics() -> None:
    metrics = Metrics()
    sdk = ApplyReport(requests=2, retries=3, codes={0: 1, 70169: 1}, frequency_limited=1,
                      timings=[(0.01, 40), (0.2, 2)])  # fmt: skip
    stats = WindowStats(events=50, conversations=42, dead_letters=1, forwards=2,
                        forged_origins=3, quarantined=1,
                        statuses={"applied": 40, "rejected": 1}, sdk=sdk)  # fmt: skip
    rate = [40.0]
    metrics.watch_budget(200, lambda: rate[0])
    metrics.observe_window(stats, limiter_wait_s=0.5, budget_bound_s=0.25)
    rate[0] = 35.5
    value = metrics.registry.get_sample_value
    assert value("streams_events_consumed_total") == 50
    assert value("streams_outcomes_total", {"status": "applied"}) == 40
    assert value("streams_sdk_requests_total", {"code": "70169"}) == 1
    assert value("streams_sdk_retries_total") == 3
    assert value("streams_rate_limiter_wait_seconds_total") == 0.5
    assert value("streams_im_budget_bound_seconds_total") == 0.25
    assert value("streams_im_frequency_limited_total") == 1
    assert value("streams_im_budget") == 200
    assert value("streams_im_rate_limit") == 35.5, "read from the limiter at each scrape"
    assert value("streams_events_per_request_sum") == 42
    assert value("streams_sdk_request_seconds_count") == 2
    assert value("streams_misrouted_forwards_total") == 2
    assert value("streams_origin_headers_ignored_total") == 3
    assert value("streams_quarantined_records_total") == 1


def test_readiness_names_every_problem() -> None:
    readiness = Readiness(
        assigned=lambda: False, recovered=lambda: False, agent_running=lambda: False
    )
    started = ["no partitions assigned yet", "table recovery not finished"]
    assert readiness.startup_problems() == started
    assert readiness.problems() == [*started, "the agent is not running"]
    ready = Readiness(assigned=lambda: True, recovered=lambda: True, agent_running=lambda: True)
    assert ready.startup_problems() == ready.problems() == []


def test_liveness_names_the_stall_once_it_lasts() -> None:
    now = [0.0]
    progress = AgentProgress(
        started=True, running=True, pending=3, completed=1, recovering=False, rebalancing=False
    )
    liveness = Liveness(lambda: progress, stall_s=30, clock=lambda: now[0])
    assert liveness.problems() == []
    now[0] = 31
    assert liveness.problems() == [
        "no window completed for 31 s with 3 events waiting (STREAMS_LIVENESS_STALL_S=30)"
    ]
    progress = replace(progress, running=False, pending=0)
    assert liveness.problems() == ["the agent has not been running for 31 s"]


def test_json_log_lines() -> None:
    record = logging.LogRecord("streams.worker", logging.INFO, __file__, 1, "owning %d", (4,), None)
    doc = orjson.loads(JsonFormatter().format(record))
    assert (doc["level"], doc["logger"], doc["message"]) == ("INFO", "streams.worker", "owning 4")


def test_lean_faust_sensor_counts_table_ops_and_moved_end_offsets() -> None:
    registry = CollectorRegistry()
    monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))
    table = SimpleNamespace(name="last-applied")
    for _ in range(3):
        monitor.on_table_set(table, "k", "v")
    monitor.on_table_get(table, "k")
    monitor.on_table_del(table, "k")
    tp = TP("changes", 2)
    monitor.track_tp_end_offset(tp, 10)
    monitor.track_tp_end_offset(tp, 10)
    monitor.track_tp_end_offset(tp, 12)
    value = registry.get_sample_value

    def ops() -> dict[str, float | None]:
        return {
            op: value(
                "faust_table_operations_total", {"table": "table.last-applied", "operation": op}
            )
            for op in ("keys_updated", "keys_retrieved", "keys_deleted")
        }

    assert set(ops().values()) == {None}, "counted in plain integers until the window's flush"
    monitor.flush_table_ops()
    assert ops() == {"keys_updated": 3, "keys_retrieved": 1, "keys_deleted": 1}
    monitor.on_table_set(table, "k", "v")
    monitor.flush_table_ops()
    monitor.flush_table_ops()
    assert ops() == {"keys_updated": 4, "keys_retrieved": 1, "keys_deleted": 1}
    assert monitor.tables["last-applied"].keys_updated == 4
    end = value("faust_topic_partition_end_offset", {"topic": "changes", "partition": "2"})
    assert end == 12 and monitor.tp_end_offsets[tp] == 12
