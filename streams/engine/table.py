"""The tables' class: Faust's Table, its changelog records sent in batches the window awaits."""

from __future__ import annotations

import asyncio
from functools import partial
from types import SimpleNamespace
from typing import Any

import faust
import orjson

from streams.engine import internals
from streams.engine.sink import BatchSink


class TrackedTable(faust.Table[str, list[Any]]):
    """A Table whose changelog records the window sends itself, one batch per partition.

    Faust sends each changelog record through its per-record producer path and drops the
    future. The window must await them before acking its input (an offset must never be
    committed ahead of the table state it produced), and that path grew costly once every
    winner got two records (pending, then applied; bench/PROFILE.md). The table's store and
    its changelog format are Faust's; only the sending is batched (``streams.engine.sink``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[tuple[int, bytes | None, bytes | None]] = []
        self._sink: BatchSink | None = None

    def on_key_set(self, key: Any, value: Any) -> None:
        """``table[key] = value``: queue its changelog record, routed like Faust routes it.

        Faust's goes through :meth:`send_changelog` and its serializer registry, then does
        TTL bookkeeping meant for windowed tables, for every winner (bench/PROFILE.md). Keys
        and values are JSON by the table's schema (``streams.engine.app.create_app``), so they
        are dumped with orjson directly; a test holds the bytes to Faust's own.
        """
        self._queue(self.partition_for_key(key), orjson.dumps(key), orjson.dumps(value))
        internals.sensor_on_set(self, key, value)

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        """Serialize and queue the record (any other write than a set, e.g. a delete)."""
        topic = self.changelog_topic
        key_bytes, _ = topic.prepare_key(key, key_serializer or self.key_serializer)
        value_bytes, _ = topic.prepare_value(value, value_serializer or self.value_serializer)
        self._queue(partition, key_bytes, value_bytes)
        # Table.on_key_del reads the record's partition from what this returns.
        return SimpleNamespace(message=SimpleNamespace(partition=partition))

    def _queue(self, partition: int | None, key: bytes | None, value: bytes | None) -> None:
        """Hold a changelog record for :meth:`flush_changelog` (a None value: a deletion)."""
        if partition is None:
            raise RuntimeError("a table write outside a window: its changelog partition is unknown")
        self._unsent.append((partition, key, value))

    async def flush_changelog(self) -> list[asyncio.Future[Any]]:
        """Send the records queued since the last flush; return their delivery futures."""
        unsent, self._unsent = self._unsent, []
        if not unsent:
            return []
        if self._sink is None:
            topic = self.changelog_topic.get_topic_name()
            self._sink = BatchSink(partial(internals.aiokafka_producer, self.app), topic)
        futures = []
        for future, count in await self._sink.send_routed(unsent):
            future.add_done_callback(partial(self._on_batch_sent, count))
            futures.append(future)
        return futures

    def _on_batch_sent(self, count: int, future: asyncio.Future[Any]) -> None:
        """What Faust does per record: remember the store's last persisted changelog offset."""
        if future.cancelled() or future.exception() is not None:
            return  # the window awaiting this future fails and stops the worker
        sent = future.result()
        self.data.set_persisted_offset(sent.topic_partition, sent.offset + count - 1)
