"""The worker's trims of Faust's per-message path keep Faust's formats and behaviour.

Each replaces a generic Faust step done for every message or table write (bench/PROFILE.md):
the changelog records must stay byte-for-byte what Faust's serializers make (recovery reads
them with Faust's), events must carry the records' bytes, and the producer buffer must report
what is queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.engine.app import create_app
from streams.engine.consumer import UnthreadedProducerBuffer
from streams.engine.internals import set_current_event
from streams.settings import Settings
from tests.fakes import message_event


@pytest.fixture(params=[True, False], ids=["tansu", "kafka"])
def app(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A worker's app, never started."""
    monkeypatch.setenv("STREAMS_SDK", "tencent")
    settings = Settings(
        broker="kafka://127.0.0.1:1",
        embedded_broker=request.param,
        table_store="memory://",
        web_port=0,
    )
    yield create_app(settings)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("u1/c2c_u2", ["e1", [3, 1_700_000_000_000_000, 42], None]),
        ("ü/group_é", [None, None, [-1, 5, 0]]),
    ],
)
def test_table_writes_queue_the_records_faust_would_send(app: Any, key: str, value: Any) -> None:
    faust_app, topics, table = app
    monitor = faust_app.monitor
    faust_app.sensors.add(monitor)  # as the app does when it starts
    # Held: the table keeps a weakref.
    current = message_event(topics.changes.get_topic_name(), 2, 0, None, None)
    set_current_event(current)
    table[key] = value
    changelog = table.changelog_topic
    faust_key, _ = changelog.prepare_key(key, table.key_serializer)
    faust_value, _ = changelog.prepare_value(value, table.value_serializer)
    assert table._unsent == [(2, faust_key, faust_value)]
    assert table[key] == value
    assert monitor.tables[table.name].keys_updated == 1  # Faust's sensors still count


async def test_events_of_the_changes_topic_carry_the_records_bytes(app: Any) -> None:
    _, topics, _ = app
    name = topics.changes.get_topic_name()
    message = ConsumerMessage(
        name, 0, 7, 0.0, 0, [], b"user-1", b'{"not": "parsed here"}', None, tp=TP(name, 0)
    )
    event = await topics.changes.decode(message, propagate=True)
    assert (event.key, event.value, event.message) == (
        b"user-1",
        b'{"not": "parsed here"}',
        message,
    )


def test_the_producer_buffer_reports_what_is_queued(app: Any) -> None:
    faust_app, _, _ = app
    buffer = faust_app.producer.buffer
    assert isinstance(buffer, UnthreadedProducerBuffer)
    assert buffer.size == 0
    buffer.pending.put_nowait(object())
    assert buffer.size == 1
