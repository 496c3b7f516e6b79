"""The dependency locks (requirements/*.lock, written by ``make lock``) agree with pyproject.toml.

The image installs requirements/worker.lock and ``make``/CI install requirements/dev.lock (the
worker, its test extra and the development kit of devkit/), both with ``pip install
--require-hashes``. These checks fail when a dependency changes in pyproject.toml or
devkit/pyproject.toml without ``make lock`` in the same commit, and when the image's versions drift
from the ones the tests ran.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.k8s.locks import DEV_LOCK, WORKER_LOCK, Pin, read_lock
from tests.k8s.manifests import ROOT

PYPROJECT = ROOT / "pyproject.toml"
DEVKIT_PYPROJECT = ROOT / "devkit" / "pyproject.toml"

#: Pinned exactly in pyproject.toml: the worker subclasses their internals.
EXACT = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}

#: Security floors (pyproject.toml says which advisories each one clears).
FLOORS = {"aiohttp": "3.14.3", "orjson": "3.11.6"}


def requirements(*extras: str, pyproject: Path = PYPROJECT) -> list[Requirement]:
    """A pyproject.toml's dependencies, plus those of ``extras``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


def devkit_requirements() -> list[Requirement]:
    """The development kit's dependencies but the worker (installed from this repository)."""
    worker = tomllib.loads(PYPROJECT.read_text())["project"]["name"]
    return [r for r in requirements(pyproject=DEVKIT_PYPROJECT) if r.name != worker]


def unsatisfied(reqs: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    """Requirements the lock lacks or pins outside their specifier."""
    problems = []
    for req in reqs:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not locked")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} but the lock has {pin.version}")
    return problems


def test_the_worker_lock_satisfies_pyproject() -> None:
    problems = unsatisfied(requirements(), read_lock(WORKER_LOCK))
    assert problems == [], f"run `make lock` and commit the locks: {problems}"


def test_the_dev_lock_satisfies_pyproject_its_test_extra_and_the_devkit() -> None:
    problems = unsatisfied(requirements("test") + devkit_requirements(), read_lock(DEV_LOCK))
    assert problems == [], f"run `make lock` and commit the locks: {problems}"


def test_every_locked_version_has_hashes() -> None:
    for lock in (WORKER_LOCK, DEV_LOCK):
        pins = read_lock(lock)
        assert pins, lock
        assert [name for name, pin in pins.items() if not pin.hashes] == [], lock.name


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    worker, dev = read_lock(WORKER_LOCK), read_lock(DEV_LOCK)
    assert set(worker) <= set(dev)
    drift = {name: (pin.version, dev[name].version) for name, pin in worker.items()}
    assert {name: v for name, v in drift.items() if v[0] != v[1]} == {}
    assert [name for name, pin in worker.items() if pin.hashes != dev[name].hashes] == []


def test_faust_mode_and_aiokafka_are_pinned_exactly_and_floors_hold() -> None:
    declared = {canonicalize_name(r.name): r for r in requirements()}
    for name, version in EXACT.items():
        assert str(declared[name].specifier) == f"=={version}", declared[name]
    locked = read_lock(WORKER_LOCK)
    for name, floor in FLOORS.items():
        assert declared[name].specifier.contains(floor)
        assert not declared[name].specifier.contains(_below(floor)), declared[name]
        assert Requirement(f"{name}>={floor}").specifier.contains(locked[name].version)


def _below(version: str) -> str:
    """The patch release before ``version`` (3.14.3 -> 3.14.2)."""
    major, minor, patch = (int(part) for part in version.split("."))
    return f"{major}.{minor}.{patch - 1}" if patch else f"{major}.{minor - 1}.999"


def test_the_test_environment_is_the_dev_lock() -> None:
    """The versions installed here are the locked ones (``make`` installs the dev lock)."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {
        name: (pin.version, installed.get(name))
        for name, pin in read_lock(DEV_LOCK).items()
        if (pin.marker is None or Marker(pin.marker).evaluate())
        and installed.get(name) != pin.version
    }
    assert differ == {}, f"(locked, installed); reinstall with `make clean test`: {differ}"
