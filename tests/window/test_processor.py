"""The window processor's side of revocations and of the window's bound, and ``processed_at``.

In-process and pure: a scripted applier answers a request a second of the injected clock after
the previous one, or hands it back unsent (what :class:`streams.window.apply.Applier` does at the
window's bound); topics and the outcome sink record what the window produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.core.coalesce import PlannedRequest
from streams.core.partitioning import partition_for
from streams.settings import Settings
from streams.window.apply import Applied, ApplyReport, OnRequestDone
from streams.window.processor import WindowProcessor, WindowStats
from tests.fakes import RecordingSink, RecordingTopics, Table, message_event

PARTITIONS = 4
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    """The window's wall clock, moved by the scripted applier."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class BoundApplier:
    """Answers 0 to the first ``sends`` requests of each window, each one second after the
    previous; the window's bound comes before the others, which it hands back unsent."""

    def __init__(self, clock: Clock, sends: int) -> None:
        self.clock = clock
        self.sends = sends
        self.users: list[str] = []

    async def apply(self, plans: Sequence[PlannedRequest], on_done: OnRequestDone) -> ApplyReport:
        report = ApplyReport()
        for index, request in enumerate(plans):
            if index >= self.sends:
                report.unsent.extend(request.changes)
                continue
            self.clock.now += timedelta(seconds=1)
            self.users.append(request.user_id)
            results = [Applied(c, 0, "", f"r{len(self.users)}", 1, False) for c in request.changes]
            report.results.extend(results)
            await on_done(results, [])
        return report


def event(offset: int, user: str, value: str, at: str = "11:00:00") -> Any:
    doc = {"event_id": f"{user}-{offset}", "user_id": user, "conversation_id": "c2c_peer",
           "custom_data": value, "occurred_at": f"2026-11-25T{at}Z"}  # fmt: skip
    partition = partition_for(user.encode(), PARTITIONS)
    return message_event("changes", partition, offset, user.encode(), orjson.dumps(doc))


def processor(
    applier: BoundApplier, sink: RecordingSink, clock: Clock, owned: set[int] | None = None
) -> WindowProcessor:
    return WindowProcessor(
        Settings(), RecordingTopics().sinks(sink), Table(), applier,
        owns=lambda p: owned is None or p in owned, partitions=lambda: PARTITIONS,
        set_current_event=lambda e: None, origin_key=b"test", clock=clock,
    )  # fmt: skip


def run(window: WindowProcessor, events: list[Any]) -> tuple[list[Any], WindowStats]:
    return asyncio.run(window.process(events))


def test_each_outcome_is_stamped_when_it_became_final() -> None:
    clock, sink = Clock(), RecordingSink()
    events = [
        event(0, "ann", "old", "11:00:00"),
        event(1, "ann", "new", "11:00:01"),
        event(2, "bob", "b"),
        event(3, "cy", "c"),
    ]
    run(processor(BoundApplier(clock, sends=3), sink, clock), events)
    stamps = {o["event_id"]: (o["status"], o["processed_at"]) for o in sink.outcomes}
    at = [(START + timedelta(seconds=s)).isoformat() for s in range(4)]
    assert stamps == {
        "ann-0": ("superseded", at[0]),
        "ann-1": ("applied", at[1]),
        "bob-2": ("applied", at[2]),
        "cy-3": ("applied", at[3]),
    }, "the window started at 12:00:00; its requests ended 1, 2 and 3 s later"


def test_what_the_bound_left_is_handed_back_and_applied_next() -> None:
    clock, sink = Clock(), RecordingSink()
    applier = BoundApplier(clock, sends=1)
    window = processor(applier, sink, clock)
    events = [event(0, "ann", "a"), event(1, "bob", "b"), event(2, "cy", "c")]
    ackable, stats = run(window, events)
    assert [e.message.offset for e in ackable] == [0]
    assert [e.message.offset for e in stats.left] == [1, 2]
    assert [o["event_id"] for o in sink.outcomes] == ["ann-0"], "no outcome for the unsent"
    ackable, stats = run(window, stats.left)
    assert [e.message.offset for e in ackable] == [1] and [
        e.message.offset for e in stats.left
    ] == [2]
    ackable, stats = run(window, stats.left)
    assert [e.message.offset for e in ackable] == [2] and stats.left == []
    assert applier.users == ["ann", "bob", "cy"], "each sent once, oldest first"
    assert [(o["event_id"], o["status"]) for o in sink.outcomes] == [
        ("ann-0", "applied"), ("bob-1", "applied"), ("cy-2", "applied"),
    ], "the table's write-ahead mark does not make a carried change stale"  # fmt: skip


def test_a_revoked_partitions_events_are_left_to_its_new_owner() -> None:
    clock, sink = Clock(), RecordingSink()
    kept = partition_for(b"ann", PARTITIONS)
    assert partition_for(b"dan", PARTITIONS) != kept
    applier = BoundApplier(clock, sends=10)
    events = [event(0, "ann", "a"), event(1, "dan", "b"), event(2, "dan", "b2", "11:00:02")]
    ackable, stats = run(processor(applier, sink, clock, owned={kept}), events)
    assert [e.message.offset for e in ackable] == [0] and stats.left == []
    assert applier.users == ["ann"]
    assert [o["event_id"] for o in sink.outcomes] == ["ann-0"], (
        "not even dan's superseded event gets an outcome: it is the new owner's to decide"
    )
