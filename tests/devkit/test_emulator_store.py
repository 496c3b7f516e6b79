"""The emulator's SQLite store: marks, clears, paging order, write log, atomicity, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams_devkit.emulator.store import Mark, MarkStore, Write


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "emulator.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[MarkStore]:
    store = MarkStore(db)
    yield store
    store.close()


def test_set_update_and_clear(store: MarkStore) -> None:
    with store.transaction():
        store.set_mark("u", "c2c_a", "one", at=1.0, request_id="r1")
        store.set_mark("u", "c2c_a", "two", at=2.0, request_id="r2")
        store.set_mark("u", "group_g", "g", at=3.0, request_id="r2")
        store.set_mark("u", "group_g", "", at=4.0, request_id=None)

    assert store.marks("u") == [Mark("c2c_a", "two", 2.0)]
    assert store.is_marked("u", "c2c_a")
    assert not store.is_marked("u", "group_g")
    assert store.count_marked("u") == 1
    assert store.writes("u") == [
        Write(1.0, "u", "c2c_a", "one", "r1"),
        Write(2.0, "u", "c2c_a", "two", "r2"),
        Write(3.0, "u", "group_g", "g", "r2"),
        Write(4.0, "u", "group_g", "", None),
    ]


def test_marks_page_in_conversation_id_order(store: MarkStore) -> None:
    with store.transaction():
        for name in ("c2c_c", "c2c_a", "group_b", "c2c_b"):
            store.set_mark("u", name, "m", at=1.0, request_id=None)

    assert [m.conversation_id for m in store.marks("u")] == [
        "c2c_a",
        "c2c_b",
        "c2c_c",
        "group_b",
    ]
    assert [m.conversation_id for m in store.marks("u", offset=1, limit=2)] == ["c2c_b", "c2c_c"]
    assert store.marks("u", offset=4) == []


def test_users_are_separate_and_writes_filter_by_user(store: MarkStore) -> None:
    with store.transaction():
        store.set_mark("a", "c2c_x", "1", at=1.0, request_id="1")
        store.set_mark("b", "c2c_x", "2", at=2.0, request_id="2")
        store.set_mark("a", "c2c_y", "3", at=3.0, request_id="3")

    assert [w.custom_data for w in store.writes("a")] == ["1", "3"]
    assert [w.custom_data for w in store.writes("b")] == ["2"]
    assert [w.custom_data for w in store.writes()] == ["1", "2", "3"]
    assert store.count_marked("a") == 2
    assert store.marks("nobody") == []


def test_a_failed_transaction_applies_nothing(store: MarkStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.set_mark("u", "c2c_a", "x", at=1.0, request_id=None)
        raise RuntimeError("boom")

    assert store.marks("u") == []
    assert store.writes() == []


def test_state_and_log_survive_reopening(db: Path) -> None:
    first = MarkStore(db)
    with first.transaction():
        first.set_mark("u", "c2c_a", "kept", at=1.0, request_id="7")
    assert db.with_name(db.name + "-wal").exists()  # WAL mode
    first.close()

    second = MarkStore(db)
    try:
        assert second.marks("u") == [Mark("c2c_a", "kept", 1.0)]
        assert second.writes() == [Write(1.0, "u", "c2c_a", "kept", "7")]
    finally:
        second.close()


def test_write_as_json_has_the_debug_fields() -> None:
    write = Write(1.5, "u", "c2c_a", "x", "42")

    assert write.as_json() == {
        "at": 1.5,
        "user": "u",
        "conversation_id": "c2c_a",
        "custom_data": "x",
        "request_id": "42",
    }
