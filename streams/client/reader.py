"""Read outcomes as a downstream service should: one authoritative outcome per event.

An event can get more than one outcome (a replay after a crash or rebalance: ``applied`` then
``duplicate``, ``superseded`` then ``stale``; a copy re-published by ``streams replay``, which
names the original ``source``: ``failed`` then ``applied``). The rule (docs/RELIABILITY.md):
deduplicate by ``source``; the first final outcome (``applied`` or ``failed``) is authoritative,
except that a later ``applied`` overrides a ``failed`` ("failed" means "not confirmed": the
value is in the IM now). So the reader yields an event's first outcome and drops later ones,
except a later final one that outranks what it yielded (``applied`` after anything else,
``failed`` after a non-final one): it is yielded too, with ``corrects`` set.

The memory of seen sources is bounded (oldest forgotten first) and per process: after a restart
of the consumer group, outcomes after the last committed offset are read again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from streams.client.connection import BrokerSettings
from streams.contract import Outcome, OutcomeStatus

log = logging.getLogger(__name__)

FINAL = frozenset({OutcomeStatus.APPLIED, OutcomeStatus.FAILED})
Source = tuple[str, int, int]
#: Sources remembered for deduplication. Duplicates follow their first outcome closely (the
#: replay of a window after a crash), so this many is far more than one replay can span.
DEFAULT_REMEMBER = 200_000


def source_of(outcome: Outcome) -> Source:
    """The outcome's event position: (topic, partition, offset)."""
    return (outcome.source.topic, outcome.source.partition, outcome.source.offset)


@dataclass(frozen=True, slots=True)
class ReceivedOutcome:
    """One outcome and where it was read (its own position in the outcomes topic)."""

    outcome: Outcome
    key: bytes | None
    partition: int
    offset: int
    #: True when this final outcome follows a non-final one yielded earlier for the same event.
    corrects: bool = False


def _rank(status: OutcomeStatus) -> int:
    """How authoritative an outcome is: applied over failed over any non-final one."""
    return {OutcomeStatus.APPLIED: 2, OutcomeStatus.FAILED: 1}.get(status, 0)


class Deduplicator:
    """The rule above, over a bounded memory of sources (pure: no Kafka)."""

    def __init__(self, remember: int = DEFAULT_REMEMBER) -> None:
        self._remember = remember
        #: source -> the rank of the outcome yielded for it
        self._seen: OrderedDict[Source, int] = OrderedDict()
        self.dropped = 0

    def admit(self, outcome: Outcome) -> tuple[bool, bool]:
        """(yield it?, does it correct an earlier outcome?)."""
        source = source_of(outcome)
        rank = _rank(outcome.status)
        before = self._seen.get(source)
        if before is None:
            self._seen[source] = rank
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return True, False
        if rank > before and outcome.status in FINAL:
            self._seen[source] = rank
            return True, True
        self.dropped += 1
        return False, False


class OutcomeReader:
    """Reads the outcomes topic; ``async with OutcomeReader(...) as r: async for o in r``.

    With ``group_id`` it joins that consumer group and resumes from its committed offsets
    (``commit()`` after handling what was yielded); without, it reads every partition from the
    beginning. ``idle_s`` ends the iteration when nothing arrives for that long (for tools);
    None waits forever.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        topic: str,
        *,
        group_id: str | None = None,
        idle_s: float | None = None,
        remember: int = DEFAULT_REMEMBER,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            **settings.aiokafka_options(),
            group_id=group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
        )
        self._idle_ms = None if idle_s is None else int(idle_s * 1000)
        self.dedup = Deduplicator(remember)
        #: Per partition, the offset after the last record handed out: what commit() commits
        #: (the consumer's own position is past the whole fetched batch).
        self._handed: dict[TopicPartition, int] = {}
        #: Records that are not a valid outcome (logged and skipped, never raised).
        self.malformed = 0

    async def __aenter__(self) -> OutcomeReader:
        try:
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()  # a failed start leaves it open (connections, warning)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def commit(self) -> None:
        """Commit the group's offsets up to what was yielded."""
        if self._handed:
            await self._consumer.commit(dict(self._handed))

    async def records(self) -> AsyncIterator[Any]:
        """Every consumed record, undecoded (until idle, if ``idle_s`` was given)."""
        while True:
            batches = await self._consumer.getmany(
                timeout_ms=self._idle_ms if self._idle_ms is not None else 1000,
                max_records=10_000,
            )
            if not batches and self._idle_ms is not None:
                return
            for tp, batch in batches.items():
                for record in batch:
                    self._handed[tp] = record.offset + 1
                    yield record

    async def __aiter__(self) -> AsyncIterator[ReceivedOutcome]:
        async for record in self.records():
            try:
                outcome = Outcome.model_validate_json(record.value or b"")
            except ValidationError:
                self.malformed += 1
                log.warning("skipped a record that is not an outcome at %s/%s",
                            record.partition, record.offset)  # fmt: skip
                continue
            admit, corrects = self.dedup.admit(outcome)
            if admit:
                yield ReceivedOutcome(
                    outcome, record.key, record.partition, record.offset, corrects
                )
