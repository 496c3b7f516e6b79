"""``streams worker`` with a bug injected by the tests: any window holding a ``poison`` event fails.

Test code only (run as ``python -m tests.reliability.failing_worker worker``): the production
worker has no switch for this. The failure is raised where a real bug would surface, after
decoding (which contains its own failures per record) and before any SDK call, so only the
crash guard (``streams.window.guard``) can keep it from stopping the partition for good.
"""

from __future__ import annotations

from typing import Any

import streams.window.processor
from streams.cli import main

POISON_PREFIX = "poison"
_resolve = streams.window.processor.resolve


def resolve_or_fail(groups: Any, last: Any, **options: Any) -> Any:
    """The real resolution, unless the window holds a poison event."""
    for changes in groups.values():
        if any(c.change.event_id.startswith(POISON_PREFIX) for c in changes):
            raise RuntimeError("injected by the test: this window holds a poison event")
    return _resolve(groups, last, **options)


streams.window.processor.resolve = resolve_or_fail  # type: ignore[assignment]

if __name__ == "__main__":
    main()
