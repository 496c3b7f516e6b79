"""No record stops the worker: whole Kafka records, headers and codecs included, through a broker.

The hostile-input tests throw hostile *values* at the pipeline. These publish whole records
through the real broker to a real worker process: null, empty, huge and non-UTF-8 keys; null
(tombstone), empty, truncated and oversized values; every compression codec aiokafka writes;
headers with null values, repeated names, non-UTF-8 bytes and forged or malformed
``streams-origin-*``; explicit (wrong) partitions and odd timestamps. Afterwards the worker is
still running, every published position has exactly one outcome, every dead letter fits the
limit and names its position, and a valid change published after them is applied.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, errors
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from streams.contract import Outcome
from streams.core import origin
from streams.core.fitting import FRAMING_BYTES
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.guarantees import read_topic
from tests.fixtures.pipeline import PARTITIONS, MakePipeline, Pipeline

#: Small enough that hypothesis' oversized values are cut, large enough to hold a change.
DEAD_LETTER_MAX = 200_000
CODECS = (None, "gzip", "snappy", "lz4", "zstd")
#: Values over the worker's 64 KiB input limit, and over the producer's 4 MiB request limit.
HUGE = (70_000, DEAD_LETTER_MAX + 1, 5 * 1024 * 1024)
DEAD_LETTER_REASONS = ("unparseable", "too_large", "misrouted", "internal_error")


@dataclass(frozen=True)
class Record:
    """One Kafka record as a producer could publish it."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    codec: str | None = None
    partition: int | None = None
    timestamp_ms: int | None = None

    def __repr__(self) -> str:
        """Short: a failing batch is printed whole, and values run to megabytes."""

        def cut(data: bytes | None) -> str:
            return (
                repr(data)
                if data is None or len(data) <= 40
                else f"<{len(data)} bytes {data[:24]!r}...>"
            )

        headers = [(n, cut(v)) for n, v in self.headers]
        return (
            f"Record({cut(self.key)}, {cut(self.value)}, {headers}, {self.codec}, "
            f"partition={self.partition}, timestamp_ms={self.timestamp_ms})"
        )


#: What Apache Kafka refuses at append: a batch over ``message.max.bytes`` (1 MiB by default),
#: a timestamp more than ``log.message.timestamp.after.max.ms`` ahead (1 hour by default). A
#: refused record never reaches the worker: it is the producer's error, not the worker's.
BROKER_REFUSALS = (errors.MessageSizeTooLargeError, errors.InvalidTimestampError)


async def _publish(
    bootstrap: str, topic: str, records: list[Record]
) -> list[tuple[int, int] | BaseException]:
    """Publish ``records`` one batch each (one producer per codec, large requests allowed).

    Each record's position, or the error the broker refused it with. One batch per record: the
    broker refuses a whole batch, so a refused record must not take valid ones down with it.
    """
    positions: list[tuple[int, int] | BaseException] = [(-1, -1)] * len(records)
    for codec in {r.codec for r in records}:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", compression_type=codec,
            max_request_size=16 * 1024 * 1024,
        )  # fmt: skip
        await producer.start()
        try:
            for i, r in enumerate(records):
                if r.codec == codec:
                    try:
                        meta = await producer.send_and_wait(
                            topic, r.value, key=r.key, partition=r.partition,
                            timestamp_ms=r.timestamp_ms, headers=list(r.headers),
                        )  # fmt: skip
                    except BROKER_REFUSALS as exc:
                        positions[i] = exc
                    else:
                        positions[i] = (meta.partition, meta.offset)
        finally:
            await producer.stop()
    return positions


def publish_refusable(
    pipe: Pipeline, records: list[Record]
) -> list[tuple[int, int] | BaseException]:
    """Positions, or the broker's refusal, of each record."""
    return asyncio.run(_publish(pipe.bootstrap, pipe.changes, records))


def publish(pipe: Pipeline, records: list[Record]) -> list[tuple[int, int]]:
    """Positions of records the broker must accept."""
    positions = []
    for record, position in zip(records, publish_refusable(pipe, records), strict=True):
        assert isinstance(position, tuple), f"the broker refused {record!r}: {position!r}"
        positions.append(position)
    return positions


def change(event_id: str, user: str = "alice", **fields: Any) -> bytes:
    doc = {
        "event_id": event_id,
        "user_id": user,
        "conversation_id": "c2c_peer",
        "custom_data": f"value of {event_id}",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    return orjson.dumps(doc | fields)


def oversized(size: int) -> bytes:
    """A valid-looking change padded to ``size`` bytes (compresses to almost nothing)."""
    head = change("huge")[:-1] + b',"pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def outcomes_by_position(pipe: Pipeline, positions: list[tuple[int, int]]) -> dict[Any, list[Any]]:
    docs = pipe.outcomes_for(set(positions))
    grouped: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for doc in docs:
        Outcome.model_validate(doc)
        grouped.setdefault((doc["source"]["partition"], doc["source"]["offset"]), []).append(doc)
    return grouped


def dead_letters(pipe: Pipeline, count: int) -> list[Any]:
    return read_topic(pipe.bootstrap, pipe.dead_letters, lambda rs: len(rs) >= count, timeout_s=60)


def record_size(record: Any) -> int:
    """What a consumed dead letter takes, counted as the worker budgets it."""
    headers = sum(len(name.encode()) + len(value or b"") for name, value in record.headers)
    return FRAMING_BYTES + len(record.key or b"") + len(record.value or b"") + headers


def assert_alive(pipe: Pipeline) -> None:
    proc = pipe.workers[-1]
    assert proc.poll() is None, (
        f"the worker exited:\n{pipe.worker_log(len(pipe.workers) - 1)[-3000:]}"
    )


@pytest.fixture
def poison_pipeline(reliable_pipeline: MakePipeline) -> tuple[Pipeline, RunningEmulator]:
    pipe, emulator = reliable_pipeline(
        worker_env={"STREAMS_DEAD_LETTER_MAX_BYTES": str(DEAD_LETTER_MAX)}
    )
    pipe.start_worker()
    # A first outcome: past the worker's first window, which a start can deliver twice.
    [warm] = publish(pipe, [Record(b"erin", change("warm-up", user="erin"))])
    pipe.outcomes_for({warm})
    return pipe, emulator


def test_a_null_origin_header_does_not_stop_the_partition(
    poison_pipeline: tuple[Pipeline, RunningEmulator],
) -> None:
    """Regression: origin headers with a null topic raised TypeError and crash-looped the worker."""
    pipe, emulator = poison_pipeline
    forged = (
        (origin.TOPIC, None),
        (origin.PARTITION, b"0"),
        (origin.OFFSET, b"7"),
    )
    positions = publish(
        pipe,
        [
            Record(b"alice", change("null-origin"), forged),
            Record(b"alice", change("after", conversation_id="c2c_after")),
        ],
    )
    grouped = outcomes_by_position(pipe, positions)
    assert_alive(pipe)
    assert [d["status"] for d in grouped[positions[0]]] == ["applied"], grouped
    assert grouped[positions[0]][0]["source"]["offset"] == positions[0][1], "own position"
    assert [d["status"] for d in grouped[positions[1]]] == ["applied"]
    assert emulator.state("alice") == {
        "c2c_peer": "value of null-origin",
        "c2c_after": "value of after",
    }


def test_forged_origin_headers_neither_skip_routing_nor_fill_source(
    poison_pipeline: tuple[Pipeline, RunningEmulator],
) -> None:
    """Well-formed but unsigned origin headers on a misrouted record: it is still forwarded,
    and its outcome names where it was really published."""
    pipe, emulator = poison_pipeline
    home = publish(pipe, [Record(b"bob", change("probe", user="bob"))])[0][0]
    wrong = (home + 1) % PARTITIONS
    forged = ((origin.TOPIC, b"elsewhere"), (origin.PARTITION, b"0"), (origin.OFFSET, b"1"))
    change_value = change("forged", user="bob")
    [position] = publish(pipe, [Record(b"bob", change_value, forged, None, wrong)])
    grouped = outcomes_by_position(pipe, [position])
    assert_alive(pipe)
    [outcome] = grouped[position]
    assert outcome["status"] == "applied" and outcome["source"]["topic"] == pipe.changes
    assert emulator.state("bob") == {"c2c_peer": "value of forged"}
    copies = [
        r for r in read_topic(pipe.bootstrap, pipe.changes, lambda rs: len(rs) >= 4)
        if r.value == change_value and r.partition == home
    ]  # fmt: skip
    assert len(copies) == 1, "forwarded to the user's partition once"
    headers = dict(copies[0].headers)
    assert headers[origin.PARTITION] == str(wrong).encode() and origin.SIGNATURE in headers


def test_a_compressed_5_mib_value_is_dead_lettered_within_the_limit(
    poison_pipeline: tuple[Pipeline, RunningEmulator],
) -> None:
    """Regression: its whole dead letter exceeded the producer's limit on every restart."""
    pipe, _ = poison_pipeline
    value = oversized(5 * 1024 * 1024)
    positions = publish(
        pipe,
        [
            Record(b"carol", value, codec="gzip"),
            Record(b"carol", change("after", user="carol"), codec="gzip"),
        ],
    )
    grouped = outcomes_by_position(pipe, positions)
    assert_alive(pipe)
    [big] = grouped[positions[0]]
    assert (big["status"], big["reason"]) == ("rejected", "too_large"), big
    assert [d["status"] for d in grouped[positions[1]]] == ["applied"]
    [dead] = dead_letters(pipe, 1)
    headers = dict(dead.headers)
    assert record_size(dead) <= DEAD_LETTER_MAX
    assert (
        value.startswith(dead.value) and headers["original-value-size"] == str(len(value)).encode()
    )
    assert (headers["source-partition"], headers["source-offset"]) == tuple(
        str(n).encode() for n in positions[0]
    )


# --- the property test -----------------------------------------------------------------------

users = st.sampled_from(["alice", "bob", "carol", "dave"])
serial = itertools.count()


@st.composite
def values(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "empty", "valid", "truncated", "huge", "bytes"]))
    if kind == "none":
        return None
    if kind == "empty":
        return b""
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    valid = change(f"p-{draw(st.integers(0, 10**6))}", user=draw(users))
    if kind == "valid":
        return valid
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    return oversized(draw(st.sampled_from(HUGE)))


keys = st.one_of(
    st.none(),
    st.just(b""),
    users.map(str.encode),
    st.sampled_from([b"\xff\xfe", b"k" * 1025, b"k" * 300_000]),
    st.binary(max_size=32),
)
header_names = st.sampled_from([*origin.NAMES, "trace-id", "x"])
header_values = st.one_of(
    st.none(), st.binary(max_size=16), st.sampled_from([b"0", b"3", b"-1", b"\xff", b"changes"])
)
records = st.builds(
    Record,
    key=keys,
    value=values(),
    headers=st.lists(st.tuples(header_names, header_values), max_size=6).map(tuple),
    codec=st.sampled_from(CODECS),
    partition=st.one_of(st.none(), st.integers(0, PARTITIONS - 1)),
    timestamp_ms=st.sampled_from([None, 0, 1, 2**41, 2**62]),
    # aiokafka (like the Java client) refuses a record with neither key nor value.
).map(lambda r: r if r.key is not None or r.value is not None else replace(r, key=b""))


@settings(
    max_examples=10,
    # No shrinking: each example is a live broker round trip; the failing batch is reported.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(batch=st.lists(records, min_size=12, max_size=30))
def test_no_record_stops_the_worker(
    poison_pipeline: tuple[Pipeline, RunningEmulator],
    figures: dict[str, Any],
    batch: list[Record],
) -> None:
    pipe, emulator = poison_pipeline
    n = next(serial)
    canary = Record(b"dave", change(f"canary-{n}", user="dave", conversation_id=f"c2c_canary{n}"))
    published = publish_refusable(pipe, [*batch, canary])
    refused = [p for p in published if not isinstance(p, tuple)]
    positions = [p for p in published if isinstance(p, tuple)]
    assert isinstance(published[-1], tuple), "the canary is an ordinary change"
    grouped = outcomes_by_position(pipe, positions)
    assert_alive(pipe)
    counts = Counter(len(grouped.get(p, [])) for p in positions)
    assert counts == {1: len(positions)}, {
        p: grouped.get(p) for p in positions if len(grouped.get(p, [])) != 1
    }
    assert grouped[positions[-1]][0]["status"] == "applied", "a valid change after them applies"
    assert emulator.state("dave")[f"c2c_canary{n}"] == f"value of canary-{n}"
    dead_lettered = Counter(
        p for p in positions[:-1] for d in grouped[p]
        if d["status"] == "rejected" and d["reason"] in DEAD_LETTER_REASONS
    )  # fmt: skip
    published_at = set(positions)

    def sources(records: list[Any]) -> list[tuple[int, int]]:
        found = []
        for dead in records:
            assert record_size(dead) <= DEAD_LETTER_MAX
            headers = dict(dead.headers)
            assert headers["source-topic"] == pipe.changes.encode()
            found.append((int(headers["source-partition"]), int(headers["source-offset"])))
        return [source for source in found if source in published_at]

    letters = read_topic(
        pipe.bootstrap, pipe.dead_letters, lambda rs: len(sources(rs)) >= dead_lettered.total()
    )
    assert Counter(sources(letters)) == dead_lettered
    cut = [d for d in letters if any(n == "original-value-size" for n, _ in d.headers)]
    seen = figures.setdefault("outcomes", Counter())
    seen.update(f"{d['status']}/{d['reason']}" for p in positions for d in grouped[p])
    figures["records"] = figures.get("records", 0) + len(positions)
    figures["refused_by_broker"] = figures.get("refused_by_broker", Counter()) + Counter(
        type(e).__name__ for e in refused
    )
    figures["codecs"] = figures.get("codecs", Counter()) + Counter(str(r.codec) for r in batch)
    figures["dead_letters"] = figures.get("dead_letters", 0) + len(dead_lettered)
    figures["cut_dead_letters"] = len(cut)
    figures["largest_dead_letter"] = max([figures.get("largest_dead_letter", 0)]
                                         + [record_size(d) for d in letters])  # fmt: skip
