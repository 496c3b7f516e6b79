"""Starting a Faust worker process and reading how it ended."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import faust

from streams.engine import internals
from streams.settings import EventLoop


def use_event_loop(choice: EventLoop) -> None:
    """Select the loop before anything creates one: Faust binds the app, and Mode's consumer
    thread its own loop, to whatever the policy makes then."""
    if choice is EventLoop.UVLOOP:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


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
