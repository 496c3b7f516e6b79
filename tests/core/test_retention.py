"""The retention horizon's rules, with fixed times: what expires, what is refused, and that
last-write-wins never moves back because an entry was forgotten."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contract import OutcomeReason, OutcomeStatus
from streams.core.coalesce import group_by_conversation, resolve
from streams.core.records import Change, LastApplied
from streams.core.retention import (
    MAX_SWEEP_INTERVAL_S,
    expired,
    oldest_admitted_us,
    sweep_interval_s,
)
from tests.fixtures import changes

SECOND = 1_000_000
NOW = 1_800_000_000 * SECOND
DAY = 24 * 3600


def change(event_id: str, conv: str, *, occurred_us: int, offset: int, version: int = -1) -> Change:
    """A valid change of alice's with the given last-write-wins order."""
    extra = {"version": version} if version >= 0 else {}
    made = changes.change(event_id, offset, conv=conv, **extra)
    return replace(made, order=(version, occurred_us, offset))


def test_no_horizon_admits_everything() -> None:
    assert oldest_admitted_us(NOW, 0) is None


def test_the_horizon_counts_back_from_now() -> None:
    assert oldest_admitted_us(NOW, 30 * DAY) == NOW - 30 * DAY * SECOND


@pytest.mark.parametrize(
    ("entry", "gone"),
    [
        (LastApplied("e", (-1, NOW - 10 * SECOND, 5)), True),
        (LastApplied("e", (-1, NOW - 1 * SECOND, 5)), False),
        (LastApplied("e", (3, NOW - 10 * SECOND, 5)), True),
        # A write in progress newer than the horizon keeps the entry.
        (LastApplied("e", (-1, NOW - 10 * SECOND, 5), (-1, NOW - 1 * SECOND, 9)), False),
        (LastApplied(None, None, (-1, NOW - 10 * SECOND, 9)), True),
        (LastApplied(None, None, None), False),
    ],
)
def test_an_entry_expires_when_every_write_it_remembers_is_older(
    entry: LastApplied, gone: bool
) -> None:
    assert expired(entry, NOW - 5 * SECOND) is gone


def test_sweeps_are_frequent_for_short_horizons_and_hourly_for_long_ones() -> None:
    assert sweep_interval_s(5) == 1.0
    assert sweep_interval_s(500) == 5.0
    assert sweep_interval_s(30 * DAY) == MAX_SWEEP_INTERVAL_S


def test_a_change_older_than_the_horizon_is_stale_with_its_own_reason() -> None:
    old = change("old", "c2c_bob", occurred_us=NOW - 10 * SECOND, offset=1)
    new = change("new", "c2c_carol", occurred_us=NOW - 1 * SECOND, offset=2)
    out = resolve(group_by_conversation([old, new]), {}, oldest_us=NOW - 5 * SECOND)
    assert [w.change.event_id for w in out.winners] == ["new"]
    [decision] = out.decided
    assert (decision.change.change.event_id, decision.status, decision.reason) == (
        "old",
        OutcomeStatus.STALE,
        OutcomeReason.BEYOND_RETENTION,
    )


def test_a_repeat_of_the_last_applied_event_is_still_a_duplicate() -> None:
    old = change("e", "c2c_bob", occurred_us=NOW - 10 * SECOND, offset=1)
    last = {old.conversation: LastApplied.of(old)}
    out = resolve(group_by_conversation([old]), last, oldest_us=NOW - 5 * SECOND)
    assert [d.reason for d in out.decided] == [OutcomeReason.DUPLICATE]


@given(
    applied=st.tuples(st.integers(-1, 5), st.integers(0, 100)),
    incoming=st.tuples(st.integers(-1, 5), st.integers(0, 100)),
    now=st.integers(0, 200),
    horizon=st.integers(1, 100),
)
def test_forgetting_an_entry_never_lets_an_older_change_win(
    applied: tuple[int, int], incoming: tuple[int, int], now: int, horizon: int
) -> None:
    """Whenever the entry may be forgotten, a change it would have beaten is refused anyway.

    Under the producers' rule that versions do not go back in time (a higher version never has
    an earlier occurred_at), which the generated pairs are made to follow.
    """
    (v1, t1), (v2, t2) = applied, incoming
    if (v1 < v2 and t1 > t2) or (v2 < v1 and t2 > t1):
        return  # breaks the producers' rule
    oldest = (now - horizon) * SECOND
    first = change("first", "c2c_bob", version=v1, occurred_us=t1 * SECOND, offset=1)
    later = change("later", "c2c_bob", version=v2, occurred_us=t2 * SECOND, offset=2)
    entry = LastApplied.of(first)
    if not expired(entry, oldest):
        return
    kept = resolve({later.conversation: [later]}, {later.conversation: entry}, oldest_us=oldest)
    forgot = resolve({later.conversation: [later]}, {}, oldest_us=oldest)
    assert [w.change.event_id for w in forgot.winners] == [w.change.event_id for w in kept.winners]
