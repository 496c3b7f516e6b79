"""Metrics, health and readiness over the worker's web port, and JSON logs, after real runs.

What each probe answers while a table recovers, the IM endpoint is down or the agent is stuck:
tests/e2e/test_probes.py.
"""

import time
from collections.abc import Callable
from typing import Any

import orjson

from streams_devkit.broker import free_port
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.probes import get, metric, wait_for_status

Make = Callable[..., tuple[Pipeline, Any]]


def test_health_readiness_and_metrics(pipeline_factory: Make) -> None:
    pipe, _ = pipeline_factory()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port), STREAMS_LOG_FORMAT="json")
    wait_for_status(f"{base}/healthz", 200)
    assert orjson.loads(wait_for_status(f"{base}/readyz", 200))["status"] == "ready"
    assert orjson.loads(wait_for_status(f"{base}/startupz", 200))["status"] == "started"

    docs = [
        {"event_id": f"m{i}", "user_id": "alice", "conversation_id": f"c2c_{i % 3}",
         "custom_data": "x", "occurred_at": "2026-11-25T10:00:00Z"}
        for i in range(9)
    ]  # fmt: skip
    published = pipe.publish(*docs, b"garbage")
    pipe.outcomes_for(set(published))
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        text = get(f"{base}/metrics")[1].decode()
        if "streams_events_consumed_total 10.0" in text:
            break
        time.sleep(0.3)
    assert metric(text, "streams_events_consumed_total") == 10
    assert 'streams_outcomes_total{status="rejected"} 1.0' in text
    assert 'streams_sdk_requests_total{code="0"}' in text
    assert metric(text, "streams_dead_letters_total") == 1
    # The rate control's figures ("are we using the quota we pay for?" divides the requests'
    # rate by streams_im_budget): the default budget, and one worker's whole share of it.
    assert metric(text, "streams_im_budget") == 200
    assert 0 < metric(text, "streams_im_rate_limit") <= 200
    assert metric(text, "streams_im_budget_bound_seconds_total") >= 0
    assert metric(text, "streams_im_frequency_limited_total") == 0
    assert "streams_sdk_request_seconds_bucket" in text
    # Faust's own sensor exports into the same registry: the changes topic's end offsets.
    ends = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("faust_topic_partition_end_offset{") and f'"{pipe.changes}"' in line
    ]
    assert sum(ends) == len(published), ends
    # The consumer's refetch counter is exported (its value depends on start-up timing).
    assert any(line.startswith("streams_consumer_refetches_total ") for line in text.splitlines())
    # Faust's table counters are added up after each window: 3 winners, pending then applied.
    updated = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("faust_table_operations_total{") and 'operation="keys_updated"' in line
    ]
    assert updated and updated[0] >= 6, updated

    log_lines = [line for line in pipe.worker_log(0).splitlines() if line.startswith("{")]
    assert log_lines, pipe.worker_log(0)[-2000:]
    assert all("level" in orjson.loads(line) for line in log_lines)


def test_only_our_pages_are_served(pipeline_factory: Make) -> None:
    pipe, _ = pipeline_factory()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    assert orjson.loads(wait_for_status(f"{base}/readyz", 200))["status"] == "ready"
    assert orjson.loads(wait_for_status(f"{base}/healthz", 200))["status"] == "ok"
    assert "streams_events_consumed_total" in wait_for_status(f"{base}/metrics", 200).decode()
    # Faust's own views, unauthenticated: table data, cluster topology, sensor state.
    faust_views = [
        "/table/last-applied",
        "/table/last-applied/",
        "/table/last-applied/alice%2Fc2c_bob/",
        "/table/",
        "/router/",
        "/router/topics",
        "/router/last-applied/",
        "/",
        "/assignment/",
        "/graph/",
        "/performance/",
    ]
    assert {path: get(base + path)[0] for path in faust_views} == dict.fromkeys(faust_views, 404)
