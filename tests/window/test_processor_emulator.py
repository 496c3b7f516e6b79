"""The window processor in-process, with the real SDK client against the real emulator.

Only the Kafka side is replaced: by sinks whose deliveries fail, which is what a broker
outage looks like to the window (the worker-level consequence, the crashing supervisor stopping
the worker so a restart redelivers, is covered by test_retries_exhausted_fail_and_stop), or by
a sink that records when each outcome was sent.
"""

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.core.partitioning import partition_for
from streams.core.retry import RetryPolicy
from streams.request_budget import RateLimiter
from streams.sdk import IMSettings, TencentIMClient
from streams.settings import Settings
from streams.window.apply import Applier
from streams.window.processor import WindowProcessor
from tests.fakes import RecordingTopics, Table, WriteCountingSink, undeliverable_sinks
from tests.fixtures.emulator import ADMIN, SDKAPPID, SECRET_KEY


def event(offset: int, doc: dict[str, Any]) -> Any:
    partition = partition_for(doc["user_id"].encode(), 4)
    message = SimpleNamespace(
        key=doc["user_id"].encode(), value=orjson.dumps(doc), topic="changes",
        partition=partition, offset=offset, headers=[],
    )  # fmt: skip
    return SimpleNamespace(message=message)


def doc(event_id: str, user: str, conversation: str, at: str = "10:00:00") -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "conversation_id": conversation,
            "custom_data": event_id, "occurred_at": f"2026-11-25T{at}Z"}  # fmt: skip


def im_settings(emulator: Any) -> IMSettings:
    return IMSettings(endpoint=emulator.url, sdkappid=SDKAPPID, admin=ADMIN, secret_key=SECRET_KEY)


async def test_undeliverable_outcomes_fail_the_window(emulator_factory: Any) -> None:
    emulator = emulator_factory()
    im = im_settings(emulator)
    table = Table()
    async with TencentIMClient(im) as client:
        applier = Applier(
            client, RateLimiter(100), RetryPolicy(), concurrency=1, owns=lambda p: True
        )
        processor = WindowProcessor(
            Settings(), undeliverable_sinks(), table, applier, owns=lambda p: True,
            partitions=lambda: 4, set_current_event=lambda e: None, origin_key=b"test",
        )  # fmt: skip
        with pytest.raises(KafkaTimeoutError):
            await processor.process([event(0, doc("set", "alice", "c2c_bob"))])
    assert emulator.state("alice") == {"c2c_bob": "set"}, "the SDK call happened before"


async def test_outcomes_go_out_as_they_become_final_oldest_first(emulator_factory: Any) -> None:
    """Decided outcomes leave before any SDK write; requests run oldest event first.

    carol's conversation is seen first, but its winner arrives last: her request must come
    after dave's, whose only event arrived second. 60 ms per request and one request at a time
    put each request's outcome in its own send (the interval is 25 ms).
    """
    emulator = emulator_factory(latency_ms=60)
    sink = WriteCountingSink(emulator)
    async with TencentIMClient(im_settings(emulator)) as client:
        applier = Applier(
            client, RateLimiter(1000), RetryPolicy(), concurrency=1, owns=lambda p: True
        )
        processor = WindowProcessor(
            Settings(), RecordingTopics().sinks(sink), Table(), applier, owns=lambda p: True,
            partitions=lambda: 4, set_current_event=lambda e: None, origin_key=b"test",
        )  # fmt: skip
        window = [
            doc("c1", "carol", "c2c_x", "10:00:00"),
            doc("d1", "dave", "c2c_y", "10:00:01"),
            doc("e1", "erin", "c2c_z", "10:00:02"),
            doc("c2", "carol", "c2c_x", "10:00:03"),
        ]
        ackable, stats = await processor.process([event(i, d) for i, d in enumerate(window)])
    assert len(ackable) == 4 and stats.statuses == {"superseded": 1, "applied": 3}
    assert sink.sends == [
        (0, [("c1", "superseded")]),
        (1, [("d1", "applied")]),
        (2, [("e1", "applied")]),
        (3, [("c2", "applied")]),
    ]
