"""The worker's Kafka transport: Faust's aiokafka driver with commits that never skip an event.

Faust's consumer loses events around rebalances and restarts in five measured ways, each of
which commits past an event that never got an outcome or leaves it waiting for the next
rebalance (docs/RELIABILITY.md, finding 1):

1. Gap filling: a jump in a partition's offsets counts the skipped offsets as acked (meant for
   compacted topics and transaction markers).
2. Read offsets: a fetched message below the partition's last read offset is dropped. A read
   offset written back after a rebalance's seek drops the refetched events.
3. Skipped events are acked: a stream acks every event it skips because it was fetched in an
   older generation or while flow was paused, although no agent processed it.
4. The commit rule lets a one-offset hole right after the committed offset through, and any
   hole when the partition has no commit yet.
5. Delivery cancelled: a message fetched while flow is suspended (rebalance, recovery) has
   its delivery to the streams cancelled, and the fetch loop moves on past it.

The same drops hit the tables' changelogs, where no commit or hole check brings a record back:
a table recovery then waits for records that were fetched and thrown away (finding 7). Here a
fetch is never abandoned halfway (it runs on the consumer thread, which would take the records
from aiokafka and discard them), and a changelog partition whose fetched records did not all
reach the streams is sought back to the first one that did not.

Here (the changes topic is neither compacted nor transactional) nothing is counted as acked
unless the agent marked it processed; the commit only advances over a run of acked offsets
that starts exactly at the committed offset (or at the earliest offset, where the group never
committed); the fetch loop drops nothing below a read offset and fills no gaps; and a
partition whose commit is blocked by offsets nobody is processing -- shown by a later ack, by
an event the stream skipped, or by a fetched message that never reached the streams -- is
fetched again from the hole. Redelivered events come out as ``duplicate`` or ``stale``:
at-least-once, never a loss. (Upstream producers writing the changes topic in transactions
leave markers: offsets that hold no record. Each looks like a hole until it was fetched again
``HOLE_REFETCHES`` times without being delivered; it is then committed past, with an error in
the log. Redeliveries and a lag of ~15 s per marker follow.)
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar, cast

from aiokafka.errors import IllegalStateError
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode import ServiceT

from streams.core import offsets
from streams.engine import internals

#: URL scheme of this transport (``streams.engine.app`` rewrites ``kafka://`` to it).
SCHEME = "streamskafka"

#: A hole is fetched again at most this often (the refetch itself takes one fetch round trip).
HOLE_REFETCH_S = 5.0
#: A hole still there after this many refetches holds no record (a transaction marker).
HOLE_REFETCHES = 3
#: The fetch loop lets other tasks run after this many deliveries (Faust's figure).
YIELD_EVERY = 100
#: Longest poll while a partition is left out because the stream's buffer is full.
BUFFERED_POLL_S = 0.1
#: How often delivery looks again at a stream's full buffer (it drains a window at a time).
ROOM_POLL_S = 0.005
#: The consumer's fetch long-poll: how long the broker may hold a fetch none of whose
#: partitions has new records. Faust hard-codes 1,500 ms. aiokafka keeps one fetch in flight per
#: broker and leaves out of it every partition whose fetched records the worker has not taken
#: yet; while a window keeps the agent busy that is every input partition, so the next fetch
#: asks only for partitions that never get records (Faust's ``__assignor-__leader`` topic, idle
#: changelogs) and the broker holds it for the whole long-poll, the input partitions waiting
#: behind it. On Apache Kafka at 1,500 events/s that made 1.5 s gaps and then 1.5 s of input at
#: once, a p99 over 2 s (bench/PROFILE.md, "Latency at half rate on Apache Kafka"). An idle
#: worker pays one empty fetch per long-poll instead.
FETCH_MAX_WAIT_MS = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a fetch long-poll of ``fetch_max_wait_ms``."""

    #: Kept as a class attribute so a transport can set its own (streams.engine.tansu).
    fetch_max_wait_ms: ClassVar[int] = FETCH_MAX_WAIT_MS

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher (aiokafka 0.14).
        internals.set_fetch_max_wait(consumer, self.fetch_max_wait_ms)
        return consumer


class GaplessConsumer(faust_aiokafka.Consumer):
    """An aiokafka consumer that commits only what the agent processed, without holes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: set[tuple[TP, int]] = set()
        self._skipped: defaultdict[TP, set[int]] = defaultdict(set)
        #: Per partition: the last offset fetched, and when it last fetched or acked anything.
        self._fetched: dict[TP, int] = {}
        self._progress_at: dict[TP, float] = {}
        self._start: dict[TP, int] = {}
        self._refetched: dict[tuple[TP, int], tuple[float, int]] = {}
        #: Per partition: whether its acks are tracked (see _acking), for this assignment.
        self._acking_tps: dict[TP, bool] = {}
        #: Holes fetched again since start (a metric: each is a Faust drop that was repaired).
        self.refetches = 0
        #: The last fetched batch's changelog records per partition: [next undelivered, last].
        self._unread: dict[TP, list[int]] = {}
        #: Per input partition: the highest offset handed to the streams in this assignment
        #: (see _deliver). Lowered wherever a record must come again (_must_come_again).
        self._handed: dict[TP, int] = {}
        #: Records fetched again that were already with the agent, not handed over twice.
        self.redeliveries_dropped = 0
        self.clock = time.monotonic

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Forget the revoked partitions' bookkeeping, as Faust forgets their commits.

        Kept, it passed for evidence of holes until the next assignment's seek: during the
        revocation's commit and through a long table recovery the consumer "fetched again"
        offsets 0, 1, 2, ... and committed past them, behind the group's commit
        (docs/RELIABILITY.md, finding 7).
        """
        self._acking_tps.clear()
        for tp in revoked:
            self._handed.pop(tp, None)
            self._start.pop(tp, None)
            self._fetched.pop(tp, None)
            self._progress_at.pop(tp, None)
            self._skipped.pop(tp, None)
        self._processed.difference_update([k for k in self._processed if k[0] in revoked])
        self._refetched = {k: v for k, v in self._refetched.items() if k[0] not in revoked}
        await super().on_partitions_revoked(revoked)

    def abandon(self, messages: Iterable[Message]) -> None:
        """Stop waiting for records a window left to their partition's next owner.

        A window drops the events of partitions whose revocation began (no outcome, no ack:
        streams.window.processor). Faust's revocation waits until every record handed to the
        streams is acked or garbage (``wait_empty`` over a weak set), and the agent still holds
        the last window's list while it waits for the next: without this the revocation, and
        with it the whole group, waited out the rebalance timeout (a join took 60 s). Never
        acked, never committed: the next owner reads them from the committed offset, and if
        the partition comes back here they are handed over again.
        """
        with ack_lock:
            for message in messages:
                self._unacked_messages.discard(message)
                self._must_come_again(message.tp, message.offset)

    def mark_processed(self, message: Message) -> None:
        """Called by the agent just before it acks a message whose outcome is delivered."""
        self._processed.add((message.tp, message.offset))

    def ack(self, message: Message) -> bool:
        """Record an ack only for messages the agent marked processed."""
        if self.app.topics.acks_enabled_for(message.topic):
            key = (message.tp, message.offset)
            if key not in self._processed:
                # Faust acking an event its stream skipped: untrack it, never commit it, and
                # remember it was handed over (evidence of a hole, see _refetch_holes).
                with ack_lock:
                    message.acked = True
                    self._unacked_messages.discard(message)
                    self._skipped[message.tp].add(message.offset)
                self._must_come_again(message.tp, message.offset)
                return False
            self._processed.discard(key)
            self._progress_at[message.tp] = self.clock()
        return bool(super().ack(message))

    def _to_message(self, tp: TP, record: Any) -> Any:
        if self._acking(tp):
            self._fetched[tp] = max(self._fetched.get(tp, -1), record.offset)
            self._progress_at[tp] = self.clock()
        return super()._to_message(tp, record)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop: fetch a batch, commit every ``broker_commit_every`` acks, deliver.

        Unlike Faust's, it delivers every fetched message (no read-offset drops, no gap
        filling: module docstring, 1 and 2), and races each *batch* against flow suspension
        instead of each message: Faust's ``wait_first`` per message made four tasks and an
        ``asyncio.wait`` per event (bench/PROFILE.md).
        """
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = internals.stopped(fetcher)
        stop_errors = cast(
            tuple[type[BaseException], ...],
            (*self.consumer_stopped_errors, asyncio.CancelledError),
        )
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may return at once, again and again
                if not self.should_stop:
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await self._deliver(batch)
        except stop_errors:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, batch: AsyncIterator[tuple[TP, Message]]) -> None:
        """Hand a fetched batch to the streams (Faust's conductor) until flow is suspended.

        The fetch itself (the batch's first step) is not raced: cancelled, it would go on in
        the consumer thread, take the records from aiokafka and throw them away. A table
        recovery then waited for ever for changelog records that nothing fetches again
        (docs/RELIABILITY.md, finding 7).

        A message whose delivery is cancelled by the suspension never reaches a stream: it is
        remembered as skipped, evidence of a hole (:meth:`_refetch_holes`). The rest of the
        batch is dropped; the commit's hole check or the rebalance's seek brings it back, and
        for a changelog :meth:`_rewind` does.

        A message for a stream whose buffer is full waits here until it has room. Faust's
        conductor would hand it over through a task and an ``asyncio.wait`` of its own, and
        under a flood the agent's buffer is always full: every event took that path.
        """
        delivering: Message | None = None
        streams_of = internals.streams_of_partition(self.app)
        self._unread = {}
        item = await anext(batch, None)  # the fetch: see above
        unread = self._unread  # filled by the fetch (_wait_next_records)

        async def deliver_all() -> None:
            nonlocal delivering, item
            count = 0
            while item is not None:
                message = item[1]
                if self._handed_already(message):
                    item = await anext(batch, None)
                    continue
                delivering = message
                for channel in streams_of(message.tp, ()):
                    while channel.queue.full():
                        await asyncio.sleep(ROOM_POLL_S)
                await self.callback(message)
                delivering = None
                if self._acking(message.tp):
                    tp = message.tp
                    self._handed[tp] = max(self._handed.get(tp, -1), message.offset)
                left = unread.get(message.tp)
                if left is not None:
                    left[0] = message.offset + 1
                count += 1
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the loop breathe on a long batch
                item = await anext(batch, None)

        task = asyncio.ensure_future(deliver_all())
        try:
            await self.wait_first(task, self.suspend_flow.wait())
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait([task])
            if delivering is not None:
                self._skipped[delivering.tp].add(delivering.offset)
                self._must_come_again(delivering.tp, delivering.offset)
        await self._rewind({tp: left[0] for tp, left in unread.items() if left[0] <= left[1]})

    def _handed_already(self, message: Message) -> bool:
        """Whether an input record is already with the agent: handed over in this assignment.

        A record is fetched again after it was handed over when a seek moves the partition
        back over it without asking for it. Seen on Apache Kafka: records of a new assignment
        handed to the streams before the recovery's seek to the committed offsets came again
        after it, so a window ran twice; with the crash guard's record-by-record window, the
        second copy of a quarantined record crashed the worker again, and again on every start.
        What must really come again (a stream skipped it, its delivery was cancelled, a hole is
        fetched again) lowers the mark first (:meth:`_must_come_again`).
        """
        handed = self._handed.get(message.tp)
        if handed is None or message.offset > handed:
            return False
        self.redeliveries_dropped += 1
        return True

    def _must_come_again(self, tp: TP, offset: int) -> None:
        """Let ``offset`` and what follows be handed over again when they are fetched again."""
        handed = self._handed.get(tp)
        if handed is not None and handed >= offset:
            self._handed[tp] = offset - 1

    async def _rewind(self, undelivered: dict[TP, int]) -> None:
        """Seek changelog partitions back to their first fetched record that was not delivered.

        Only backwards, in one step on the consumer thread: a partition another seek (a new
        recovery's) has since moved to or before that offset is left alone, so at worst a
        record is read twice, which a table's recovery skips.
        """
        if not undelivered or self.should_stop:
            return
        consumer = internals.aiokafka_consumer(self._thread)

        async def rewind() -> None:
            for tp, offset in undelivered.items():
                try:
                    position = await consumer.position(tp)
                except IllegalStateError:
                    continue  # revoked: its next owner reads it from where it stands
                if position > offset:
                    consumer.seek(tp, offset)

        await self._thread.call_thread(rewind)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, set[TP] | None]:
        """Faust's poll, cut short while a partition is left out for a full stream buffer.

        Faust polls only the partitions active when the poll starts, for up to a second. A
        partition whose buffer fills is left out; when the buffer drains it is active again,
        but the running poll does not see that. With the other partitions read to their end
        (partitions fill unevenly), the agent sat idle through such polls under a flood
        (bench/PROFILE.md). A short poll picks the drained partition up within 0.1 s.
        """
        if self._buffered_partitions:
            timeout = min(timeout, BUFFERED_POLL_S)
        records, active = cast(
            tuple[Any, set[TP] | None], await super()._wait_next_records(timeout)
        )
        # Changelog records, which nothing fetches again if they are not delivered (_rewind).
        self._unread = {
            tp: [batch[0].offset, batch[-1].offset]
            for tp, batch in (records or {}).items()
            if batch and not self._acking(tp)
        }
        return records, active

    async def _seek(self, partition: TP, offset: int) -> None:
        """aiokafka's seek, run on the consumer thread's loop, as Faust's other calls into it are.

        Faust's own ``_seek`` calls it from the app's thread: aiokafka then changes the fetcher's
        state while the fetcher runs on the other thread, and resolves a future of the other
        loop from this one (not thread-safe, and on uvloop the wake-up can be lost). Every
        seek of this consumer (holes, partitions without a commit) goes through here.
        """
        thread = self._thread

        async def seek() -> None:
            thread.seek(partition, offset)

        await thread.call_thread(seek)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        """Faust's, after forgetting which partitions' acks are tracked (asked again)."""
        self._acking_tps.clear()
        await super().on_partitions_assigned(assigned, generation_id)

    def _acking(self, tp: TP) -> bool:
        """Whether ``tp``'s acks are tracked: an input topic's, not a table's changelog.

        Asked for every fetched record; Faust builds a new set of changelog topics per call,
        so the answer is kept per partition until the next rebalance.
        """
        acking = self._acking_tps.get(tp)
        if acking is None:
            acking = bool(self.app.topics.acks_enabled_for(tp.topic)) and not (
                self._is_changelog_tp(tp)
            )
            self._acking_tps[tp] = acking
        return acking

    def _start_of(self, tp: TP) -> int | None:
        committed = self._committed_offset.get(tp)
        return committed if committed is not None else self._start.get(tp)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets, and partitions without one to their earliest offset.

        aiokafka leaves a partition without a commit where its fetcher stood, which after a
        rebalance is past the events fetched but never processed. The earliest offsets are
        asked for first: a message fetched while this awaits the broker after the seeks would
        have its delivery cancelled and nothing would seek it back.
        """
        acking = [tp for tp in self.assignment() if self._acking(tp)]
        earliest = await self.earliest_offsets(*acking) if acking else {}
        self._skipped.clear()  # everything after the committed offsets comes again
        await super().perform_seek()
        for tp in acking:
            if self._committed_offset.get(tp) is None:
                self._start[tp] = earliest[tp]
                # No broker I/O: a hop to the consumer thread, where aiokafka seeks in memory.
                await self.seek(tp, earliest[tp])

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        start = self._start_of(tp)
        end = offsets.committable(acked, start)
        if end is None:
            return None
        self._acked_index[tp].difference_update(offset for offset in acked if offset < end)
        acked[:] = [offset for offset in acked if offset >= end]
        return end

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        """Commit, then fetch again from any hole that blocks a partition's commit."""
        did_commit = bool(await super().commit(*args, **kwargs))
        if not self.should_stop:
            await self._refetch_holes()
        return did_commit

    async def _refetch_holes(self) -> None:
        generation = self.app.consumer_generation_id
        in_flight: dict[TP, list[int]] = defaultdict(list)
        for message in list(self._unacked_messages):
            if not message.acked and message.generation_id == generation:
                in_flight[message.tp].append(message.offset)
        assignment = self.assignment()
        now = self.clock()
        self._refetched = {  # forget holes the commit has passed
            (tp, offset): tried
            for (tp, offset), tried in self._refetched.items()
            if offset >= (self._start_of(tp) or 0)
        }
        for tp in {*self._acked, *self._skipped, *self._fetched}:
            start = self._start_of(tp)
            skipped = self._skipped.get(tp)
            if skipped and start is not None:
                skipped.difference_update([offset for offset in skipped if offset < start])
            if tp not in assignment:
                continue
            # Fetched, yet nothing fetched or acked on the partition for a while: an event lost
            # on its way to the agent that no drop bookkeeping saw.
            idle = now - self._progress_at.get(tp, now) >= HOLE_REFETCH_S
            fetched = [self._fetched[tp]] if idle and tp in self._fetched else []
            evidence = [*(skipped or ()), *fetched]
            missing = offsets.hole(self._acked.get(tp, ()), start, in_flight[tp], evidence)
            if missing is None:
                continue
            tried_at, tries = self._refetched.get((tp, missing), (0.0, 0))
            if tries and now - tried_at < HOLE_REFETCH_S:
                continue
            if tries >= HOLE_REFETCHES:
                self._skip_empty(tp, missing, tries)
                continue
            self._refetched[(tp, missing)] = (now, tries + 1)
            self.refetches += 1
            self.log.warning(
                "%s: offset %d was fetched but will never be processed; fetching again from it",
                tp, missing,
            )  # fmt: skip
            self._must_come_again(tp, missing)
            await self.seek(tp, missing)

    def _skip_empty(self, tp: TP, offset: int, tries: int) -> None:
        """Count an offset that refetches never delivered as done: it holds no record."""
        self.log.error(
            "%s: offset %d was fetched again %d times and never delivered, so it holds no "
            "record (a transaction marker?); committing past it. Produce the changes topic "
            "without transactions.",
            tp, offset, tries,
        )  # fmt: skip
        with ack_lock:
            self._acked[tp].append(offset)
            self._acked_index[tp].add(offset)
        del self._refetched[(tp, offset)]


class UnthreadedProducerBuffer(ProducerBuffer):
    """Faust's producer buffer, its size read without a settings lookup.

    Faust's conductor waits on this buffer's size for every message it delivers, and ``size``
    looked up the ``producer_threaded`` setting each time (bench/PROFILE.md). The worker never
    runs the threaded producer, so the size is the queue's length.
    """

    @property
    def size(self) -> int:
        """Messages waiting to be produced."""
        return self.pending.qsize()


class Producer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with :class:`UnthreadedProducerBuffer`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.threaded_producer is None:
            self.buffer = UnthreadedProducerBuffer(loop=self.loop, beacon=self.beacon)
            self.buffer.app = self.app


class IdempotentProducer(Producer):
    """The producer on Apache Kafka: idempotent (Faust turns it on only inside transactions).

    A batch sent again after its answer was lost (a leader killed or frozen mid-request) is
    dropped by the broker instead of written twice, and aiokafka never expires an idempotent
    batch, so a window waits out a broker outage instead of failing after the request timeout
    (docs/DEPLOYING.md, "Producer settings"; tests/reliability/test_cluster_faults.py). The
    embedded Tansu refuses the producer id it needs, so its transport keeps :class:`Producer`.
    """

    def _settings_extra(self) -> Any:
        """aiokafka's extra settings: idempotence, with ``acks=all`` (which it requires)."""
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Transport(faust_aiokafka.Transport):
    """Selected by ``streamskafka://host:port``."""

    Consumer = GaplessConsumer
    Producer: ClassVar[type[faust_aiokafka.Producer]] = IdempotentProducer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
