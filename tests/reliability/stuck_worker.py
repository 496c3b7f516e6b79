"""``streams worker`` with a hang injected by the tests: a window holding a ``stuck`` event never
ends.

Test code only (run as ``python -m tests.reliability.stuck_worker worker``): the production
worker has no switch for this. The window awaits something that never comes, as a library
awaiting a lost answer would: the event loop still turns and every page answers, only the agent
makes no more progress. The liveness probe (``/healthz``) must notice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from streams.cli import main
from streams.window.processor import WindowProcessor

STUCK_MARK = b'"event_id":"stuck'
_process = WindowProcessor.process


async def process_or_hang(self: WindowProcessor, events: Sequence[Any]) -> Any:
    """The real window, unless it holds a ``stuck`` event: then it waits for ever."""
    if any(STUCK_MARK in (e.message.value or b"") for e in events):
        await asyncio.Event().wait()
    return await _process(self, events)


WindowProcessor.process = process_or_hang  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
