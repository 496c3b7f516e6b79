"""schemas/asyncapi.yaml is a valid AsyncAPI 3 document that matches the worker.

Validated offline by the AsyncAPI project's own parser (npm ``@asyncapi/parser``, installed by
``make test`` from tools/asyncapi/package-lock.json), through tools/asyncapi/validate.cjs, which
also checks each JSON Schema 2020-12 payload with Ajv. A missing parser fails, never skips. The
parser must also refuse broken copies, so a validator that accepts anything cannot pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from streams.contract.generate import DIRECTORY, MODELS
from streams.core import origin
from streams.core.dead_letters import SOURCE_HEADERS
from streams.settings import Settings

TOOLS: Final = Path(__file__).resolve().parents[2] / "tools" / "asyncapi"
DOCUMENT: Final = DIRECTORY / "asyncapi.yaml"
CUT_HEADERS: Final = [
    f"{prefix}{part}{suffix}"
    for part in ("key", "value")
    for prefix, suffix in (("original-", "-size"), ("original-", "-sha256"), ("", "-truncated-to"))
]


def run_parser(document: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js 18+) is not on PATH: the AsyncAPI check needs it")
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            "the AsyncAPI parser is not installed: run `make test` (or `make asyncapi-parser`), "
            "which installs tools/asyncapi with npm ci"
        )
    return subprocess.run(
        [node, str(TOOLS / "validate.cjs"), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    result = run_parser(DOCUMENT)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_document_is_valid_asyncapi_3(summary: dict[str, Any]) -> None:
    assert summary["asyncapi"].startswith("3.")
    assert summary["version"].split(".")[0] == "1"  # the schemas' v1


def test_the_channels_are_the_worker_s_topics(summary: dict[str, Any]) -> None:
    settings = Settings.model_fields
    addresses = {name: channel["address"] for name, channel in summary["channels"].items()}
    assert addresses == {
        "changes": settings["changes_topic"].default,
        "outcomes": settings["outcomes_topic"].default,
        "deadLetters": settings["dead_letter_topic"].default,
    }
    text = DOCUMENT.read_text(encoding="utf-8")
    for variable in ("CHANGES_TOPIC", "OUTCOMES_TOPIC", "DEAD_LETTER_TOPIC", "APP_ID"):
        assert f"STREAMS_{variable}" in text


def test_the_operations_are_the_worker_s(summary: dict[str, Any]) -> None:
    operations = {
        name: (op["action"], op["channels"], op["messages"])
        for name, op in summary["operations"].items()
    }
    assert operations == {
        "receiveChanges": ("receive", ["changes"], ["change", "forwardedChange"]),
        "forwardMisroutedChange": ("send", ["changes"], ["forwardedChange"]),
        "sendOutcome": ("send", ["outcomes"], ["outcome"]),
        "sendDeadLetter": ("send", ["deadLetters"], ["deadLetter"]),
    }


def test_payloads_are_the_generated_schemas(summary: dict[str, Any]) -> None:
    ids = {json.loads((DIRECTORY / name).read_text("utf-8"))["$id"] for name in MODELS}
    messages = summary["messages"]
    for name in ("change", "forwardedChange", "outcome"):
        assert messages[name]["schemaFormat"] == "application/schema+json;version=2020-12"
        assert messages[name]["payloadId"] in ids
    assert messages["outcome"]["payloadId"].endswith(":outcome.schema.json")


def test_headers_are_the_worker_s(summary: dict[str, Any]) -> None:
    messages = summary["messages"]
    assert messages["deadLetter"]["headers"] == [*SOURCE_HEADERS, *CUT_HEADERS]
    assert messages["outcome"]["headers"] == CUT_HEADERS[:3], "only the key is ever cut"
    assert messages["forwardedChange"]["headers"] == list(origin.NAMES)


def test_keys_and_partitioning_are_described() -> None:
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    messages = doc["components"]["messages"]
    assert messages["change"]["bindings"]["kafka"]["key"] == {
        "$ref": "#/components/schemas/userIdKey"
    }
    for needle in ("murmur2", "murmur2_random", "Sarama"):
        assert needle in schemas["userIdKey"]["description"]
    assert "null" in schemas["keyAsReceived"]["type"]
    assert "consumers must ignore them" in schemas["originHeaders"]["description"]


def _broken_copy(tmp_path: Path, old: str, new: str, file: str = "asyncapi.yaml") -> Path:
    for path in DIRECTORY.iterdir():
        if path.suffix in (".json", ".yaml"):
            shutil.copy(path, tmp_path / path.name)
    target = tmp_path / file
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path / "asyncapi.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "reported"),
    [
        ("asyncapi.yaml", "./outcome.schema.json", "./missing.schema.json", "missing.schema.json"),
        ("asyncapi.yaml", "action: send", "action: publish", '"action" property'),
        ("asyncapi.yaml", "#/components/messages/outcome", "#/components/messages/nope", "nope"),
        ("outcome.schema.json", '"type": "object"', '"type": "objekt"', "JSON Schema 2020-12"),
        ("custom_data_change.schema.json", '"pattern": "^c2c_"', '"pattern": "^c2c_(["', "regular"),
        (
            "custom_data_change.schema.json",
            '"x-max-utf8-bytes": 256',
            '"x-max-utf8-bytes": "x"',
            "x",
        ),
    ],
    ids=["missing file", "bad action", "dangling ref", "bad type", "bad pattern", "bad vendor"],
)
def test_the_parser_refuses_a_broken_document(
    tmp_path: Path, file: str, old: str, new: str, reported: str
) -> None:
    result = run_parser(_broken_copy(tmp_path, old, new, file))
    assert result.returncode == 1, result.stdout
    assert "error" in result.stderr and reported in result.stderr, result.stderr
