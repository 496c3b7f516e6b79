"""The state retention horizon: what the table may forget, and which events can no longer compete.

Without it the last-applied table keeps every conversation ever changed, in its store and its
changelog, so a new worker's recovery grows with the app's whole history. With a horizon ``H``:

* an entry whose last write (and any write in progress) ``occurred_at`` more than ``H`` ago is
  deleted from the table and its changelog (a tombstone the broker compacts away);
* a change whose ``occurred_at`` is more than ``H`` ago comes out ``stale`` /
  ``beyond_retention``, whether its conversation's entry is still there or not.

So last-write-wins never moves a value back because an entry was forgotten: any change still
admitted is newer (in ``occurred_at``) than every forgotten write. That needs one property of the
producers, stated in docs/CONTRACT.md: a conversation's versions do not go back in time (a higher
version never carries an earlier ``occurred_at``), so "newer in time" is also "not older in
version". Pure: every function takes the time.
"""

from __future__ import annotations

from typing import Final

from streams.core.records import LastApplied

#: A sweep looks for expired entries at most this often, and at least a hundred times per
#: horizon (a short horizon in tests sweeps every second).
MAX_SWEEP_INTERVAL_S: Final = 3600.0
MIN_SWEEP_INTERVAL_S: Final = 1.0
#: Entries deleted per sweep at most: bounds the window's changelog batch and the loop's pause.
MAX_DELETIONS_PER_SWEEP: Final = 50_000


def oldest_admitted_us(now_us: int, horizon_s: float) -> int | None:
    """The earliest ``occurred_at`` (UTC microseconds) still admitted; None without a horizon."""
    if horizon_s <= 0:
        return None
    return now_us - int(horizon_s * 1_000_000)


def expired(entry: LastApplied, oldest_us: int) -> bool:
    """Whether every write ``entry`` remembers occurred before ``oldest_us`` (so it may go)."""
    orders = [order for order in (entry.order, entry.pending) if order is not None]
    return bool(orders) and all(occurred_us < oldest_us for _, occurred_us, _ in orders)


def sweep_interval_s(horizon_s: float) -> float:
    """How often to look for expired entries under ``horizon_s`` (> 0)."""
    return min(MAX_SWEEP_INTERVAL_S, max(MIN_SWEEP_INTERVAL_S, horizon_s / 100))
