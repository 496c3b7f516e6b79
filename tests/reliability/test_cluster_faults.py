"""Faults only a real cluster has: three Apache Kafka nodes, replication 3, min.insync.replicas 2.

Each test runs two real workers (production ``kafka://`` transport) on topics of its own, all
created with replication factor 3 (as ``k8s/base/kafkatopics.yaml``, Faust's internal topics
included) and their leaders placed on purpose, while a background publisher writes rounds of
changes; then it injects one fault into the cluster:

1. SIGKILL of the node leading half the changes partitions (and nothing else of the test's,
   neither controller nor group coordinator), restarted;
2. the same for the node leading half the outcomes partitions;
3. the node coordinating the workers' group, leading a third of everything, stopped (SIGTERM)
   for ``DOWN_S``, then started again;
4. two nodes killed at once (every partition below ``min.insync.replicas``, and the KRaft quorum
   lost): the workers wait, commit nothing past an undelivered outcome and their liveness probe
   stays 200 past its threshold; they go on once one node returns (the other stays down);
5. the active KRaft controller killed (a node leading nothing of the test's), restarted;

and, in the soak run only (``--soak``), the leader of outcomes partitions frozen (SIGSTOP) for a
minute.

Every test checks what the stream tests check (``tests/fixtures/guarantees.py``: no event
lost, no write moving a conversation backwards, the IM state last-write-wins over everything
published) and, all along the fault, two things from outside the workers: a commit watch
(the group's committed offsets, read every second, never pass a changes position whose outcome
is not in the outcomes topic) and the liveness probe of each worker (``/healthz`` answers 200 in
every sample). Both workers must still be the processes started at the beginning.

The cluster is one per module (a JVM quorum takes ~20 s to start); each test starts with every
node running, every partition in sync and led by its preferred replica. Fault 4 runs last: it
ends with a node down, which only the next test would have to wait for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams_devkit.broker import create_topics, free_port
from streams_devkit.kafka import KafkaCluster
from tests.fixtures.broker import running
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.guarantees import (
    FAST,
    UNLIMITED,
    Doc,
    Publisher,
    Workload,
    last_processed,
    longest_gap,
    owned,
    stalls,
    verify,
    wait_for,
)
from tests.fixtures.pipeline import PARTITIONS, Pipeline
from tests.reliability import cluster as meta

NODES = (1, 2, 3)
#: Users of each test's workload (x 10 conversations: 230 events a round, two rounds a
#: second): light enough that three JVMs, two workers and the checks share two cores.
USERS = 20
#: Replication of every topic the workers use (as k8s/base/kafkatopics.yaml).
REPLICAS = 3
#: How long the stopped node of fault 3 stays down: a minute, past every timer it could cross --
#: the workers' group session (30 s), the producer's request timeout (30 s), Kafka's
#: replica.lag.time.max.ms (30 s) and broker session (9 s).
DOWN_S = 60.0
#: How long the soak variant freezes a leader (SIGSTOP): a minute, twice the request timeout.
FREEZE_S = 60.0
#: How long fault 4 keeps two nodes down: past the liveness threshold below and the worker's
#: producer request timeout (30 s, streams.engine.app).
OUTAGE_S = 35.0
#: Fault 4's liveness threshold, shortened from 120 s so that the outage outlasts it (the
#: settings require it to exceed the SDK retry deadline + 5 s, hence the short deadline).
SHORT_LIVENESS = {"STREAMS_SDK_RETRY_DEADLINE_S": "2", "STREAMS_LIVENESS_STALL_S": "8"}
#: Fault 4's IM answers take this long and its workers send one request at a time, so windows
#: spend most of their time in requests, sending outcomes as they become final: the outage
#: catches a window with several batches for one partition (the second waits for the first).
IM_LATENCY_MS = 150
SEQUENTIAL = {"STREAMS_SDK_CONCURRENCY": "1"}


# -- the cluster ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    """Three combined KRaft nodes (replication 3, min.insync.replicas 2) for this module."""
    with running(KafkaCluster(nodes=3)) as kafka:
        yield kafka


def restore(kafka: KafkaCluster) -> None:
    """Start every stopped node; wait until every partition of every topic is fully in sync and
    led by its preferred replica again (leaders balanced over the nodes, as at the start)."""
    for node in kafka.nodes:
        if not node.is_running():
            kafka.start_node(node.node_id)
    kafka.check_alive()
    lagging: list[str] = []

    def in_sync() -> bool:
        lagging[:] = meta.under_replicated(kafka.bootstrap)
        return not lagging

    try:
        wait_for(in_sync, 120, "every partition in sync again")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; lagging: {lagging[:5]}") from None
    meta.elect_preferred_leaders(kafka.bootstrap)


@pytest.fixture
def kafka(cluster: KafkaCluster) -> KafkaCluster:
    """The module's cluster, whole, in sync and balanced before the test (what a fault left is
    repaired before the next test, not after the last: the module's teardown stops it all)."""
    restore(cluster)
    return cluster


# -- topics placed on purpose -----------------------------------------------------------------


def internal_topics(app_id: str) -> dict[str, int]:
    """Faust's own topics of a worker (k8s/base/kafkatopics.yaml creates them in production)."""
    return {
        f"{app_id}-last-applied-changelog": PARTITIONS,
        f"{app_id}-window-crashes-changelog": PARTITIONS,
        f"{app_id}-__assignor-__leader": 1,
    }


def prefix_where(bootstrap: str, coordinated_by: Callable[[int], bool]) -> str:
    """A fresh topic prefix whose consumer group (``<prefix>app``) has a coordinator we want.

    The group coordinator is the leader of the group's ``__consumer_offsets`` partition, chosen
    by a hash of the group id: trying a few ids decides which node coordinates the workers.
    """
    for _ in range(60):
        prefix = f"t{uuid.uuid4().hex[:8]}-"
        if coordinated_by(meta.group_coordinator(bootstrap, f"{prefix}app")):
            return prefix
    raise AssertionError("no group id found with the wanted coordinator in 60 tries")


@dataclass
class Placed:
    """A test's pipeline on the cluster: topics, workers, their probe ports, the emulator."""

    pipe: Pipeline
    emulator: RunningEmulator
    roles: dict[str, Any]
    ports: list[int] = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"{self.pipe.prefix}app"

    def start_workers(self) -> None:
        """Two workers, each with its probe port; returns once they share the partitions."""
        for _ in range(2):
            self.ports.append(free_port())
            self.pipe.start_worker(STREAMS_WEB_PORT=str(self.ports[-1]))
        pipe = self.pipe
        wait_for(
            lambda: (
                bool(owned(pipe, 0))
                and bool(owned(pipe, 1))
                and (owned(pipe, 0) or 0) + (owned(pipe, 1) or 0) == PARTITIONS
            ),
            90,
            "both workers to share the partitions",
        )


MakePlaced = Callable[..., Placed]


@pytest.fixture
def placed(
    kafka: KafkaCluster, emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> Iterator[MakePlaced]:
    """``make(leaders={role: nodes}, coordinator=pred, worker_env=...)`` -> :class:`Placed`.

    ``leaders`` names the nodes that lead, in turn, the partitions of each role: ``changes``,
    ``outcomes`` and ``other`` (dead letters and Faust's internal topics); each partition's
    followers are the other two nodes. Workers are stopped when the test ends.
    """
    made: list[Placed] = []

    def make(
        *,
        leaders: dict[str, Sequence[int]],
        coordinator: Callable[[int], bool],
        worker_env: dict[str, str] | None = None,
        **knobs: Any,
    ) -> Placed:
        prefix = prefix_where(kafka.bootstrap, coordinator)
        emulator = emulator_factory(**(UNLIMITED | knobs))
        pipe = Pipeline(kafka.bootstrap, prefix, emulator.url, tmp_path)
        # Topics exist up front with replication 3, as in production, where the worker may not
        # create topics (Faust would create its internal ones with its default replication, 1).
        pipe.env_overrides.update(FAST | {"STREAMS_TOPIC_ALLOW_DECLARE": "false"})
        pipe.env_overrides.update(worker_env or {})
        app_id = f"{prefix}app"
        layout = {
            pipe.changes: meta.placement(PARTITIONS, leaders["changes"], NODES),
            pipe.outcomes: meta.placement(PARTITIONS, leaders["outcomes"], NODES),
            pipe.dead_letters: meta.placement(PARTITIONS, leaders["other"], NODES),
        }
        for name, count in internal_topics(app_id).items():
            layout[name] = meta.placement(count, leaders["other"], NODES)
        meta.create_placed_topics(kafka.bootstrap, layout)
        found = meta.partitions(kafka.bootstrap, list(layout))
        assert all(len(s.replicas) == REPLICAS for s in found.values()), found
        roles = {
            "controller": meta.active_controller(kafka.bootstrap),
            "group_coordinator": meta.group_coordinator(kafka.bootstrap, app_id),
            "changes_leaders": list(meta.leaders(kafka.bootstrap, pipe.changes).values()),
            "outcomes_leaders": list(meta.leaders(kafka.bootstrap, pipe.outcomes).values()),
        }
        placed_ = Placed(pipe, emulator, roles)
        made.append(placed_)
        return placed_

    yield make
    for item in made:
        item.pipe.stop()


def test_create_topics_takes_a_replication_factor(kafka: KafkaCluster) -> None:
    """``streams_devkit.broker.create_topics(..., replication_factor=3)`` on three nodes."""
    name = f"t{uuid.uuid4().hex[:8]}-replicated"
    assert asyncio.run(create_topics(kafka.bootstrap, {name: 2}, replication_factor=3)) == {
        name: True
    }
    found = meta.partitions(kafka.bootstrap, [name])
    assert sorted(len(s.replicas) for s in found.values()) == [3, 3], found


# -- what runs alongside a fault --------------------------------------------------------------


class Rounds(Sequence[Sequence[Doc]]):
    """The workload's rounds, generated as they are published, until :meth:`stop`."""

    def __init__(self, work: Workload) -> None:
        self._work = work
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[Sequence[Doc]]:
        r = 0
        while not self._stopped.is_set():
            yield self._work.round(r)
            r += 1

    def __len__(self) -> int:  # the publisher only iterates
        raise TypeError("open-ended")

    def __getitem__(self, index: Any) -> Any:
        return self._work.round(index)


class ClusterPublisher(Publisher):
    """The stream tests' publisher with an **idempotent** producer, until stopped.

    A producer that retries a batch after a leader failover may write it twice (the first
    attempt landed, its answer was lost): the copy would be a published record the publisher
    never saw acknowledged. Idempotence lets the broker drop the copy, and aiokafka then retries
    a batch until it is delivered (it never expires an idempotent batch).
    """

    def __init__(self, bootstrap: str, topic: str, work: Workload, interval_s: float) -> None:
        self.rounds = Rounds(work)
        super().__init__(bootstrap, topic, self.rounds, interval_s)

    def stop_after(self, count: int) -> None:
        """Stop once ``count`` rounds are published."""
        self.wait_round(count, timeout_s=120)
        self.rounds.stop()

    #: A send waits for room while a partition's batches wait for a leader, for at most the
    #: request timeout: longer than fault 4's outage and the restart after it.
    producer_options: ClassVar[dict[str, Any]] = {
        "acks": "all",
        "linger_ms": 5,
        "enable_idempotence": True,
        "request_timeout_ms": 120_000,
    }


class CommitWatch(threading.Thread):
    """Every second: the group's committed offsets, then every outcome delivered so far.

    At least once means no committed changes offset may pass a position whose outcome is not
    in the outcomes topic. The outcomes are read up to the end offsets asked *after* the
    commit was read, so an outcome delivered before that commit is always among them.
    Samples that cannot be taken (the group's coordinator or a partition's leader down) are
    counted, not judged; so are those before the group's first commit.
    """

    def __init__(self, bootstrap: str, group: str, changes: str, outcomes: str) -> None:
        super().__init__(name="commit-watch", daemon=True)
        self._servers, self._group = bootstrap, group
        self._changes, self._outcomes = changes, outcomes
        self._halt = threading.Event()
        self.seen: set[tuple[int, int]] = set()
        self.samples = 0
        self.unavailable = 0
        self.highest: dict[int, int] = {}
        self.latest: dict[int, int] = {}
        self.violations: list[tuple[int, int, int]] = []  # (partition, committed, missing)
        self.error: BaseException | None = None

    def stop(self) -> dict[str, Any]:
        self._halt.set()
        self.join(30)
        assert not self.is_alive(), "the commit watch did not stop"
        if self.error is not None:
            raise AssertionError(f"commit watch failed: {self.error!r}") from self.error
        return {
            "commit_samples": self.samples,
            "commit_samples_unavailable": self.unavailable,
            "committed_offsets": [self.highest.get(p) for p in range(PARTITIONS)],
            "committed_without_outcome": len(self.violations),
        }

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc

    async def _main(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._servers, request_timeout_ms=5000)
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            enable_auto_commit=False,
            request_timeout_ms=5000,
            fetch_max_wait_ms=100,
        )
        await admin.start()
        await reader.start()
        tps = [TopicPartition(self._outcomes, p) for p in range(PARTITIONS)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        try:
            while not self._halt.is_set():
                try:
                    async with asyncio.timeout(8):
                        await self._sample(admin, reader, tps)
                except Exception:  # the coordinator or a leader is down: no sample
                    self.unavailable += 1
                await asyncio.sleep(1.0)
        finally:
            await reader.stop()
            await admin.close()

    async def _sample(
        self, admin: AIOKafkaAdminClient, reader: AIOKafkaConsumer, tps: list[TopicPartition]
    ) -> None:
        offsets = await admin.list_consumer_group_offsets(self._group)
        committed = {
            tp.partition: meta_.offset
            for tp, meta_ in offsets.items()
            if tp.topic == self._changes and meta_.offset >= 0
        }
        ends = await reader.end_offsets(tps)
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            for records in (await reader.getmany(timeout_ms=500)).values():
                for record in records:
                    source = orjson.loads(record.value)["source"]
                    self.seen.add((source["partition"], source["offset"]))
        for partition, offset in committed.items():
            missing = sum(1 for o in range(offset) if (partition, o) not in self.seen)
            if missing:
                self.violations.append((partition, offset, missing))
            self.highest[partition] = max(offset, self.highest.get(partition, 0))
        if committed:  # a sample before the group's first commit judges nothing
            self.latest = committed
            self.samples += 1


class Probes(threading.Thread):
    """Samples each worker's ``/healthz`` twice a second (what the kubelet's probe would see)."""

    def __init__(self, ports: Sequence[int]) -> None:
        super().__init__(name="probes", daemon=True)
        self._ports = list(ports)
        self._halt = threading.Event()
        self.samples: list[tuple[float, int, int, str]] = []  # (time, worker, status, body)

    @staticmethod
    def healthz(port: int) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, repr(exc)

    def run(self) -> None:
        while not self._halt.is_set():
            for worker, port in enumerate(self._ports):
                self.samples.append((time.time(), worker, *self.healthz(port)))
            self._halt.wait(0.5)

    def stop(self) -> list[tuple[float, int, int, str]]:
        self._halt.set()
        self.join(30)
        return self.samples

    def failures(self, start: float, end: float) -> list[tuple[float, int, int, str]]:
        return [s for s in self.samples if start <= s[0] <= end and s[2] != 200]


@dataclass
class Stream:
    """What runs alongside a fault: the publisher, the commit watch and the probes."""

    placed: Placed
    work: Workload
    publisher: ClusterPublisher
    watch: CommitWatch
    probes: Probes
    started: float

    def round_now(self) -> int:
        return self.publisher.done_rounds


def start_stream(placed: Placed, *, users: int, interval_s: float) -> Stream:
    pipe = placed.pipe
    placed.start_workers()
    assert all(Probes.healthz(port)[0] == 200 for port in placed.ports)
    work = Workload(tag=pipe.prefix, users=users, conversations=10)
    watch = CommitWatch(pipe.bootstrap, placed.group, pipe.changes, pipe.outcomes)
    probes = Probes(placed.ports)
    publisher = ClusterPublisher(pipe.bootstrap, pipe.changes, work, interval_s)
    started = time.time()
    watch.start()
    probes.start()
    publisher.start()
    publisher.wait_round(2)
    wait_for(lambda: placed.emulator.stats()["items_applied"] > 0, 60, "the first writes")
    return Stream(placed, work, publisher, watch, probes, started)


def finish(stream: Stream, figures: dict[str, Any], faults: Sequence[float]) -> None:
    """Stop publishing, check everything, record the figures; fail on any broken guarantee."""
    placed, pipe = stream.placed, stream.placed.pipe
    stream.publisher.stop_after(stream.round_now() + 2)
    outcomes = verify(pipe, placed.emulator, stream.work, stream.publisher, figures)
    # A batch the producer wrote twice (sent again after its answer was lost) leaves
    # byte-identical outcome records; an event processed twice gets a new processed_at.
    copies = Counter(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) for doc in outcomes)
    figures["outcome_records_written_twice"] = sum(n - 1 for n in copies.values())
    # Everything was processed: the workers must commit every partition to its end (a
    # partition whose commit never moves would be read again from its start after a crash).
    ends: dict[int, int] = {}
    for partition, offset in stream.publisher.published:
        ends[partition] = max(offset + 1, ends.get(partition, 0))
    try:
        figures["all_committed_after_s"] = round(
            wait_for(lambda: stream.watch.latest == ends, 30, "every partition committed"), 2
        )
    except AssertionError:
        figures["all_committed_after_s"] = None
    figures |= stream.watch.stop()
    figures["end_offsets"] = [ends.get(p) for p in range(PARTITIONS)]
    samples = stream.probes.stop()
    end = time.time()
    figures |= {
        "rounds": stream.publisher.done_rounds,
        "events_per_round": stream.work.per_round,
        "healthz_samples": len(samples),
        "healthz_not_200": len(stream.probes.failures(stream.started, end)),
        "time_to_recover_s": [
            max(stalls(outcomes, after=t).values(), default=None) for t in faults
        ],
        "longest_partition_stall_s": longest_gap(
            outcomes, stream.started, last_processed(outcomes)
        ),
        "wall_s": round(end - stream.started, 1),
    }
    problems: list[str] = []
    if figures["outcome_records_written_twice"]:
        problems.append(f"{figures['outcome_records_written_twice']} outcome records written twice")
    if stream.watch.violations:
        problems.append(f"committed past undelivered outcomes: {stream.watch.violations[:3]}")
    if figures["commit_samples"] < 3:
        problems.append("the commit watch judged fewer than 3 samples")
    if figures["all_committed_after_s"] is None:
        problems.append(
            f"not every partition was committed to its end within 30 s after the last "
            f"outcome: committed {stream.watch.latest}, ends {ends}"
        )
    bad = stream.probes.failures(stream.started, end)
    if bad:
        problems.append(f"/healthz was not 200 in {len(bad)} samples, e.g. {bad[:3]}")
    dead = [i for i, proc in enumerate(pipe.workers) if proc.poll() is not None]
    if dead or len(pipe.workers) != 2:
        tails = [pipe.worker_log(i)[-3000:] for i in dead]
        problems.append(f"workers {dead} exited (of {len(pipe.workers)} started): {tails}")
    problems += [
        f"worker {i} failed liveness" for i in range(2) if "liveness fails" in pipe.worker_log(i)
    ]
    assert not problems, "\n".join(problems)


def others(*nodes: int) -> list[int]:
    return [n for n in NODES if n not in nodes]


def wait_leaders_move(bootstrap: str, topic: str, away_from: int) -> float:
    """Seconds until every partition of ``topic`` has a leader other than ``away_from``."""

    def moved() -> bool:
        leaders = set(meta.leaders(bootstrap, topic, timeout_s=30).values())
        return not leaders & {away_from, -1}

    return wait_for(moved, 90, f"{topic}'s partitions led by another node than {away_from}")


def wait_in_sync(kafka: KafkaCluster, topics: Sequence[str], node: int) -> float:
    def back() -> bool:
        found = meta.partitions(kafka.bootstrap, list(topics), timeout_s=30)
        return all(node in s.isr for s in found.values())

    return wait_for(back, 120, f"node {node} back in sync on {list(topics)}")


def topics_of(placed: Placed) -> list[str]:
    pipe = placed.pipe
    return [pipe.changes, pipe.outcomes, pipe.dead_letters, *internal_topics(placed.group)]


# -- the faults ---------------------------------------------------------------------------------


def restart(kafka: KafkaCluster, run: Any, victim: int) -> dict[str, Any]:
    """Start the victim node again; its figures: how long the restart took, and until it was
    back in sync on the test's topics."""
    restarting = time.monotonic()
    kafka.start_node(victim)
    restarted = time.monotonic() - restarting
    in_sync = wait_in_sync(kafka, topics_of(run), victim)
    return {
        "roles": run.roles,
        "victim": victim,
        "node_restart_s": round(restarted, 2),
        "back_in_sync_after_restart_s": round(in_sync, 2),
    }


@pytest.mark.parametrize("role", ["changes", "outcomes"])
def test_sigkill_of_a_partition_leader_mid_stream(
    kafka: KafkaCluster, placed: MakePlaced, figures: dict[str, Any], role: str
) -> None:
    """The node leading half the changes (or outcomes) partitions is SIGKILLed mid-stream and
    restarted; it leads nothing else of the test's, and is neither the controller nor the
    group's coordinator."""
    controller = meta.active_controller(kafka.bootstrap)
    victim = others(controller)[0]
    rest = others(victim)
    leaders = {"changes": rest, "outcomes": rest, "other": rest}
    leaders[role] = [victim, rest[0]]
    run = placed(leaders=leaders, coordinator=lambda node: node != victim)
    topic = run.pipe.changes if role == "changes" else run.pipe.outcomes
    assert victim in meta.leaders(kafka.bootstrap, topic).values()
    stream = start_stream(run, users=USERS, interval_s=0.5)
    stream.publisher.wait_round(stream.round_now() + 2)
    killed = time.time()
    kafka.kill_node(victim)
    elected = wait_leaders_move(kafka.bootstrap, topic, victim)
    stream.publisher.wait_round(stream.round_now() + 2)
    figures |= restart(kafka, run, victim) | {
        "fault": f"SIGKILL of the leader of {role} partitions",
        "leaders_elected_after_s": round(elected, 2),
    }
    finish(stream, figures, [killed])


def test_a_node_stopped_and_started_again(
    kafka: KafkaCluster, placed: MakePlaced, figures: dict[str, Any]
) -> None:
    """The node coordinating the workers' group, leading a third of every topic, is stopped
    (SIGTERM: a controlled shutdown) for DOWN_S while the stream goes on, then started again."""
    controller = meta.active_controller(kafka.bootstrap)
    victim = others(controller)[0]
    spread = {"changes": list(NODES), "outcomes": list(NODES), "other": list(NODES)}
    run = placed(leaders=spread, coordinator=lambda node: node == victim)
    stream = start_stream(run, users=USERS, interval_s=0.5)
    stream.publisher.wait_round(stream.round_now() + 2)
    stopped = time.time()
    kafka.kill_node(victim, signal.SIGTERM)
    moved = wait_leaders_move(kafka.bootstrap, run.pipe.outcomes, victim)
    coordinator = meta.group_coordinator(kafka.bootstrap, run.group)
    assert coordinator != victim
    time.sleep(max(0.0, DOWN_S - (time.time() - stopped)))  # the fault: the node stays down
    down_for = time.time() - stopped
    figures |= restart(kafka, run, victim) | {
        "fault": f"group coordinator stopped (SIGTERM) for {DOWN_S:g} s, started again",
        "down_s": round(down_for, 1),
        "leaders_moved_after_s": round(moved, 2),
        "new_coordinator": coordinator,
    }
    finish(stream, figures, [stopped])


def test_the_active_controller_killed(
    kafka: KafkaCluster, placed: MakePlaced, figures: dict[str, Any]
) -> None:
    """SIGKILL of the active KRaft controller, a node that leads nothing of the test's and is
    not the group's coordinator (it follows every partition), then restarted."""
    victim = meta.active_controller(kafka.bootstrap)
    rest = others(victim)
    run = placed(
        leaders={"changes": rest, "outcomes": rest, "other": rest},
        coordinator=lambda node: node != victim,
    )
    stream = start_stream(run, users=USERS, interval_s=0.5)
    stream.publisher.wait_round(stream.round_now() + 2)
    killed = time.time()
    kafka.kill_node(victim)
    elected = wait_for(
        lambda: meta.active_controller(kafka.bootstrap, timeout_s=30) != victim,
        60,
        "a new active controller",
    )
    controller = meta.active_controller(kafka.bootstrap)
    stream.publisher.wait_round(stream.round_now() + 2)
    figures |= restart(kafka, run, victim) | {
        "fault": "SIGKILL of the active controller",
        "new_controller": controller,
        "controller_elected_after_s": round(elected, 2),
    }
    finish(stream, figures, [killed])


def test_two_nodes_down_the_workers_wait_and_go_on(
    kafka: KafkaCluster, placed: MakePlaced, figures: dict[str, Any]
) -> None:
    """Two nodes killed at once: every partition is below min.insync.replicas (and the KRaft
    quorum is lost), so no outcome, changelog record or commit can be delivered. The workers
    wait -- alive, /healthz 200 past its threshold, nothing committed past an undelivered
    outcome -- and finish everything once one node is back, the other still down."""
    survivor = meta.active_controller(kafka.bootstrap)
    down = others(survivor)
    spread = {"changes": list(NODES), "outcomes": list(NODES), "other": list(NODES)}
    run = placed(
        leaders=spread,
        coordinator=lambda node: node == survivor,
        worker_env=SHORT_LIVENESS | SEQUENTIAL,
        latency_ms=IM_LATENCY_MS,
    )
    stream = start_stream(run, users=USERS, interval_s=0.5)
    stream.publisher.wait_round(stream.round_now() + 2)
    before = stream.publisher.done_rounds
    killed = time.time()
    for node in down:
        kafka.kill_node(node)
    time.sleep(OUTAGE_S)  # the fault: both down, longer than the liveness threshold
    during = stream.publisher.done_rounds - before
    outage = time.time() - killed
    back = down[0]
    restarting = time.monotonic()
    kafka.start_node(back)
    restarted = time.monotonic() - restarting
    figures |= {
        "fault": "two of three nodes SIGKILLed, one restarted",
        "roles": run.roles,
        "down": down,
        "outage_s": round(outage, 1),
        "liveness_stall_s": float(SHORT_LIVENESS["STREAMS_LIVENESS_STALL_S"]),
        "rounds_published_during_outage": during,
        "node_restart_s": round(restarted, 2),
        "healthz_samples_during_outage": sum(
            1 for s in stream.probes.samples if killed <= s[0] <= killed + outage
        ),
    }
    finish(stream, figures, [killed])
    assert not kafka.node(down[1]).is_running(), "finished with one node still down"


@pytest.mark.soak
def test_a_frozen_outcomes_leader(
    kafka: KafkaCluster, placed: MakePlaced, figures: dict[str, Any]
) -> None:
    """Soak: the leader of half the outcomes partitions frozen (SIGSTOP) for a minute, then
    resumed (SIGCONT): a node that stops answering but keeps its connections open, like a long
    pause or a network cut. Another replica leads within ~10 s; the worker's requests to the
    frozen one are abandoned after the producer's request timeout (30 s) and, with metadata
    refreshed every 10 s, go to the new leader. With Faust's defaults (1,200 s, 5 min) the
    stream stood for the whole freeze (40 of 40 s); with the timeout alone, too (61 of 60 s)."""
    victim = others(meta.active_controller(kafka.bootstrap))[0]
    rest = others(victim)
    leaders = {"changes": rest, "outcomes": [victim, rest[0]], "other": rest}
    run = placed(leaders=leaders, coordinator=lambda node: node != victim)
    stream = start_stream(run, users=USERS, interval_s=0.5)
    stream.publisher.wait_round(stream.round_now() + 2)
    pid = kafka.node(victim).pid
    assert pid is not None
    frozen = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        elected = wait_leaders_move(kafka.bootstrap, run.pipe.outcomes, victim)
        time.sleep(max(0.0, FREEZE_S - (time.time() - frozen)))  # the fault: a minute frozen
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed = time.time() - frozen
    in_sync = wait_in_sync(kafka, topics_of(run), victim)
    figures |= {
        "fault": "SIGSTOP of the leader of outcomes partitions for a minute, then SIGCONT",
        "roles": run.roles,
        "victim": victim,
        "leaders_elected_after_s": round(elected, 2),
        "frozen_s": round(thawed, 1),
        "back_in_sync_after_resume_s": round(in_sync, 2),
    }
    finish(stream, figures, [frozen])
