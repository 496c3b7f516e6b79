"""Decoding raw bytes: every input becomes exactly one Change, Rejection or Forward."""

from datetime import UTC, datetime

import pytest

from streams.contract import OutcomeReason
from streams.core.decode import MAX_KEY_BYTES, micros
from streams.core.partitioning import partition_for
from streams.core.records import Change, Envelope, Forward, Position, Rejection
from tests.fixtures.changes import MAX_BYTES, PARTITIONS, change_doc, classify, envelope, home


def rejection(value: bytes | None) -> Rejection:
    result = classify(envelope(value, 0))
    assert isinstance(result, Rejection)
    return result


def test_valid_change_gets_its_order_key() -> None:
    result = classify(envelope(change_doc("e1", version=7), 42))
    assert isinstance(result, Change)
    at = datetime(2026, 11, 25, 11, 59, tzinfo=UTC)
    assert result.order == (7, int(at.timestamp()) * 1_000_000, 42)
    assert result.conversation == "alice/c2c_bob"


def test_missing_version_orders_below_any_version() -> None:
    result = classify(envelope(change_doc("e1"), 1))
    assert isinstance(result, Change) and result.order[0] == -1


def test_micros_is_exact_across_offsets() -> None:
    a = datetime.fromisoformat("2026-11-25T10:00:00.000001+08:00")
    assert micros(a) == micros(datetime(2026, 11, 25, 2, 0, 0, 1, tzinfo=UTC))
    assert micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0


@pytest.mark.parametrize(
    "value",
    [b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"42", b"", b"{" * 5000, b"null"],
)
def test_unparseable_goes_to_dead_letters(value: bytes) -> None:
    result = rejection(value)
    assert result.reason is OutcomeReason.UNPARSEABLE and result.dead_letter
    assert result.event_id is None


def test_missing_value_is_unparseable() -> None:
    assert rejection(None).reason is OutcomeReason.UNPARSEABLE


def test_oversized_message_rejected_before_parsing() -> None:
    result = rejection(b"{" + b" " * MAX_BYTES + b"}")
    assert result.reason is OutcomeReason.TOO_LARGE and result.dead_letter
    assert str(MAX_BYTES) in result.info


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (change_doc("e", data="é" * 128 + "x"), OutcomeReason.TOO_LARGE),
        (change_doc("e", data="x" * 257), OutcomeReason.TOO_LARGE),
        (change_doc("e", conv="c2c_"), OutcomeReason.BAD_CONVERSATION_ID),
        (change_doc("e", conv="dm_bob"), OutcomeReason.BAD_CONVERSATION_ID),
        (change_doc("e", version="3"), OutcomeReason.SCHEMA),
        (change_doc("e", at="2026-11-25T11:00:00"), OutcomeReason.SCHEMA),
        (b'{"event_id": "e"}', OutcomeReason.SCHEMA),
        (change_doc("e", data=7), OutcomeReason.SCHEMA),
    ],
)
def test_invalid_changes_are_rejected_with_reason(doc: bytes, reason: OutcomeReason) -> None:
    result = rejection(doc)
    assert result.reason is reason and not result.dead_letter
    assert result.event_id == "e"


def test_clock_skew_is_rejected_but_within_skew_is_fine() -> None:
    late = rejection(change_doc("e", at="2026-11-25T12:05:01Z"))
    assert late.reason is OutcomeReason.CLOCK_SKEW and late.conversation_id == "c2c_bob"
    assert isinstance(classify(envelope(change_doc("e", at="2026-11-25T12:05:00Z"), 0)), Change)


def test_partition_for_matches_kafka_default_partitioner() -> None:
    # Known murmur2 partitions from the Java client for these keys with 4 partitions.
    from aiokafka.partitioner import DefaultPartitioner

    for key in (b"alice", b"bob", b"user-123", "é".encode()):
        expected = DefaultPartitioner()(key, list(range(PARTITIONS)), list(range(PARTITIONS)))
        assert partition_for(key, PARTITIONS) == expected


def test_misrouted_event_is_forwarded_once() -> None:
    wrong = (home("alice") + 1) % PARTITIONS
    result = classify(envelope(change_doc("e"), 5, partition=wrong))
    assert isinstance(result, Forward) and result.partition == home("alice")
    original = Position("changes", wrong, 5)
    at_home = Position("changes", home("alice"), 9)
    arrived = classify(Envelope(b"alice", change_doc("e"), at_home, 4, original))
    assert isinstance(arrived, Change) and arrived.envelope.source == original
    # Still misrouted although a worker forwarded it (the partition count changed): rejected
    # and dead-lettered, never forwarded a second time.
    still_wrong = Position("changes", wrong, 9)
    again = classify(Envelope(b"alice", change_doc("e"), still_wrong, 4, original))
    assert isinstance(again, Rejection) and again.reason is OutcomeReason.MISROUTED
    assert again.dead_letter and again.envelope.source == original


def test_an_oversized_key_is_rejected_before_parsing() -> None:
    ok = classify(
        Envelope(b"a" * MAX_KEY_BYTES, change_doc("e"), Position("c", home("alice"), 1), 4)
    )
    assert not isinstance(ok, Rejection) or ok.reason is not OutcomeReason.TOO_LARGE
    big = classify(Envelope(b"a" * (MAX_KEY_BYTES + 1), b"{", Position("c", 0, 1), 4))
    assert isinstance(big, Rejection) and big.reason is OutcomeReason.TOO_LARGE
    assert big.dead_letter and "key is 1025 bytes" in big.info
