"""The agent loop: take a window -> core -> SDK -> outcomes -> await deliveries -> ack.

Outcomes are sent as they become final, while the window's later SDK requests are in flight,
but nothing of a window is acked until every outcome, dead letter, forward and changelog record
it produced has been delivered. Any failure there escapes the agent, and the crashing supervisor
stops the worker, so a restart redelivers from the last commit instead of skipping a gap; the
replayed events may get a second outcome, as the contract allows. So may the events of a
partition revoked mid-window: they are left unacked for the new owner. Events whose request the
window's bound left unsent are neither acked nor forgotten: the window hands them back
(``WindowStats.left``) and the agent runs them as the next window. The steps of that protocol,
in order, are :mod:`streams.window.checkpoint`.

This module orchestrates; partition routing (:mod:`~streams.window.routing`), the retention
sweep (:mod:`~streams.window.sweep`), outcome batching (:mod:`~streams.window.trickle`) and the
stop policy (:mod:`~streams.window.stop`) are their own modules, and everything Kafka-side is
reached through :mod:`streams.window.ports`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.contract import OutcomeReason
from streams.core import origin, outcomes
from streams.core.coalesce import group_by_conversation, plan, resolve
from streams.core.dead_letters import dead_letter
from streams.core.decode import decode, micros
from streams.core.records import (
    NOTHING_APPLIED,
    Change,
    Envelope,
    Forward,
    LastApplied,
    Position,
    Rejection,
)
from streams.core.retention import oldest_admitted_us
from streams.window.apply import Applied, Applies, ApplyReport
from streams.window.checkpoint import Checkpoint
from streams.window.config import WindowSettings
from streams.window.ports import (
    ChangelogTable,
    CurrentEvent,
    Delivery,
    Event,
    Ownership,
    RecordSinks,
)
from streams.window.routing import per_partition
from streams.window.stop import failure_reason
from streams.window.sweep import RetentionSweep
from streams.window.trickle import Trickle

log = logging.getLogger(__name__)


#: How often a window sends the outcomes that became final since its last send (a batch per
#: partition each time): a few sends per window, not one per SDK request. See Trickle.
OUTCOME_SEND_INTERVAL_S = 0.025


@dataclass(slots=True)
class WindowStats:
    """Counters of one window, for logs and metrics."""

    events: int = 0
    conversations: int = 0
    dead_letters: int = 0
    forwards: int = 0
    #: Records whose origin headers were malformed or not signed by a worker (ignored).
    forged_origins: int = 0
    #: Records the worker failed on alone, rejected ``internal_error`` (streams.window.guard).
    quarantined: int = 0
    #: Table entries deleted as older than the retention horizon (streams.core.retention).
    expired: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    sdk: ApplyReport = field(default_factory=ApplyReport)
    #: Events of owned partitions the window's bound left without a final answer (unacked,
    #: without an outcome): the next window's, which the agent runs before taking new events.
    left: list[Event] = field(default_factory=list)


class WindowProcessor:
    """Processes one window of events end to end (everything but the ack)."""

    def __init__(
        self,
        settings: WindowSettings,
        sinks: RecordSinks,
        table: ChangelogTable,
        applier: Applies,
        *,
        owns: Ownership,
        partitions: Callable[[], int],
        set_current_event: CurrentEvent,
        origin_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._sinks = sinks
        self._table = table
        self._applier = applier
        self._owns = owns
        self._partitions = partitions
        self._set_current_event = set_current_event
        self._origin_key = origin_key
        self._clock = clock
        self._max_skew = timedelta(seconds=settings.max_clock_skew_s)
        self._sweep = RetentionSweep(
            table,
            settings.state_retention_s,
            owns=owns,
            partitions=partitions,
            set_current_event=set_current_event,
        )

    def _classify(
        self, event: Event, partitions: int, now: datetime, stats: WindowStats
    ) -> Change | Rejection | Forward:
        """One record as a change, rejection or forward; never raises, whatever it holds.

        A record the worker cannot handle (an exception here is a bug or a library's surprise,
        caused by what this record holds) is rejected ``internal_error`` and dead-lettered, so
        it ends in its own outcome instead of escaping the window.
        """
        msg = event.message
        position = Position(msg.topic, msg.partition, msg.offset)
        envelope = Envelope(msg.key, msg.value, position, partitions)
        try:
            check = origin.verify(
                self._origin_key, msg.headers, msg.key, msg.value, topic=msg.topic
            )
            if check.verdict is origin.Verdict.FORGED:
                stats.forged_origins += 1
            elif check.position is not None:
                envelope = replace(envelope, origin=check.position)
            return decode(
                envelope,
                now=now,
                max_skew=self._max_skew,
                max_bytes=self._settings.max_message_bytes,
            )
        except Exception as exc:
            log.exception("could not decode the record at %s", position)
            return internal_error(envelope, exc)

    async def process(self, events: Sequence[Event]) -> tuple[list[Event], WindowStats]:
        """Run the window; return the events that may now be acked, and its stats.

        Outcomes go out as they become final (:class:`~streams.window.trickle.Trickle`), each
        stamped with that moment: the decided ones before the first SDK request, the others as
        their request ends. Requests start oldest event first, so the events that waited
        longest for their window get answers first.

        Events of partitions this worker no longer owns (a revocation began before this window
        did) are its new owner's: no outcome, no ack.
        """
        events = [e for e in events if self._owns(e.message.partition)]
        now = self._clock()
        stamp = now.isoformat()
        partitions = self._partitions()
        stats = WindowStats(events=len(events))
        checkpoint = self._checkpoint()
        out = checkpoint.outcomes
        by_envelope: dict[int, Event] = {}
        arrival: dict[int, int] = {}
        changes: list[Change] = []
        for event in _first_copies(events):
            item = self._classify(event, partitions, now, stats)
            by_envelope[id(item.envelope)] = event
            arrival[id(item.envelope)] = len(arrival)
            if isinstance(item, Change):
                changes.append(item)
            elif isinstance(item, Rejection):
                checkpoint.track(self._reject(item, out, stamp, stats))
            else:
                stats.forwards += 1
                checkpoint.track([self._forward(item)])
        groups = group_by_conversation(changes)
        stats.conversations = len(groups)
        last: dict[str, LastApplied] = {}
        firsts = (g[0] for g in groups.values())
        for first in per_partition(firsts, by_envelope, self._set_current_event):
            stored = self._table.get(first.conversation)
            if stored is not None:
                last[first.conversation] = LastApplied.from_json(stored)
        oldest = oldest_admitted_us(micros(now), self._settings.state_retention_s)
        resolution = resolve(groups, last, oldest_us=oldest)
        if oldest is not None:
            stats.expired = self._sweep.run(events, now, oldest)
        decided_at = self._clock().isoformat()
        for decision in resolution.decided:
            record = outcomes.for_decision(decision, decided_at)
            out.add(_serialise_counted(record, decision.change.envelope, stats))
        # Before a value can reach the IM, the table must know it may be there: a worker dying
        # after the write would otherwise let its successor write an older value after it.
        for winner in per_partition(resolution.winners, by_envelope, self._set_current_event):
            entry = last.get(winner.conversation, NOTHING_APPLIED).writing(winner)
            self._table[winner.conversation] = entry.to_json()
        await checkpoint.write_ahead()
        await out.send()
        blocked: set[int] = set()

        async def on_done(results: Sequence[Applied], abandoned: Sequence[Change]) -> None:
            # One request's changes: one user, so one partition.
            blocked.update(c.envelope.position.partition for c in abandoned)
            if results:
                self._set_current_event(by_envelope[id(results[0].change.envelope)])
            final_at = self._clock().isoformat()
            for result in results:
                record = self._result_outcome(result, final_at)
                out.add(_serialise_counted(record, result.change.envelope, stats))
                if result.code == 0:
                    change = result.change
                    self._table[change.conversation] = LastApplied.of(change).to_json()
            await out.send_due()

        winners = sorted(resolution.winners, key=lambda c: arrival[id(c.envelope)])
        stats.sdk = await self._applier.apply(plan(winners), on_done)
        if blocked:
            log.warning("partitions %s were revoked mid-window; their events are left unacked",
                        sorted(blocked))  # fmt: skip
        await checkpoint.deliver()
        unsent = {c.envelope.position for c in stats.sdk.unsent}
        ackable: list[Event] = []
        for event in events:
            msg = event.message
            if Position(msg.topic, msg.partition, msg.offset) in unsent:
                stats.left.append(event)
            elif msg.partition not in blocked:
                ackable.append(event)
        if unsent:
            log.info("%d events left for the next window by the window's bound", len(unsent))
        return ackable, stats

    def _result_outcome(self, result: Applied, stamp: str) -> dict[str, Any]:
        """The outcome of a final IM answer (or the worker stops: :mod:`streams.window.stop`)."""
        return outcomes.for_result(
            result.change,
            stamp,
            code=result.code,
            info=result.info,
            request_id=result.request_id,
            attempts=result.attempts,
            reason=failure_reason(result, self._settings),
        )

    def _checkpoint(self) -> Checkpoint:
        """A window's commit protocol, its outcomes trickling to the outcome sink."""
        return Checkpoint(self._table, Trickle(self._sinks.outcomes, OUTCOME_SEND_INTERVAL_S))

    async def quarantine(
        self, event: Event, exc: Exception, *, dead_letter_max_bytes: int | None = None
    ) -> WindowStats:
        """Reject ``event``, which failed alone, as ``internal_error``; await its records.

        Called by :class:`streams.window.guard.CrashGuard` for a record that crashed the worker's
        windows again and again and failed once more when processed alone. Its outcome names
        what the record parsed to (if it parses) and the exception type (not its message,
        which may quote anything); the record itself goes to the dead letters, cut to
        ``dead_letter_max_bytes`` when given (the guard's fallback when even the dead letter
        could not be produced, e.g. a dead-letter topic with a lower size limit).
        """
        stats = WindowStats(events=1)
        item = self._classify(event, self._partitions(), self._clock(), stats)
        info = (
            f"the worker failed on this record ({type(exc).__name__}) in repeated windows and "
            "again when processing it alone; quarantined"
        )
        rejection = Rejection(
            item.envelope, OutcomeReason.INTERNAL_ERROR, info, True, **_ids_of(item)
        )
        stats.quarantined = 1
        checkpoint = self._checkpoint()
        stamp = self._clock().isoformat()
        checkpoint.track(
            self._reject(rejection, checkpoint.outcomes, stamp, stats, dead_letter_max_bytes)
        )
        await checkpoint.deliver()
        return stats

    def _reject(
        self,
        rejection: Rejection,
        out: Trickle,
        stamp: str,
        stats: WindowStats,
        dead_letter_max_bytes: int | None = None,
    ) -> list[Delivery]:
        """Queue the rejection's outcome (and dead letter); the dead letter's delivery, if any."""
        out.add(
            _serialise_counted(outcomes.for_rejection(rejection, stamp), rejection.envelope, stats)
        )
        if not rejection.dead_letter:
            return []
        stats.dead_letters += 1
        envelope = rejection.envelope
        letter = dead_letter(
            envelope.key,
            envelope.value,
            envelope.source,
            rejection.info,
            max_bytes=dead_letter_max_bytes or self._settings.dead_letter_max_bytes,
        )
        delivery = self._sinks.dead_letters.send_soon(
            key=letter.key, value=letter.value, headers=letter.headers
        )
        return [delivery]

    def _forward(self, forward: Forward) -> Delivery:
        """Re-send a misrouted record to its user's partition, signed with where it came from."""
        envelope = forward.envelope
        return self._sinks.forwards.send_soon(
            key=envelope.key,
            value=envelope.value,
            partition=forward.partition,
            headers=origin.sign(
                self._origin_key,
                envelope.position,
                envelope.key,
                envelope.value,
                destination=self._settings.changes_topic,
            ),
        )


def _ids_of(item: Change | Rejection | Forward) -> dict[str, Any]:
    """The fields a record parsed to, as far as it parsed."""
    if isinstance(item, Change):
        return outcomes.event_fields(item)
    if isinstance(item, Rejection):
        return {
            "event_id": item.event_id,
            "user_id": item.user_id,
            "conversation_id": item.conversation_id,
            "version": item.version,
            "occurred_at": item.occurred_at,
        }
    return {}


def internal_error(envelope: Envelope, exc: Exception) -> Rejection:
    """The rejection of a record the worker raised on while decoding it (dead-lettered)."""
    info = f"the worker could not decode this record ({type(exc).__name__})"
    return Rejection(envelope, OutcomeReason.INTERNAL_ERROR, info, True)


def _first_copies(events: Sequence[Event]) -> list[Event]:
    """The window's events without repeated deliveries of one message (same position).

    A refetch can hand the same message to a window twice; it gets one outcome, and both
    copies are acked.
    """
    seen: set[tuple[str, int, int]] = set()
    firsts: list[Event] = []
    for event in events:
        msg = event.message
        position = (msg.topic, msg.partition, msg.offset)
        if position not in seen:
            seen.add(position)
            firsts.append(event)
    return firsts


def _serialise_counted(
    record: dict[str, Any], envelope: Envelope, stats: WindowStats
) -> tuple[bytes | None, bytes]:
    """The outcome as a (key, value) record, counted in the window's stats.

    Its key is the input record's key exactly as received (null, non-UTF-8, or not the body's
    ``user_id``): a consumer finds an event's outcome on the partition its own key hashes to,
    whatever the body says. A forwarded copy keeps the key, so its outcome does too.
    """
    stats.statuses[record["status"]] = stats.statuses.get(record["status"], 0) + 1
    return envelope.key, orjson.dumps(record)
