"""The sdk tests' emulator and a client of it."""

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import uvloop

from streams.sdk import TencentIMClient
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator, settings_for


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[TencentIMClient]:
    async with TencentIMClient(settings_for(emulator.url)) as im:
        yield im


#: The sdk's network code runs on both loops the worker can be given (STREAMS_EVENT_LOOP).
BOTH_LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run the client and transport tests on asyncio and on uvloop (the worker's default)."""
    if item.path.name in ("test_client.py", "test_transport.py"):
        return BOTH_LOOPS
    return {"asyncio": asyncio.new_event_loop}
