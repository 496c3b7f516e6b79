"""The development kit's ``streams`` commands: ``demo``, ``broker``, ``kafka`` and ``load``.

devkit/pyproject.toml declares them (and ``emulator``, :mod:`streams_devkit.emulator.cli`) in
the ``streams.commands`` entry-point group, which the worker's command line loads: the worker
imports nothing of the kit, and an installation without it simply has none of these commands.
Each imports what it runs when it runs, so ``streams --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import click

from streams.cli.errors import settings_of
from streams.settings import Settings


@click.command()
def demo() -> None:
    """Run the whole job on the embedded broker and emulator, and verify the result."""
    from streams_devkit.demo import run_demo

    sys.exit(run_demo())


@click.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) on loopback until interrupted."""
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


@click.command()
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


@click.command()
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
    from streams.client.connection import bootstrap_of
    from streams_devkit.kafka_io import publish_stream
    from streams_devkit.workload import LoadSpec, load_workload

    settings = settings_of(Settings)
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
