"""Shared fixtures: the real embedded broker and IM emulator, started by the tests themselves."""

pytest_plugins = ["tests.fixtures.emulator", "tests.fixtures.broker", "tests.fixtures.pipeline"]
