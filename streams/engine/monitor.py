"""Faust's sensors and web pages, cut to what the worker reads and serves.

Faust's monitor counts and times every message (for its ``/stats`` pages and its Prometheus
sensor's per-message series); the pipeline counts per window instead (``streams.observability``).
Its web server serves its own unauthenticated views (table data, the cluster's topology); the
worker serves ``/metrics``, ``/startupz``, ``/healthz`` and ``/readyz`` only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import MutableMapping
from time import monotonic
from typing import Any, Final

import faust
from faust.sensors import Monitor
from faust.sensors.prometheus import PrometheusMonitor, setup_prometheus_sensors
from faust.types import TP

from streams.engine import internals
from streams.observability import Liveness, Metrics, Readiness

log = logging.getLogger(__name__)


class NoPerEventStats:
    """Sensor hooks Faust calls for every message and stream event, reduced to what is read.

    Faust's monitor counts and times every message and event (for its ``/stats`` pages and
    its Prometheus sensor's per-message series), a cost per message (bench/PROFILE.md). The
    pipeline counts events itself, per window (``streams.observability``). Kept: the stream's
    inbound time, which Faust's slow-processing warnings read. Mixed into a monitor class,
    before it.
    """

    stream_inbound_time: dict[Any, float]
    tp_end_offsets: MutableMapping[TP, int]

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        """Not counted."""

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        """Only when the partition's stream last took an event."""
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        """Not timed."""

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """Not timed."""

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        """Only when the high watermark moved: Faust reports it again for every message."""
        if self.tp_end_offsets.get(tp) != offset:
            super().track_tp_end_offset(tp, offset)  # type: ignore[misc]


class LeanMonitor(NoPerEventStats, Monitor):
    """The worker's monitor when no web port serves metrics."""


class LeanPrometheusMonitor(NoPerEventStats, PrometheusMonitor):
    """Faust's Prometheus sensor without per-message work: rebalances, commits, sends, table
    operations and partition end offsets are still exported as ``faust_*``.

    Table operations are counted in plain integers and added to Faust's labelled counter by
    :meth:`flush_table_ops`, which the worker calls after every window: the window reads and
    writes the table for every conversation, too often for a locked ``Counter.inc`` each
    (bench/PROFILE.md).
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
                series = self._table_op_series[key] = internals.prometheus_metrics(
                    self
                ).table_operations.labels(table=f"table.{table}", operation=operation)
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
    internals.drop_blueprints(app, _FAUST_VIEWS)


def install_pages(
    app: faust.App,
    metrics: Metrics,
    readiness: Readiness,
    liveness: Liveness | None = None,
) -> None:
    """``/metrics`` (Faust's sensor and ours) and the probes on the web port, nothing else.

    ``/startupz``: 200 once partitions were assigned and the first table recovery finished.
    ``/readyz``: that, and the agent running. ``/healthz``: 503 once the agent had events
    waiting and completed no window or IM request for ``STREAMS_LIVENESS_STALL_S``; before
    start-up always 200, the start-up probe covers that time. Each 503 lists its problems.
    """
    serve_only_our_pages(app)
    setup_prometheus_sensors(app, registry=metrics.registry, name_prefix="faust")
    # The same series, minus Faust's per-message ones (streams_events_consumed_total counts).
    app.monitor = LeanPrometheusMonitor(metrics=internals.prometheus_metrics(app.monitor))
    stalled = [False]

    def answer(view: Any, problems: list[str], ok: str, not_ok: str) -> Any:
        body = {"status": ok if not problems else not_ok, "problems": problems}
        return view.json(body, status=200 if not problems else 503)

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        # Answering at all proves the event loop turns.
        problems = liveness.problems() if liveness is not None else []
        if problems and not stalled[0]:
            log.error(
                "liveness fails: %s; the agent's stack:\n%s",
                "; ".join(problems), app.agents.human_tracebacks(),
            )  # fmt: skip
        stalled[0] = bool(problems)
        return answer(view, problems, "ok", "stalled")

    @app.page("/startupz")
    async def startupz(view: Any, request: Any) -> Any:
        return answer(view, readiness.startup_problems(), "started", "starting")

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        return answer(view, readiness.problems(), "ready", "not ready")
