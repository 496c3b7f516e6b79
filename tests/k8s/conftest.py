"""Rendered manifests, shared by the tests of this directory (rendered once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.k8s.manifests import SECRET_EXAMPLE, Doc, copy_k8s, kustomize, load_yaml


@pytest.fixture(scope="session")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """k8s/ copied with placeholder files for the overlay's secretGenerator."""
    return copy_k8s(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="session")
def base_docs(k8s_copy: Path) -> list[Doc]:
    return kustomize(k8s_copy / "base")


@pytest.fixture(scope="session")
def overlay_docs(k8s_copy: Path) -> list[Doc]:
    return kustomize(k8s_copy / "overlays" / "example")


@pytest.fixture(scope="session")
def example_secrets() -> list[Doc]:
    return load_yaml(SECRET_EXAMPLE)
