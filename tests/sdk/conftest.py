"""The sdk tests' emulator and a client of it."""

from collections.abc import AsyncIterator

import pytest

from streams.sdk import TencentIMClient
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator, settings_for


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[TencentIMClient]:
    async with TencentIMClient(settings_for(emulator.url)) as im:
        yield im
