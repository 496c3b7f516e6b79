"""Which aiokafka errors are the broker's or the client's, never a record's (for the crash guard).

:class:`streams.window.ports.ClientFailure`, implemented on aiokafka's error classes.
"""

from __future__ import annotations

from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

#: Kafka errors one record can cause (its size, its bytes); every other Kafka error is the
#: broker's or the client's (authorization, fencing, a closed producer, timeouts...).
RECORD_KAFKA_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException)


def is_client_failure(exc: BaseException, /) -> bool:
    """Whether ``exc`` is a Kafka error no record can cause."""
    return isinstance(exc, KafkaError) and not isinstance(exc, RECORD_KAFKA_ERRORS)
