"""One window's decisions: duplicates, stale events, last-write-wins, and the request plan.

Changes are grouped per conversation. Within a group, a repeated event_id is a duplicate of its
first copy; an event equal to or older than the conversation's last applied change (or older
than a change whose write may have reached the IM, or older than the retention horizon) is a
duplicate (same event_id) or stale; of the rest, the greatest order key wins and the others are
superseded by it. Winners are planned into requests per user of at most 100 conversations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streams.contract import OutcomeReason, OutcomeStatus
from streams.contract.limits import MAX_ITEMS_PER_REQUEST
from streams.core.records import Change, LastApplied


@dataclass(frozen=True, slots=True)
class Decision:
    """A final verdict for a change that will not be sent to the SDK."""

    change: Change
    status: OutcomeStatus
    reason: OutcomeReason
    superseded_by: str | None = None


@dataclass(slots=True)
class Resolution:
    """The window split into changes to apply (one per conversation) and decided changes."""

    winners: list[Change] = field(default_factory=list)
    decided: list[Decision] = field(default_factory=list)


def group_by_conversation(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """Changes per conversation key, each list in arrival order."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.conversation, []).append(change)
    return groups


def _resolve_group(
    group: Sequence[Change], last: LastApplied | None, out: Resolution, oldest_us: int | None
) -> None:
    seen: set[str] = set()
    live: list[Change] = []
    for change in group:
        event_id = change.change.event_id
        if event_id in seen or (last is not None and event_id == last.event_id):
            out.decided.append(Decision(change, OutcomeStatus.DUPLICATE, OutcomeReason.DUPLICATE))
        elif oldest_us is not None and change.order[1] < oldest_us:
            seen.add(event_id)
            out.decided.append(
                Decision(change, OutcomeStatus.STALE, OutcomeReason.BEYOND_RETENTION)
            )
        elif last is not None and not last.admits(change):
            seen.add(event_id)
            out.decided.append(Decision(change, OutcomeStatus.STALE, OutcomeReason.STALE))
        else:
            seen.add(event_id)
            live.append(change)
    if not live:
        return
    winner = max(live, key=lambda c: c.order)
    out.winners.append(winner)
    out.decided.extend(
        Decision(c, OutcomeStatus.SUPERSEDED, OutcomeReason.SUPERSEDED, winner.change.event_id)
        for c in live
        if c is not winner
    )


def resolve(
    groups: Mapping[str, Sequence[Change]],
    last: Mapping[str, LastApplied],
    *,
    oldest_us: int | None = None,
) -> Resolution:
    """Decide every change of the window against the last applied state of its conversation.

    A change that ``occurred_at`` before ``oldest_us`` (the retention horizon,
    :mod:`streams.core.retention`) is ``stale`` / ``beyond_retention``: its conversation's entry
    may be forgotten, so it cannot be compared safely.
    """
    out = Resolution()
    for conversation, group in groups.items():
        _resolve_group(group, last.get(conversation), out, oldest_us)
    return out


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One ``mark_contact`` request: one user, up to 100 conversations, each its own value."""

    user_id: str
    changes: tuple[Change, ...]

    @property
    def partition(self) -> int:
        """The partition all these changes came from (a user lives on one partition)."""
        return self.changes[0].envelope.position.partition

    def values(self) -> list[tuple[str, str]]:
        """(conversation id, custom data) pairs as the client takes them."""
        return [(c.change.conversation_id, c.change.custom_data) for c in self.changes]


def plan(winners: Iterable[Change], max_items: int = MAX_ITEMS_PER_REQUEST) -> list[PlannedRequest]:
    """Group winners by (partition, user) and cut into requests of at most ``max_items``."""
    per_user: dict[tuple[int, str], list[Change]] = {}
    for change in winners:
        key = (change.envelope.position.partition, change.change.user_id)
        per_user.setdefault(key, []).append(change)
    return [
        PlannedRequest(user_id, tuple(changes[i : i + max_items]))
        for (_, user_id), changes in per_user.items()
        for i in range(0, len(changes), max_items)
    ]
