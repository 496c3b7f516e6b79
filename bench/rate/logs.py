"""What the workers' logs say of the group: each worker's assignment."""

from __future__ import annotations

import re

_ASSIGNED = re.compile(r"Setting newly assigned partitions \{(.*)\} for group")
_TP = re.compile(r"TopicPartition\(topic='([^']+)', partition=(\d+)\)")
#: The worker's log line on each assignment, with the number of partitions it owns.
OWNING = re.compile(r"owning (\d+) partitions")


def parse_assignment(log: str, topic: str) -> list[int] | None:
    """Partitions of ``topic`` in the worker's last 'Setting newly assigned partitions'."""
    found = _ASSIGNED.findall(log)
    if not found:
        return None
    return sorted(int(p) for t, p in _TP.findall(found[-1]) if t == topic)
