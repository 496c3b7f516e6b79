"""Publish changes the way the worker expects them: validated, keyed and partitioned by user.

The worker rejects what its models reject and forwards what sits on the wrong partition; a
producer that validates with the same models and partitions with the same murmur2 never sees
either. Records are batched (``linger_ms``) and every position is returned, so a caller can
find each event's outcome by ``source``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from streams.client.connection import BrokerSettings
from streams.contract import CustomDataChange
from streams.core.partitioning import partition_for

#: Outstanding sends awaited together: bounds memory on long inputs.
MAX_IN_FLIGHT = 5_000
#: The worker's default ``STREAMS_MAX_MESSAGE_BYTES``: larger changes cannot be valid anyway.
MAX_CHANGE_BYTES = 64 * 1024


#: A record as published: (key, value) or (key, value, headers).
RawRecord = (
    tuple[bytes | None, bytes | None]
    | tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes]]]
)


@dataclass(frozen=True, slots=True)
class Published:
    """Where one record landed: its outcome will name this position as ``source``."""

    topic: str
    partition: int
    offset: int
    event_id: str | None = None


class InvalidChangeError(ValueError):
    """A change the worker would reject; nothing of the call was published."""

    def __init__(self, index: int, problems: str) -> None:
        super().__init__(f"change #{index} is invalid: {problems}")
        self.index = index
        self.problems = problems


def murmur2_partitioner(key: bytes | None, all_partitions: Sequence[int], available: Any) -> int:
    """aiokafka's partitioner hook, computing the partition exactly as the worker checks it."""
    if key is None:  # validated changes always have a key; raw records may not
        return int(all_partitions[0] if not available else available[0])
    return int(sorted(all_partitions)[partition_for(key, len(all_partitions))])


def encode_change(change: CustomDataChange | Mapping[str, Any] | bytes) -> tuple[bytes, bytes]:
    """(key, value) of one change, validated exactly as the worker will: raises ValueError.

    JSON text (``bytes``) is sent as it is once it validates; models and mappings are dumped.
    """
    if isinstance(change, bytes):
        value = change
    elif isinstance(change, CustomDataChange):
        value = change.model_dump_json(exclude_none=True).encode()
    else:
        value = orjson.dumps(dict(change))
    if len(value) > MAX_CHANGE_BYTES:
        raise ValueError(f"{len(value)} bytes; the worker accepts at most {MAX_CHANGE_BYTES}")
    try:
        parsed = CustomDataChange.model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise ValueError(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors)
        ) from None
    return parsed.user_id.encode(), value


def key_of(line: bytes) -> bytes | None:
    """The record key of a line sent as it is (``streams produce --raw``, the test tools): its
    ``user_id``, as :func:`encode_change` keys a valid change; None when it has none."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    user = doc.get("user_id") if isinstance(doc, dict) else None
    return user.encode() if isinstance(user, str) else None


class Publisher:
    """Publishes to the changes topic; use as ``async with Publisher(settings, topic) as p``."""

    def __init__(
        self,
        settings: BrokerSettings,
        topic: str,
        *,
        linger_ms: int = 5,
        max_batch_bytes: int = 256 * 1024,
    ) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            **settings.aiokafka_options(),
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            partitioner=murmur2_partitioner,
        )

    async def __aenter__(self) -> Publisher:
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()  # a failed start leaves it open (connections, warning)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(
        self,
        changes: Iterable[CustomDataChange | Mapping[str, Any] | bytes],
        *,
        on_sent: Any = None,
    ) -> list[Published]:
        """Validate every change, then publish them all; raises InvalidChangeError first."""
        records = []
        event_ids = []
        for index, change in enumerate(changes):
            try:
                records.append(encode_change(change))
            except ValueError as exc:
                raise InvalidChangeError(index, str(exc)) from None
            event_ids.append(orjson.loads(records[-1][1])["event_id"])
        positions = await self.publish_raw(records, on_sent=on_sent)
        return [
            Published(p.topic, p.partition, p.offset, event_id)
            for p, event_id in zip(positions, event_ids, strict=True)
        ]

    async def publish_raw(
        self, records: Iterable[RawRecord], *, on_sent: Any = None
    ) -> list[Published]:
        """Publish (key, value) or (key, value, headers) records as they are (no validation):
        replays, tests, tools.

        ``on_sent(n)`` is called as batches are confirmed (a progress bar's ``update``).
        """
        positions: list[Published] = []
        pending: list[asyncio.Future[Any]] = []

        async def settle() -> None:
            for meta in await asyncio.gather(*pending):
                positions.append(Published(meta.topic, meta.partition, meta.offset))
            if on_sent is not None:
                on_sent(len(pending))
            pending.clear()

        for record in records:
            headers = record[2] if len(record) == 3 else None
            sent = await self._producer.send(
                self.topic, value=record[1], key=record[0], headers=headers
            )
            pending.append(sent)
            if len(pending) >= MAX_IN_FLIGHT:
                await settle()
        await settle()
        return positions
