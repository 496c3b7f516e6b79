"""The fetch guard on fetched bytes: aiokafka's own fetcher reads them, as it reads a response.

Batches are written byte by byte (tests.fixtures.raw_batches) and read through aiokafka's
``PartitionRecords``, the fetcher's record iterator, with :class:`GuardedRecords` in place of
its ``MemoryRecords``: what a worker's ``getmany`` returns.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from streams.contract import OutcomeReason
from streams.core.decode import Unreadable, decode
from streams.core.records import Envelope, Position, Rejection
from streams.engine.fetch_guard import BatchError, GuardedRecords, inflate
from tests.fixtures.raw_batches import (
    COMPRESS,
    GZIP,
    LZ4,
    SNAPPY,
    ZSTD,
    compressed,
    gzip_bomb,
    plain,
    record,
)

TP = TopicPartition("changes", 0)
BOUND = 256 * 1024
BAD_NAME = b"\xff\xfe\x00"


def read(records: Any) -> list[Any]:
    """Every record aiokafka's fetcher makes of the fetched bytes ``records``."""
    return list(fetcher.PartitionRecords(TP, records, None, 0, None, None, True, 0))


def summary(records: list[Any]) -> list[tuple[int, bytes | None, bytes | None, str | None]]:
    return [(r.offset, r.key, r.value, getattr(r.value, "why", None)) for r in records]


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_each_codec_inflates_within_the_bound_and_refuses_past_it(codec: int) -> None:
    data = b"change " * 10_000
    assert inflate(codec, COMPRESS[codec](data), BOUND) == data
    assert inflate(codec, COMPRESS[codec](data), len(data), room=3) == b"\0\0\0" + data
    with pytest.raises(BatchError, match=f"inflates past {BOUND} bytes"):
        inflate(codec, COMPRESS[codec](bytes(16 * BOUND)), BOUND)
    with pytest.raises(BatchError, match="corrupt"):
        inflate(codec, COMPRESS[codec](data)[:-40] + bytes(40), BOUND)


def test_an_unknown_codec_is_refused() -> None:
    with pytest.raises(BatchError, match="unknown compression codec 6"):
        inflate(6, b"data", BOUND)


def test_a_bad_header_name_makes_only_its_record_unreadable() -> None:
    data = plain([
        record(0, b"alice", b"one"),
        record(1, b"alice", b"two", [(b"ok", b"x"), (BAD_NAME, b"y")]),
        record(2, b"alice", b"three", [(b"ok", None)]),
    ]) + plain([record(0, b"bob", b"four")], base=3)  # fmt: skip
    with pytest.raises(UnicodeDecodeError):
        read(MemoryRecords(data))  # aiokafka's own reader: the worker stopped here
    records = read(GuardedRecords(data, bound=BOUND))
    assert summary(records) == [
        (0, b"alice", b"one", None),
        (1, b"alice", b"two", "header name b'\\xff\\xfe\\x00' is not UTF-8"),
        (2, b"alice", b"three", None),
        (3, b"bob", b"four", None),
    ]
    assert records[2].headers == (("ok", None),)
    assert all(r.timestamp == records[0].timestamp for r in records[:3])


def test_a_bomb_is_unreadable_by_position_and_the_batches_after_it_are_read() -> None:
    data = gzip_bomb(64 * BOUND, base=0) + compressed(
        [record(0, b"a", b"after"), record(1, b"b", b"next")], LZ4, base=1
    )
    records = summary(read(GuardedRecords(data, bound=BOUND)))
    why = f"the batch at offsets 0..0 could not be read: gzip data inflates past {BOUND} bytes"
    assert records[0][:3] == (0, None, b"") and records[0][3].startswith(why)
    assert records[1:] == [(1, b"a", b"after", None), (2, b"b", b"next", None)]


def test_a_crc_mismatch_is_unreadable_by_position() -> None:
    batch = bytearray(plain([record(0, b"a", b"one"), record(1, b"a", b"two")]))
    batch[-2] ^= 0xFF
    with pytest.raises(CorruptRecordException):
        read(MemoryRecords(bytes(batch)))
    records = summary(read(GuardedRecords(bytes(batch), bound=BOUND)))
    assert [r[:3] for r in records] == [(0, None, b""), (1, None, b"")]
    assert all("CRC does not match" in r[3] for r in records)


def test_a_corrupt_record_makes_the_rest_of_its_batch_unreadable() -> None:
    good, bad = record(0, b"a", b"one"), bytearray(record(1, b"a", b"two"))
    bad[0] = 0x7F  # its length now runs past the batch
    records = summary(read(GuardedRecords(plain([good, bytes(bad)]), bound=BOUND)))
    assert records[0] == (0, b"a", b"one", None)
    assert records[1][:3] == (1, None, b"") and "record at offset 1 is corrupt" in records[1][3]


def test_an_unreadable_record_is_rejected_and_dead_lettered_with_its_reason() -> None:
    envelope = Envelope(b"k", Unreadable(b"v", "header name b'\\xff' is not UTF-8"),
                        Position("changes", 0, 5), 4)  # fmt: skip
    now = datetime.now(UTC)
    rejection = decode(envelope, now=now, max_skew=timedelta(seconds=1), max_bytes=1024)
    assert rejection == Rejection(
        envelope, OutcomeReason.UNPARSEABLE, "header name b'\\xff' is not UTF-8", True
    )


def test_the_fetcher_still_reads_fetched_bytes_through_memory_records() -> None:
    """The hook (streams.engine.internals.guard_fetched_records) replaces this name."""
    assert "MemoryRecords(part_data[-1])" in inspect.getsource(fetcher.Fetcher._proc_fetch_request)
