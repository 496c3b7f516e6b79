"""The stop policy: what a final failed IM answer means for its outcome, or for the worker.

A permanent code is the change's own failure (``permanent``). A retryable one whose retries ran
past the deadline is ``retries_exhausted``, unless ``STREAMS_ON_RETRY_EXHAUSTED=stop``: then
the window raises :class:`~streams.errors.RetriesExhaustedError`, nothing of it is acked, and
the worker stops (the crash guard never blames a record for it).
"""

from __future__ import annotations

from streams.contract import OutcomeReason
from streams.errors import RetriesExhaustedError
from streams.window.apply import Applied
from streams.window.config import OnRetryExhausted, WindowSettings


def failure_reason(result: Applied, settings: WindowSettings) -> OutcomeReason | None:
    """The outcome's reason for ``result``: None when it applied; raises to stop the worker."""
    if result.code == 0:
        return None
    if not result.retryable:
        return OutcomeReason.PERMANENT
    if settings.on_retry_exhausted is OnRetryExhausted.STOP:
        raise RetriesExhaustedError(
            f"SDK retries for {result.change.conversation} ran past "
            f"{settings.sdk_retry_deadline_s:g} s (last code {result.code}: "
            f"{result.info}); stopping without acking the window"
        )
    return OutcomeReason.RETRIES_EXHAUSTED
