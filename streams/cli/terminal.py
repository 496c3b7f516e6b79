"""What the commands print of records producers wrote, without letting it drive the terminal."""

from __future__ import annotations

import re
from typing import Final

import orjson

#: What a terminal would obey rather than show: C0 and C1 controls and DEL (escape sequences,
#: bells, cursor moves), and the Unicode bidi controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM),
#: which reorder what follows them on the line.
_TERMINAL_UNSAFE: Final = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_safe(text: str) -> str:
    """Escape terminal controls as ``\\uXXXX``: inside a JSON string that is the same value, so
    a JSON line stays valid JSON and parses to what was consumed."""
    return _TERMINAL_UNSAFE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def tail_line(value: bytes) -> str:
    """One consumed record as a JSON line safe to print: any string in it comes from a producer
    (``event_id``, ``source``...), so terminal controls are escaped; a value that is not JSON
    is shown as ``{"raw": ...}``."""
    try:
        line = orjson.dumps(orjson.loads(value))
    except orjson.JSONDecodeError:
        line = orjson.dumps({"raw": value.decode("utf-8", "replace")})
    return terminal_safe(line.decode())
