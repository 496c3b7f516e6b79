"""Metrics, health and logs of a worker: what an operator watches and what Kubernetes probes.

``/metrics`` serves Faust's own Prometheus sensor and the pipeline's metrics from one registry.
The probes: ``/startupz`` answers 200 once partitions were assigned and the first table recovery
finished; ``/readyz`` once started and while the agent runs; ``/healthz`` unless the agent had
events waiting and neither completed a window nor finished an IM request for
``STREAMS_LIVENESS_STALL_S`` (outside a recovery; :mod:`streams.core.progress` decides).
Log records never carry custom data or credentials: the pipeline logs ids, counts and codes
only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.core.progress import AgentProgress, AgentStallDetector
from streams.window.processor import WindowStats

_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class Metrics:
    """The pipeline's Prometheus metrics (a registry per instance, so tests stay isolated)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter("streams_events_consumed", "Input events consumed.", registry=r)
        self.outcomes = Counter(
            "streams_outcomes", "Outcomes produced, by status.", ["status"], registry=r
        )
        self.requests = Counter(
            "streams_sdk_requests", "IM REST requests, by request-level code.", ["code"], registry=r
        )
        self.latency = Histogram(
            "streams_sdk_request_seconds", "IM REST request latency.", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.retries = Counter(
            "streams_sdk_retries", "Conversations sent again after a retryable error.", registry=r
        )
        self.limiter_wait = Counter(
            "streams_rate_limiter_wait_seconds",
            "Time requests spent waiting for the rate limiter, summed over the requests.",
            registry=r,
        )
        self.rate_limit = Gauge(
            "streams_im_rate_limit",
            "IM requests per second this worker allows itself now.",
            registry=r,
        )
        self.budget = Gauge(
            "streams_im_budget",
            "The app-wide IM budget per second (STREAMS_RATE_LIMIT).",
            registry=r,
        )
        self.budget_bound = Counter(
            "streams_im_budget_bound_seconds",
            "Time during which requests waited for the rate limiter (budget-bound).",
            registry=r,
        )
        self.frequency_limited = Counter(
            "streams_im_frequency_limited",
            "IM requests answered with a frequency limit (60007, 60011, 60018, 60019).",
            registry=r,
        )
        self.window_events = Histogram(
            "streams_window_events", "Events per window.", buckets=_SIZE_BUCKETS, registry=r
        )
        self.window_conversations = Histogram(
            "streams_window_conversations", "Conversations per window.", buckets=_SIZE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.per_request = Histogram(
            "streams_events_per_request", "Conversations carried per IM request.",
            buckets=(1, 2, 5, 10, 20, 50, 100), registry=r,
        )  # fmt: skip
        self.dead_letters = Counter("streams_dead_letters", "Dead letters produced.", registry=r)
        self.forwards = Counter(
            "streams_misrouted_forwards", "Misrouted events forwarded.", registry=r
        )
        self.forged_origins = Counter(
            "streams_origin_headers_ignored",
            "Records whose streams-origin-* headers were malformed or not signed by a worker.",
            registry=r,
        )
        self.quarantined = Counter(
            "streams_quarantined_records",
            "Records the worker failed on alone after repeated crashes: rejected internal_error.",
            registry=r,
        )
        self.expired = Counter(
            "streams_state_entries_expired",
            "Table entries deleted as older than STREAMS_STATE_RETENTION_S.",
            registry=r,
        )
        self.refetches = Counter(
            "streams_consumer_refetches",
            "Partitions fetched again from an event Faust lost on its way to the agent.",
            registry=r,
        )

    def watch_budget(self, budget: float, rate: Callable[[], float]) -> None:
        """Export the configured budget, and the limiter's current rate as read at each scrape."""
        self.budget.set(budget)
        self.rate_limit.set_function(rate)

    def observe_window(
        self, stats: WindowStats, limiter_wait_s: float, budget_bound_s: float = 0.0
    ) -> None:
        """Record one finished window (and the limiter's figures accumulated during it)."""
        self.events.inc(stats.events)
        for status, count in stats.statuses.items():
            self.outcomes.labels(status).inc(count)
        for code, count in stats.sdk.codes.items():
            self.requests.labels(str(code)).inc(count)
        for seconds, items in stats.sdk.timings:
            self.latency.observe(seconds)
            self.per_request.observe(items)
        self.retries.inc(stats.sdk.retries)
        self.limiter_wait.inc(limiter_wait_s)
        self.budget_bound.inc(budget_bound_s)
        self.frequency_limited.inc(stats.sdk.frequency_limited)
        self.window_events.observe(stats.events)
        self.window_conversations.observe(stats.conversations)
        self.dead_letters.inc(stats.dead_letters)
        self.forwards.inc(stats.forwards)
        self.forged_origins.inc(stats.forged_origins)
        self.quarantined.inc(stats.quarantined)
        self.expired.inc(stats.expired)


@dataclass
class Readiness:
    """The checks behind ``/startupz`` and ``/readyz``; each names a problem, or none.

    The IM endpoint is not among them: an IM outage would turn every pod NotReady at once and
    stall any rollout, while the workers go on retrying and failing events within the deadline
    as designed. IM health is a metric (``streams_sdk_requests_total{code}``) and an alert
    (docs/OPERATING.md, ``StreamsIMUnreachable``).
    """

    #: Partitions were assigned (once: a worker left without partitions by a rebalance is
    #: still ready, it has nothing to do).
    assigned: Callable[[], bool]
    #: The first table recovery of this process finished.
    recovered: Callable[[], bool]
    #: The agent's task is alive.
    agent_running: Callable[[], bool]

    def startup_problems(self) -> list[str]:
        """Why the worker has not started yet (``/startupz``); empty once it has."""
        problems = []
        if not self.assigned():
            problems.append("no partitions assigned yet")
        if not self.recovered():
            problems.append("table recovery not finished")
        return problems

    def problems(self) -> list[str]:
        """Why the worker is not ready (``/readyz``); empty when it is."""
        problems = self.startup_problems()
        if not self.agent_running():
            problems.append("the agent is not running")
        return problems


@dataclass
class Liveness:
    """The check behind ``/healthz``: the agent makes progress while it has work.

    The decision is :class:`streams.core.progress.AgentStallDetector`'s; the engine supplies
    the figures (``progress``), read at each probe.
    """

    progress: Callable[[], AgentProgress]
    stall_s: float
    clock: Callable[[], float] = time.monotonic
    _detector: AgentStallDetector = field(init=False)

    def __post_init__(self) -> None:
        self._detector = AgentStallDetector(self.stall_s)

    def problems(self) -> list[str]:
        """Why the worker should be restarted (empty while it is alive and progressing)."""
        progress = self.progress()
        stalled = self._detector.stalled_for(progress, self.clock())
        if stalled is None:
            return []
        if not progress.running:
            return [f"the agent has not been running for {stalled:.0f} s"]
        return [
            f"no window completed for {stalled:.0f} s with {progress.pending} events waiting "
            f"(STREAMS_LIVENESS_STALL_S={self.stall_s:g})"
        ]


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``STREAMS_LOG_FORMAT=json``), for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the worker: human-readable or JSON lines."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"level": level, "handlers": ["stderr"]},
    }
