"""When a table recovery has stopped: the same amount left to read for too long.

Faust's table recovery can stop reading its changelog and wait for its end forever (seen with
the embedded broker after rebalances, docs/RELIABILITY.md finding 7); its partitions are then
never processed. A worker that sees no progress for ``stall_s`` stops, and its partitions move
to a worker that recovers them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StallDetector:
    """Fed the records a recovery has left to read; says when that stopped moving."""

    stall_s: float
    _since: tuple[int, float] | None = field(default=None, init=False)

    def stalled(self, recovering: bool, remaining: int, now: float) -> bool:
        """Whether ``remaining`` has stood still for ``stall_s`` while recovering."""
        if not recovering or remaining <= 0:
            self._since = None
            return False
        if self._since is None or self._since[0] != remaining:
            self._since = (remaining, now)
            return False
        return now - self._since[1] >= self.stall_s
