"""Workloads: the demo sample and benchmark loads, seeded so runs repeat exactly."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

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


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A benchmark workload: N events over U users and C conversations, Zipf-skewed."""

    events: int
    users: int = 1_000
    conversations: int = 10_000
    #: Zipf exponent over conversations: 0 is uniform; ~1 makes a few conversations hot.
    skew: float = 1.0
    #: Share of events that repeat the conversation's previous value.
    repeat_share: float = 0.2
    versions: bool = False
    #: Share of events that are invalid (half unparseable bytes, half schema errors).
    invalid_share: float = 0.0
    seed: int = 1

    def describe(self) -> str:
        """One line naming every parameter (printed with the results)."""
        return (
            f"N={self.events} users={self.users} conversations={self.conversations} "
            f"skew={self.skew} repeats={self.repeat_share} versions={self.versions} "
            f"invalid={self.invalid_share} seed={self.seed}"
        )


def load_workload(spec: LoadSpec) -> Iterator[tuple[bytes | None, bytes]]:
    """Yield (key, value) records of ``spec``; the same spec always yields the same records."""
    rng = random.Random(spec.seed)  # noqa: S311 (workload shape, not security)
    weights = list(accumulate(1.0 / (rank**spec.skew) for rank in range(1, spec.conversations + 1)))
    ranks = list(range(spec.conversations))
    rng.shuffle(ranks)  # hot conversations spread over users
    last_value: dict[int, str] = {}
    version: dict[int, int] = {}
    for i in range(spec.events):
        if spec.invalid_share and rng.random() < spec.invalid_share:
            yield _invalid(rng, i)
            continue
        slot = ranks[bisect.bisect_left(weights, rng.random() * weights[-1])]
        user_index = slot % spec.users
        user = f"user-{user_index:06}"
        previous = last_value.get(slot)
        value = (
            previous
            if previous is not None and rng.random() < spec.repeat_share
            else (f"{rng.choice(_TEXTS)} #{i}")
        )
        last_value[slot] = value
        doc = _change(
            f"load-{spec.seed}-{i}",
            user,
            f"c2c_peer-{slot:07}",
            value,
            _BASE + timedelta(milliseconds=i),
            None,
        )
        if spec.versions:
            version[slot] = version.get(slot, -1) + 1
            doc["version"] = version[slot]
        yield user.encode(), orjson.dumps(doc)


def _invalid(rng: random.Random, i: int) -> tuple[bytes | None, bytes]:
    if rng.random() < 0.5:
        return None, b"\x00not json " + str(i).encode()
    doc = _change(f"bad-{i}", "user-bad", "dm_nobody", "x", _BASE, None)
    return b"user-bad", orjson.dumps(doc)
