"""Hostile input never crashes the pipeline and always gets exactly one outcome.

In-process (hypothesis): arbitrary bytes, JSON of any shape, mutated changes, deep and huge JSON,
invalid UTF-8 and the 256/257-byte boundary go through ``decode`` -> ``window`` -> ``outcomes``;
every message must come out as exactly one outcome that validates against ``schemas.Outcome`` and
serializes, without an exception. Then a seeded sample goes through the broker and a real
worker: it must not crash, every message gets one outcome, and the unparseable ones (and the
oversized) land in dead letters byte for byte with intact headers.
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

from schemas import Outcome, OutcomeReason, OutcomeStatus
from streams.core import outcomes
from streams.core.coalesce import group_by_conversation, plan, resolve
from streams.core.dead_letters import SOURCE_HEADERS as DLQ_HEADERS
from streams.core.decode import decode
from streams.core.records import Change, Envelope, Forward, LastApplied, Position, Rejection
from streams.kafka_io import produce
from tests.fixtures.pipeline import PARTITIONS
from tests.reliability.conftest import HYPOTHESIS, MakePipeline
from tests.reliability.helpers import read_topic
from tests.reliability.hostile import (
    BOUNDARY_OK,
    BOUNDARY_TOO_LARGE,
    MAX_BYTES,
    broker_sample,
    hostile_messages,
    valid_doc,
)

TOPIC = "changes"
SKEW = timedelta(seconds=300)
DEAD_LETTER_REASONS = {OutcomeReason.UNPARSEABLE, OutcomeReason.TOO_LARGE}


def classify(envelope: Envelope, now: datetime) -> Change | Rejection | Forward:
    return decode(envelope, now=now, max_skew=SKEW, max_bytes=MAX_BYTES)


def run_core(
    messages: list[tuple[bytes | None, bytes | None, int]], *, remember_every: int = 3
) -> tuple[list[Envelope], list[dict[str, Any]], list[Rejection]]:
    """One window through the pure core as the worker runs it; SDK results are simulated.

    A forwarded message is decoded again as its copy on the right partition (what the worker
    does when the forward arrives). Every ``remember_every``-th change is pretended already
    applied, so duplicates and stale changes occur too; some winners "fail".
    """
    now = datetime.now(UTC)
    stamp = now.isoformat()
    envelopes = [
        Envelope(key, value, Position(TOPIC, partition, offset), PARTITIONS)
        for offset, (key, value, partition) in enumerate(messages)
    ]
    records: list[dict[str, Any]] = []
    dead: list[Rejection] = []
    changes: list[Change] = []
    for envelope in envelopes:
        item = classify(envelope, now)
        if isinstance(item, Forward):
            copy = Position(TOPIC, item.partition, 10**9 + envelope.position.offset)
            forwarded = Envelope(
                envelope.key, envelope.value, copy, PARTITIONS, origin=envelope.position
            )
            item = classify(forwarded, now)
            assert not isinstance(item, Forward), "a forwarded copy is never forwarded again"
        if isinstance(item, Change):
            changes.append(item)
        else:
            records.append(outcomes.for_rejection(item, stamp))
            if item.dead_letter:
                dead.append(item)
    last = {c.conversation: LastApplied.of(c) for c in changes[::remember_every]}
    resolution = resolve(group_by_conversation(changes), last)
    records += [outcomes.for_decision(d, stamp) for d in resolution.decided]
    for index, request in enumerate(plan(resolution.winners)):
        assert 1 <= len(request.changes) <= 100
        assert {c.change.user_id for c in request.changes} == {request.user_id}
        for change in request.changes:
            code = 50004 if index % 3 == 0 else 0
            records.append(
                outcomes.for_result(
                    change,
                    stamp,
                    code=code,
                    info="" if code == 0 else "injected",
                    request_id=str(index),
                    attempts=1 + index % 4,
                    reason=None if code == 0 else OutcomeReason.RETRIES_EXHAUSTED,
                )
            )
    return envelopes, records, dead


def check_one_outcome_each(
    envelopes: list[Envelope], records: list[dict[str, Any]], dead: list[Rejection]
) -> None:
    per_position = Counter((r["source"]["partition"], r["source"]["offset"]) for r in records)
    expected = Counter((e.position.partition, e.position.offset) for e in envelopes)
    assert per_position == expected, "exactly one outcome per message"
    for record in records:
        Outcome.model_validate(record)
        orjson.dumps(record)  # what the worker sends; a lone surrogate would raise here
    for rejection in dead:
        assert rejection.reason in DEAD_LETTER_REASONS
        rejection.info.encode()  # the dead letter's `error` header


@settings(parent=HYPOTHESIS)
@given(
    st.lists(
        st.tuples(
            st.none() | st.binary(max_size=16) | st.sampled_from([b"alice", b"bob", "é".encode()]),
            hostile_messages,
            st.integers(0, PARTITIONS - 1),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_core_gives_exactly_one_valid_outcome_per_hostile_message(
    messages: list[tuple[bytes | None, bytes | None, int]],
) -> None:
    envelopes, records, dead = run_core(messages)
    check_one_outcome_each(envelopes, records, dead)


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
