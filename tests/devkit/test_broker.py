"""The embedded Tansu broker really is a Kafka broker for aiokafka, and really goes away.

Everything here talks to a real Tansu subprocess; the point is to catch a broken binary, a
changed CLI or a protocol regression before the Faust tests fail in confusing ways.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams_devkit.broker import (
    BrokerError,
    EmbeddedBroker,
    create_topics,
    free_port,
    probe_kafka,
)
from tests.fixtures.guarantees import wait_for


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def broker(tansu_broker: EmbeddedBroker) -> str:
    """This module tests the embedded broker itself: Tansu, not the session's Apache Kafka."""
    return tansu_broker.bootstrap


def test_session_broker_answers_kafka(broker: str) -> None:
    host, port = broker.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert probe_kafka(host, int(port))


async def test_metadata_via_aiokafka(broker: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker)
    await consumer.start()
    try:
        assert isinstance(await consumer.topics(), set)
    finally:
        await consumer.stop()


async def test_create_topics_is_idempotent(broker: str, topic_prefix: str) -> None:
    names = {f"{topic_prefix}a": 3, f"{topic_prefix}b": 1}
    assert await create_topics(broker, names) == {name: True for name in names}
    assert await create_topics(broker, names) == {name: False for name in names}
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions == names


async def test_create_no_topics_is_a_noop(broker: str) -> None:
    assert await create_topics(broker, {}) == {}


async def test_produce_then_consume_roundtrip(broker: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    await create_topics(broker, {topic: 2})
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(20)}
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker,
        group_id=f"{topic_prefix}group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # Tansu holds JoinGroup for max(session/2, 1 s): 2 s keeps the join at ~1 s, not 5 s.
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    received: dict[bytes, bytes] = {}
    try:
        async with asyncio.timeout(30):
            while len(received) < len(sent):
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        assert record.key is not None and record.value is not None
                        received[record.key] = record.value
    finally:
        await consumer.stop()
    assert received == sent


async def test_end_offsets_after_single_record_batches(broker: str, topic_prefix: str) -> None:
    """ListOffsets(latest) is right when every batch holds one record (see EMBEDDED_BROKER.md)."""
    topic = f"{topic_prefix}offsets"
    await create_topics(broker, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=broker, max_batch_size=1)
    await producer.start()
    try:
        futures = [await producer.send(topic, b"x") for _ in range(5)]
        offsets = [(await f).offset for f in futures]
    finally:
        await producer.stop()
    assert offsets == [0, 1, 2, 3, 4]
    consumer = AIOKafkaConsumer(bootstrap_servers=broker)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        assert await consumer.end_offsets([tp]) == {tp: 5}
    finally:
        await consumer.stop()


def test_stop_closes_the_port() -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    port = broker.port
    assert bootstrap == f"127.0.0.1:{port}"
    assert broker.url == f"kafka://127.0.0.1:{port}"
    assert broker.is_running() and _port_open(port)
    pid = broker.pid
    assert pid is not None
    broker.stop()
    assert not broker.is_running()
    assert not _port_open(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    broker.stop()  # idempotent


def test_broker_dies_with_a_parent_killed_outright() -> None:
    """A demo or test run killed by SIGKILL runs no cleanup: its broker must not outlive it."""
    script = (
        "import os, signal, sys\n"
        "from streams_devkit.broker import EmbeddedBroker\n"
        "broker = EmbeddedBroker()\n"
        "broker.start()\n"
        "print(broker.port, broker.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    port, pid = (int(field) for field in parent.stdout.split())
    wait_for(
        lambda: not _port_open(port), 10, f"the orphaned broker (pid {pid}) to leave port {port}"
    )


def test_context_manager_starts_and_stops() -> None:
    with EmbeddedBroker() as broker:
        port = broker.port
        assert probe_kafka("127.0.0.1", port)
        log_path = broker.log_path
        assert log_path is not None and log_path.exists()
    assert not _port_open(port)
    assert not log_path.exists()


def test_explicit_port_and_restart_on_it() -> None:
    port = free_port()
    broker = EmbeddedBroker()
    try:
        assert broker.start(port) == f"127.0.0.1:{port}"
        with pytest.raises(BrokerError, match="already started"):
            broker.start()
        broker.stop()
        assert broker.start(port) == f"127.0.0.1:{port}"
    finally:
        broker.stop()


def test_port_in_use_is_a_clear_error(tansu_broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerError, match="already in use"):
        EmbeddedBroker().start(tansu_broker.port, timeout_s=5)
    assert tansu_broker.is_running()


def test_missing_binary_is_a_clear_error(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "no-such-tansu")
    with pytest.raises(BrokerError, match="missing or not executable"):
        EmbeddedBroker(binary=missing).start()


def test_binary_that_exits_early_reports_its_log(tmp_path: os.PathLike[str]) -> None:
    fake = os.path.join(tmp_path, "fake-tansu")
    with open(fake, "w") as fh:
        fh.write("#!/bin/sh\necho 'fake broker: refusing to start' >&2\nexit 3\n")
    os.chmod(fake, 0o755)
    with pytest.raises(BrokerError, match="refusing to start") as info:
        EmbeddedBroker(binary=fake).start(free_port(), timeout_s=5)
    assert "code 3" in str(info.value)


def test_binary_that_never_answers_times_out(tmp_path: os.PathLike[str]) -> None:
    fake = os.path.join(tmp_path, "silent-tansu")
    with open(fake, "w") as fh:
        fh.write("#!/bin/sh\necho 'silent broker up'\nexec sleep 3600\n")
    os.chmod(fake, 0o755)
    broker = EmbeddedBroker(binary=fake, stop_timeout_s=1)
    with pytest.raises(BrokerError, match="did not answer") as info:
        broker.start(free_port(), timeout_s=1)
    assert "silent broker up" in str(info.value)
    # Gave up on its own timeout, not on the binary's exit: the binary would live an hour.
    assert not broker.is_running()


def test_broker_killed_from_outside_is_detected() -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        pid = broker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not broker.is_running(), 5, "the killed broker to be seen dead")
        with pytest.raises(BrokerError, match="exited with code"):
            broker.check_alive()
    finally:
        broker.stop()


async def test_create_topics_without_broker_is_a_broker_error() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"cannot reach|timed out"):
        await create_topics(f"127.0.0.1:{port}", {f"t{uuid.uuid4().hex[:6]}": 1}, timeout_s=2)
    assert time.monotonic() - started < 10


def test_unresolvable_default_binary_is_a_clear_error(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", os.path.join(tmp_path, "no-such-tansu"))
    with pytest.raises(BrokerError, match="no Tansu broker binary"):
        EmbeddedBroker().start()
