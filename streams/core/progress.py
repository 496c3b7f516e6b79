"""When a table recovery or the agent has stopped making progress.

Faust's table recovery can stop reading its changelog and wait for its end forever (seen with
the embedded broker after rebalances, docs/RELIABILITY.md finding 7); its partitions are then
never processed. A worker that sees no progress for ``stall_s`` stops, and its partitions move
to a worker that recovers them again (:class:`StallDetector`).

An agent that hangs (a bug, a library awaiting something that never comes) leaves the worker
alive and answering, its partitions unprocessed: :class:`AgentStallDetector` tells the liveness
probe (``/healthz``) when the agent had events waiting and made no progress (the worker counts a
finished window or a finished IM request) for longer than any legitimate window takes.
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


@dataclass(frozen=True, slots=True)
class AgentProgress:
    """What the engine reports of the agent when the liveness probe asks."""

    #: The first table recovery of this process finished, and partitions were assigned.
    started: bool
    #: The agent's task is alive (it crashed or ended otherwise).
    running: bool
    #: Events handed to the agent and not processed yet: buffered for the next window, or in
    #: the window being processed.
    pending: int
    #: Windows completed and IM requests finished since start (a counter; a window the crash
    #: guard runs record by record counts each record's run). A window waiting on a slow or
    #: rate-limited IM still moves it with each request that finishes.
    completed: int
    #: A table recovery is running (``streams.engine.runner.watch_recovery`` watches it).
    recovering: bool
    #: A rebalance is running (from the revocation until the recovery that follows ends).
    rebalancing: bool
    #: The producer holds records no broker has acknowledged yet: the agent waits for Kafka
    #: (a broker outage, partitions below min.insync.replicas), not for itself.
    delivering: bool = False


@dataclass
class AgentStallDetector:
    """Says when the agent has had work and made no progress (completed no window, finished no
    IM request) for ``stall_s``.

    Work is events waiting for the agent, or an agent that is not running. The clock starts at
    the first observation with work waiting, and starts again whenever a window completed, the
    work is done, a table recovery runs (a stalled recovery stops the worker by itself), or the
    producer holds records the brokers have not taken: it retries them until they do (it is
    idempotent, nothing expires), and a restart would not bring a broker back. A
    rebalance holds the clock too, but not for longer than ``stall_s``: Faust's revocation waits
    for the agent's unprocessed events, so a stuck agent leaves the rebalance running for ever.
    Before start-up nothing is judged (the start-up probe covers that time). Fed at every
    liveness probe, with the probe's time (an injected clock).
    """

    stall_s: float
    _since: tuple[int, float] | None = field(default=None, init=False)
    _rebalancing_since: float | None = field(default=None, init=False)

    def stalled_for(self, progress: AgentProgress, now: float) -> float | None:
        """Seconds without a completed window while work waited, once ``stall_s``; else None."""
        if not progress.rebalancing or progress.recovering:
            self._rebalancing_since = None
        elif self._rebalancing_since is None:
            self._rebalancing_since = now
        holding = (
            progress.recovering
            or progress.delivering
            or (
                self._rebalancing_since is not None and now - self._rebalancing_since < self.stall_s
            )
        )
        work = progress.pending > 0 or not progress.running
        if not progress.started or holding or not work:
            self._since = None
            return None
        if self._since is None or self._since[0] != progress.completed:
            self._since = (progress.completed, now)
            return None
        stalled = now - self._since[1]
        return stalled if stalled >= self.stall_s else None
