"""What the outcomes topic says, as replay and verify need it, folded one record at a time
(pure: no Kafka, no IM).

The tools read the outcomes topic once, from ``--since`` on, and keep what they need per
conversation and per failed event, never every record, so their memory follows the number of
conversations (of the selected users) and of failures, not the length of the topic:

* per conversation: its last ``applied`` outcome in last-write-wins order (version or -1,
  occurred_at, source offset: the original position of a replayed or forwarded event, as the
  worker ranks it), and the failed outcomes newer than that;
* per failed event selected for replay (by ``event_id``): its newest copy, and whether a later
  copy of it settled (``applied``, ``duplicate``, ``stale`` or ``superseded``).

Replay picks the failed events that no copy settled and whose conversation has no applied
outcome at or after them in that order: a later change was applied meanwhile (so the replay
would come out ``stale``), or the event itself was (its answer was lost). Verify expects each
conversation a selected final outcome names to hold the value of its last applied outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from streams.client.reader import FINAL, Source, source_of
from streams.contract import Outcome, OutcomeReason, OutcomeStatus
from streams.core.decode import micros
from streams.core.records import Order

#: A copy of an event with one of these outcomes needs no replay: its value reached the IM, or a
#: newer one did.
SETTLED = frozenset(
    {
        OutcomeStatus.APPLIED,
        OutcomeStatus.DUPLICATE,
        OutcomeStatus.STALE,
        OutcomeStatus.SUPERSEDED,
    }
)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which failed events to replay, or which conversations to verify (all when empty)."""

    since: datetime | None = None
    until: datetime | None = None
    reasons: frozenset[OutcomeReason] = frozenset()
    codes: frozenset[int] = frozenset()
    users: frozenset[str] = frozenset()

    def match(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` (by its processing time, reason, code and user) is selected."""
        if self.since is not None and outcome.processed_at < self.since:
            return False
        if self.until is not None and outcome.processed_at >= self.until:
            return False
        if self.reasons and outcome.reason not in self.reasons:
            return False
        if self.codes and outcome.code not in self.codes:
            return False
        return self.concerns(outcome)

    def concerns(self, outcome: Outcome) -> bool:
        """Whether ``outcome``'s user is selected: only those users' conversations are kept."""
        return not self.users or outcome.user_id in self.users


@dataclass(frozen=True, slots=True)
class Seen:
    """What verify needs of one final outcome: where it ranks, its event and its value."""

    order: Order
    event_id: str | None
    custom_data: str | None

    @classmethod
    def of(cls, outcome: Outcome) -> Seen:
        """The parts of ``outcome`` kept."""
        return cls(order_of(outcome), outcome.event_id, outcome.custom_data)


@dataclass(slots=True)
class Conversation:
    """One conversation's state: its last applied outcome and the failures newer than it."""

    applied: Seen | None = None
    #: Failed outcomes newer than ``applied``: "failed" means "not confirmed", so any of them
    #: may be in the IM. Those an applied outcome overtakes are dropped.
    newer_failures: list[Seen] = field(default_factory=list)
    #: Whether a selected final outcome names it (verify checks only those).
    named: bool = False

    def add(self, outcome: Outcome) -> None:
        """Take one final outcome of this conversation, in any order."""
        seen = Seen.of(outcome)
        if self.applied is not None and seen.order <= self.applied.order:
            return  # the first of equal orders stays, as last-write-wins keeps the first
        if outcome.status is OutcomeStatus.APPLIED:
            self.applied = seen
            self.newer_failures = [f for f in self.newer_failures if f.order > seen.order]
        elif seen not in self.newer_failures:
            self.newer_failures.append(seen)

    def applied_since(self, order: Order) -> bool:
        """Whether an outcome at or after ``order`` was applied."""
        return self.applied is not None and self.applied.order >= order


#: A failed event's identity: its event_id, or its source when it has none.
EventKey = str | Source


def _event(outcome: Outcome) -> EventKey:
    return source_of(outcome) if outcome.event_id is None else outcome.event_id


@dataclass
class Ledger:
    """The state above, built by :meth:`add` from the outcomes read (``filters`` chooses)."""

    filters: Filters = field(default_factory=Filters)
    conversations: dict[tuple[str, str], Conversation] = field(default_factory=dict)
    #: The newest failed copy of each selected failed event.
    failed: dict[EventKey, Outcome] = field(default_factory=dict)
    #: Failed events a later copy settled.
    settled: set[EventKey] = field(default_factory=set)

    def add(self, outcome: Outcome) -> None:
        """Take one outcome record (in topic order)."""
        if not self.filters.concerns(outcome):
            return
        event = _event(outcome)
        if outcome.status in SETTLED and event in self.failed:
            self.settled.add(event)
        if outcome.status not in FINAL or not (outcome.user_id and outcome.conversation_id):
            return
        state = self.conversations.setdefault(
            (outcome.user_id, outcome.conversation_id), Conversation()
        )
        state.add(outcome)
        state.named |= self.filters.match(outcome)
        if outcome.status is OutcomeStatus.FAILED and self.filters.match(outcome):
            before = self.failed.get(event)
            # An event whose replay failed too (a lasting outage) is replayed once, not once
            # per copy (that would double its copies at every run): its newest copy, the one
            # most likely still within the changes topic's retention.
            if before is None or source_of(outcome) >= source_of(before):
                self.failed[event] = outcome

    @classmethod
    def of(cls, outcomes: Iterable[Outcome], filters: Filters | None = None) -> Ledger:
        """A ledger of ``outcomes``."""
        ledger = cls(filters or Filters())
        for outcome in outcomes:
            ledger.add(outcome)
        return ledger

    def to_replay(self) -> tuple[list[Outcome], int]:
        """The failed events to re-publish (oldest source first), and how many were skipped:
        settled by another copy, or overtaken by an applied change of their conversation."""
        chosen: list[Outcome] = []
        for event, outcome in self.failed.items():
            state = self.conversations[(outcome.user_id or "", outcome.conversation_id or "")]
            if event not in self.settled and not state.applied_since(order_of(outcome)):
                chosen.append(outcome)
        return sorted(chosen, key=source_of), len(self.failed) - len(chosen)

    def expectations(self) -> Iterator[Expectation]:
        """Per conversation named by a selected final outcome: what the IM should hold."""
        for (user, conversation), state in sorted(self.conversations.items()):
            if state.named:
                yield Expectation(user, conversation, state.applied, state.newer_failures)


def order_of(outcome: Outcome) -> Order:
    """The last-write-wins order of the outcome's event (as the worker decided it)."""
    version = -1 if outcome.version is None else outcome.version
    occurred: datetime | str | None = outcome.occurred_at
    if isinstance(occurred, str):  # RFC 3339 allows 't' and 'z', 3.11's fromisoformat does not
        occurred = datetime.fromisoformat(occurred.upper())
    return (version, 0 if occurred is None else micros(occurred), outcome.source.offset)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one conversation should hold after its outcomes, and what may explain a mismatch."""

    user_id: str
    conversation_id: str
    #: The last applied outcome in last-write-wins order; None when none was read.
    applied: Seen | None
    #: Failed outcomes newer than it: "failed" means "not confirmed", so any may be in the IM.
    newer_failures: list[Seen]

    def check(self, im_value: str | None) -> dict[str, object] | None:
        """None when the IM agrees (no value and '' are the same: cleared), else the mismatch
        as a JSON-able report, naming the failed event whose value the IM holds, if any."""
        expected = None if self.applied is None else self.applied.custom_data
        if (im_value or "") == (expected or ""):
            return None
        explained = next((f for f in self.newer_failures if f.custom_data == im_value), None)
        if self.applied is None and explained is None:
            return None  # nothing of ours was applied, and the IM's value is not one of ours
        return {
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "im_value": im_value,
            "expected": expected,
            "expected_event_id": None if self.applied is None else self.applied.event_id,
            "failed_but_applied": None if explained is None else explained.event_id,
        }
