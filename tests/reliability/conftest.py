"""Fixtures of the reliability tests: the ``soak`` marker, figures, and pipelines with own env.

The soak variants run only with ``--soak`` (when this directory is on the command line, e.g.
``pytest tests/reliability --soak``) or ``STREAMS_SOAK=1``; by default they are deselected.
Every test records its figures with the ``figures`` fixture: they are printed (``-s``), written
to ``<tmp_path>/figures.json`` and, when ``STREAMS_RELIABILITY_FIGURES`` names a file, appended
to it as one JSON line per test (what docs/RELIABILITY.md is filled from).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fixtures.pipeline import MakePipeline

SOAK_ENV = "STREAMS_SOAK"
FIGURES_ENV = "STREAMS_RELIABILITY_FIGURES"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False, help="run the soak variants")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long reliability variants (--soak / STREAMS_SOAK=1)")


def soak_enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--soak", default=False)) or os.environ.get(SOAK_ENV) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_enabled(config):
        return
    deselected = [item for item in items if item.get_closest_marker("soak")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture
def figures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A dict the test fills with its figures; reported when the test ends (pass or fail)."""
    found: dict[str, Any] = {}
    yield found
    line = orjson.dumps({"test": request.node.nodeid, **found}, default=str)
    (tmp_path / "figures.json").write_bytes(line + b"\n")
    print(f"\nRELIABILITY {line.decode()}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with Path(target).open("ab") as out:
            out.write(line + b"\n")


@pytest.fixture
def reliable_pipeline(pipeline_factory: MakePipeline) -> MakePipeline:
    """``pipeline_factory`` under the name these tests use (emulator_env, worker_env, knobs)."""
    return pipeline_factory
