"""The dependency locks (requirements/*.lock, written by ``make lock``) as pins with hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.k8s.manifests import ROOT

WORKER_LOCK = ROOT / "requirements" / "worker.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    version: str
    marker: str | None
    hashes: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """``{canonical name: Pin}`` of a lock written by ``uv pip compile --generate-hashes``."""
    pins: dict[str, Pin] = {}
    name = None
    for line in path.read_text().splitlines():
        match, digest = _PIN.match(line), _HASH.search(line)
        if match:
            name = canonicalize_name(match[1])
            assert name not in pins, f"{path.name}: {name} is locked twice"
            pins[name] = Pin(match[2], match[3], frozenset())
        elif name and digest:
            pin = pins[name]
            pins[name] = Pin(pin.version, pin.marker, pin.hashes | {digest[1]})
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return pins
