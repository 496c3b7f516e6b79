"""What the cluster fault tests need to know of a three-node Apache Kafka, asked over its protocol.

* who leads each partition, its replicas and its in-sync replicas (Metadata);
* which node is the **active KRaft controller** (DescribeQuorum on ``__cluster_metadata``: the
  Metadata response's ``controller_id`` is a random live broker under KRaft, not the controller);
* which node coordinates a consumer group (FindCoordinator);
* topics created with their replicas placed by hand, so a test decides which node leads what.

aiokafka has no DescribeQuorum, so its request and response (KIP-595, version 0, flexible) are
declared here with aiokafka's own protocol types. Every call takes a fresh admin client and
retries across nodes until ``timeout_s``: right after a node is killed, metadata still names it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    CompactArray,
    CompactString,
    Int8,
    Int16,
    Int32,
    Int64,
    Schema,
    String,
)
from aiokafka.protocol.types import TaggedFields as Tags

from streams_devkit.broker import BrokerError
from tests.fixtures.guarantees import wait_for

T = TypeVar("T")

#: KRaft's metadata log: its Raft leader is the active controller.
METADATA_TOPIC = "__cluster_metadata"
#: The group coordinator's log, replicated like the application's topics.
OFFSETS_TOPIC = "__consumer_offsets"

#: One request's time limit: well above a loaded cluster's answer, well below a fault's.
ATTEMPT_S = 2.0

_REPLICA_STATE = CompactArray(("replica_id", Int32), ("log_end_offset", Int64), ("tags", Tags))


class DescribeQuorumResponse_v0(Response):  # type: ignore[misc] # aiokafka is untyped
    API_KEY = 55
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("error_code", Int16),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("high_watermark", Int64),
                        ("current_voters", _REPLICA_STATE),
                        ("observers", _REPLICA_STATE),
                        ("tags", Tags),
                    ),
                ),
                ("tags", Tags),
            ),
        ),
        ("tags", Tags),
    )


class DescribeQuorumRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 55
    API_VERSION = 0
    RESPONSE_TYPE = DescribeQuorumResponse_v0
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                ("partitions", CompactArray(("partition_index", Int32), ("tags", Tags))),
                ("tags", Tags),
            ),
        ),
        ("tags", Tags),
    )


class DescribeQuorumRequest(Request[DescribeQuorumRequest_v0]):  # type: ignore[misc]
    """The metadata quorum's state; a broker forwards it to the active controller."""

    API_KEY = 55

    def build(
        self, request_struct_class: type[DescribeQuorumRequest_v0]
    ) -> DescribeQuorumRequest_v0:
        return request_struct_class([(METADATA_TOPIC, [(0, {})], {})], {})


class ElectLeadersResponse_v1(Response):  # type: ignore[misc]
    API_KEY = 43
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "results",
            Array(
                ("topic", String("utf-8")),
                (
                    "partitions",
                    Array(
                        ("partition_id", Int32),
                        ("error_code", Int16),
                        ("error_message", String("utf-8")),
                    ),
                ),
            ),
        ),
    )


class ElectLeadersRequest_v1(RequestStruct):  # type: ignore[misc]
    API_KEY = 43
    API_VERSION = 1
    RESPONSE_TYPE = ElectLeadersResponse_v1
    SCHEMA = Schema(
        ("election_type", Int8),
        ("topic_partitions", Array(("topic", String("utf-8")), ("partitions", Array(Int32)))),
        ("timeout_ms", Int32),
    )


class ElectLeadersRequest(Request[ElectLeadersRequest_v1]):  # type: ignore[misc]
    """A preferred-leader election of every partition (a broker forwards it to the controller)."""

    API_KEY = 43

    def build(self, request_struct_class: type[ElectLeadersRequest_v1]) -> ElectLeadersRequest_v1:
        return request_struct_class(0, None, 30_000)  # 0: preferred; None: every partition


#: ElectLeaders answers for partitions whose preferred replica already leads.
_ELECTION_NOT_NEEDED = 84


@dataclass(frozen=True)
class PartitionState:
    """One partition as the metadata describes it (leader -1: none)."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def _with_admin(
    bootstrap: str, call: Callable[[AIOKafkaAdminClient], Awaitable[T]], timeout_s: float
) -> T:
    """``call(admin)`` with a fresh admin client, retried on Kafka errors until ``timeout_s``.

    Each attempt is bounded by ``ATTEMPT_S``: a frozen node (SIGSTOP) accepts connections and
    never answers, and the next attempt picks its nodes at random again.
    """
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(ATTEMPT_S * 1000)
        )
        try:
            async with asyncio.timeout(min(3 * ATTEMPT_S, max(0.5, deadline - time.monotonic()))):
                await admin.start()
                return await call(admin)
        except (KafkaError, OSError, TimeoutError, LookupError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
    raise AssertionError(f"Kafka at {bootstrap} did not answer in {timeout_s:g} s: {last!r}")


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str] | None) -> dict[Any, Any]:
    found: dict[tuple[str, int], PartitionState] = {}
    for topic in await admin.describe_topics(topics):
        if topic["error_code"] != 0:
            raise LookupError(f"{topic['topic']}: {for_code(topic['error_code']).__name__}")
        for part in topic["partitions"]:
            found[(topic["topic"], part["partition"])] = PartitionState(
                leader=part["leader"], replicas=tuple(part["replicas"]), isr=tuple(part["isr"])
            )
    return found


def partitions(
    bootstrap: str, topics: Sequence[str] | None = None, *, timeout_s: float = 30.0
) -> dict[tuple[str, int], PartitionState]:
    """``{(topic, partition): PartitionState}`` of ``topics`` (None: every topic)."""
    wanted = list(topics) if topics is not None else None
    return asyncio.run(_with_admin(bootstrap, lambda a: _partitions(a, wanted), timeout_s))


def leaders(bootstrap: str, topic: str, *, timeout_s: float = 30.0) -> dict[int, int]:
    """``{partition: leader node}`` of one topic."""
    found = partitions(bootstrap, [topic], timeout_s=timeout_s)
    return {p: state.leader for (_, p), state in sorted(found.items())}


async def _active_controller(admin: AIOKafkaAdminClient) -> int:
    response = await admin._send_request(DescribeQuorumRequest())
    if response.error_code != 0:
        raise LookupError(f"DescribeQuorum: {for_code(response.error_code).__name__}")
    [(_, [partition], _)] = response.topics
    _, error_code, leader_id, *_ = partition
    if error_code != 0 or leader_id < 0:
        raise LookupError(f"DescribeQuorum: error {error_code}, leader {leader_id}")
    return int(leader_id)


def active_controller(bootstrap: str, *, timeout_s: float = 30.0) -> int:
    """The node id of the active KRaft controller (the metadata quorum's leader)."""
    return asyncio.run(_with_admin(bootstrap, _active_controller, timeout_s))


def group_coordinator(bootstrap: str, group: str, *, timeout_s: float = 30.0) -> int:
    """The node coordinating consumer group ``group`` (the leader of its offsets partition)."""

    async def call(admin: AIOKafkaAdminClient) -> int:
        return int(await admin._client.coordinator_lookup(0, group))

    return asyncio.run(_with_admin(bootstrap, call, timeout_s))


def create_placed_topics(
    bootstrap: str, placement: Mapping[str, Sequence[Sequence[int]]], *, timeout_s: float = 30.0
) -> None:
    """Create topics with their replicas placed: ``{name: [[leader, follower, ...], ...]}``.

    The first replica of a partition is its preferred leader, which a fresh topic elects.
    """

    async def call(admin: AIOKafkaAdminClient) -> None:
        new = [
            NewTopic(name, -1, -1, replica_assignments=dict(enumerate(map(list, replicas))))
            for name, replicas in placement.items()
        ]
        response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
        for entry in response.topic_errors:
            if entry[1] != 0:
                raise BrokerError(f"creating {entry[0]!r}: {for_code(entry[1]).__name__}")

    asyncio.run(_with_admin(bootstrap, call, timeout_s))


def placement(partitions_: int, leaders_: Iterable[int], nodes: Sequence[int]) -> list[list[int]]:
    """Replica lists led by ``leaders_`` in turn, each followed by the other nodes."""
    cycle = list(leaders_)
    return [
        [lead, *(n for n in nodes if n != lead)]
        for lead in (cycle[p % len(cycle)] for p in range(partitions_))
    ]


def under_replicated(bootstrap: str, *, timeout_s: float = 30.0) -> list[str]:
    """Partitions of every topic whose ISR is not all of their replicas, or without a leader."""
    found = partitions(bootstrap, None, timeout_s=timeout_s)
    return [
        f"{topic}-{p}: leader {s.leader}, isr {list(s.isr)} of {list(s.replicas)}"
        for (topic, p), s in sorted(found.items())
        if s.leader < 0 or set(s.isr) != set(s.replicas)
    ]


def elect_preferred_leaders(bootstrap: str, *, timeout_s: float = 60.0) -> None:
    """Move every partition's leadership back to its first replica, and wait until it has.

    After a fault, leaders stay where the fault moved them (Kafka moves them back only after
    ``leader.imbalance.check.interval.seconds``, 5 minutes): the next test would start with one
    node leading every ``__consumer_offsets`` partition, and no group it could coordinate.
    """

    async def call(admin: AIOKafkaAdminClient) -> None:
        response = await admin._send_request(ElectLeadersRequest())
        if response.error_code != 0:
            raise LookupError(f"ElectLeaders: {for_code(response.error_code).__name__}")
        for topic, results in response.results:
            for partition, code, message in results:
                if code not in (0, _ELECTION_NOT_NEEDED):
                    raise LookupError(f"ElectLeaders {topic}-{partition}: {code} {message}")

    asyncio.run(_with_admin(bootstrap, call, timeout_s))

    def preferred() -> bool:
        found = partitions(bootstrap, None, timeout_s=timeout_s)
        return all(s.leader == s.replicas[0] for s in found.values())

    wait_for(preferred, timeout_s, "every partition led by its preferred replica again")
