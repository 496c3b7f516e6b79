"""The commit protocol (streams/window/checkpoint.py), step by step, in the order it must run.

One journal, shared by the fakes, notes every record sent, every delivery as it resolves and
every IM request; a delivery resolves on the loop's turn after it was sent, so a step that does
not await its deliveries journals before they do. The window's outcomes are held for its end
(no trickle) so the journal is exact.

1. write-ahead: the winners' pending entries are delivered before the first IM request (and
   before any outcome);
2. records: dead letters and forwards are sent as the window reads them, decided outcomes once
   the write-ahead is delivered, applied entries queue on the table;
3. delivery: the held outcomes and the table's changelog are sent, every delivery awaited;
4. ack: only then does the window return its events (the agent acks what it returns).

A step that fails raises out of the window: nothing is returned for acking, and when the
write-ahead fails nothing reaches the IM.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.core.partitioning import partition_for
from streams.settings import Settings
from streams.window import processor as processor_module
from streams.window.ports import Event, RecordSinks
from streams.window.processor import WindowProcessor
from tests.fakes import JournalSink, JournalTable, JournalTopic, ScriptedApplier, message_event

PARTITIONS = 4
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINNER = "alice/c2c_bob"


@pytest.fixture(autouse=True)
def held_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outcomes wait for the window's end (step 3) instead of trickling out on a timer."""
    monkeypatch.setattr(processor_module, "OUTCOME_SEND_INTERVAL_S", math.inf)


def change(offset: int, user: str, conversation: str, at: str) -> Event:
    doc = {"event_id": f"e{offset}", "user_id": user, "conversation_id": conversation,
           "custom_data": f"v{offset}", "occurred_at": f"2026-11-25T{at}Z"}  # fmt: skip
    partition = partition_for(user.encode(), PARTITIONS)
    return message_event("changes", partition, offset, user.encode(), orjson.dumps(doc))


def window() -> list[Event]:
    """A change superseded by a later one of the same conversation (decided before any IM
    request), an unreadable record (rejected and dead-lettered) and a record on the wrong
    partition (forwarded to its user's)."""
    misplaced = change(3, "carol", "c2c_dan", "11:00:00").message
    return [
        change(0, "alice", "c2c_bob", "11:00:00"),
        message_event("changes", partition_for(b"alice", PARTITIONS), 1, b"alice", b"not json"),
        change(2, "alice", "c2c_bob", "11:00:01"),
        message_event(
            "changes", (misplaced.partition + 1) % PARTITIONS, 3, b"carol", misplaced.value
        ),
    ]


async def run(
    journal: list[str],
    *,
    fail_flush: int = 0,
    fail_send: int = 0,
    dead_letter_fails: bool = False,
) -> list[Event]:
    """The window through a processor whose table, sinks and IM journal into ``journal``; the
    events it returns for acking, journaled as ``acked``."""
    sinks = RecordSinks(
        outcomes=JournalSink(journal, fail_send=fail_send),
        dead_letters=JournalTopic(journal, "dead letter", fails=dead_letter_fails),
        forwards=JournalTopic(journal, "forward"),
    )
    processor = WindowProcessor(
        Settings(), sinks, JournalTable(journal, fail_flush=fail_flush),
        ScriptedApplier(journal=journal), owns=lambda p: True, partitions=lambda: PARTITIONS,
        set_current_event=lambda e: None, origin_key=b"test", clock=lambda: NOW,
    )  # fmt: skip
    ackable, _ = await processor.process(window())
    journal.append(f"acked {len(ackable)}")
    return ackable


async def test_each_step_runs_in_order_and_is_awaited() -> None:
    journal: list[str] = []
    ackable = await run(journal)
    assert journal == [
        # 2. dead letters and forwards go out as the window reads its records
        "dead letter sent",
        "forward sent",
        # 1. write-ahead: the winner's pending entry, delivered before anything else goes on
        f"changelog {WINNER}=pending sent",
        "dead letter delivered",
        "forward delivered",
        f"changelog {WINNER}=pending delivered",
        # 2. outcomes decided without the IM, then the IM request, its entry queued as applied
        "outcomes rejected superseded sent",
        "IM alice c2c_bob",
        # 3. delivery: what is held is sent, every delivery awaited
        "outcomes applied sent",
        f"changelog {WINNER}=applied sent",
        "outcomes rejected superseded delivered",
        "outcomes applied delivered",
        f"changelog {WINNER}=applied delivered",
        # 4. only then are the window's events handed back for acking
        "acked 4",
    ]
    assert len(ackable) == 4


async def test_an_undelivered_write_ahead_reaches_neither_the_im_nor_the_outcomes() -> None:
    journal: list[str] = []
    with pytest.raises(KafkaTimeoutError):
        await run(journal, fail_flush=1)
    assert journal == [
        "dead letter sent",
        "forward sent",
        f"changelog {WINNER}=pending sent",
        "dead letter delivered",
        "forward delivered",
        f"changelog {WINNER}=pending failed",
    ], "no IM request, no outcome, nothing acked"


@pytest.mark.parametrize(
    ("failure", "failed"),
    [
        ({"fail_send": 1}, "outcomes rejected superseded failed"),
        ({"fail_send": 2}, "outcomes applied failed"),
        ({"dead_letter_fails": True}, "dead letter failed"),
        ({"fail_flush": 2}, f"changelog {WINNER}=applied failed"),
    ],
)
async def test_any_undelivered_record_fails_the_window_unacked(
    failure: dict[str, Any], failed: str
) -> None:
    """Step 3 awaits every record of the window: one that is not delivered raises out of it,
    and none of its events is handed back for acking (a restart redelivers them)."""
    journal: list[str] = []
    with pytest.raises(KafkaTimeoutError):
        await run(journal, **failure)
    assert failed in journal
    assert not [entry for entry in journal if entry.startswith("acked")]
