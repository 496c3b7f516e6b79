"""The configuration reference, generated from the settings' own fields and descriptions.

``python -m streams.config_reference`` rewrites ``docs/CONFIGURATION.md``; a test fails when the
file drifts from :class:`streams.settings.Settings` and :class:`streams.sdk.config.IMSettings`,
so the reference can never describe a variable the worker does not read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from streams.sdk.config import IMSettings
from streams.settings import Settings

TARGET = Path("docs/CONFIGURATION.md")
HEADER = """# Configuration reference

Generated from the settings classes by `python -m streams.config_reference`; do not edit by
hand. Every variable is read from the environment (a Kubernetes Secret for the secrets) when the
worker starts; a missing or malformed one stops it with a message naming the variable and the
rule it broke, never the value. Secrets are never logged, echoed or put in errors.
"""


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{getattr(value, 'value', value)}`"


def _bounds(field: FieldInfo) -> str:
    parts: list[str] = []
    for rule in field.metadata:
        if isinstance(rule, Ge):
            parts.append(f">= {rule.ge}")
        elif isinstance(rule, Gt):
            parts.append(f"> {rule.gt}")
        elif isinstance(rule, Le):
            parts.append(f"<= {rule.le}")
    return ", ".join(parts)


def _rows(model: type[BaseModel]) -> list[str]:
    prefix = str(model.model_config.get("env_prefix", ""))
    rows = []
    for name, field in model.model_fields.items():
        description = " ".join((field.description or "").split())
        bounds = _bounds(field)
        cells: Any = (f"`{prefix}{name.upper()}`", _default(field), bounds, description)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def render() -> str:
    """The whole reference, as committed."""
    lines = [HEADER]
    for title, model in (
        ("Worker (`STREAMS_*`)", Settings),
        ("IM client (`STREAMS_IM_*`)", IMSettings),
    ):
        lines += [
            f"## {title}",
            "",
            "| variable | default | bounds | meaning |",
            "|---|---|---|---|",
        ]
        lines += [*_rows(model), ""]
    return "\n".join(lines)


def main() -> None:
    """Write the reference to ``docs/CONFIGURATION.md`` (or the path given)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    target.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
