"""Assemble and run a worker: settings -> Faust app -> SDK client -> window processor -> agent."""

from __future__ import annotations

import gc
import logging
from functools import partial
from typing import Any, cast

from streams.core.origin import derive_key
from streams.core.progress import AgentProgress
from streams.core.retry import RetryPolicy
from streams.engine import internals, runner
from streams.engine.agent import AgentSignals, CountedProcessor, make_agent, owned_partitions
from streams.engine.app import create_app, create_crash_table
from streams.engine.consumer import GaplessConsumer
from streams.engine.errors import is_client_failure
from streams.engine.monitor import LeanPrometheusMonitor, install_pages
from streams.engine.sink import OutcomeSink
from streams.errors import ConfigError
from streams.observability import Liveness, Metrics, Readiness, logging_config
from streams.request_budget import RateLimiter, budget_share
from streams.sdk.client import TencentIMClient
from streams.sdk.config import IMSettings
from streams.settings import PRODUCE_BUDGET_S, Settings
from streams.window.apply import Applier
from streams.window.guard import CrashGuard
from streams.window.ports import RecordSinks
from streams.window.processor import WindowProcessor, WindowStats

log = logging.getLogger(__name__)

#: A window allocates thousands of short-lived objects at once: with Python's default
#: (700, 10, 10) collections took a large share of the worker's CPU and full ones showed in the
#: latency tail. 10,000 collects far less at the same peak RSS (bench/PROFILE.md).
GC_THRESHOLDS = (10_000, 10, 10)


def check_window_bound(settings: Settings, im: IMSettings) -> None:
    """Refuse settings whose longest window may outlast the rebalance timeout.

    No request starts after the window's bound, the last one may take the IM client's timeout
    to answer, and the outcomes then need producing: all of it before the group gives up on
    this worker, or its partitions could move while it still writes.
    """
    longest = settings.window_bound_s + im.timeout_s + PRODUCE_BUDGET_S
    if longest >= settings.broker_rebalance_timeout_s:
        raise ConfigError(
            f"STREAMS_WINDOW_BOUND_S + STREAMS_IM_TIMEOUT_S + {PRODUCE_BUDGET_S:g} s "
            f"({longest:g} s) must stay below STREAMS_BROKER_REBALANCE_TIMEOUT_S "
            f"({settings.broker_rebalance_timeout_s:g} s), so a window ends before its "
            "partitions move to another worker"
        )


class Worker:
    """One worker process: the Faust app with the pipeline agent and its SDK client."""

    def __init__(self, settings: Settings, im: IMSettings) -> None:
        if settings.sdk is None:
            raise ConfigError(
                "STREAMS_SDK is not set: set STREAMS_SDK=tencent (with STREAMS_IM_* pointing at "
                "Tencent Cloud Chat or a separately started emulator); the worker never falls "
                "back to an emulator on its own"
            )
        check_window_bound(settings, im)
        self.settings = settings
        runner.use_event_loop(settings.event_loop)
        self.app, self.topics, self.table = create_app(settings)
        self.client = TencentIMClient(im)
        self.limiter = RateLimiter(settings.rate_limit, control=settings.rate_control)
        policy = RetryPolicy(
            base_s=settings.sdk_retry_base_s,
            cap_s=settings.sdk_retry_cap_s,
            deadline_s=settings.sdk_retry_deadline_s,
        )
        self.applier = Applier(
            self.client,
            self.limiter,
            policy,
            concurrency=settings.sdk_concurrency,
            owns=self._owns,
            bound_s=settings.window_bound_s,
        )
        sinks = RecordSinks(
            # The app's own aiokafka producer (Faust exposes no batch API of its own).
            outcomes=OutcomeSink(
                partial(internals.aiokafka_producer, self.app), settings.outcomes_topic
            ),
            dead_letters=self.topics.dead_letters,
            forwards=self.topics.changes,
        )
        self.processor = WindowProcessor(
            settings,
            sinks,
            self.table,
            self.applier,
            owns=self._owns,
            partitions=self._partition_count,
            set_current_event=internals.set_current_event,
            origin_key=derive_key(
                (settings.origin_signing_key or im.secret_key).get_secret_value().encode()
            ),
        )
        #: What the probes read of the agent (streams.engine.agent).
        self.signals = AgentSignals()
        self.guard = CrashGuard(
            # Each of the guard's runs counts as progress (a quarantine runs record by record).
            CountedProcessor(self.processor, self.signals),
            create_crash_table(self.app, settings),
            threshold=settings.quarantine_after_crashes,
            set_current_event=internals.set_current_event,
            owns=self._owns,
            client_failure=is_client_failure,
        )
        self.metrics = Metrics()
        self.metrics.watch_budget(settings.rate_limit, self.limiter.rate)
        self._limiter_waited = 0.0
        self._limiter_bound = 0.0
        self._refetches = 0
        runner.watch_recovery(self.app)
        self.agent = make_agent(
            self.app, self.topics, self.guard.process, settings, self._on_window, self.signals
        )
        self._assigned_once = False
        self.readiness = Readiness(
            assigned=lambda: self._assigned_once,
            # Set by Faust when a recovery finishes, never cleared: the first one's.
            recovered=lambda: bool(self._recovery().completed.is_set()),
            agent_running=lambda: self.signals.running > 0,
        )
        self.liveness = Liveness(self._progress, settings.liveness_stall_s)
        if settings.web_port:
            install_pages(self.app, self.metrics, self.readiness, self.liveness)
        self._owned: frozenset[int] = frozenset()
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.revocation_listeners.append(self._on_revoking)

    def _recovery(self) -> Any:
        return cast(Any, self.app.tables).recovery

    def _progress(self) -> AgentProgress:
        """The agent's figures for the liveness probe (streams.core.progress decides).

        Progress is a finished window or a finished IM request: a window of a budget-bound
        worker with a backlog may send requests for minutes, and is not stuck while it does.
        Nor is a window whose records wait for the brokers (two of three down): the producer
        retries them, and a restart would not help (tests/reliability/test_cluster_faults.py).
        """
        return AgentProgress(
            started=not self.readiness.startup_problems(),
            running=self.signals.running > 0,
            pending=self.signals.pending,
            completed=self.signals.completed + self.limiter.requests_done,
            recovering=bool(self._recovery().in_recovery),
            rebalancing=bool(self.app.rebalancing),
            delivering=internals.producer_backlog(self.app) > 0,
        )

    def _owns(self, partition: int) -> bool:
        # Called before every SDK request: a lookup in a set kept by the rebalance hooks.
        return partition in self._owned

    def _partition_count(self) -> int:
        count = self.app.consumer.topic_partitions(self.settings.changes_topic)
        return int(count or self.settings.topic_partitions)

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Start again from this worker's partition share of the app-wide request budget."""
        self._owned = frozenset(owned_partitions(self.app, self.settings.changes_topic))
        self._assigned_once = True
        owned = len(self._owned)
        share = budget_share(self.settings.rate_limit, owned, self._partition_count())
        self.limiter.restart(share)
        log.info(
            "owning %d partitions: SDK rate %.1f requests/s of the %g/s budget (%s)",
            owned, share, self.settings.rate_limit, self.settings.rate_control.value,
        )  # fmt: skip

    def _on_window(self, stats: WindowStats) -> None:
        waited, bound = self.limiter.waited_s, self.limiter.bound_s
        self.metrics.observe_window(
            stats, waited - self._limiter_waited, bound - self._limiter_bound
        )
        self._limiter_waited, self._limiter_bound = waited, bound
        if isinstance(self.app.monitor, LeanPrometheusMonitor):
            self.app.monitor.flush_table_ops()
        refetches = cast(GaplessConsumer, self.app.consumer).refetches
        self.metrics.refetches.inc(refetches - self._refetches)
        self._refetches = refetches
        log.debug(
            "window: %d events, %d conversations, %d requests, %s",
            stats.events, stats.conversations, stats.sdk.requests, stats.statuses,
        )  # fmt: skip

    def _on_revoking(self, revoked: set[Any]) -> None:
        """From the start of the revocation, no SDK call for these partitions, whatever window
        is running: once the group moved them, their new owner may be writing."""
        gone = {tp.partition for tp in revoked if tp.topic == self.settings.changes_topic}
        self._owned = self._owned - gone
        self.applier.ownership_changed()

    def run(self) -> int:
        """Run until stopped; non-zero when the agent crashed (so the pod restarts)."""
        gc.set_threshold(*GC_THRESHOLDS)
        # Everything imported and built so far lives as long as the process: out of the
        # collector's sight, a full collection walks the pipeline's objects only.
        gc.collect()
        gc.freeze()
        return runner.run(
            self.app,
            loglevel=self.settings.log_level,
            logging_config=logging_config(self.settings.log_level, self.settings.log_format),
        )
