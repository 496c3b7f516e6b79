"""The settings a window reads, declared here so the window never imports :mod:`streams.settings`.

The worker's settings extend the broker settings of :mod:`streams.client`, which imports
aiokafka; the window declares the few values it reads as a protocol instead, which
:class:`streams.settings.Settings` satisfies as it is (mypy checks that where the worker builds
the window). :class:`OnRetryExhausted` lives here for the same reason, and the settings import
it from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class OnRetryExhausted(StrEnum):
    """What a window does when retries run past the deadline."""

    FAIL = "fail"
    STOP = "stop"


class WindowSettings(Protocol):
    """What a window reads of the worker's settings (``STREAMS_*``, documented there)."""

    @property
    def changes_topic(self) -> str: ...

    @property
    def max_message_bytes(self) -> int: ...

    @property
    def max_clock_skew_s(self) -> float: ...

    @property
    def state_retention_s(self) -> float: ...

    @property
    def dead_letter_max_bytes(self) -> int: ...

    @property
    def sdk_retry_deadline_s(self) -> float: ...

    @property
    def on_retry_exhausted(self) -> OnRetryExhausted: ...
