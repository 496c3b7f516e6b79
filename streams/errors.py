"""Errors shared across the application, and the one place that redacts text before it leaves."""

from __future__ import annotations

import re
from typing import Final

#: A query string: everything from '?' to the next whitespace or quote. The UserSig rides there.
_QUERY: Final = re.compile(r"\?[^\s\"'<>]*")


class ConfigError(ValueError):
    """A missing or malformed setting; the message names the environment variable."""


def redact(text: str) -> str:
    """Strip query strings (which carry the UserSig) from text bound for logs or outcomes."""
    return _QUERY.sub("?<redacted>", text)


class RetriesExhaustedError(RuntimeError):
    """Raised with ``STREAMS_ON_RETRY_EXHAUSTED=stop``: the worker exits, nothing is acked."""
