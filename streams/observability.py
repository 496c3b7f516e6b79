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
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast
from urllib.parse import urlsplit

import faust
import orjson
from faust.sensors import Monitor
from faust.sensors.prometheus import PrometheusMonitor, setup_prometheus_sensors
from prometheus_client import CollectorRegistry, Counter, Histogram

from streams.app import NoPerEventStats
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
            "streams_rate_limiter_wait_seconds", "Time spent waiting for the budget.", registry=r
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
        self.refetches = Counter(
            "streams_consumer_refetches",
            "Partitions fetched again from an event Faust lost on its way to the agent.",
            registry=r,
        )

    def observe_window(self, stats: WindowStats, limiter_wait_s: float) -> None:
        """Record one finished window (and the limiter wait accumulated during it)."""
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
        self.window_events.observe(stats.events)
        self.window_conversations.observe(stats.conversations)
        self.dead_letters.inc(stats.dead_letters)
        self.forwards.inc(stats.forwards)
        self.forged_origins.inc(stats.forged_origins)
        self.quarantined.inc(stats.quarantined)


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


class LeanPrometheusMonitor(NoPerEventStats, PrometheusMonitor):
    """Faust's Prometheus sensor without per-message work: rebalances, commits, sends, table
    operations and partition end offsets are still exported as ``faust_*``.

    Table operations are counted in plain integers and added to Faust's labelled counter by
    :meth:`flush_table_ops`, which the worker calls after every window: the window reads and
    writes the table for every conversation, and with a locked ``Counter.inc`` per operation
    the table's sensor calls were 2.2 % of the worker's samples (0.3 % now; bench/PROFILE.md).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table_ops: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._table_op_series: dict[tuple[str, str], Any] = {}

    def flush_table_ops(self) -> None:
        """Add the table operations counted since the last flush to the exported counter."""
        for key, count in self._table_ops.items():
            series = self._table_op_series.get(key)
            if series is None:
                table, operation = key
                series = self._table_op_series[key] = self._metrics.table_operations.labels(
                    table=f"table.{table}", operation=operation
                )
            series.inc(count)
        self._table_ops.clear()

    def on_table_get(self, table: Any, key: Any) -> None:
        """Counted as Faust's sensor does."""
        Monitor.on_table_get(self, table, key)
        self._table_ops[table.name, self.KEYS_RETRIEVED] += 1

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        """Counted as Faust's sensor does."""
        Monitor.on_table_set(self, table, key, value)
        self._table_ops[table.name, self.KEYS_UPDATED] += 1

    def on_table_del(self, table: Any, key: Any) -> None:
        """Counted as Faust's sensor does."""
        Monitor.on_table_del(self, table, key)
        self._table_ops[table.name, self.KEYS_DELETED] += 1


#: Faust's settings for its own views, all unauthenticated: ``/table`` (table data),
#: ``/router`` (which worker owns which key: the cluster's topology), ``/graph``, the
#: statistics at ``/`` and ``/assignment/``, ``/performance``.
FAUST_VIEW_SETTINGS: Final = (
    "web_tables_enabled",
    "web_router_enabled",
    "web_graph_enabled",
    "web_stats_enabled",
    "web_metrics_enabled",
)
_FAUST_VIEWS: Final = "faust.web.apps."


def serve_only_our_pages(app: faust.App) -> None:
    """Turn off every view Faust serves by itself (before its web server starts)."""
    for setting in FAUST_VIEW_SETTINGS:
        setattr(app.conf, setting, False)
    # Private API, one line: the index Faust serves at "/" when the statistics are off has no
    # setting. Dropped from the blueprints its web server applies when it starts, with any view
    # a setting missed (a later Faust's, or all of them if app.web was built before this).
    blueprints = app.web.blueprints
    blueprints._enabled = [
        (prefix, bp) for prefix, bp in blueprints._enabled if not str(bp).startswith(_FAUST_VIEWS)
    ]


def install_pages(app: faust.App, metrics: Metrics, readiness: Readiness) -> None:
    """``/metrics`` (Faust's sensor and ours), ``/healthz`` and ``/readyz`` on the web port,
    and nothing else."""
    serve_only_our_pages(app)
    setup_prometheus_sensors(app, registry=metrics.registry, name_prefix="faust")
    # The same series, minus Faust's per-message ones (streams_events_consumed_total counts).
    app.monitor = LeanPrometheusMonitor(metrics=cast(Any, app.monitor)._metrics)

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        # Answering at all proves the event loop turns.
        return view.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        problems = await readiness.problems()
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return view.json(body, status=200 if not problems else 503)


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
