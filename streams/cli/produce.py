"""``streams produce``: publish JSON lines of changes as the worker expects them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any, Final

import click
import orjson

from streams.cli.errors import run_kafka, settings_of
from streams.settings import Settings

#: Longer input lines are read no further and sent as they are (the worker rejects them): a
#: bounded read, so one line without a newline cannot take all memory.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024


def _lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the non-blank lines, each read bounded."""
    for number, line in enumerate(iter(lambda: source.readline(MAX_LINE_BYTES), b""), 1):
        if line.strip():
            yield number, line.rstrip(b"\r\n")


@click.command("produce")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--topic", help="Default: STREAMS_CHANGES_TOPIC.")
@click.option(
    "--raw",
    is_flag=True,
    help="Send lines as they are, without validation (keyed by user_id when there is one): "
    "to see how the worker rejects bad input.",
)
@click.option("--positions", is_flag=True, help="Print each record's position (JSON lines).")
def produce(source: IO[bytes], topic: str | None, raw: bool, positions: bool) -> None:
    """Publish JSON lines of changes from SOURCE (or stdin), keyed by user_id (murmur2).

    Every line is validated with the worker's own models first; one invalid line publishes
    nothing (exit 1, each problem named by its line number).
    """
    from streams.client import Publisher
    from streams.client.publisher import encode_change, key_of

    settings = settings_of(Settings)
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
            with click.progressbar(length=len(records), label="publishing", file=sys.stderr) as bar:
                return await publisher.publish_raw(records, on_sent=bar.update)

    published = run_kafka(settings, run())
    if positions:
        for p in published:
            click.echo(orjson.dumps({"partition": p.partition, "offset": p.offset}).decode())
    click.echo(f"published {len(published)} changes to {target}", err=True)
