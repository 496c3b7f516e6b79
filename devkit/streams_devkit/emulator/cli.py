"""``emulator`` command: run the IM REST emulator until SIGTERM/SIGINT.

Credentials come only from the environment (``STREAMS_IM_SDKAPPID``, ``STREAMS_IM_ADMIN``,
``STREAMS_IM_SECRET_KEY``) so the secret never appears in a process listing. Knobs come from
``STREAMS_EMULATOR_<KNOB>`` and can be overridden by the matching flag.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import uvloop

from streams.contract.limits import REQUESTS_PER_SECOND
from streams_devkit.emulator.config import DEFAULT_DB, DEFAULT_HOST, DEFAULT_PORT, EmulatorConfig
from streams_devkit.emulator.server import run


def _announce(url: str) -> None:
    # The test fixture and scripts wait for this exact line; flush so a pipe sees it at once.
    click.echo(f"emulator listening on {url}")
    click.get_text_stream("stdout").flush()


@click.command("emulator")
@click.option(
    "--host", default=DEFAULT_HOST, show_default=True, help="Interface to bind (loopback only)."
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Bind a non-loopback --host, exposing the unauthenticated /debug endpoints.",
)
@click.option(
    "--port", type=int, default=DEFAULT_PORT, show_default=True, help="TCP port (0: any free)."
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite file holding marks and the write log.",
)
@click.option("--latency-ms", type=float, help="Delay before each REST answer.")
@click.option("--fail-rate", type=float, help="Share of REST calls answered 70169 (0..1).")
@click.option("--item-fail-rate", type=float, help="Share of items answered 50004 (0..1).")
@click.option("--seed", type=int, help="Seed for repeatable injected failures.")
@click.option(
    "--rate-limit",
    type=int,
    help=f"REST calls per second before 60007 ({REQUESTS_PER_SECOND}, the service's; 0: off).",
)
@click.option("--fail-conversations", help="Comma-separated conversation ids failing with 51007.")
@click.option("--http-status", type=int, help="Answer every REST call with this HTTP status.")
@click.option("--malformed", is_flag=True, default=None, help="Answer 200 with a malformed body.")
@click.option("--non-json", is_flag=True, default=None, help="Answer 200 with a non-JSON body.")
def emulator_command(host: str, port: int, db: Path, allow_remote: bool, **knobs: object) -> None:
    """Local emulator of the Tencent Cloud Chat REST API (loopback only: /debug is open)."""
    try:
        config = EmulatorConfig.from_env(
            host=host, port=port, db_path=db, allow_remote=allow_remote
        )
        flags = {name: value for name, value in knobs.items() if value is not None}
        config = dataclasses.replace(config, knobs=config.knobs.updated(flags))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    # uvloop, as the worker runs: on the benchmarks' shared cores the emulator's asyncio loop
    # cost ~15 % of its CPU per request (bench/PROFILE.md, "Latency at half rate: where the
    # time goes", on the emulator).
    uvloop.run(run(config, on_ready=_announce))
