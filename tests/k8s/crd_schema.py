"""A CustomResourceDefinition's ``openAPIV3Schema`` as the JSON Schema check-jsonschema reads.

Used for k8s/schemas/ files taken from upstream CRDs (k8s/schemas/README.md says which):

    python -m tests.k8s.crd_schema CRD.yaml [VERSION] > k8s/schemas/<kind>-<group>-<version>.json

The conversion keeps every type, enum, pattern, format, required list and bound of the CRD and
drops what JSON Schema does not need or cannot read:

- ``description`` and the ``x-kubernetes-*`` markers (``x-kubernetes-int-or-string`` already comes
  with its ``anyOf``);
- ``nullable: true`` becomes ``null`` among the types;
- a Go/RE2 inline ``(?i)`` (case-insensitive) becomes letter classes (``a`` -> ``[aA]``), since
  JSON Schema patterns are ECMA-262, which has no inline flags;
- every object with ``properties`` gets ``additionalProperties: false`` unless it is marked
  ``x-kubernetes-preserve-unknown-fields``: the API server's strict field validation (kubectl's
  default) rejects an unknown field there, so a typo fails here too;
- the root pins ``apiVersion`` and ``kind`` and checks ``metadata`` like the other schemas of
  k8s/schemas/.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

DROPPED = {"description", "nullable"}

METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _case_insensitive(pattern: str) -> str:
    head, _, rest = pattern.partition("(?i)")
    if "\\" in rest or "[" in rest:
        raise ValueError(f"cannot rewrite (?i) in {pattern!r}: escapes or classes after it")
    return head + re.sub(r"[A-Za-z]", lambda m: f"[{m[0].lower()}{m[0].upper()}]", rest)


def convert(node: Any) -> Any:
    """One openAPIV3Schema node as JSON Schema (recursively)."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            result[key] = {name: convert(schema) for name, schema in value.items()}
        elif key == "pattern" and "(?i)" in value:
            result[key] = _case_insensitive(value)
        else:
            result[key] = convert(value)
    if node.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        result.setdefault("additionalProperties", False)
    return result


def crd_schema(crd: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """The JSON Schema of one served version of ``crd`` (the storage version by default)."""
    spec = crd["spec"]
    versions = spec["versions"]
    [chosen] = [
        v for v in versions if (v["name"] == version if version else v.get("storage", False))
    ]
    group, kind = spec["group"], spec["names"]["kind"]
    api_version = f"{group}/{chosen['name']}"
    schema = convert(chosen["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["properties"]["metadata"] = METADATA
    required = ["apiVersion", "kind", "metadata"]
    schema["required"] = required + [r for r in schema.get("required", []) if r not in required]
    annotations = crd.get("metadata", {}).get("annotations") or {}
    upstream = annotations.get("operator.prometheus.io/version") or annotations.get(
        "controller-gen.kubebuilder.io/version", "?"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:conversation-custom-data:k8s:{kind.lower()}-{api_version.replace('/', '-')}",
        "title": f"{kind} ({api_version}), from the CRD {crd['metadata']['name']} {upstream}",
        **schema,
    }


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.k8s.crd_schema CRD.yaml [VERSION]", file=sys.stderr)
        return 2
    [crd] = [d for d in yaml.safe_load_all(Path(argv[0]).read_text()) if d]
    print(json.dumps(crd_schema(crd, argv[1] if len(argv) > 1 else None), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
