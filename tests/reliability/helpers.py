"""Workloads, a background publisher, an outcome reader and the checks every fault test shares.

The checks take nothing on trust from the worker: they join what was *published* (positions and
documents), what came out on the outcomes topic, and what the emulator *wrote* (its write log and
final state), and verify the at-least-once and last-write-wins guarantees between the three.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.client.publisher import key_of
from streams.contract import Outcome
from streams.core.decode import micros
from tests.fixtures.emulator import RunningEmulator

Pos = tuple[int, int]
Doc = dict[str, Any]
#: (version or -1, occurred_at in UTC microseconds): unique per distinct event of a workload.
Rank = tuple[int, int]

FINAL = frozenset({"applied", "failed"})


def rank_of(doc: Doc) -> Rank:
    """The event's place in last-write-wins order, without the offset tie-breaker."""
    version = doc.get("version")
    occurred = datetime.fromisoformat(doc["occurred_at"])
    return (-1 if version is None else int(version), micros(occurred))


def change(
    event_id: str, user: str, conv: str, data: str, *, at: datetime, version: int | None = None
) -> Doc:
    doc: Doc = {
        "event_id": event_id,
        "user_id": user,
        "conversation_id": conv,
        "custom_data": data,
        "occurred_at": at.isoformat(),
    }
    if version is not None:
        doc["version"] = version
    return doc


@dataclass(frozen=True)
class Workload:
    """Rounds of changes: every conversation gets version ``r`` in round ``r``.

    From round 3 on, ``late_share`` of the conversations also get a *late* event (a new event id
    carrying version ``r - 3``, which can never win), and from round 2 on ``replay_share`` get an
    exact *replay* of their round ``r - 2`` event (same event id and body, a new offset). Every
    value is ``"<version>:<event_id>"``, so a write in the emulator's log names its event.
    """

    tag: str
    users: int = 200
    conversations: int = 10
    rounds: int = 10
    late_share: float = 0.1
    replay_share: float = 0.05
    seed: int = 20261125
    base: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    )

    def user(self, u: int) -> str:
        return f"{self.tag}u{u:03d}"

    def user_ids(self) -> list[str]:
        return [self.user(u) for u in range(self.users)]

    def _event(self, u: int, c: int, r: int, *, late: int | None = None) -> Doc:
        user, conv = self.user(u), f"c2c_peer{c}"
        version = r if late is None else late
        suffix = f"r{r}" if late is None else f"late{r}"
        event_id = f"{user}-p{c}-{suffix}"
        at = self.base + timedelta(seconds=version, milliseconds=0 if late is None else 500)
        return change(event_id, user, conv, f"{version}:{event_id}", at=at, version=version)

    def round(self, r: int) -> list[Doc]:
        rng = random.Random(self.seed * 1000 + r)  # a repeatable workload
        pairs = [(u, c) for u in range(self.users) for c in range(self.conversations)]
        rng.shuffle(pairs)
        docs = [self._event(u, c, r) for u, c in pairs]
        if r >= 3:
            late = rng.sample(pairs, int(len(pairs) * self.late_share))
            docs += [self._event(u, c, r, late=r - 3) for u, c in late]
        if r >= 2:
            replays = rng.sample(pairs, int(len(pairs) * self.replay_share))
            docs += [self._event(u, c, r - 2) for u, c in replays]
        return docs

    @property
    def per_round(self) -> int:
        return len(self.round(5))


class Publisher(threading.Thread):
    """Publishes rounds in the background, ``interval_s`` apart, recording every position."""

    def __init__(
        self, bootstrap: str, topic: str, rounds: Sequence[Sequence[Doc | bytes]], interval_s: float
    ) -> None:
        super().__init__(name="publisher", daemon=True)
        self._broker = bootstrap
        self._topic = topic
        self._rounds = rounds
        self._interval_s = interval_s
        self._cond = threading.Condition()
        self.published: dict[Pos, Doc | bytes] = {}
        self.done_rounds = 0
        self.round_times: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by wait_round / join_checked
            self.error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    #: aiokafka producer settings (a subclass adds its own).
    producer_options: ClassVar[dict[str, Any]] = {"acks": "all", "linger_ms": 5}

    async def _main(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self._broker, **self.producer_options)
        await producer.start()
        try:
            for docs in self._rounds:
                started = time.monotonic()
                values = [d if isinstance(d, bytes) else orjson.dumps(d) for d in docs]
                futures = [await producer.send(self._topic, v, key=key_of(v)) for v in values]
                metas = await asyncio.gather(*futures)
                with self._cond:
                    for doc, meta in zip(docs, metas, strict=True):
                        self.published[(meta.partition, meta.offset)] = doc
                    self.done_rounds += 1
                    self.round_times.append(time.time())
                    self._cond.notify_all()
                await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))
        finally:
            await producer.stop()

    def wait_round(self, count: int, timeout_s: float = 60.0) -> None:
        """Block until ``count`` rounds are published (or the publisher failed)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self.done_rounds >= count or self.error is not None or not self.is_alive(),
                timeout=timeout_s,
            )
        if self.error is not None:
            raise AssertionError(f"publisher failed: {self.error!r}") from self.error
        assert ok and self.done_rounds >= count, f"only {self.done_rounds} rounds published"

    def join_checked(self, timeout_s: float = 120.0) -> dict[Pos, Doc | bytes]:
        self.join(timeout_s)
        assert not self.is_alive(), "publisher did not finish"
        if self.error is not None:
            raise AssertionError(f"publisher failed: {self.error!r}") from self.error
        return dict(self.published)


async def _read(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout_s: float, settle_s: float
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if partitions:
                break
            # AIOKafkaConsumer has no force_metadata_update of its own: its client has.
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        assert partitions, f"topic {topic} has no partitions"
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        satisfied_at: float | None = None
        last_record = time.monotonic()
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            now = time.monotonic()
            for batch in batches.values():
                records.extend(batch)
                last_record = now
            if satisfied_at is None and done(records):
                satisfied_at = now
            if satisfied_at is not None and now - last_record >= settle_s:
                return records
    finally:
        await consumer.stop()
    return records


def read_topic(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Any]], bool],
    *,
    timeout_s: float = 90.0,
    settle_s: float = 1.5,
) -> list[Any]:
    """Every record of ``topic`` once ``done(records)`` holds and nothing arrived for settle_s.

    Returns what was read when time runs out; callers then fail with what is missing.
    """
    return asyncio.run(_read(bootstrap, topic, done, timeout_s, settle_s))


def position(outcome: Doc) -> Pos:
    return (outcome["source"]["partition"], outcome["source"]["offset"])


def read_outcomes(
    bootstrap: str, topic: str, wanted: Iterable[Pos], *, timeout_s: float = 90.0
) -> list[Doc]:
    """Outcome documents until every wanted position has one (then until quiet)."""
    want = set(wanted)
    seen: set[Pos] = set()
    docs: list[Doc] = []

    def done(records: list[Any]) -> bool:
        for record in records[len(docs) :]:
            doc = orjson.loads(record.value)
            docs.append(doc)
            seen.add(position(doc))
        return want <= seen

    records = read_topic(bootstrap, topic, done, timeout_s=timeout_s)
    done(records)
    return docs


@dataclass
class Ledger:
    """Published events joined with their outcomes and with the emulator's writes."""

    published: dict[Pos, Doc]
    outcomes: list[Doc]
    writes: list[Doc] = field(default_factory=list)

    def by_position(self) -> dict[Pos, list[Doc]]:
        grouped: dict[Pos, list[Doc]] = {}
        for doc in self.outcomes:
            grouped.setdefault(position(doc), []).append(doc)
        return grouped

    def first_final(self) -> dict[Pos, str]:
        """Per position, the first of its applied/failed outcomes (if any)."""
        found: dict[Pos, str] = {}
        for doc in self.outcomes:
            if doc["status"] in FINAL:
                found.setdefault(position(doc), doc["status"])
        return found


def lww(events: Iterable[tuple[Pos, Doc]]) -> dict[tuple[str, str], tuple[Pos, Doc]]:
    """Last write wins per (user, conversation) over (version, occurred_at, offset)."""
    best: dict[tuple[str, str], tuple[tuple[int, int, int], Pos, Doc]] = {}
    for pos, doc in events:
        key = (doc["user_id"], doc["conversation_id"])
        order = (*rank_of(doc), pos[1])
        if key not in best or order > best[key][0]:
            best[key] = (order, pos, doc)
    return {key: (pos, doc) for key, (_, pos, doc) in best.items()}


def emulator_state(emulator: RunningEmulator, users: Iterable[str]) -> dict[tuple[str, str], str]:
    state: dict[tuple[str, str], str] = {}
    for user in sorted(set(users)):
        for conv, value in emulator.state(user).items():
            state[(user, conv)] = value
    return state


def summarize(positions: Iterable[Pos]) -> dict[int, str]:
    """``{partition: "count in [first..last]"}``: where a set of positions lies."""
    per: dict[int, list[int]] = {}
    for partition, offset in positions:
        per.setdefault(partition, []).append(offset)
    return {p: f"{len(o)} in [{min(o)}..{max(o)}]" for p, o in sorted(per.items())}


def authoritative(docs: Sequence[Doc]) -> Doc:
    """One event's authoritative outcome among its copies (in topic order): the first final
    (``applied``/``failed``) one, else the first (README, "Outcomes")."""
    return next((d for d in docs if d["status"] in FINAL), docs[0])


def _order(pos: Pos, doc: Doc) -> tuple[int, int, int]:
    """Last-write-wins order of the event ``doc`` published at ``pos``."""
    return (*rank_of(doc), pos[1])


def _unjustified(ledger: Ledger) -> list[tuple[Pos, Doc]]:
    """Outcomes whose status the published events (and, for ``duplicate``, the write log)
    contradict; from the published documents alone, trusting nothing the worker says.

    * ``superseded``: ``superseded_by`` names another event of the conversation that comes
      later in last-write-wins order;
    * ``stale`` (reason ``stale``): another event of the conversation comes later in that order;
    * ``duplicate``: its ``event_id`` was published for the conversation at another position,
      or its value was written to the conversation (its own earlier copy was applied).
    """
    per_conversation: dict[tuple[str, str], list[tuple[tuple[int, int, int], Doc]]] = {}
    for pos, event in ledger.published.items():
        key = (event["user_id"], event["conversation_id"])
        per_conversation.setdefault(key, []).append((_order(pos, event), event))
    written = {(w["user"], w["conversation_id"], w["custom_data"]) for w in ledger.writes}
    wrong: list[tuple[Pos, Doc]] = []
    for doc in ledger.outcomes:
        pos = position(doc)
        event = ledger.published[pos]
        key = (event["user_id"], event["conversation_id"])
        order = _order(pos, event)
        others = [(o, e) for o, e in per_conversation[key] if o != order]
        if doc["status"] == "superseded":
            ok = any(o > order and e["event_id"] == doc["superseded_by"] for o, e in others)
        elif doc["status"] == "stale" and doc["reason"] == "stale":
            ok = any(o > order for o, _ in others)
        elif doc["status"] == "duplicate":
            ok = any(e["event_id"] == event["event_id"] for _, e in others)
            ok = ok or (*key, event["custom_data"]) in written
        else:
            continue
        if not ok:
            wrong.append((pos, doc))
    return wrong


def check_outcomes_cover(ledger: Ledger) -> dict[str, Any]:
    """Every published position has >= 1 outcome; every outcome names a published position and
    describes its event (ids, value, version), so an event's copies agree; every outcome
    validates against ``streams.contract.Outcome``; no event is both applied and failed; and
    every ``superseded``, ``stale`` and ``duplicate`` outcome is borne out by the published
    events. Needs ``ledger.writes`` (the emulator's write log)."""
    grouped = ledger.by_position()
    lost = sorted(set(ledger.published) - set(grouped))
    assert not lost, f"{len(lost)} published events have no outcome: {summarize(lost)}"
    phantom = sorted(set(grouped) - set(ledger.published))
    assert not phantom, f"outcomes for unpublished positions: {phantom[:5]}"
    for pos, docs in grouped.items():
        event = ledger.published[pos]
        for doc in docs:
            Outcome.model_validate(doc)
            for name in ("event_id", "user_id", "conversation_id", "custom_data", "version"):
                assert doc[name] == event.get(name), (pos, name, doc)
        finals = {d["status"] for d in docs if d["status"] in FINAL}
        assert finals != FINAL, f"event at {pos} reported both applied and failed: {docs}"
    wrong = _unjustified(ledger)
    assert not wrong, f"{len(wrong)} outcomes the published events contradict: {wrong[:3]}"
    firsts = Counter(docs[0]["status"] for docs in grouped.values())
    settled = Counter(authoritative(docs)["status"] for docs in grouped.values())
    duplicates = sum(1 for docs in grouped.values() if len(docs) > 1)
    final_docs = [d for d in ledger.outcomes if d["status"] in FINAL]
    return {
        "events": len(ledger.published),
        "outcome_records": len(ledger.outcomes),
        "lost": len(lost),
        "duplicates": duplicates,
        "first_outcomes": dict(sorted(firsts.items())),
        "authoritative_outcomes": dict(sorted(settled.items())),
        "retries": sum(max(0, d["attempts"] - 1) for d in final_docs),
        "max_attempts": max((d["attempts"] for d in final_docs), default=0),
    }


def check_writes(ledger: Ledger) -> dict[str, Any]:
    """The write log never moves a conversation backwards, and each applied outcome's request
    wrote that event's value."""
    ranks = {doc["custom_data"]: rank_of(doc) for doc in ledger.published.values()}
    last: dict[tuple[str, str], Rank] = {}
    by_request: dict[tuple[str | None, str, str], str] = {}
    backwards: list[Doc] = []
    for write in ledger.writes:
        key = (write["user"], write["conversation_id"])
        rank = ranks[write["custom_data"]]
        if rank < last.get(key, (-2, 0)):
            backwards.append(write)
        last[key] = max(rank, last.get(key, rank))
        by_request[(write["request_id"], *key)] = write["custom_data"]
    assert not backwards, f"{len(backwards)} writes moved a value backwards, e.g. {backwards[:3]}"
    applied = [d for d in ledger.outcomes if d["status"] == "applied"]
    unwritten = [
        d
        for d in applied
        if by_request.get((d["request_id"], d["user_id"], d["conversation_id"])) != d["custom_data"]
    ]
    assert not unwritten, f"applied outcomes without their write: {unwritten[:3]}"
    applied_requests = {(d["request_id"], d["user_id"], d["conversation_id"]) for d in applied}
    orphans = sum(1 for key in by_request if key not in applied_requests)
    return {"writes": len(ledger.writes), "writes_without_applied_outcome": orphans}


def check_state(
    ledger: Ledger, state: dict[tuple[str, str], str], *, everything_applies: bool
) -> dict[str, Any]:
    """The emulator's final state is last-write-wins over the events whose first final outcome
    is ``applied``; with ``everything_applies`` it is also LWW over *all* published events.

    One honest exception is counted, not hidden: a worker killed after the IM write and the
    table's changelog record but before the outcome record leaves that event with only a
    ``duplicate`` outcome after the replay, though its value is in the IM. Such conversations
    must show the value of an event that has a ``duplicate`` outcome and a write in the log.
    """
    firsts = ledger.first_final()
    valid = {pos: doc for pos, doc in ledger.published.items() if isinstance(doc, dict)}
    applied = lww((pos, doc) for pos, doc in valid.items() if firsts.get(pos) == "applied")
    expected = {key: doc["custom_data"] for key, (_, doc) in applied.items()}
    statuses: dict[str, set[str]] = {}
    for doc in ledger.outcomes:
        statuses.setdefault(doc["custom_data"] or "", set()).add(doc["status"])
    written = {w["custom_data"] for w in ledger.writes}
    exceptions = 0
    mismatched: list[tuple[tuple[str, str], str | None, str | None]] = []
    for key in sorted(set(expected) | set(state)):
        got, want = state.get(key), expected.get(key)
        if got == want:
            continue
        if got is not None and "duplicate" in statuses.get(got, set()) and got in written:
            exceptions += 1
            continue
        mismatched.append((key, want, got))
    assert not mismatched, f"{len(mismatched)} conversations differ from LWW: {mismatched[:5]}"
    if everything_applies:
        target = {key: doc["custom_data"] for key, (_, doc) in lww(valid.items()).items()}
        diff = [(k, v, state.get(k)) for k, v in target.items() if state.get(k) != v]
        assert not diff, f"{len(diff)} conversations lost their last write: {diff[:5]}"
        assert len(state) == len(target)
    return {"conversations": len(state), "applied_but_only_duplicate_outcome": exceptions}


def stalls(outcomes: Sequence[Doc], after: float) -> dict[int, float]:
    """Per partition: seconds from ``after`` (epoch) to the first window stamped later."""
    first: dict[int, float] = {}
    for doc in outcomes:
        stamp = datetime.fromisoformat(doc["processed_at"]).timestamp()
        partition = doc["source"]["partition"]
        if stamp >= after and stamp - after < first.get(partition, float("inf")):
            first[partition] = stamp - after
    return {p: round(v, 2) for p, v in sorted(first.items())}


def longest_gap(outcomes: Sequence[Doc], start: float, end: float) -> float:
    """The longest time any partition went without a window between ``start`` and ``end``."""
    per_partition: dict[int, set[float]] = {}
    for doc in outcomes:
        stamp = datetime.fromisoformat(doc["processed_at"]).timestamp()
        if start <= stamp <= end:
            per_partition.setdefault(doc["source"]["partition"], set()).add(stamp)
    gap = 0.0
    for stamps in per_partition.values():
        ordered = sorted(stamps)
        gap = max(gap, *(b - a for a, b in itertools.pairwise(ordered)), 0.0)
    return round(gap, 2)


def last_processed(outcomes: Sequence[Doc]) -> float:
    return max(datetime.fromisoformat(d["processed_at"]).timestamp() for d in outcomes)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll until ``predicate()``; returns the seconds it took, fails the test on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
