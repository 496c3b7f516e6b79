"""Which failures the crash guard may blame on a record, and which always stop the worker."""

from __future__ import annotations

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    ProducerClosed,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError

from streams.guard import is_infrastructure
from streams.pipeline import RetriesExhaustedError


def wrapped(cause: BaseException) -> ProducerSendError:
    try:
        raise ProducerSendError("Error while sending") from cause
    except ProducerSendError as exc:
        return exc


def test_broker_producer_and_deliberate_stops_are_infrastructure() -> None:
    for exc in (
        RetriesExhaustedError("deadline"),
        KafkaTimeoutError(),
        KafkaConnectionError(),
        NotLeaderForPartitionError(),
        ConnectionResetError(),
        TimeoutError(),
        TopicAuthorizationFailedError(),
        ProducerClosed(),
        wrapped(KafkaTimeoutError()),
    ):
        assert is_infrastructure(exc), exc


def test_bugs_and_record_dependent_kafka_errors_may_be_quarantined() -> None:
    for exc in (
        RuntimeError("a bug"),
        TypeError("cannot convert 'NoneType' object to bytes"),
        MessageSizeTooLargeError(),
        wrapped(MessageSizeTooLargeError()),
    ):
        assert not is_infrastructure(exc), exc
