"""A window whose outcomes cannot be delivered raises instead of returning events to ack.

The window runs in-process with the real SDK client against the real emulator; only the Kafka
side is replaced by topics whose delivery futures fail, which is what a broker outage looks
like to the window. The worker-level consequence (the crashing supervisor stops the worker and
a restart redelivers) is covered by test_retries_exhausted_fail_and_stop.
"""

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.apply import Applier
from streams.core.decode import partition_for
from streams.core.retry import RetryPolicy
from streams.limiter import RateLimiter
from streams.pipeline import WindowProcessor
from streams.sdk import IMSettings, TencentIMClient
from streams.settings import Settings
from tests.fixtures.emulator import ADMIN, SDKAPPID, SECRET_KEY


class UndeliverableTopic:
    """A topic whose records are accepted but never delivered."""

    def send_soon(self, **_: Any) -> "asyncio.Future[Any]":
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError("delivery timed out"))
        return future


class UndeliverableSink:
    """The outcome sink of a broker that never confirms delivery."""

    async def send(self, records: list[Any]) -> list["asyncio.Future[Any]"]:
        return [UndeliverableTopic().send_soon() for _ in records]


class Table(dict):  # type: ignore[type-arg]
    async def flush_changelog(self) -> list[Any]:
        return []


def event(offset: int, doc: dict[str, Any]) -> Any:
    partition = partition_for(doc["user_id"].encode(), 4)
    message = SimpleNamespace(
        key=doc["user_id"].encode(), value=orjson.dumps(doc), topic="changes",
        partition=partition, offset=offset, headers=[],
    )  # fmt: skip
    return SimpleNamespace(message=message)


async def test_undeliverable_outcomes_fail_the_window(emulator_factory: Any) -> None:
    emulator = emulator_factory()
    im = IMSettings(endpoint=emulator.url, sdkappid=SDKAPPID, admin=ADMIN, secret_key=SECRET_KEY)
    topics = SimpleNamespace(
        changes=UndeliverableTopic(), outcomes=UndeliverableTopic(),
        dead_letters=UndeliverableTopic(),
    )  # fmt: skip
    table = Table()
    async with TencentIMClient(im) as client:
        applier = Applier(
            client, RateLimiter(100), RetryPolicy(), concurrency=1, owns=lambda p: True
        )
        processor = WindowProcessor(
            Settings(), topics, table, applier, UndeliverableSink(), owns=lambda p: True,
            partitions=lambda: 4, set_current_event=lambda e: None,
        )  # fmt: skip
        doc = {"event_id": "e1", "user_id": "alice", "conversation_id": "c2c_bob",
               "custom_data": "set", "occurred_at": "2026-11-25T10:00:00Z"}  # fmt: skip
        with pytest.raises(KafkaTimeoutError):
            await processor.process([event(0, doc)])
    assert emulator.state("alice") == {"c2c_bob": "set"}, "the SDK call happened before"
