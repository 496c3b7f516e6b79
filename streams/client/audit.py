"""``streams replay`` and ``streams verify``: act on what the outcomes topic says.

Replay re-publishes the events whose authoritative outcome is ``failed`` (after an IM outage,
say), read back byte for byte from their source positions, with signed origin headers naming
that position: the worker ranks and reports the copy as the original, so a replay never beats
a change applied meanwhile. Verify reads the IM back and reports each conversation whose value
is not its last ``applied`` one, which finds the "failed but in fact applied" case of
docs/RELIABILITY.md (a lost answer).

Both read the outcomes topic once, from ``--since`` on (a seek by timestamp), folding each
record into a :class:`~streams.client.ledger.Ledger`: memory per conversation, not per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError

from streams.client.connection import BrokerSettings
from streams.client.ledger import Filters, Ledger
from streams.client.publisher import Published, Publisher
from streams.client.reader import source_of
from streams.client.scan import Progress, read_positions, scan
from streams.contract import Outcome
from streams.core import origin
from streams.core.records import Position
from streams.sdk import IMSettings, TencentIMClient
from streams.sdk.client import IMRequestError

#: get_list reads in flight at once: a fraction of the app's 200 requests/s budget.
VERIFY_CONCURRENCY = 4
#: How much earlier than ``--since`` the read starts. An outcome's record timestamp is taken
#: by the worker's producer after its ``processed_at``, so it is never earlier, unless the
#: topic uses LogAppendTime and the broker's clock is behind the worker's: this covers that.
SEEK_MARGIN: Final = timedelta(minutes=5)


@dataclass
class Reading:
    """The outcomes topic as read: a ledger, and how many records were not outcomes."""

    ledger: Ledger
    malformed: int = 0


async def read_outcomes(
    settings: BrokerSettings,
    topic: str,
    filters: Filters,
    *,
    on_total: Progress | None = None,
    on_read: Progress | None = None,
) -> Reading:
    """The outcomes topic from ``filters.since`` up to its end when the read starts.

    Records before ``--since`` (less :data:`SEEK_MARGIN`) are never fetched: each partition
    starts at the first offset whose timestamp is at or after that time.
    """
    reading = Reading(Ledger(filters))
    since = None if filters.since is None else filters.since - SEEK_MARGIN
    async for record in scan(settings, topic, since=since, on_total=on_total, on_read=on_read):
        try:
            reading.ledger.add(Outcome.model_validate_json(record.value or b""))
        except ValidationError:
            reading.malformed += 1
    return reading


@dataclass
class Replay:
    """One failed event chosen for replay, and where its copy went (None: not published)."""

    outcome: Outcome
    record: Any | None
    published: Published | None = None

    def report(self) -> dict[str, Any]:
        """The JSON line printed for it."""
        o = self.outcome
        return {
            "event_id": o.event_id,
            "user_id": o.user_id,
            "conversation_id": o.conversation_id,
            "reason": None if o.reason is None else o.reason.value,
            "code": o.code,
            "source": o.source.model_dump(),
            "found": self.record is not None,
            "replayed_to": None
            if self.published is None
            else {"partition": self.published.partition, "offset": self.published.offset},
        }


async def replay(
    settings: BrokerSettings,
    reading: Reading,
    *,
    changes_topic: str,
    signing_key: bytes | None,
    on_sent: Callable[[int], None] | None = None,
) -> tuple[list[Replay], int]:
    """Re-publish the selected failed events (none without ``signing_key``: a dry run); (each
    one's fate, how many were skipped as settled since).

    Each copy carries origin headers naming its source, signed for ``changes_topic`` with the
    workers' key (:mod:`streams.core.origin`).
    """
    chosen, settled = reading.ledger.to_replay()
    records = await read_positions(settings, [source_of(o) for o in chosen])
    replays = [Replay(o, records.get(source_of(o))) for o in chosen]
    found = [(r, r.record) for r in replays if r.record is not None]
    if signing_key is not None and found:
        async with Publisher(settings, changes_topic) as publisher:
            published = await publisher.publish_raw(
                [
                    (
                        record.key,
                        record.value,
                        origin.sign(
                            signing_key,
                            Position(*source_of(item.outcome)),
                            record.key,
                            record.value,
                            destination=changes_topic,
                        ),
                    )
                    for item, record in found
                ],
                on_sent=on_sent,
            )
        for (item, _), position in zip(found, published, strict=True):
            item.published = position
    return replays, settled


@dataclass
class Verification:
    """Verify's findings: mismatches, and users whose IM state could not be read."""

    checked: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)


async def verify(
    im: IMSettings,
    reading: Reading,
    *,
    on_user: Callable[[int], None] | None = None,
) -> Verification:
    """Compare each selected conversation's IM value with its last applied outcome."""
    expectations = list(reading.ledger.expectations())
    users = sorted({e.user_id for e in expectations})
    result = Verification(checked=len(expectations))
    values: dict[str, dict[str, str]] = {}
    gate = asyncio.Semaphore(VERIFY_CONCURRENCY)
    async with TencentIMClient(im) as client:

        async def read(user: str) -> None:
            async with gate:
                try:
                    values[user] = await client.get_custom_data(user)
                except IMRequestError as exc:
                    result.unreadable.append({"user_id": user, "code": exc.code, "info": exc.info})
            if on_user is not None:
                on_user(1)

        await asyncio.gather(*(read(user) for user in users))
    for expectation in expectations:
        if expectation.user_id not in values:
            continue
        found = expectation.check(values[expectation.user_id].get(expectation.conversation_id))
        if found is not None:
            result.mismatches.append(found)
    return result
