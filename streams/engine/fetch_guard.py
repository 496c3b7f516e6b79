"""Fetched batches that can neither crash the worker nor exhaust its memory.

aiokafka turns a fetch response into records on the consumer thread, inside ``getmany``, before
any record reaches the window that contains bad input
(:meth:`streams.window.processor.WindowProcessor._classify`). Two kinds of input failed there,
so the worker exited on every start and the partition stopped for good (docs/RELIABILITY.md):

* a record aiokafka's reader cannot read: a header name that is not UTF-8 (Sarama, librdkafka
  and kcat write names as raw bytes) raises ``UnicodeDecodeError``; a corrupt record, a batch
  whose CRC does not match or an unknown codec raise aiokafka's own errors;
* a decompression bomb: aiokafka inflates a compressed batch whole, without a bound, before
  anything looks at a size. A 1 MiB gzip batch of zeros inflates to ~1 GB and the pod is
  OOM-killed, then the partition's next owner, and the next.

Here every record batch (message format v2) is read by :class:`GuardedBatch`, which never
raises. A compressed batch is inflated here, never past ``bound`` bytes
(``STREAMS_MAX_INFLATED_BATCH_BYTES``), and only then handed to aiokafka's reader. A batch that
cannot be read at all (over the bound, corrupt compressed data, an unknown codec, a CRC
mismatch) comes out as one record per offset it spans, with no key and an
:class:`~streams.core.decode.Unreadable` value saying why: each is ``rejected`` /
``unparseable`` and dead-lettered by position. When the reader fails on one record, the
batch's remaining records are read again by :func:`lenient_records`; the one it failed on is
unreadable (a non-UTF-8 header name keeps its key and value, so its dead letter carries them),
and the records after it come out as usual.

Control batches (transaction markers) and the message formats v0/v1 (which Kafka 4 no longer
writes) are left to aiokafka.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import cramjam
from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import decode_varint

from streams.core.decode import Unreadable
from streams.engine import internals

#: A v2 batch's header (aiokafka's layout): base offset, length, leader epoch, magic, CRC,
#: attributes, last offset delta, first and max timestamp, producer id, epoch, base sequence,
#: record count.
HEADER: Final = DefaultRecordBase.HEADER_STRUCT
#: Where the attributes start: the CRC covers the batch from there on.
ATTRIBUTES_AT: Final = DefaultRecordBase.ATTRIBUTES_OFFSET
#: The base offset and length in front of every batch; the length counts what follows them.
LOG_OVERHEAD: Final = 12
CODEC_MASK: Final = DefaultRecordBase.CODEC_MASK
LOG_APPEND_TIME: Final = DefaultRecordBase.LOG_APPEND_TIME
#: Codec ids (the batch attributes' low bits) and names.
CODECS: Final = {1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
#: Snappy as the Java client writes it: a stream header, then blocks each behind a 4-byte size.
XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
XERIAL_HEADER_BYTES: Final = 16
#: First output buffer for a codec whose inflated size is not known in advance: this many times
#: the compressed size (JSON changes inflate about 5-10 times), grown by the same factor.
GROWTH: Final = 4
FIRST_OUTPUT_BYTES: Final = 64 * 1024
#: Longest header name quoted in a record's ``info``.
QUOTED_NAME_BYTES: Final = 64


class BatchError(Exception):
    """Why a batch cannot be read at all (its records come out unreadable by position)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A record as aiokafka's fetcher reads one (``_consumer_record``), read here instead."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    checksum: None = None


def _full(exc: cramjam.DecompressionError) -> bool:
    """Whether cramjam stopped because the output buffer was full (the data inflates further)."""
    return "failed to write whole buffer" in str(exc)


def inflate(codec: int, data: bytes | memoryview, bound: int, *, room: int = 0) -> bytearray:
    """``data`` decompressed with ``codec``, after ``room`` free bytes; never over ``bound``.

    Nothing larger than ``room + bound`` is ever allocated: cramjam decompresses into a buffer
    of a given size and stops when it is full. Snappy says each block's inflated size up front;
    for the others the buffer grows from a guess, so a bomb costs at most a few passes that
    each stop at the buffer's end. Raises :class:`BatchError`.
    """
    name = CODECS.get(codec)
    if name is None:
        raise BatchError(f"unknown compression codec {codec}")
    if name == "snappy":
        return _snappy(data, bound, room)
    decompress_into: Callable[[Any, Any], int] = getattr(cramjam, name).decompress_into
    size = min(bound, max(FIRST_OUTPUT_BYTES, GROWTH * len(data)))
    while True:
        out = bytearray(room + size)
        try:
            written = decompress_into(data, memoryview(out)[room:])
        except cramjam.DecompressionError as exc:
            if not _full(exc):
                raise BatchError(f"corrupt {name} data ({exc})") from None
            if size >= bound:
                raise BatchError(_too_large(name, bound)) from None
            size = min(bound, size * GROWTH)
            continue
        del out[room + written :]
        return out


def _too_large(name: str, bound: int) -> str:
    return f"{name} data inflates past {bound} bytes (STREAMS_MAX_INFLATED_BATCH_BYTES)"


def _snappy(data: bytes | memoryview, bound: int, room: int) -> bytearray:
    """Snappy, raw or in the Java client's blocks, each block's size read before inflating it."""
    view = memoryview(data)
    blocks = [view]
    if bytes(view[: len(XERIAL_MAGIC)]) == XERIAL_MAGIC:
        blocks, at = [], XERIAL_HEADER_BYTES
        while at < len(view):
            (length,) = struct.unpack_from(">i", view, at)
            if length < 0 or at + 4 + length > len(view):
                raise BatchError("corrupt snappy data (a block runs past the batch)")
            blocks.append(view[at + 4 : at + 4 + length])
            at += 4 + length
    try:
        sizes = [cramjam.snappy.decompress_raw_len(block) for block in blocks]
        if sum(sizes) > bound:
            raise BatchError(_too_large("snappy", bound))
        out = bytearray(room + sum(sizes))
        at = room
        for block, size in zip(blocks, sizes, strict=True):
            cramjam.snappy.decompress_raw_into(block, memoryview(out)[at : at + size])
            at += size
    except cramjam.DecompressionError as exc:
        raise BatchError(f"corrupt snappy data ({exc})") from None
    return out


def lenient_records(
    header: tuple[int, ...], records: bytes | memoryview, after: int
) -> Iterator[Record]:
    """The batch's records after offset ``after``, header names not required to be UTF-8.

    aiokafka's reader decodes every header name as UTF-8 and raises on the first that is not;
    this reads the same layout (KIP-98) for the records it did not hand over. A record with such
    a name comes out with an :class:`Unreadable` value (its own bytes kept) saying which name;
    from a record that does not parse at all, the rest of the batch is unreadable by position.
    """
    base, first_ts, max_ts = header[0], header[7], header[8]
    timestamp_type = (header[5] >> 3) & 1
    pos, expected = 0, after + 1
    try:
        for _ in range(header[12]):
            length, pos = decode_varint(records, pos)
            end = pos + length
            _, pos = decode_varint(records, pos)  # attributes: none defined for records
            ts_delta, pos = decode_varint(records, pos)
            offset_delta, pos = decode_varint(records, pos)
            key, pos = _read_bytes(records, pos)
            value, pos = _read_bytes(records, pos)
            count, pos = decode_varint(records, pos)
            headers: list[tuple[str, bytes | None]] = []
            bad: bytes | None = None
            for _ in range(count):
                name, pos = _read_bytes(records, pos)
                header_value, pos = _read_bytes(records, pos)
                if name is None:
                    raise ValueError("a header name is null")
                try:
                    text = name.decode()
                except UnicodeDecodeError:
                    bad = bad or name
                    text = name.decode(errors="backslashreplace")
                headers.append((text, header_value))
            if pos != end or count < 0:
                raise ValueError("a record's fields do not add up to its length")
            offset = base + offset_delta
            if offset < expected:
                continue
            if bad is not None:
                quoted = repr(bad[:QUOTED_NAME_BYTES])
                value = Unreadable(value or b"", f"header name {quoted} is not UTF-8")
            timestamp = max_ts if timestamp_type == LOG_APPEND_TIME else first_ts + ts_delta
            yield Record(offset, timestamp, timestamp_type, key, value, headers)
            expected = offset + 1
    except (ValueError, IndexError) as exc:
        yield from unreadable(header, expected, f"record at offset {expected} is corrupt ({exc})")


def _read_bytes(buffer: bytes | memoryview, pos: int) -> tuple[bytes | None, int]:
    """A varint-prefixed byte string (length -1: null) at ``pos``, and the position after it."""
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buffer):
        raise IndexError("a field runs past the batch")
    return bytes(buffer[pos : pos + length]), pos + length


def unreadable(header: tuple[int, ...], start: int, why: str) -> Iterator[Record]:
    """One record per offset of the batch from ``start`` on, each saying why it is unreadable."""
    base, last = header[0], header[0] + header[6]
    info = f"the batch at offsets {base}..{last} could not be read: {why}"
    timestamp_type = (header[5] >> 3) & 1
    for offset in range(max(start, base), last + 1):
        yield Record(offset, header[7], timestamp_type, None, Unreadable(b"", info))


class GuardedBatch:
    """One fetched v2 batch as aiokafka's fetcher reads it, except that reading never raises.

    The fetcher reads the batch's header fields (delegated to aiokafka's batch), asks
    :meth:`validate_crc`, and iterates it: see the module docstring for what comes out.
    """

    def __init__(self, batch: Any, raw: memoryview, bound: int) -> None:
        self._batch = batch
        self._raw = raw
        self._bound = bound
        self._crc_ok = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        """Check the CRC now; a mismatch makes the records unreadable instead of raising."""
        self._crc_ok = bool(self._batch.validate_crc())
        return True

    def __iter__(self) -> Iterator[Any]:
        return self._records()

    def _records(self) -> Iterator[Any]:
        header = HEADER.unpack_from(self._raw)
        try:
            if not self._crc_ok:
                raise BatchError("its CRC does not match its bytes")
            reader, records = self._readable(header)
        except BatchError as exc:
            yield from unreadable(header, header[0], str(exc))
            return
        done = header[0] - 1
        try:
            for record in reader:
                yield record
                done = record.offset
        except Exception:  # whatever aiokafka's reader raised on one record
            yield from lenient_records(header, records, done)

    def _readable(self, header: tuple[int, ...]) -> tuple[Any, memoryview]:
        """aiokafka's reader over the batch, inflated first if it is compressed; and its records."""
        codec = header[5] & CODEC_MASK
        if not codec:
            return self._batch, self._raw[HEADER.size :]
        inflated = inflate(codec, self._raw[HEADER.size :], self._bound, room=HEADER.size)
        HEADER.pack_into(
            inflated, 0, header[0], len(inflated) - LOG_OVERHEAD, *header[2:5],
            header[5] & ~CODEC_MASK, *header[6:],
        )  # fmt: skip
        return DefaultRecordBatch(inflated), memoryview(inflated)[HEADER.size :]


class GuardedRecords:
    """aiokafka's ``MemoryRecords`` (one partition's fetched bytes), its v2 batches guarded.

    aiokafka still splits the bytes into batches; this follows along to hand each batch's own
    bytes to :class:`GuardedBatch`.
    """

    def __init__(self, data: bytes, *, bound: int) -> None:
        self._view = memoryview(data)
        self._records = MemoryRecords(data)
        self._at = 0
        self._bound = bound

    def size_in_bytes(self) -> int:
        """The fetched bytes' size (the fetcher's check for a batch over the fetch size)."""
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        """Whether another whole batch follows."""
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        """The next batch: guarded, unless a control batch or an old message format's."""
        batch = self._records.next_batch()
        start = self._at
        (length,) = struct.unpack_from(">i", self._view, start + LOG_OVERHEAD - 4)
        self._at = start + LOG_OVERHEAD + length
        if batch is None or batch.magic < 2 or batch.is_control_batch:
            return batch
        return GuardedBatch(batch, self._view[start : self._at], self._bound)


def install(bound: int) -> None:
    """Read every fetch of this process's aiokafka consumers through :class:`GuardedRecords`."""
    internals.guard_fetched_records(functools.partial(GuardedRecords, bound=bound))
