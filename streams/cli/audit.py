"""``streams replay`` and ``streams verify``: the outcomes topic read back and acted on.

Both choose outcomes by processing time and user (the same options) and read the outcomes
topic from ``--since`` up to its current end into a ledger (:mod:`streams.client.audit`);
replay re-publishes the failed events, verify compares the IM with the last applied values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
import orjson

from streams.cli.errors import run_kafka, settings_of
from streams.cli.terminal import terminal_safe
from streams.errors import ConfigError
from streams.settings import Settings
from streams.settings_base import load_settings

if TYPE_CHECKING:  # the commands import what they use when run: `streams --help` stays quick
    from streams.client.audit import Reading
    from streams.client.ledger import Filters


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
    from streams.client.audit import read_outcomes

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


@click.command()
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
    from streams.client.audit import replay as run_replay
    from streams.client.ledger import Filters
    from streams.contract import OutcomeReason

    settings = settings_of(Settings)
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

    replays, settled = run_kafka(settings, run())
    for item in replays:
        click.echo(terminal_safe(orjson.dumps(item.report()).decode()))
    missing = sum(1 for r in replays if r.record is None)
    verb = "would re-publish" if dry_run else "re-published"
    click.echo(f"{verb} {len(replays) - missing} failed events; {missing} source records gone; "
               f"{settled} skipped (settled since)", err=True)  # fmt: skip
    if missing:
        sys.exit(1)


@click.command()
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
    from streams.client.audit import verify as run_verify
    from streams.client.ledger import Filters
    from streams.sdk.config import IMSettings

    settings = settings_of(Settings)
    im = settings_of(IMSettings)

    async def run() -> Any:
        filters = Filters(since, until, users=frozenset(users))
        reading = await _read_outcomes(settings, topic or settings.outcomes_topic, filters)
        with click.progressbar(length=0, label="reading the IM", file=sys.stderr) as bar:
            return await run_verify(im, reading, on_user=bar.update)

    result = run_kafka(settings, run())
    for line in [*result.mismatches, *result.unreadable]:
        click.echo(terminal_safe(orjson.dumps(line).decode()))
    click.echo(f"checked {result.checked} conversations: {len(result.mismatches)} differ, "
               f"{len(result.unreadable)} users unreadable", err=True)  # fmt: skip
    if result.unreadable:
        sys.exit(2)
    if result.mismatches:
        sys.exit(1)
