"""``streams tail``: print outcomes as JSON lines, each event's authoritative one once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import click

from streams.cli.errors import run_kafka, settings_of
from streams.cli.terminal import tail_line
from streams.settings import Settings


@click.command()
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

    settings = settings_of(Settings)
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

    run_kafka(settings, run())
