"""Metrics, health and logs of a worker: what an operator watches and what Kubernetes probes.

``/metrics`` serves Faust's own Prometheus sensor and the pipeline's metrics from one registry;
``/healthz`` answers while the event loop runs; ``/readyz`` answers 200 only once partitions are
assigned, table recovery has finished and the IM endpoint accepts connections. Log records never
carry custom data or credentials: the pipeline logs ids, counts and codes only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.pipeline import WindowStats

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
    """The checks behind ``/readyz``; each returns a reason when not ready, else None."""

    assigned: Callable[[], bool]
    recovered: Callable[[], bool]
    im_endpoint: str
    #: Reachability is re-checked at most this often (probes come every few seconds).
    cache_s: float = 10.0
    _checked: tuple[float, str | None] = (float("-inf"), None)

    async def problems(self) -> list[str]:
        """Why the worker is not ready (empty when it is)."""
        problems = []
        if not self.assigned():
            problems.append("no partitions assigned yet")
        if not self.recovered():
            problems.append("table recovery not finished")
        unreachable = await self._im_unreachable()
        if unreachable:
            problems.append(unreachable)
        return problems

    async def _im_unreachable(self) -> str | None:
        at, answer = self._checked
        if time.monotonic() - at < self.cache_s:
            return answer
        parts = urlsplit(self.im_endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, port), timeout=2
            )
            writer.close()
            answer = None
        except (OSError, TimeoutError) as exc:
            answer = f"IM endpoint {parts.hostname}:{port} unreachable ({type(exc).__name__})"
        self._checked = (time.monotonic(), answer)
        return answer


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
