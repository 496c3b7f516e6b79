"""Which failures the crash guard may blame on a record, and which always stop the worker:
the window's rule (:func:`streams.window.guard.is_infrastructure`) with the engine's aiokafka
classification (:func:`streams.engine.errors.is_client_failure`), as the worker wires them."""

from __future__ import annotations

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    ProducerClosed,
    TopicAuthorizationFailedError,
)

from streams.engine.errors import is_client_failure
from streams.errors import RetriesExhaustedError
from streams.window.guard import is_infrastructure
from tests.fakes import broker_error


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
        broker_error(KafkaTimeoutError()),
    ):
        assert is_infrastructure(exc, is_client_failure), exc


def test_bugs_and_record_dependent_kafka_errors_may_be_quarantined() -> None:
    for exc in (
        RuntimeError("a bug"),
        TypeError("cannot convert 'NoneType' object to bytes"),
        MessageSizeTooLargeError(),
        broker_error(MessageSizeTooLargeError()),
    ):
        assert not is_infrastructure(exc, is_client_failure), exc
