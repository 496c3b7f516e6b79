"""The client for both user groups: publish changes, read outcomes (deduplicated).

``Publisher`` validates changes with the worker's own models and partitions them by murmur2 of
the ``user_id`` key, as the worker expects; ``OutcomeReader`` reads the outcomes topic in a
consumer group and yields each event's authoritative outcome once. Both connect with the same
``STREAMS_BROKER*`` settings (TLS, SASL) as the worker.
"""

from streams.client.connection import BrokerSettings, SecurityProtocol
from streams.client.publisher import InvalidChangeError, Published, Publisher
from streams.client.reader import OutcomeReader, ReceivedOutcome

__all__ = [
    "BrokerSettings",
    "InvalidChangeError",
    "OutcomeReader",
    "Published",
    "Publisher",
    "ReceivedOutcome",
    "SecurityProtocol",
]
