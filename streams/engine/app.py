"""The Faust app: settings, topics, the conversation table, and the window pipeline wiring.

A thin shell: Faust provides consumption, acks, commits, rebalancing and the changelog-backed
table; :mod:`streams.window` does the window's work through :mod:`streams.core` and the SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import faust
import orjson
from faust.serializers import codecs
from faust.types import TopicT
from mode.supervisors import CrashingSupervisor

import streams.engine.tansu  # noqa: F401 - registers the tansu:// transport
from streams.engine import consumer, fetch_guard
from streams.engine.monitor import LeanMonitor
from streams.engine.recovery import BulkTableManager
from streams.engine.table import TrackedTable
from streams.settings import SecurityProtocol, Settings


class OrjsonCodec(codecs.Codec):
    """JSON via orjson for output topics (outcomes); input is read as raw bytes instead."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())


#: Told the revoked partitions (``faust.types.TP``) when their revocation begins.
RevocationListener = Callable[[set[Any]], None]


class StreamsApp(faust.App):
    """Faust's App: per-message event construction without a settings lookup, and a hook at
    the very start of a revocation.

    Faust's ``create_event`` looked up the ``Event`` setting for every delivered message; the
    type is read once instead (bench/PROFILE.md).
    """

    @cached_property
    def _event_type(self) -> Any:
        return self.conf.Event

    @cached_property
    def revocation_listeners(self) -> list[RevocationListener]:
        """Called with the revoked partitions as soon as their revocation begins.

        Faust's ``on_partitions_revoked`` signal comes only after it waited for the window in
        progress to finish: a window of a budget-bound backlog could go on writing to the IM
        for minutes after its partitions were taken away, and its late writes could undo what
        their new owner applied meanwhile. A listener here ends the ownership at once.
        """
        return []

    async def _on_partitions_revoked(self, revoked: set[Any]) -> None:
        """Tell the listeners first, then Faust's revocation (which waits for the window)."""
        for listener in self.revocation_listeners:
            listener(revoked)
        await super()._on_partitions_revoked(revoked)

    def create_event(self, key: Any, value: Any, headers: Any, message: Any) -> Any:
        """A :class:`faust.Event` (or the configured type) for ``message``."""
        return self._event_type(self, key, value, headers, message)


class RawSchema(faust.Schema[bytes, bytes]):
    """The changes topic's schema: key and value are the record's bytes, as received.

    Faust's schema reaches the same bytes through its serializer registry and the ``raw``
    codec for every message (bench/PROFILE.md); decoding is the window's job
    (``streams.core.decode``). Sending (forwards) keeps Faust's path.
    """

    def loads_key(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        """The record's key bytes."""
        return message.key

    def loads_value(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        """The record's value bytes."""
        return message.value


def changes_schema() -> RawSchema:
    """The changes topic's schema: raw bytes both ways."""
    return RawSchema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def _broker_credentials(settings: Settings) -> Any:
    """Faust's credentials for the same TLS/SASL settings the client uses (BrokerSettings)."""
    protocol = settings.broker_security_protocol
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    context = settings.ssl_context()
    if protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(context)
    assert settings.broker_sasl_password is not None  # checked by Settings
    return faust.SASLCredentials(
        username=settings.broker_sasl_username,
        password=settings.broker_sasl_password.get_secret_value(),
        mechanism=settings.broker_sasl_mechanism,
        ssl_context=context,
    )


#: Records handed over per poll of the consumer thread. With Faust's default (no limit) aiokafka
#: turns every buffered fetch into record objects at once, so a backlog sits in memory; a much
#: smaller cap pays a consumer-thread round trip per poll (bench/PROFILE.md).
MAX_POLL_RECORDS = 5_000

#: Room for any input message the broker accepted, plus dead-letter headers.
MAX_PRODUCE_REQUEST_BYTES = 4 * 1024 * 1024

#: How long one produce request may wait for its answer (aiokafka's ``request_timeout_ms``)
#: before it is sent again. Faust's 1,200 s left a window's records with a leader that stopped
#: answering (frozen, cut off) for that long, although another replica led within seconds
#: (tests/reliability/test_cluster_faults.py); 30 s is the Java client's default and Kafka's
#: ``replica.lag.time.max.ms``, so a request waiting for a slow follower outlives its place
#: in the ISR. The producer is idempotent (streams.engine.consumer.IdempotentProducer): a
#: timed-out request is retried without a copy, and no batch ever expires, so there is no
#: delivery deadline (docs/DEPLOYING.md, "Producer settings").
PRODUCER_REQUEST_TIMEOUT_S = 30.0

#: How old the producer's idea of the partition leaders may get. aiokafka refreshes it on
#: errors that say a leader moved, but not after a request timed out: it sent a frozen
#: leader's batches to it again and again, for as long as it stayed frozen (Faust's 5 minutes
#: at most), although another replica led within seconds (tests/reliability/
#: test_cluster_faults.py, the soak variant). One metadata request every 10 s is nothing.
PRODUCER_METADATA_MAX_AGE_MS = 10_000


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust configuration: production defaults plus the embedded-broker overrides."""
    conf: dict[str, Any] = {
        "broker": settings.broker,
        "broker_credentials": _broker_credentials(settings),
        "store": settings.table_store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.topic_partitions,
        "topic_allow_declare": settings.topic_allow_declare,
        "web_enabled": settings.web_port != 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_host,
        # An exception escaping the agent must stop the worker: the default supervisor would
        # restart the agent and leave a gap of unacked offsets that blocks commits silently.
        "agent_supervisor": CrashingSupervisor,
        "Table": TrackedTable,
        # Recovery reads the changelog in bulk before Faust's per-record loop.
        "TableManager": BulkTableManager,
        "Monitor": LeanMonitor,
        "consumer_auto_offset_reset": "earliest",
        "broker_max_poll_records": MAX_POLL_RECORDS,
        # Delivered means on min.insync.replicas replicas: an outcome survives its leader.
        "producer_acks": -1,
        "producer_request_timeout": PRODUCER_REQUEST_TIMEOUT_S,
        "producer_metadata_max_age_ms": PRODUCER_METADATA_MAX_AGE_MS,
        # Dead letters carry the input bytes as received plus headers; Faust's default limit
        # (1,000,000 bytes) is below Kafka's default message size (1,048,588), so one big input
        # made its dead letter unproducible and stopped the worker on every restart.
        "producer_max_request_size": MAX_PRODUCE_REQUEST_BYTES,
        "broker_session_timeout": settings.broker_session_timeout_s,
        "broker_heartbeat_interval": settings.broker_heartbeat_interval_s,
        "broker_rebalance_timeout": settings.broker_rebalance_timeout_s,
        "table_standby_replicas": settings.table_standby_replicas,
        # Faust reads every setting from an unprefixed environment variable too
        # (PRODUCER_ACKS, BROKER_SESSION_TIMEOUT...), and that wins over what is passed here:
        # a stray PRODUCER_ACKS=0 in a pod's environment would silently drop durability.
        # Settings come only from STREAMS_* (streams.settings).
        "env": {},
    }
    if settings.group_instance_id:
        conf["consumer_group_instance_id"] = settings.group_instance_id
    # Our transports (registered by importing streams.engine.tansu and .consumer) never count
    # skipped offsets as acked; the Tansu one also fixes fetch waits and end offsets.
    scheme = "tansu://" if settings.embedded_broker else f"{consumer.SCHEME}://"
    conf["broker"] = settings.broker.replace("kafka://", scheme)
    if settings.embedded_broker:
        conf.update(EMBEDDED_OVERRIDES)
    return conf


#: Memtables per RocksDB database: one being filled while the other is flushed. Faust's 3 let
#: writes go on through a slow flush; the table's writes are ~100-byte records, in windows.
ROCKSDB_WRITE_BUFFERS = 2


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """Options of each RocksDB database the last-applied table opens (one per partition).

    Faust reads them from the table's ``options`` (``faust.stores.rocksdb.RocksDBOptions``);
    its defaults (64 MiB x 3 write buffers, a 2 GiB block cache and 90 % of the process's file
    limit, per partition) are sized for a machine, not a pod (docs/PERFORMANCE.md, "RocksDB").
    """
    mib = 1024 * 1024
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * mib,
        "max_write_buffer_number": ROCKSDB_WRITE_BUFFERS,
        "block_cache_size": settings.rocksdb_block_cache_mb * mib,
        "max_open_files": settings.rocksdb_max_open_files,
    }


def rocksdb_partition_mib(settings: Settings) -> int:
    """The most memory one table partition's RocksDB caches and memtables can hold, in MiB.

    Index and filter blocks of open files come on top (a few MiB per million conversations).
    """
    return (
        settings.rocksdb_write_buffer_mb * ROCKSDB_WRITE_BUFFERS + settings.rocksdb_block_cache_mb
    )


def rocksdb_worst_case_mib(settings: Settings, partitions: int) -> int:
    """RocksDB memory of a worker holding every partition and its standbys, in MiB.

    A standby is never on its active's worker, so this over-counts when standbys are kept; it is
    the bound the pod's memory limit must cover (tests/engine/test_rocksdb_options.py).
    """
    return rocksdb_partition_mib(settings) * partitions * (1 + settings.table_standby_replicas)


#: Tansu 0.6 holds JoinGroup for about half the session timeout, so short timeouts bring the
#: first event seconds after start instead of half a minute; a short commit interval cuts
#: redeliveries after a crash (docs/EMBEDDED_BROKER.md, section a).
EMBEDDED_OVERRIDES: dict[str, Any] = {
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 30.0,
    "broker_commit_interval": 0.5,
}


@dataclass(frozen=True, slots=True)
class Topics:
    """The app's topics (names from settings): Faust's, held by mypy to the window's
    :class:`~streams.window.ports.TopicSink` where the worker hands them to the window."""

    changes: TopicT
    outcomes: TopicT
    dead_letters: TopicT


def create_app(settings: Settings) -> tuple[StreamsApp, Topics, TrackedTable]:
    """Build the Faust app, its topics and the last-applied table (no agent yet)."""
    fetch_guard.install(settings.max_inflated_batch_bytes)
    app = StreamsApp(settings.app_id, **faust_settings(settings))
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw"}
    topics = Topics(
        changes=app.topic(settings.changes_topic, schema=changes_schema()),
        outcomes=app.topic(settings.outcomes_topic, value_serializer="orjson", **raw),
        dead_letters=app.topic(settings.dead_letter_topic, value_serializer="raw", **raw),
    )
    table = app.Table(
        "last-applied",
        # Values are plain JSON lists (streams.core.records.LastApplied.to_json).
        schema=_JSON_TABLE_SCHEMA,
        partitions=settings.topic_partitions,
        # The memory store takes and ignores them.
        options=rocksdb_options(settings),
    )
    return app, topics, cast(TrackedTable, table)


_JSON_TABLE_SCHEMA: faust.Schema[str, Any] = faust.Schema(
    key_type=str, key_serializer="orjson", value_serializer="orjson"
)


def create_crash_table(app: faust.App, settings: Settings) -> TrackedTable:
    """The crash guard's table (``streams.window.guard``): crashed offset ranges per partition.

    In memory whatever ``STREAMS_TABLE_STORE`` says: it holds at most one small entry per
    partition, is read on every window (a dict lookup), and is rebuilt from its changelog by
    whichever worker owns the partition next.
    """
    table = app.Table(
        "window-crashes",
        # Values: streams.core.crashes.CrashRange.to_json.
        schema=_JSON_TABLE_SCHEMA,
        partitions=settings.topic_partitions,
        store="memory://",
    )
    return cast(TrackedTable, table)
