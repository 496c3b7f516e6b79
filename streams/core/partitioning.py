"""Kafka's default partitioner (murmur2 over the key), so the core routes without a Kafka client.

The Java client, aiokafka and this worker must agree on where a user's events live: a worker
detects a misrouted event by recomputing its partition, and sends outcomes by the same rule. A
test holds this to aiokafka's implementation, which it replaces here so :mod:`streams.core`
imports no Kafka client (the Faust boundary, ``streams.engine``, is the only code that does).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's MurmurHash2 of ``data`` (``org.apache.kafka.common.utils.Utils.murmur2``)."""
    length = len(data)
    h = _SEED ^ length
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length - whole
    if tail >= 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@lru_cache(maxsize=16_384)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, positive, mod N).

    Cached: every event and outcome of a user needs it, and murmur2 is pure Python.
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions
