"""Hostile input never crashes the pipeline and always gets exactly one outcome.

In-process (hypothesis): arbitrary bytes, JSON of any shape, mutated changes, deep and huge JSON,
invalid UTF-8, hostile headers and the 256/257-byte boundary go through the real window processor
(replayed, and forwarded records fed back); every message must come out as exactly one outcome
that validates against ``streams.contract.Outcome``, without an exception. Then a seeded sample goes
through the broker and a real worker: it must not crash, every message gets one outcome, and the
unparseable ones (and the oversized) land in dead letters byte for byte with intact headers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contract import Outcome, OutcomeReason, OutcomeStatus
from streams.core import origin
from streams.core.dead_letters import SOURCE_HEADERS as DLQ_HEADERS
from streams.core.decode import decode
from streams.core.origin import derive_key
from streams.core.records import Change, Envelope, Forward, Position, Rejection
from streams.settings import Settings
from streams.window.processor import WindowProcessor
from streams_devkit.kafka_io import produce
from tests.fakes import RecordingSink, RecordingTopics, ScriptedApplier, Table, message_event
from tests.fixtures.guarantees import read_topic
from tests.fixtures.pipeline import PARTITIONS, MakePipeline
from tests.fixtures.properties import HYPOTHESIS
from tests.reliability.hostile import (
    BOUNDARY_OK,
    BOUNDARY_TOO_LARGE,
    MAX_BYTES,
    broker_sample,
    hostile_messages,
    valid_doc,
)

#: The window signs its forwards for the changes topic it is configured with, and reads them
#: back from that topic (a forward signed for another topic is forged).
TOPIC = Settings().changes_topic
SKEW = timedelta(seconds=300)
DEAD_LETTER_REASONS = {"unparseable", "too_large", "misrouted", "internal_error"}
ORIGIN_KEY = derive_key(b"hostile-input")
DEAD_LETTER_BYTES = Settings().dead_letter_max_bytes


def classify(envelope: Envelope, now: datetime) -> Change | Rejection | Forward:
    return decode(envelope, now=now, max_skew=SKEW, max_bytes=MAX_BYTES)


Message = tuple[bytes | None, bytes | None, int, list[tuple[str, bytes | None]]]


def run_windows(
    messages: list[Message],
) -> tuple[list[tuple[int, int]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages through the real window processor, in-process, as three windows.

    The first window holds the messages; the second the same records again at new offsets
    (replays: duplicates and stale changes); the third every record the first two forwarded,
    on the partition they were forwarded to, with the signed origin headers the worker wrote.
    SDK answers are scripted: every third request fails with a retryable code (50004).
    Returns the published positions, the outcome documents and the dead letters.
    """

    async def main() -> tuple[list[tuple[int, int]], list[dict[str, Any]], list[dict[str, Any]]]:
        topics, sink = RecordingTopics(), RecordingSink()
        processor = WindowProcessor(
            Settings(), topics.sinks(sink), Table(),
            ScriptedApplier(lambda i: 50004 if i % 3 == 0 else 0), owns=lambda p: True,
            partitions=lambda: PARTITIONS, set_current_event=lambda e: None, origin_key=ORIGIN_KEY,
        )  # fmt: skip
        count = len(messages)
        first = [message_event(TOPIC, p, o, k, v, h) for o, (k, v, p, h) in enumerate(messages)]
        again = [
            message_event(TOPIC, p, count + o, k, v, h) for o, (k, v, p, h) in enumerate(messages)
        ]
        await processor.process(first)
        await processor.process(again)
        forwards = list(topics.changes.sent)
        arrived = [
            message_event(TOPIC, f["partition"], 10**9 + i, f["key"], f["value"], f["headers"])
            for i, f in enumerate(forwards)
        ]
        await processor.process(arrived)
        assert topics.changes.sent == forwards, "a forwarded record is never forwarded again"
        positions = [(e.message.partition, e.message.offset) for e in first + again]
        return positions, sink.outcomes, topics.dead_letters.sent

    return asyncio.run(main())


def check_one_outcome_each(
    positions: list[tuple[int, int]], records: list[dict[str, Any]], dead: list[dict[str, Any]]
) -> None:
    per_position = Counter((r["source"]["partition"], r["source"]["offset"]) for r in records)
    assert per_position == Counter(positions), "exactly one outcome per message"
    for record in records:
        Outcome.model_validate(record)
    reasons = {(r["source"]["partition"], r["source"]["offset"]): r["reason"] for r in records}
    for letter in dead:
        headers = dict(letter["headers"])
        source = (int(headers["source-partition"]), int(headers["source-offset"]))
        assert reasons[source] in DEAD_LETTER_REASONS, (source, reasons[source])
        size = len(letter["key"] or b"") + len(letter["value"] or b"")
        assert size + sum(len(n) + len(v) for n, v in letter["headers"]) <= DEAD_LETTER_BYTES


@settings(parent=HYPOTHESIS)
@given(
    st.lists(
        st.tuples(
            st.none() | st.binary(max_size=16) | st.sampled_from([b"alice", b"bob", "é".encode()]),
            hostile_messages,
            st.integers(0, PARTITIONS - 1),
            # Headers as received: origin ones forged, null, repeated or not UTF-8.
            st.lists(
                st.tuples(st.sampled_from([*origin.NAMES, "x"]), st.none() | st.binary(max_size=8)),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_window_gives_exactly_one_valid_outcome_per_hostile_message(
    messages: list[Message],
) -> None:
    check_one_outcome_each(*run_windows(messages))


def boundary_envelope(custom_data: str) -> Envelope:
    value = orjson.dumps(valid_doc(1, custom_data=custom_data))
    return Envelope(b"alice", value, Position(TOPIC, 0, 0), 1)


@pytest.mark.parametrize("value", BOUNDARY_OK)
def test_custom_data_of_256_utf8_bytes_is_accepted(value: str) -> None:
    envelope = boundary_envelope(value)
    assert isinstance(classify(envelope, datetime.now(UTC)), Change)


@pytest.mark.parametrize("value", BOUNDARY_TOO_LARGE)
def test_custom_data_over_256_utf8_bytes_is_rejected(value: str) -> None:
    envelope = boundary_envelope(value)
    result = classify(envelope, datetime.now(UTC))
    assert isinstance(result, Rejection) and not result.dead_letter, result
    assert result.event_id == "h-1" and "custom_data" in result.info
    assert result.reason is OutcomeReason.TOO_LARGE


def test_hostile_sample_through_the_broker(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, emulator = reliable_pipeline()
    pipe.start_worker()
    sample = broker_sample(seed=7, count=150)
    positions = asyncio.run(produce(pipe.bootstrap, pipe.changes, sample))
    sent = dict(zip(positions, sample, strict=True))
    now = datetime.now(UTC)
    expected: dict[tuple[int, int], Change | Rejection | Forward] = {}
    for (partition, offset), (key, value) in sent.items():
        envelope = Envelope(key, value, Position(pipe.changes, partition, offset), PARTITIONS)
        expected[(partition, offset)] = classify(envelope, now)

    docs = [
        orjson.loads(r.value)
        for r in read_topic(
            pipe.bootstrap,
            pipe.outcomes,
            lambda rs: len(rs) >= len(sent),
            timeout_s=90,
        )
    ]
    wanted_dead = {p for p, e in expected.items() if isinstance(e, Rejection) and e.dead_letter}
    dead = read_topic(pipe.bootstrap, pipe.dead_letters, lambda rs: len(rs) >= len(wanted_dead))

    per_position = Counter((d["source"]["partition"], d["source"]["offset"]) for d in docs)
    assert per_position == Counter(list(sent)), "exactly one outcome per message, nothing else"
    for doc in docs:
        Outcome.model_validate(doc)
        position = (doc["source"]["partition"], doc["source"]["offset"])
        assert doc["source"]["topic"] == pipe.changes
        predicted = expected[position]
        if isinstance(predicted, Rejection):
            assert (doc["status"], doc["reason"]) == ("rejected", predicted.reason.value), doc
            assert doc["info"] == predicted.info
        else:
            assert doc["status"] in {s.value for s in OutcomeStatus} - {"rejected"}, doc

    assert len(dead) == len(wanted_dead)
    for record in dead:
        headers = {name: value.decode() for name, value in record.headers}
        assert set(headers) == set(DLQ_HEADERS)
        assert headers["source-topic"] == pipe.changes
        position = (int(headers["source-partition"]), int(headers["source-offset"]))
        assert position in wanted_dead
        key, value = sent[position]
        assert (record.key, record.value) == (key, value), "dead letter is byte for byte"
        rejection = expected[position]
        assert isinstance(rejection, Rejection) and headers["error"] == rejection.info
    assert pipe.workers[0].poll() is None, "the worker survived the sample"
    log = pipe.worker_log(0)
    assert "Traceback" not in log and "Crashed" not in log, log[-3000:]
    statuses = Counter(d["status"] for d in docs)
    reasons = Counter(d["reason"] for d in docs if d["status"] == "rejected")
    figures |= {
        "messages": len(sent),
        "outcomes": len(docs),
        "statuses": dict(sorted(statuses.items())),
        "rejected_reasons": dict(sorted(reasons.items())),
        "dead_letters": len(dead),
        "forwarded": sum(isinstance(e, Forward) for e in expected.values()),
        "emulator_writes": len(emulator.writes()),
    }
