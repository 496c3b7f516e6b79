"""Every private member of faust-streaming, mode and aiokafka the worker relies on, in one place.

Faust offers no public way to do several things the worker must do (batch the producer's sends,
await table changelog records, window a stream without acking it, commit without holes), so it
reaches into their internals. Each one is named here with the reason, and
``tests/engine/test_internals.py`` checks that every name exists with the shape used, so an
upgrade of the pinned versions fails in one readable test instead of a hang.

Two kinds:

* members of *other* objects, reached only through the functions below;
* private hooks and state of the classes the engine *subclasses* (Faust's consumer, consumer
  thread and table), which the subclasses must spell out themselves to override or extend:
  listed in :data:`SUBCLASSED` (a test checks that the engine uses no other private name).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Final

from aiokafka.consumer import fetcher
from faust.streams import _current_event

#: Private names the engine's subclasses override (hooks) or read on ``self`` (state), with why.
SUBCLASSED: Final[dict[str, dict[str, str]]] = {
    "faust.transport.drivers.aiokafka.Consumer": {
        "_to_message": "hook: note each fetched record's offset (evidence of holes)",
        "_drain_messages": "hook: the fetch loop, without read-offset drops or gap filling",
        "_wait_next_records": "hook: short polls while a full stream buffer leaves one out",
        "_seek": "hook: seek on the consumer thread, where aiokafka runs",
        "_new_offset": "hook: the commit rule (only a run of acked offsets from the commit)",
        "_new_consumer_thread": "hook: the embedded broker's consumer thread (engine.tansu)",
        "_acked": "state: acked offsets per partition, trimmed by the commit rule",
        "_acked_index": "state: the same as a set, kept in step with _acked",
        "_committed_offset": "state: the last committed offset per partition",
        "_unacked_messages": "state: messages in flight, untracked when Faust acks a skipped one",
        "_n_acked": "state: acks since the last commit (commit every broker_commit_every)",
        "_commit_every": "state: broker_commit_every, read by the fetch loop",
        "_buffered_partitions": "state: partitions left out for a full stream buffer",
        "_thread": "state: the consumer thread, to run seeks on its loop",
        "_is_changelog_tp": "method: whether a partition is a table changelog's (never acked)",
        "_stopped": "state: mode's stopped event, ends the fetch loop",
    },
    "faust.app.base.App": {
        "_on_partitions_revoked": "hook: ownership ends when a revocation begins (engine.app)",
    },
    "faust.transport.drivers.aiokafka.Producer": {
        "_settings_extra": "hook: aiokafka settings Faust has none for (idempotence)",
    },
    "faust.tables.recovery.Recovery": {
        "_build_offsets": "hook: read the active changelog partitions in bulk (engine.recovery)",
    },
    "faust.tables.manager.TableManager": {
        "_recovery": "state: the recovery service, built as BulkRecovery (engine.recovery)",
    },
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread": {
        "_create_worker_consumer": "hook: shorten the fetch long-poll for the embedded broker",
        "_highwaters": "hook: the embedded broker's end offsets, corrected",
    },
}


def set_current_event(event: Any) -> None:
    """Make ``event`` current: table writes are routed to its partition (faust-streaming #497)."""
    _current_event.set(weakref.ref(event))


def crash_reason(app: Any) -> BaseException | None:
    """Why the app crashed (``App._crash_reason``), to exit non-zero: Faust exits 0 after it."""
    reason: BaseException | None = app._crash_reason
    return reason


def aiokafka_producer(app: Any) -> Any:
    """The app's aiokafka producer (``Producer._ensure_producer``): Faust has no batch API, and
    its per-record path costs more than the rest of the window (streams.engine.sink)."""
    return app.producer._ensure_producer()


def producer_backlog(app: Any) -> int:
    """Batches the app's aiokafka producer holds that no broker has acknowledged yet: queued
    (``MessageAccumulator._batches``) or sent and unanswered (``._pending_batches``); 0 before
    the producer starts (Faust's ``Producer._producer``). The liveness probe does not count a
    window waiting for the brokers to take its records as a stuck agent (streams.worker)."""
    producer = app.producer._producer
    if producer is None:
        return 0
    accumulator = producer._message_accumulator
    queued = sum(len(batches) for batches in accumulator._batches.values())
    return queued + len(accumulator._pending_batches)


def aiokafka_consumer(thread: Any) -> Any:
    """The consumer thread's aiokafka consumer (``AIOKafkaConsumerThread._ensure_consumer``), to
    read a partition's position and seek it in one step on that thread (streams.engine.consumer)."""
    return thread._ensure_consumer()


def guard_fetched_records(records_type: Callable[[bytes], Any]) -> None:
    """Have aiokafka's fetcher read each fetched partition's bytes with ``records_type``
    (``aiokafka.consumer.fetcher.MemoryRecords``, looked up by that name for every fetch
    response): its own reader raises inside ``getmany`` on a record it cannot read and inflates
    a compressed batch without a bound (streams.engine.fetch_guard). Process-wide."""
    fetcher.MemoryRecords = records_type


def enable_passive(stream: Any, channel: AsyncIterator[Any]) -> None:
    """``Stream._enable_passive``: fill the stream's processors from its channel without an
    ``async for`` over it, as Faust's ``noack_take`` does (streams.engine.windows)."""
    stream._enable_passive(channel)


def remove_processor(stream: Any, processor: Callable[[Any], Any]) -> None:
    """Undo ``Stream.add_processor`` (``Stream._processors``): Faust has no public removal."""
    stream._processors.remove(processor)


def streams_of_partition(app: Any) -> Callable[[Any, Iterable[Any]], Iterable[Any]]:
    """The conductor's channels per partition (``Conductor._tp_index``, read only), to wait
    for room in a stream's buffer instead of a task per message (streams.engine.consumer)."""
    get: Callable[[Any, Iterable[Any]], Iterable[Any]] = app.topics._tp_index.get
    return get


def sensor_on_set(table: Any, key: Any, value: Any) -> None:
    """``Table._sensor_on_set``: the sensors' count of a table write, which the table's own
    ``on_key_set`` would make (the engine's table replaces that method)."""
    table._sensor_on_set(table, key, value)


def prometheus_metrics(monitor: Any) -> Any:
    """``PrometheusMonitor._metrics``: Faust's series, shared with the worker's lean monitor."""
    return monitor._metrics


def drop_blueprints(app: Any, prefix: str) -> None:
    """Drop the web blueprints whose name starts with ``prefix`` (``BlueprintManager._enabled``):
    Faust's index page at ``/`` has no setting to turn it off."""
    blueprints = app.web.blueprints
    blueprints._enabled = [
        (p, bp) for p, bp in blueprints._enabled if not str(bp).startswith(prefix)
    ]


def set_fetch_max_wait(consumer: Any, ms: int) -> None:
    """``AIOKafkaConsumer._fetch_max_wait_ms``: Faust hard-codes 1,500 ms, and the embedded
    broker holds an empty fetch that long (streams.engine.tansu)."""
    consumer._fetch_max_wait_ms = ms


def stopped(service: Any) -> Callable[[], bool]:
    """Whether a mode service (the fetcher) has stopped (``Service._stopped``)."""
    is_set: Callable[[], bool] = service._stopped.is_set
    return is_set
