"""The suite's own guards work: a hanging test fails, and a run that collects nothing fails CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Stamps `make test` depends on; `make -o` keeps it from rebuilding them (no install here).
STAMPS = (".venv/.installed", "tools/asyncapi/node_modules/.installed",
          "devkit/kafka/target/lib/.resolved")  # fmt: skip


def test_the_per_test_timeout_is_active(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout is not loaded"
    assert float(request.config.getini("timeout")) == 300


def test_a_hanging_test_fails_on_its_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text(
        "import threading\n\ndef test_hangs():\n    threading.Event().wait()\n"
    )
    # The project's own configuration, its 300 s shortened to 2 s for this run.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-o", "timeout=2", "-p", "no:cacheprovider", "-q",
         str(tmp_path / "test_hang.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "Failed: Timeout" in run.stdout, run.stdout


def test_collecting_no_tests_exits_5(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, run.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("pytest_exit", "make_fails"), [(5, True), (0, False)])
def test_make_test_fails_when_pytest_collects_nothing(
    tmp_path: Path, pytest_exit: int, make_fails: bool
) -> None:
    """`make test` (what .ci/run execs) with stand-ins for ruff, mypy and pytest in BIN."""
    for tool, code in (("ruff", 0), ("mypy", 0), ("pytest", pytest_exit)):
        script = tmp_path / tool
        script.write_text(f"#!/bin/sh\nexit {code}\n")
        script.chmod(0o755)
    keep = [arg for stamp in STAMPS for arg in ("-o", stamp)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    run = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "test", f"BIN={tmp_path}", *keep],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert (run.returncode != 0) == make_fails, run.stdout + run.stderr
