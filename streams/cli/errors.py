"""What a command's failure becomes: one line naming why (exit 1), never a traceback.

A bad setting names its variable (:func:`streams.settings_base.load_settings` says which, never
the value); a broker that cannot be reached, or refuses the certificate or the credentials, is
named by one connection made before the command's work starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic_settings import BaseSettings

from streams.errors import ConfigError
from streams.settings_base import load_settings

if TYPE_CHECKING:  # imported when a command runs: `streams --help` stays quick
    from streams.client.connection import BrokerSettings

T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)


@contextmanager
def config_errors() -> Iterator[None]:
    """A ConfigError raised inside becomes a ClickException: its message, exit 1."""
    try:
        yield
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def settings_of(cls: type[S]) -> S:
    """``cls`` loaded from the environment; a bad setting is one line naming the variable."""
    with config_errors():
        return load_settings(cls)


def run_kafka(settings: BrokerSettings, work: Coroutine[Any, Any, T]) -> T:
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
