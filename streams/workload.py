"""Sample workloads: seeded, so a run can be repeated and its expected end state computed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

_TEXTS = ("pinned", "vip 🌟", "待回复", "escalated → tier 2", "", "follow-up: 明天")
_BASE = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
#: Beyond any clock skew allowance, whenever the demo runs.
_FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def _change(
    event_id: str, user: str, conversation: str, data: str, at: datetime, version: int | None
) -> dict[str, object]:
    doc: dict[str, object] = {
        "event_id": event_id,
        "user_id": user,
        "conversation_id": conversation,
        "custom_data": data,
        "occurred_at": at.isoformat(),
        "source": "demo",
    }
    if version is not None:
        doc["version"] = version
    return doc


def demo_workload(seed: int = 7, users: int = 40, conversations: int = 6) -> list[bytes]:
    """Changes with repeats per conversation, out-of-order versions, duplicates, a group
    conversation per user, multi-byte text, and invalid and unparseable events."""
    rng = random.Random(seed)  # noqa: S311 (workload shape, not security)
    lines: list[bytes] = []
    counter = 0
    for u in range(users):
        user = f"user-{u:03}"
        for c in range(conversations):
            conversation = f"group_team-{u % 5}" if c == 0 else f"c2c_peer-{u:03}-{c}"
            versioned = c % 2 == 1
            updates = rng.randint(2, 6)
            order = list(range(updates))
            if versioned:
                rng.shuffle(order)  # versions arrive out of order; the highest must win
            for step in order:
                counter += 1
                text = f"{rng.choice(_TEXTS)} #{step}"
                at = _BASE + timedelta(seconds=step * 7 + u)
                doc = _change(f"evt-{counter:06}", user, conversation, text, at,
                              step if versioned else None)  # fmt: skip
                line = orjson.dumps(doc)
                lines.append(line)
                if rng.random() < 0.08:
                    lines.append(line)  # a producer retry: the same event twice
    lines += [
        b"this is not json",
        b"\xff\xfe\xfd",
        b"[1, 2, 3]",
        orjson.dumps(_change("bad-size", "user-000", "c2c_x", "é" * 129, _BASE, None)),
        orjson.dumps(_change("bad-conv", "user-001", "chat_42", "x", _BASE, None)),
        orjson.dumps({"event_id": "bad-schema", "user_id": "user-002"}),
        orjson.dumps(_change("bad-clock", "user-003", "c2c_y", "x", _FAR_FUTURE, None)),
    ]  # fmt: skip
    return lines
