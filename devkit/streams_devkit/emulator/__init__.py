"""Local emulator of the Tencent Cloud Chat REST API (``mark_contact``, ``get_list``) for tests.

It answers in the real shape with the real error codes, keeps its state in SQLite with an
ordered write log, and has knobs that inject latency and failures. Loopback only.
"""

from streams_devkit.emulator.config import EmulatorConfig, Knobs
from streams_devkit.emulator.server import create_app, run

__all__ = ["EmulatorConfig", "Knobs", "create_app", "run"]
