"""Table recovery in bulk: the changelog read in large fetches, each written to the store at once.

Faust rebuilds a table by handing every changelog record through its consumer, a queue and a
per-record loop that awaits twice per record: ~12k records/s on this machine, so a worker given
1M conversations on a fresh volume produced nothing for 70-90 s (bench/RESULTS.md, scenario i).
RocksDB itself takes a write batch far faster.

:class:`BulkRecovery` keeps Faust's recovery and adds one step where Faust has worked out, for
each active changelog partition, what the store holds and where the changelog ends (its
``_build_offsets``): a reader of its own (an aiokafka consumer without a group, connected as the
worker's consumer is) fetches up to that end, and each fetch goes to the table's store through
the store's own ``apply_changelog_batch``, the call Faust's loop makes every 1,000 records.
Same semantics, since the store does the writing: in offset order, the last record per key
wins, a tombstone deletes, RocksDB records the last offset it holds. Faust's loop then finds
nothing left, or takes over where the bulk read stopped:

* a new rebalance cancels the read (Faust restarts its recovery, and with it this step);
* the read is bounded in time (:data:`SHARE_OF_REQUEST_TIMEOUT` of Faust's timeout for the
  step, past which Faust would stop its recovery service) and stops when nothing moved for
  :data:`STALL_S`, or when a store refuses a fetch (a record that is not the table's JSON in
  the memory store); what is left is read record by record, as before.

The recovery watchdog (``streams.engine.runner.watch_recovery``) sees the bulk read's progress
in the same counters. Standby partitions are left to Faust: they follow the changelog for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import monotonic
from typing import Any, Final, cast

import aiokafka
import orjson
from aiokafka import TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP

from streams.core.restore import Progress, Restore

log = logging.getLogger(__name__)

#: Records per fetch handed over at once: one store write batch per partition in it, and the
#: event loop held for ~50 ms at most between them.
MAX_RECORDS_PER_FETCH: Final = 10_000
#: Bytes per partition per fetch: ~100-byte records, so a fetch can carry thousands of them.
MAX_PARTITION_FETCH_BYTES: Final = 8 * 1024 * 1024
#: The share of Faust's time limit for the step (``broker_request_timeout``, 90 s by default)
#: the bulk read may use: Faust stops its recovery service when the step overruns it.
SHARE_OF_REQUEST_TIMEOUT: Final = 0.75
#: No record applied and no position moved for this long: Faust's loop takes over.
STALL_S: Final = 10.0
#: One progress line per this many seconds of a restore.
PROGRESS_EVERY_S: Final = 1.0


def _decode(data: bytes | None) -> Any:
    """A changelog key or value as the table's schema reads it (JSON by orjson,
    ``streams.engine.app``); a tombstone's value is None."""
    return None if data is None else orjson.loads(data)


class _Message:
    """The fields of a changelog message a store reads: raw bytes, for RocksDB."""

    __slots__ = ("key", "offset", "partition", "tp", "value")

    def __init__(self, tp: TP, record: Any) -> None:
        self.tp = tp
        self.partition = tp.partition
        self.offset: int = record.offset
        self.key: bytes | None = record.key
        self.value: bytes | None = record.value


class _Event:
    """A changelog record in the shape of the Faust event a store's ``apply_changelog_batch``
    reads: the memory store takes the decoded key and value (decoded only when read)."""

    __slots__ = ("message",)

    def __init__(self, message: _Message) -> None:
        self.message = message

    @property
    def key(self) -> Any:
        return _decode(self.message.key)

    @property
    def value(self) -> Any:
        return _decode(self.message.value)


class BulkRecovery(Recovery):
    """Faust's table recovery, with the active partitions read in bulk before its own loop."""

    async def _build_offsets(self, consumer: Any, tps: Any, destination: Any, title: str) -> None:
        """Faust's step (what each store holds, or the earliest offset), then, for the active
        partitions, the bulk read up to the highwaters built just before it."""
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active":
            return
        restore = Restore.plan(dict(destination), dict(self.active_highwaters))
        if restore.done:
            return
        timeout_s = float(self.app.conf.broker_request_timeout)
        await restore_in_bulk(
            self.app,
            restore,
            apply=self._apply,
            note=destination.__setitem__,
            budget_s=SHARE_OF_REQUEST_TIMEOUT * timeout_s,
        )

    def _apply(self, tp: TP, events: list[_Event]) -> None:
        """Write ``events`` to ``tp``'s table store in one batch (stores read only the fields
        :class:`_Event` has)."""
        self.tp_to_table[tp].apply_changelog_batch(cast(Any, events))


async def restore_in_bulk(
    app: Any,
    restore: Restore[TP],
    *,
    apply: Callable[[TP, list[_Event]], None],
    note: Callable[[TP, int], None],
    budget_s: float,
    clock: Callable[[], float] = monotonic,
) -> None:
    """Read ``restore``'s spans and ``apply`` each partition's share of a fetch; ``note`` the
    last offset each partition's store holds (Faust's recovery offsets), as it moves."""
    started = clock()
    total = restore.remaining
    log.info(
        "table recovery: reading %d changelog records of %d partitions in bulk",
        total, len(restore.spans),
    )  # fmt: skip
    reader = _reader(app)
    await reader.start()
    # One turn of the loop for the task aiokafka's start made: stopping before that task ever
    # ran raises CancelledError out of ``stop()`` (NoGroupCoordinator.close awaits it).
    await asyncio.sleep(0)
    # Faust's TP and aiokafka's TopicPartition, each way, for the partitions of the restore.
    to_reader = {tp: TopicPartition(tp.topic, tp.partition) for tp in restore.spans}
    to_faust = {atp: tp for tp, atp in to_reader.items()}
    try:
        reader.assign(list(to_reader.values()))
        for tp, span in restore.spans.items():
            reader.seek(to_reader[tp], span.first)
        progress = Progress(PROGRESS_EVERY_S, started)
        moved_at = started
        while not restore.done:
            now = clock()
            if now - started > budget_s or now - moved_at > STALL_S:
                log.warning(
                    "table recovery: bulk read stopped after %.0f s with %d records left "
                    "(%s); reading the rest record by record",
                    now - started, restore.remaining,
                    "time limit" if now - started > budget_s else "no progress",
                )  # fmt: skip
                return
            pending = list(restore.pending())
            fetched = await reader.getmany(
                *(to_reader[tp] for tp in pending),
                timeout_ms=500,
                max_records=MAX_RECORDS_PER_FETCH,
            )
            before = restore.remaining
            for atp, records in fetched.items():
                tp = to_faust[atp]
                wanted = restore.take(tp, records)
                if not wanted:
                    continue
                try:
                    apply(tp, [_Event(_Message(tp, r)) for r in wanted])
                except Exception as exc:  # a record this store cannot take
                    # Faust's loop logs such a record and goes on; it reads from the last
                    # offset noted, this partition's whole fetch again.
                    log.warning(
                        "table recovery: %s offsets %d-%d could not be written in bulk "
                        "(%s: %s); reading the rest record by record",
                        tp, wanted[0].offset, wanted[-1].offset, type(exc).__name__, exc,
                    )  # fmt: skip
                    return
                restore.applied(tp, wanted)
            for tp in pending:
                restore.spans[tp].passed(await reader.position(to_reader[tp]))
                note(tp, restore.spans[tp].last_read)
            if restore.remaining < before:
                moved_at = clock()
            rate = progress.due(clock(), restore.applied_records)
            if rate is not None:
                log.info(
                    "table recovery: %d of %d records in bulk, %.0f records/s",
                    restore.applied_records, total, rate,
                )  # fmt: skip
        elapsed = clock() - started
        log.info(
            "table recovery: %d records read in bulk in %.1f s (%.0f records/s)",
            restore.applied_records, elapsed, restore.applied_records / max(elapsed, 1e-9),
        )  # fmt: skip
    finally:
        await reader.stop()


def _reader(app: Any) -> aiokafka.AIOKafkaConsumer:
    """A consumer without a group, connected (servers, TLS, SASL) as Faust's own consumer is."""
    conf = app.conf
    transport = app.transport
    return aiokafka.AIOKafkaConsumer(
        client_id=f"{conf.broker_client_id}-restore",
        bootstrap_servers=server_list(transport.url, transport.default_port),
        request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        fetch_max_wait_ms=100,
        check_crcs=conf.broker_check_crcs,
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )


class BulkTableManager(TableManager):
    """Faust's table manager, recovering with :class:`BulkRecovery`."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service (Faust builds its own ``Recovery`` here)."""
        if self._recovery is None:
            self._recovery = BulkRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
