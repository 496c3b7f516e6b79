"""``streams demo``: the whole job on the embedded default, checked end to end.

Starts the embedded broker, the IM emulator and a worker (each its own process, as in
production), publishes a sample workload, waits for one outcome per published message, prints a
summary, and compares the emulator's final state with last-write-wins computed from the input.
Exits non-zero on any mismatch.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from streams.client.publisher import key_of
from streams.core.decode import decode
from streams.core.records import Change, Envelope, Position
from streams.settings import Settings
from streams_devkit.broker import EmbeddedBroker, create_topics, die_with_parent, terminate
from streams_devkit.kafka_io import consume, produce
from streams_devkit.workload import demo_workload

PARTITIONS = 4
OUTCOME_TIMEOUT_S = 90.0
_LISTENING = re.compile(rb"emulator listening on (http://127\.0\.0\.1:\d+)")


def _child(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "streams", *args], env=env, stdout=out, stderr=out,
            preexec_fn=die_with_parent,
        )  # fmt: skip


@contextmanager
def _running(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        terminate(proc, timeout_s=15)


def _wait_for_emulator(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_bytes())
        if found:
            return found.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise click.ClickException(f"emulator did not start:\n{log.read_text(errors='replace')}")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback http
        return orjson.loads(response.read())


def expected_state(
    lines: list[bytes], positions: list[tuple[int, int]], topic: str
) -> dict[str, dict[str, str]]:
    """Last-write-wins over the valid published changes: user -> conversation -> value."""
    best: dict[str, Change] = {}
    now = datetime.now(UTC)
    for line, (partition, offset) in zip(lines, positions, strict=True):
        envelope = Envelope(key_of(line), line, Position(topic, partition, offset), PARTITIONS)
        item = decode(envelope, now=now, max_skew=timedelta(seconds=300), max_bytes=1 << 20)
        if isinstance(item, Change):
            current = best.get(item.conversation)
            if current is None or item.order > current.order:
                best[item.conversation] = item
    state: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for change in best.values():
        state[change.change.user_id][change.change.conversation_id] = change.change.custom_data
    return state


async def _collect(
    bootstrap: str, topic: str, wanted: set[tuple[int, int]]
) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    deadline = time.monotonic() + OUTCOME_TIMEOUT_S
    while not wanted <= seen and time.monotonic() < deadline:
        outcomes.clear()
        seen.clear()
        async for record in consume(bootstrap, topic, idle_s=2.0):
            doc = orjson.loads(record.value)
            outcomes.append(doc)
            seen.add((doc["source"]["partition"], doc["source"]["offset"]))
            if wanted <= seen:
                break
    missing = wanted - seen
    if missing:
        raise click.ClickException(f"{len(missing)} published messages got no outcome")
    return outcomes


def run_demo() -> int:
    """Run the demo; return the process exit code."""
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="streams-demo-"))
    secret = secrets.token_hex(16)
    env = {
        **os.environ,
        "STREAMS_IM_SDKAPPID": "1400000000",
        "STREAMS_IM_ADMIN": "administrator",
        "STREAMS_IM_SECRET_KEY": secret,
    }
    click.echo(f"demo workspace: {workdir}")
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap
        click.echo(f"broker: {bootstrap} (Tansu, memory storage)")
        topics = {settings.changes_topic: PARTITIONS, settings.outcomes_topic: PARTITIONS,
                  settings.dead_letter_topic: PARTITIONS}  # fmt: skip
        asyncio.run(create_topics(bootstrap, topics))
        emu_log = workdir / "emulator.log"
        emu_args = ["emulator", "--port", "0", "--db", str(workdir / "im.sqlite3")]
        with _running(_child(emu_args, env, emu_log)) as emulator:
            im_url = _wait_for_emulator(emulator, emu_log)
            click.echo(f"IM emulator: {im_url}")
            worker_env = {
                **env,
                "STREAMS_BROKER": f"kafka://{bootstrap}",
                "STREAMS_SDK": "tencent",
                "STREAMS_IM_ENDPOINT": im_url,
                "STREAMS_EMBEDDED_BROKER": "true",
                "STREAMS_TABLE_STORE": "memory://",
                "STREAMS_DATA_DIR": str(workdir / "worker-data"),
                "STREAMS_WEB_PORT": "0",
                "STREAMS_TOPIC_PARTITIONS": str(PARTITIONS),
                "STREAMS_APP_ID": f"demo-{secrets.token_hex(4)}",
            }
            with _running(_child(["worker"], worker_env, workdir / "worker.log")) as worker:
                return _exercise(bootstrap, settings, im_url, worker, workdir)


def _exercise(
    bootstrap: str, settings: Settings, im_url: str, worker: subprocess.Popen[bytes], workdir: Path
) -> int:
    lines = demo_workload()
    started = time.monotonic()
    positions = asyncio.run(
        produce(bootstrap, settings.changes_topic, [(key_of(line), line) for line in lines])
    )
    click.echo(f"published {len(lines)} changes; waiting for their outcomes...")
    outcomes = asyncio.run(_collect(bootstrap, settings.outcomes_topic, set(positions)))
    elapsed = time.monotonic() - started
    if worker.poll() is not None:
        raise click.ClickException(
            f"worker exited with {worker.returncode}; see {workdir}/worker.log"
        )
    first: dict[tuple[int, int], dict[str, Any]] = {}
    for doc in outcomes:
        first.setdefault((doc["source"]["partition"], doc["source"]["offset"]), doc)
    statuses = collections.Counter(doc["status"] for doc in first.values())
    stats = _get_json(f"{im_url}/debug/stats")
    applied = statuses.get("applied", 0)
    click.echo("\noutcomes per status:")
    for status, count in sorted(statuses.items()):
        click.echo(f"  {status:<11} {count:>6}")
    click.echo(f"SDK requests: {stats['requests']}  (applied changes per request: "
               f"{applied / max(1, stats['requests']):.1f})")  # fmt: skip
    click.echo(f"end to end: {len(lines)} events in {elapsed:.1f} s "
               f"({len(lines) / elapsed:.0f} events/s, includes worker start-up)")  # fmt: skip
    expected = expected_state(lines, positions, settings.changes_topic)
    mismatches = 0
    for user, conversations in sorted(expected.items()):
        actual = _get_json(f"{im_url}/debug/state?user={user}")
        for conversation, value in conversations.items():
            if actual.get(conversation, "") != value:
                mismatches += 1
                click.echo(f"MISMATCH {user} {conversation}: IM has {actual.get(conversation)!r}, "
                           f"last write is {value!r}", err=True)  # fmt: skip
    checked = sum(len(c) for c in expected.values())
    if mismatches:
        click.echo(f"\nFAILED: {mismatches} of {checked} conversations differ", err=True)
        return 1
    click.echo(f"\nOK: all {checked} conversations hold their last write; "
               f"every one of {len(lines)} messages has an outcome")  # fmt: skip
    return 0
