"""Starting a Faust worker process and reading how it ended."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from time import monotonic
from typing import Any, cast

import faust

from streams.core.progress import StallDetector
from streams.engine import internals
from streams.settings import EventLoop

log = logging.getLogger(__name__)


def use_event_loop(choice: EventLoop) -> None:
    """Select the loop before anything creates one: Faust binds the app, and Mode's consumer
    thread its own loop, to whatever the policy makes then."""
    if choice is EventLoop.UVLOOP:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


#: A recovery whose remaining record count has not moved for this long stops the worker.
RECOVERY_STALL_S = 30.0
RECOVERY_CHECK_S = 5.0


class RecoveryStalledError(RuntimeError):
    """Table recovery stopped reading its changelog; a restart (elsewhere) recovers again."""


def watch_recovery(app: faust.App, clock: Callable[[], float] = monotonic) -> None:
    """Stop the worker when its table recovery stops making progress (``core.progress``).

    The stalled partitions are never processed otherwise, and no probe would notice: the
    worker is alive and answers. Stopping with a crash makes its partitions move to another
    worker (or the restarted pod), which recovers them again.
    """
    detector = StallDetector(RECOVERY_STALL_S)

    async def check_recovery() -> None:
        recovery = cast(Any, app.tables).recovery
        remaining = int(recovery.active_remaining_total()) if recovery.in_recovery else 0
        if detector.stalled(bool(recovery.in_recovery), remaining, clock()):
            log.error(
                "table recovery made no progress for %.0f s (%d records left); stopping so "
                "the partitions are recovered again", RECOVERY_STALL_S, remaining,
            )  # fmt: skip
            await app.crash(RecoveryStalledError(f"recovery stalled with {remaining} left"))

    app.timer(RECOVERY_CHECK_S)(check_recovery)


def run(app: faust.App, *, loglevel: str, logging_config: dict[str, Any]) -> int:
    """Run ``app`` until it stops; non-zero when an agent crashed (so the pod restarts)."""
    worker = faust.Worker(app, loglevel=loglevel, logging_config=logging_config, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - execute_from_commandline always exits
        code = 0
    crashed = internals.crash_reason(app)
    if crashed is not None:
        print(f"worker stopped: {type(crashed).__name__}: {crashed}", file=sys.stderr)
        return code or 1
    return code
