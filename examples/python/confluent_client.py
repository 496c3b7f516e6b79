"""Publish changes and read outcomes with confluent-kafka (librdkafka), the other Python client.

    confluent_client.py produce --brokers B [--n 100 --users 20 --conversations 3 --run-id ID]
                                [--partitioner murmur2_random]
    confluent_client.py consume --brokers B [--group G --event-prefix P --expect N --timeout-s S]

The one setting that matters for the worker: **``partitioner=murmur2_random``**. librdkafka's
default, ``consistent_random``, hashes keys with CRC32, so most users' changes land on a
partition that is not theirs; the worker forwards each such change once to the right partition
(``streams_misrouted_forwards_total``) and applies it there, at the cost of a hop.
``--partitioner default`` leaves librdkafka's default in place, to see that happen.

``produce`` generates ``--n`` changes over ``--users`` users and ``--conversations``
conversations per user, with increasing versions (a later change to the same conversation
supersedes an earlier one); event, user and conversation ids start with ``--run-id``. It prints
one JSON line per record, ``{"event_id", "key", "partition", "offset"}``.

``consume`` reads the outcomes topic as a member of a consumer group and prints each event's
authoritative outcome (docs/CONTRACT.md, docs/RELIABILITY.md): deduplicated by ``source``, the
first final one (``applied``/``failed``) is authoritative, except that a later ``applied``
overrides a ``failed`` (a copy re-published by ``streams replay`` names the original ``source``:
if it succeeds, it corrects the failure). So an event's first outcome is printed, and a later one
only when it outranks it (``applied`` after anything else, ``failed`` after a non-final status),
as a correction: with ``"corrects": true`` and ``"replaces": "<earlier status>"``, like the
``corrects`` of ``streams.client.OutcomeReader``. A ``failed`` or a non-final outcome after an
``applied`` is dropped. Offsets are committed synchronously after each batch is printed.
With ``--expect N`` it stops once N sources have an outcome (exit 1 if ``--timeout-s`` passes
first); ``--event-prefix`` keeps only one run's events.

Only the standard library and confluent-kafka: a service needs nothing from this repository.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

#: How authoritative an outcome is: applied over failed over any non-final status.
RANK = {"applied": 2, "failed": 1}


def rank(status: str) -> int:
    return RANK.get(status, 0)


def generate(n: int, users: int, conversations: int, run_id: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    changes = []
    for i in range(n):
        user, conversation = i % users, (i // users) % conversations
        changes.append(
            {
                "event_id": f"{run_id}-{i:06d}",
                "user_id": f"{run_id}-user-{user:03d}",
                "conversation_id": f"c2c_{run_id}-peer-{user:03d}-{conversation}",
                "custom_data": f"from confluent-kafka #{i}",
                # RFC 3339 with seconds and an offset (no Unix times).
                "occurred_at": (now + timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
                "version": i,
                "source": "confluent-kafka-example",
            }
        )
    return changes


def produce(args: argparse.Namespace, out: TextIO) -> int:
    config: dict[str, Any] = {
        "bootstrap.servers": args.brokers,
        "client.id": "streams-example-producer-python",
        "acks": "all",
        "enable.idempotence": True,  # order kept per partition across retries
    }
    if args.partitioner != "default":
        # murmur2_random: Java's murmur2 for keyed records (random for keyless ones, which the
        # changes topic never has), exactly the partition the worker computes.
        config["partitioner"] = args.partitioner
    producer = Producer(config)
    changes = generate(args.n, args.users, args.conversations, args.run_id)
    positions: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    def delivered(index: int) -> Any:
        def callback(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"{changes[index]['event_id']}: {err}")
            else:
                positions[index] = (msg.partition() or 0, msg.offset() or 0)

        return callback

    for index, change in enumerate(changes):
        key = str(change["user_id"]).encode()  # the key is the user_id as UTF-8
        producer.produce(args.topic, json.dumps(change).encode(), key, on_delivery=delivered(index))
        producer.poll(0)  # serve delivery callbacks as the queue moves
    left = producer.flush(args.timeout_s)
    if left or errors or len(positions) != len(changes):
        print(f"producer: {left} undelivered, errors: {errors[:5]}", file=sys.stderr)
        return 1
    for index, change in enumerate(changes):
        partition, offset = positions[index]
        line = {"event_id": change["event_id"], "key": change["user_id"]}
        out.write(json.dumps(line | {"partition": partition, "offset": offset}) + "\n")
    out.flush()
    print(f"producer: published {len(changes)} changes to {args.topic}", file=sys.stderr)
    return 0


class Deduplicator:
    """The authoritative outcome per source; prints each one kept (pure: no Kafka)."""

    def __init__(self, out: TextIO, prefix: str) -> None:
        self.out, self.prefix = out, prefix
        #: source -> the status printed last for it
        self.kept: dict[tuple[str, int, int], str] = {}
        self.dropped = self.corrected = self.skipped = 0

    def offer(self, value: bytes) -> None:
        """Print the outcome if it is the first of its source, or a final one that outranks the
        one printed for it (as a correction); drop it otherwise."""
        outcome = json.loads(value)
        if not str(outcome["event_id"]).startswith(self.prefix):
            self.skipped += 1
            return
        s = outcome["source"]
        source = (s["topic"], s["partition"], s["offset"])
        status, previous = outcome["status"], self.kept.get(source)
        if previous is None:
            self.kept[source] = status
            self.out.write(value.decode() + "\n")
        elif rank(status) > rank(previous):  # only a final status outranks another
            self.kept[source] = status
            self.corrected += 1
            self.out.write(json.dumps(outcome | {"corrects": True, "replaces": previous}) + "\n")
        else:
            self.dropped += 1

    def summary(self) -> str:
        statuses = " ".join(f"{s}={n}" for s, n in sorted(Counter(self.kept.values()).items()))
        return (
            f"{len(self.kept)} sources ({statuses}); {self.dropped} redelivered outcomes dropped, "
            f"{self.corrected} corrected by a later one, {self.skipped} of other events skipped"
        )


def consume(args: argparse.Namespace, out: TextIO) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "client.id": "streams-example-consumer-python",
            "group.id": args.group,
            "auto.offset.reset": "earliest",  # a new group reads from the oldest outcome
            "enable.auto.commit": False,  # committed below, after printing
        }
    )
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dedup = Deduplicator(out, args.event_prefix)
    deadline = time.monotonic() + args.timeout_s if args.timeout_s > 0 else float("inf")
    try:
        consumer.subscribe([args.topic])
        while not stopping and time.monotonic() < deadline:
            if args.expect and len(dedup.kept) >= args.expect:
                break
            messages = consumer.consume(num_messages=500, timeout=0.5)
            for msg in messages:
                error = msg.error()
                if error is not None:
                    if error.fatal():
                        raise KafkaException(error)
                    print(f"consumer: {error}", file=sys.stderr)
                    continue
                try:
                    dedup.offer(msg.value() or b"")
                except (ValueError, KeyError, TypeError) as exc:
                    where = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
                    print(f"consumer: skipping {where}: not an outcome: {exc!r}", file=sys.stderr)
            out.flush()
            # Partitions move only inside consume(): all printed here is committed before.
            if any(msg.error() is None for msg in messages):
                consumer.commit(asynchronous=False)
    finally:
        out.flush()
        consumer.close()  # leaves the group
    print(f"consumer: {dedup.summary()}", file=sys.stderr)
    if args.expect and len(dedup.kept) < args.expect:
        print(
            f"consumer: FAILED: {len(dedup.kept)} of {args.expect} expected sources "
            "before the timeout",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("produce", help="publish generated changes")
    pub.add_argument("--brokers", default="127.0.0.1:9092")
    pub.add_argument("--topic", default="conversation-custom-data-changes")
    pub.add_argument("--n", type=int, default=100)
    pub.add_argument("--users", type=int, default=20)
    pub.add_argument("--conversations", type=int, default=3)
    pub.add_argument("--run-id", default=f"py-{time.time_ns()}")
    pub.add_argument(
        "--partitioner",
        default="murmur2_random",
        help="librdkafka's partitioner; murmur2_random (Java's) or `default` (consistent_random)",
    )
    pub.add_argument("--timeout-s", type=float, default=60.0)
    sub = commands.add_parser("consume", help="read outcomes in a consumer group")
    sub.add_argument("--brokers", default="127.0.0.1:9092")
    sub.add_argument("--topic", default="conversation-custom-data-outcomes")
    sub.add_argument("--group", default="streams-example-outcomes-python")
    sub.add_argument("--event-prefix", default="")
    sub.add_argument("--expect", type=int, default=0)
    sub.add_argument("--timeout-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    return produce(args, sys.stdout) if args.command == "produce" else consume(args, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
