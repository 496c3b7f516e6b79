"""The worker's fetch long-poll: short on every broker, not Faust's hard-coded 1,500 ms.

aiokafka keeps one fetch in flight per broker and leaves out of it the partitions whose fetched
records the worker has not taken yet. While a window keeps the agent busy, that is every input
partition, so the fetch in flight asks only for partitions that never get records (Faust's
leader topic, idle changelogs) and the broker holds it for the whole long-poll, with the input
partitions waiting behind it (bench/PROFILE.md, session 10). These check the long-poll the
aiokafka consumer is built with, on a worker's app that is never started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from streams.engine import consumer, tansu
from streams.engine.app import create_app
from streams.settings import Settings

#: Faust's ``fetch_max_wait_ms`` (faust.transport.drivers.aiokafka), which the worker replaces.
FAUST_FETCH_MAX_WAIT_MS = 1500


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build a worker's app for a broker kind (True: the embedded Tansu)."""
    monkeypatch.setenv("STREAMS_SDK", "tencent")

    def build(embedded: bool) -> Any:
        settings = Settings(
            broker="kafka://127.0.0.1:1",
            embedded_broker=embedded,
            table_store="memory://",
            web_port=0,
        )
        app, _, _ = create_app(settings)
        return app

    yield build


async def fetch_max_wait_ms(app: Any) -> int:
    """The long-poll of the aiokafka consumer the app's consumer thread builds (never started)."""
    aio = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        wait: int = aio._fetch_max_wait_ms
    finally:
        await aio.stop()
    return wait


async def test_on_kafka_a_fetch_is_held_for_at_most_the_short_long_poll(worker: Any) -> None:
    app = worker(False)
    assert isinstance(app.consumer, consumer.GaplessConsumer)
    assert await fetch_max_wait_ms(app) == consumer.FETCH_MAX_WAIT_MS
    # Well inside a window, which the fetch in flight would otherwise outlast many times.
    assert consumer.FETCH_MAX_WAIT_MS * 2 <= Settings.model_fields["window_ms"].default
    assert consumer.FETCH_MAX_WAIT_MS < FAUST_FETCH_MAX_WAIT_MS


async def test_on_tansu_the_embedded_brokers_long_poll_stays(worker: Any) -> None:
    app = worker(True)
    assert isinstance(app.consumer, tansu.TansuConsumer)
    assert await fetch_max_wait_ms(app) == tansu.FETCH_MAX_WAIT_MS
