"""What the outcomes topic says, as the replay and verify tools need it (pure: no Kafka, no IM).

The authoritative outcome of an event (a source position) is its first final one (``applied``
or ``failed``), else its first one: the rule of :mod:`streams.client.reader`. From those:

* replay picks the events whose authoritative outcome is ``failed`` and that no later copy of
  the same ``event_id`` settled (applied, or found ``duplicate``/``stale``/``superseded``);
* verify expects, per conversation, the value of its last ``applied`` outcome in the order
  last-write-wins decides by: (version or -1, occurred_at, source offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from streams.client.reader import FINAL, Source, source_of
from streams.contract import Outcome, OutcomeReason, OutcomeStatus
from streams.core.decode import micros

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
        return not self.users or outcome.user_id in self.users


@dataclass
class Ledger:
    """The authoritative outcome of every event read, in reading order."""

    outcomes: dict[Source, Outcome] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        """Take one outcome record (in topic order); later copies never displace a final one."""
        source = source_of(outcome)
        before = self.outcomes.get(source)
        if before is None or (before.status not in FINAL and outcome.status in FINAL):
            self.outcomes[source] = outcome

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Ledger:
        """A ledger of ``outcomes``."""
        ledger = cls()
        for outcome in outcomes:
            ledger.add(outcome)
        return ledger

    def to_replay(self, filters: Filters) -> tuple[list[Outcome], int]:
        """The failed events to re-publish (oldest source first, one copy per event_id: its
        newest), and how many were skipped because another copy of the same event_id settled
        since."""
        settled = {o.event_id for o in self.outcomes.values() if o.status in SETTLED and o.event_id}
        failed = [
            o
            for o in self.outcomes.values()
            if o.status is OutcomeStatus.FAILED and filters.match(o)
        ]
        unsettled = [o for o in failed if o.event_id not in settled]
        # An event whose replay failed too (a lasting outage) is replayed once, not once per
        # copy: that would double its copies at every run.
        newest: dict[str | Source, Outcome] = {}
        for o in sorted(unsettled, key=source_of):
            newest[source_of(o) if o.event_id is None else o.event_id] = o
        chosen = sorted(newest.values(), key=source_of)
        return chosen, len(failed) - len(unsettled)

    def expectations(self, filters: Filters) -> Iterator[Expectation]:
        """Per conversation named by a selected outcome: what the IM should hold."""
        named = {
            (o.user_id, o.conversation_id)
            for o in self.outcomes.values()
            if o.user_id and o.conversation_id and o.status in FINAL and filters.match(o)
        }
        per_conversation: dict[tuple[str, str], list[Outcome]] = {}
        for o in self.outcomes.values():
            if o.status in FINAL and (o.user_id, o.conversation_id) in named:
                per_conversation.setdefault((o.user_id or "", o.conversation_id or ""), []).append(
                    o
                )
        for (user, conversation), outcomes in sorted(per_conversation.items()):
            applied = [o for o in outcomes if o.status is OutcomeStatus.APPLIED]
            last = max(applied, key=order_of, default=None)
            newer_failures = [
                o
                for o in outcomes
                if o.status is OutcomeStatus.FAILED
                and (last is None or order_of(o) > order_of(last))
            ]
            yield Expectation(user, conversation, last, newer_failures)


def order_of(outcome: Outcome) -> tuple[int, int, int]:
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
    #: The last applied outcome in last-write-wins order; None when none was applied.
    applied: Outcome | None
    #: Failed outcomes newer than it: "failed" means "not confirmed", so any may be in the IM.
    newer_failures: list[Outcome]

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
