"""``streams worker``: run a production worker, configured only by STREAMS_* variables."""

from __future__ import annotations

import asyncio
import sys

import click

from streams.cli.errors import config_errors
from streams.settings import Settings
from streams.settings_base import load_settings


@click.command()
def worker() -> None:
    """Run a production worker; every setting comes from STREAMS_* variables."""
    from streams.sdk.config import IMSettings
    from streams.worker import Worker

    with config_errors():
        settings = load_settings(Settings)
        runner = Worker(settings, load_settings(IMSettings))
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
