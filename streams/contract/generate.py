"""Write the JSON Schema files generated from the models (``python -m streams.contract.generate``).

The files are committed so that producers in other languages can validate against them; a test
fails when they drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from streams.contract.models import CustomDataChange, Outcome
from streams.contract.results import ValueCallback

MODELS: dict[str, type[BaseModel]] = {
    "custom_data_change.schema.json": CustomDataChange,
    "outcome.schema.json": Outcome,
    "value_callback.schema.json": ValueCallback,
}
#: The repository's language-neutral ``schemas/`` folder (not part of the installed package).
DIRECTORY = Path(__file__).resolve().parents[2] / "schemas"


def render(model: type[BaseModel]) -> str:
    """The schema text committed for ``model`` (stable key order, trailing newline)."""
    schema = model.model_json_schema(mode="serialization" if model is Outcome else "validation")
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Regenerate every schema file in the repository's ``schemas/`` folder."""
    for name, model in MODELS.items():
        (DIRECTORY / name).write_text(render(model), encoding="utf-8")


if __name__ == "__main__":
    main()
