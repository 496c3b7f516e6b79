"""The image definition and the Kubernetes manifests, validated offline.

Every validator is also shown to reject a broken variant, so none of these checks can pass
vacuously: kubernetes-validate (strict) for built-in kinds, check-jsonschema with k8s/schemas/
for custom resources, yamllint, kustomize, hadolint, and the cross-checks of tests/k8s/checks.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.errors import ConfigError
from streams.sdk.config import IMSettings
from streams.settings import Settings
from streams.settings_base import load_settings
from tests.k8s import checks
from tests.k8s.image_checks import dockerfile_problems, dockerignore_problems
from tests.k8s.manifests import (
    DOCKERFILE,
    DOCKERIGNORE,
    K8S,
    OVERLAY,
    OVERLAY_SECRET_FILES,
    SCHEMAS,
    SECRET_EXAMPLE,
    YAMLLINT_CONFIG,
    Doc,
    ToolError,
    copy_k8s,
    kustomize,
    load_yaml,
    run,
    schema_for,
    tool,
    validate,
)

CUSTOM_KINDS = {"KafkaTopic", "ScaledObject", "TriggerAuthentication"}
#: k8s/monitoring's custom resources (the Prometheus Operator's), rendered by the overlay.
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
APP_KINDS = {
    "ServiceAccount",
    "ConfigMap",
    "StatefulSet",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ScaledObject",
    "TriggerAuthentication",
    "KafkaTopic",
}


@pytest.fixture(params=["base", "overlay"])
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    """Both renderings: the base and the example overlay."""
    return list(request.getfixturevalue(f"{request.param}_docs"))


def mutated(docs: list[Doc], kind: str, change: Callable[[Doc], Any]) -> list[Doc]:
    """A deep copy of ``docs`` with ``change`` applied to every document of ``kind``."""
    result = copy.deepcopy(docs)
    for doc in result:
        if doc.get("kind") == kind:
            change(doc)
    return result


def pod(doc: Doc) -> Doc:
    """The pod spec of a StatefulSet document (the same object, for changing it)."""
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def container(doc: Doc) -> Doc:
    """The first container of a StatefulSet document (the same object)."""
    first: Doc = pod(doc)["containers"][0]
    return first


# ---------------------------------------------------------------------------------------------
# kustomize


def test_kustomize_renders_the_base_and_the_overlay(
    base_docs: list[Doc], overlay_docs: list[Doc]
) -> None:
    assert {d["kind"] for d in base_docs} == APP_KINDS
    assert {d["kind"] for d in overlay_docs} == APP_KINDS | MONITORING_KINDS | {
        "Namespace",
        "Secret",
    }
    kafka_topics = checks.select(overlay_docs, "KafkaTopic")
    assert len(kafka_topics) == 6
    # The overlay namespaces the app but leaves the KafkaTopics where the Topic Operator looks.
    assert {d["metadata"]["namespace"] for d in kafka_topics} == {"kafka"}
    app = [d for d in overlay_docs if d["kind"] not in {"KafkaTopic", "Namespace"}]
    assert {d["metadata"]["namespace"] for d in app} == {"conversation-streams"}
    # Generated names (hash suffixes) are followed everywhere, KEDA's Secret references too.
    secrets = {d["metadata"]["name"] for d in checks.select(overlay_docs, "Secret")}
    assert all(re.fullmatch(r"streams-(credentials|kafka-ca)-[a-z0-9]{10}", s) for s in secrets)
    assert checks.check_references(overlay_docs) == []


def test_kustomize_fails_on_a_missing_resource(tmp_path: Path) -> None:
    k8s = copy_k8s(tmp_path)
    kustomization = k8s / "base" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("  - poddisruptionbudget.yaml", "  - pdb.yaml")
    )
    with pytest.raises(ToolError, match=r"pdb\.yaml"):
        kustomize(k8s / "base")


def test_overlay_resources_and_patches_target_what_the_base_renders(
    base_docs: list[Doc], tmp_path: Path
) -> None:
    assert checks.check_overlay_patches(OVERLAY, base_docs) == []

    overlay = copy_k8s(tmp_path) / "overlays" / "example"
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text()
    text = text.replace(
        "      kind: NetworkPolicy\n      name: streams",
        "      kind: NetworkPolicy\n      name: streams-netpol",
    )
    text = text.replace("  - namespace.yaml", "  - namespaces.yaml")
    kustomization.write_text(text)
    problems = checks.check_overlay_patches(overlay, base_docs)
    assert any("streams-netpol" in p for p in problems), problems
    assert any("namespaces.yaml" in p for p in problems), problems


def test_secret_generator_files_are_never_committed() -> None:
    kustomization = load_yaml(OVERLAY / "kustomization.yaml")[0]
    sources = {
        Path(entry.split("=", 1)[-1]).name
        for generator in kustomization["secretGenerator"]
        for entry in [*generator.get("envs", []), *generator.get("files", [])]
    }
    assert sources == set(OVERLAY_SECRET_FILES)
    ignored = set((OVERLAY / "secrets" / ".gitignore").read_text().split())
    assert sources <= ignored


def test_committed_secret_values_are_placeholders(tmp_path: Path) -> None:
    committed = [SECRET_EXAMPLE, OVERLAY / "secrets" / "credentials.env.example"]
    assert checks.check_placeholders(committed) == []

    leaked = tmp_path / "credentials.env.example"
    leaked.write_text("STREAMS_IM_SECRET_KEY=0123456789abcdef\n")
    assert checks.check_placeholders([leaked]) == [
        "credentials.env.example: STREAMS_IM_SECRET_KEY is not a placeholder"
    ]


# ---------------------------------------------------------------------------------------------
# Schemas: kubernetes-validate (built-in kinds) and check-jsonschema (custom resources)


def test_every_rendered_document_is_schema_valid(docs: list[Doc], tmp_path: Path) -> None:
    assert {d["kind"] for d in docs} >= CUSTOM_KINDS
    assert validate(docs, tmp_path) == []


def test_the_secret_example_is_schema_valid(example_secrets: list[Doc], tmp_path: Path) -> None:
    assert [d["kind"] for d in example_secrets] == ["Secret", "Secret"]
    assert validate(example_secrets, tmp_path) == []


def test_custom_resource_schemas_are_valid_json_schemas() -> None:
    schemas = sorted(SCHEMAS.glob("*.json"))
    assert len(schemas) == len(CUSTOM_KINDS | MONITORING_KINDS)
    result = run([tool("check-jsonschema"), "--check-metaschema", *map(str, schemas)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_cli_strict(overlay_docs: list[Doc], tmp_path: Path) -> None:
    rendered = tmp_path / "overlay.yaml"
    rendered.write_text(yaml.safe_dump_all(overlay_docs))
    args = [tool("kubernetes-validate"), "--strict", "-k", "1.32", "-k", "1.37", "--quiet"]
    result = run([*args, str(rendered)])
    assert result.returncode == 0, result.stdout + result.stderr
    # The CLI only warns on kinds it has no schema for: each must be covered by k8s/schemas/.
    unchecked = set(re.findall(r"schema for kind (\w+)", result.stdout))
    assert unchecked == CUSTOM_KINDS | MONITORING_KINDS
    assert all(schema_for(d) for d in overlay_docs if d["kind"] in unchecked)

    broken = mutated(overlay_docs, "StatefulSet", lambda d: d["spec"].update(replicas="two"))
    rendered.write_text(yaml.safe_dump_all(broken))
    result = run([*args, str(rendered)])
    assert result.returncode != 0
    assert "spec.replicas" in result.stdout and "'two' is not of type 'integer'" in result.stdout


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


BROKEN: dict[str, tuple[str, Callable[[Doc], Any], str]] = {
    "replicas-not-an-integer": (
        "StatefulSet",
        lambda d: d["spec"].update(replicas="two"),
        "spec.replicas: 'two' is not of type 'integer'",
    ),
    "misspelled-containers": (
        "StatefulSet",
        lambda d: _rename(d["spec"]["template"]["spec"], "containers", "contaners"),
        # jsonschema reports its best match: the missing required field.
        "spec.template.spec: 'containers' is a required property",
    ),
    "misspelled-optional-field": (
        "StatefulSet",
        lambda d: _rename(pod(d), "terminationGracePeriodSeconds", "terminationGracePeriod"),
        "'terminationGracePeriod' was unexpected",
    ),
    "misspelled-security-field": (
        "StatefulSet",
        lambda d: _rename(container(d)["securityContext"], "runAsNonRoot", "runAsNonroot"),
        "'runAsNonroot' was unexpected",
    ),
    "port-not-an-integer": (
        "Service",
        lambda d: d["spec"]["ports"][0].update(port="6066"),
        "'6066' is not of type 'integer'",
    ),
    "annotation-not-a-string": (
        "StatefulSet",
        lambda d: d["spec"]["template"]["metadata"]["annotations"].update({"checksum/config": 0}),
        "0 is not of type 'string'",
    ),
    "removed-api-version": (
        "PodDisruptionBudget",
        lambda d: d.update(apiVersion="policy/v1beta1"),
        "no schema in kubernetes-validate nor in k8s/schemas/",
    ),
    "topic-partitions-not-an-integer": (
        "KafkaTopic",
        lambda d: d["spec"].update(partitions="12"),
        "'12' is not of type 'integer'",
    ),
    "topic-misspelled-partitions": (
        "KafkaTopic",
        lambda d: _rename(d["spec"], "partitions", "partition"),
        "'partition' was unexpected",
    ),
    "topic-without-cluster-label": (
        "KafkaTopic",
        lambda d: d["metadata"]["labels"].pop("strimzi.io/cluster"),
        "'strimzi.io/cluster' is a required property",
    ),
    "topic-name-not-a-kubernetes-name": (
        "KafkaTopic",
        lambda d: d["metadata"].update(name="app-__assignor-__leader"),
        "does not match",
    ),
    "scaledobject-misspelled-max": (
        "ScaledObject",
        lambda d: _rename(d["spec"], "maxReplicaCount", "maxReplicas"),
        "'maxReplicas' was unexpected",
    ),
    "scaledobject-metadata-not-a-string": (
        "ScaledObject",
        lambda d: d["spec"]["triggers"][0]["metadata"].update(lagThreshold=5000),
        "5000 is not of type 'string'",
    ),
    "scaledobject-misspelled-modifier": (
        "ScaledObject",
        lambda d: _rename(d["spec"]["advanced"]["scalingModifiers"], "formula", "formulae"),
        "'formulae' was unexpected",
    ),
    "triggerauthentication-ref-without-key": (
        "TriggerAuthentication",
        lambda d: d["spec"]["secretTargetRef"][0].pop("key"),
        "'key' is a required property",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_manifest_is_rejected(case: str, overlay_docs: list[Doc], tmp_path: Path) -> None:
    kind, change, message = BROKEN[case]
    broken = [d for d in mutated(overlay_docs, kind, change) if d["kind"] == kind][:1]
    problems = validate(broken, tmp_path / "broken")
    assert problems, f"{case} was accepted"
    assert message in "\n".join(problems), problems


def test_a_kind_without_any_schema_is_rejected(tmp_path: Path) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate([widget], tmp_path) == [
        "Widget/w (example.com/v1): no schema in kubernetes-validate nor in k8s/schemas/, "
        "so it cannot be checked"
    ]


# ---------------------------------------------------------------------------------------------
# yamllint


def test_yamllint_strict_passes() -> None:
    result = run([tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), str(K8S)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_rejects_duplicate_keys_and_yaml11_booleans(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Service\nmetadata:\n  name: a\n  name: b\nspec:\n  enabled: yes\n")
    result = run([tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), str(bad)])
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout and "truthy" in result.stdout


# ---------------------------------------------------------------------------------------------
# Cross-checks: the manifests agree with each other and with the worker


@pytest.mark.parametrize(
    "check",
    [
        checks.check_config,
        checks.check_checksum,
        checks.check_statefulset,
        checks.check_services,
        checks.check_network_policy,
        checks.check_topics,
        checks.check_scaledobject,
        checks.check_scaling_rule,
    ],
    ids=lambda check: check.__name__,
)
def test_manifests_are_consistent(check: Callable[[list[Doc]], list[str]], docs: list[Doc]) -> None:
    assert check(docs) == []


def test_base_references_the_keys_of_the_example_secrets(
    base_docs: list[Doc], example_secrets: list[Doc]
) -> None:
    assert checks.check_references(base_docs, example_secrets) == []
    assert checks.check_references(base_docs) != []  # the base alone does not create Secrets


def _set_config(key: str, value: str | None) -> Callable[[Doc], Any]:
    def change(doc: Doc) -> None:
        if value is None:
            doc["data"].pop(key)
        else:
            doc["data"][key] = value

    return change


def _modifiers(doc: Doc) -> Doc:
    """The ScaledObject's scalingModifiers (the same object)."""
    modifiers: Doc = doc["spec"]["advanced"]["scalingModifiers"]
    return modifiers


def _trigger(doc: Doc, kind: str) -> Doc:
    """The ScaledObject's trigger of type ``kind`` (the same object)."""
    [trigger] = [t for t in doc["spec"]["triggers"] if t["type"] == kind]
    found: Doc = trigger
    return found


def _topic(name: str, change: Callable[[Doc], Any]) -> Callable[[Doc], Any]:
    def apply(doc: Doc) -> None:
        if checks.topic_name(doc) == name:
            change(doc)

    return apply


CHANGELOG = "conversation-custom-data-last-applied-changelog"
INCONSISTENT: dict[str, tuple[str, Callable[[Doc], Any], Callable[[list[Doc]], list[str]], str]] = {
    "changelog-partitions-differ": (
        "KafkaTopic",
        _topic(CHANGELOG, lambda d: d["spec"].update(partitions=6)),
        checks.check_topics,
        "Faust refuses to start on a mismatch",
    ),
    "changelog-not-compacted": (
        "KafkaTopic",
        _topic(CHANGELOG, lambda d: d["spec"]["config"].update({"cleanup.policy": "delete"})),
        checks.check_topics,
        "must be compacted",
    ),
    "crash-changelog-not-compacted": (
        "KafkaTopic",
        _topic(
            "conversation-custom-data-window-crashes-changelog",
            lambda d: d["spec"]["config"].update({"cleanup.policy": "delete"}),
        ),
        checks.check_topics,
        "window-crashes-changelog must be compacted",
    ),
    "leader-topic-missing": (
        "KafkaTopic",
        _topic(
            "conversation-custom-data-__assignor-__leader",
            lambda d: d["spec"].update(topicName="leader"),
        ),
        checks.check_topics,
        "no KafkaTopic for conversation-custom-data-__assignor-__leader",
    ),
    "table-partitions-differ": (
        "ConfigMap",
        _set_config("STREAMS_TOPIC_PARTITIONS", "8"),
        checks.check_topics,
        "STREAMS_TOPIC_PARTITIONS=8",
    ),
    "more-replicas-than-partitions": (
        "ScaledObject",
        lambda d: d["spec"].update(maxReplicaCount=24),
        checks.check_scaledobject,
        "maxReplicaCount <= 12 partitions",
    ),
    "formula-ignores-the-budget": (
        "ScaledObject",
        lambda d: _modifiers(d).update(formula="lag + 0 * budget * workers"),
        checks.check_scaling_rule,
        "adds workers while budget-bound",
    ),
    "formula-holds-only-above-the-threshold": (
        "ScaledObject",
        lambda d: _modifiers(d).update(
            formula="budget > 0.5 && lag > workers * 5000 ? workers * 5000 : lag"
        ),
        checks.check_scaling_rule,
        "budget-bound (budget 0.5): the HPA would go to 6, the rule says 2",
    ),
    "formula-scales-down-because-budget-bound": (
        "ScaledObject",
        lambda d: _modifiers(d).update(formula="budget >= 0.5 ? workers * 2500 : lag"),
        checks.check_scaling_rule,
        "3 workers, lag 15000, budget-bound (budget 0.5): the HPA would go to 2, the rule says 3",
    ),
    "formula-names-an-undeclared-trigger": (
        "ScaledObject",
        lambda d: _modifiers(d).update(
            formula="budgt >= 0.5 && lag > workers * 5000 ? workers * 5000 : lag"
        ),
        checks.check_scaling_rule,
        "formula names no trigger: ['budgt']",
    ),
    "trigger-name-not-a-formula-variable": (
        "ScaledObject",
        lambda d: _trigger(d, "kafka").update(name="changes-lag"),
        checks.check_scaling_rule,
        "kafka trigger is named 'changes-lag', not 'lag'",
    ),
    "composite-target-differs-from-lag-threshold": (
        "ScaledObject",
        lambda d: _modifiers(d).update(target="1000"),
        checks.check_scaling_rule,
        "scalingModifiers.target 1000 differs from lagThreshold",
    ),
    "composite-metric-type-value": (
        "ScaledObject",
        lambda d: _modifiers(d).update(metricType="Value"),
        checks.check_scaling_rule,
        "not budget-bound (budget 0): the HPA would go to 4, the rule says 2",
    ),
    "budget-query-does-not-parse": (
        "ScaledObject",
        lambda d: _trigger(d, "prometheus")["metadata"].update(
            query="avg(rate(streams_im_budget_bound_seconds_total[2m])"
        ),
        checks.check_scaling_rule,
        "query does not parse as PromQL",
    ),
    "budget-query-misspelled-metric": (
        "ScaledObject",
        lambda d: _trigger(d, "prometheus")["metadata"].update(
            query="avg(rate(streams_im_budget_bound_second_total[2m]))"
        ),
        checks.check_scaling_rule,
        "'streams_im_budget_bound_second_total', which the worker does not export",
    ),
    "budget-query-per-pod": (
        "ScaledObject",
        lambda d: _trigger(d, "prometheus")["metadata"].update(
            query="avg by (pod) (rate(streams_im_budget_bound_seconds_total[2m]))"
        ),
        checks.check_scaling_rule,
        "query may return several series",
    ),
    "budget-query-rate-of-a-gauge": (
        "ScaledObject",
        lambda d: _trigger(d, "prometheus")["metadata"].update(
            query="avg(rate(streams_im_budget[2m]))"
        ),
        checks.check_scaling_rule,
        "rate() of streams_im_budget, not a counter",
    ),
    "budget-query-of-another-namespace": (
        "ScaledObject",
        lambda d: d["metadata"].update(namespace="other-streams"),
        checks.check_scaling_rule,
        'streams_im_budget_bound_seconds_total must select namespace="other-streams"',
    ),
    "budget-null-is-an-error": (
        "ScaledObject",
        lambda d: _trigger(d, "prometheus")["metadata"].update(ignoreNullValues="false"),
        checks.check_scaling_rule,
        "ignoreNullValues must be",
    ),
    "workers-counts-other-pods": (
        "ScaledObject",
        lambda d: _trigger(d, "kubernetes-workload")["metadata"].update(
            podSelector="app.kubernetes.io/name=streams"
        ),
        checks.check_scaling_rule,
        "workers podSelector must be the StatefulSet's selector",
    ),
    "scaler-watches-another-group": (
        "ScaledObject",
        lambda d: _trigger(d, "kafka")["metadata"].update(consumerGroup="other"),
        checks.check_scaledobject,
        "consumerGroup must be STREAMS_APP_ID",
    ),
    "grace-period-below-rebalance-timeout": (
        "StatefulSet",
        lambda d: pod(d).update(terminationGracePeriodSeconds=45),
        checks.check_statefulset,
        "terminationGracePeriodSeconds 45 <= STREAMS_BROKER_REBALANCE_TIMEOUT_S 60",
    ),
    "instance-id-not-from-pod-name": (
        "StatefulSet",
        lambda d: container(d)["env"][0].update(value="streams", valueFrom=None),
        checks.check_statefulset,
        "STREAMS_GROUP_INSTANCE_ID must come from fieldRef metadata.name",
    ),
    "writable-root-filesystem": (
        "StatefulSet",
        lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False),
        checks.check_statefulset,
        "readOnlyRootFilesystem must be true",
    ),
    "no-zone-spread": (
        "StatefulSet",
        lambda d: pod(d).update(topologySpreadConstraints=pod(d)["topologySpreadConstraints"][1:]),
        checks.check_statefulset,
        "no topologySpreadConstraint on topology.kubernetes.io/zone",
    ),
    "hard-zone-spread": (
        "StatefulSet",
        lambda d: pod(d)["topologySpreadConstraints"][0].update(whenUnsatisfiable="DoNotSchedule"),
        checks.check_statefulset,
        "spread on topology.kubernetes.io/zone must be whenUnsatisfiable: ScheduleAnyway",
    ),
    "spread-selects-other-pods": (
        "StatefulSet",
        lambda d: pod(d)["topologySpreadConstraints"][1]["labelSelector"]["matchLabels"].update(
            {"app.kubernetes.io/component": "metrics"}
        ),
        checks.check_statefulset,
        "spread on kubernetes.io/hostname does not select the worker pods",
    ),
    "startup-probe-before-recovery": (
        "StatefulSet",
        lambda d: container(d)["startupProbe"]["httpGet"].update(path="/healthz"),
        checks.check_statefulset,
        "startupProbe must GET /startupz on port 6066",
    ),
    "startup-probe-shorter-than-a-recovery": (
        "StatefulSet",
        lambda d: container(d)["startupProbe"].update(failureThreshold=30),
        checks.check_statefulset,
        "startupProbe allows 300 s, under 600 s for a table recovery",
    ),
    "readiness-probe-on-liveness": (
        "StatefulSet",
        lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
        checks.check_statefulset,
        "readinessProbe must GET /readyz on port 6066",
    ),
    "replicas-fight-keda": (
        "StatefulSet",
        lambda d: d["spec"].update(replicas=3),
        checks.check_statefulset,
        "the ScaledObject owns the count",
    ),
    "latest-image": (
        "StatefulSet",
        lambda d: container(d).update(image="conversation-custom-data-streams:latest"),
        checks.check_statefulset,
        "not latest",
    ),
    "misspelled-setting": (
        "ConfigMap",
        _set_config("STREAMS_RATE_LIMT", "100"),
        checks.check_config,
        "STREAMS_RATE_LIMT",
    ),
    "secret-in-configmap": (
        "ConfigMap",
        _set_config("STREAMS_IM_SECRET_KEY", "REPLACE_ME"),
        checks.check_config,
        "secrets in the ConfigMap",
    ),
    "web-on-loopback": (
        "ConfigMap",
        _set_config("STREAMS_WEB_HOST", "127.0.0.1"),
        checks.check_config,
        "STREAMS_WEB_HOST='127.0.0.1'",
    ),
    "config-changed-without-checksum": (
        "ConfigMap",
        _set_config("STREAMS_LOG_LEVEL", "DEBUG"),
        checks.check_checksum,
        "checksum/config is",
    ),
    "egress-to-another-port": (
        "NetworkPolicy",
        lambda d: d["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 5432}]}),
        checks.check_network_policy,
        "('TCP', 5432)",
    ),
    "ingress-from-anywhere": (
        "NetworkPolicy",
        lambda d: d["spec"]["ingress"][0].pop("from"),
        checks.check_network_policy,
        "ingress must come only from a labelled (monitoring) namespace",
    ),
    "pdb-selects-nothing": (
        "PodDisruptionBudget",
        lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}),
        checks.check_services,
        "PodDisruptionBudget",
    ),
    "secret-key-typo": (
        "StatefulSet",
        lambda d: container(d)["env"][2]["valueFrom"]["secretKeyRef"].update(key="PASSWORD"),
        checks.check_references,
        "has no key PASSWORD",
    ),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT))
def test_an_inconsistent_manifest_is_caught(case: str, overlay_docs: list[Doc]) -> None:
    kind, change, check, message = INCONSISTENT[case]
    assert check(overlay_docs) == []
    problems = check(mutated(overlay_docs, kind, change))
    assert any(message in p for p in problems), problems


def _worker_env(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a worker pod of ``docs`` gets, secrets as placeholders."""
    for name in [n for n in os.environ if n.startswith("STREAMS_")]:
        monkeypatch.delenv(name)
    for key, value in checks.config(docs).items():
        monkeypatch.setenv(key, value)
    for key in checks.SECRET_SETTINGS:
        monkeypatch.setenv(key, "REPLACE_ME")
    monkeypatch.setenv("STREAMS_GROUP_INSTANCE_ID", "streams-0")


def test_the_worker_accepts_the_overlay_configuration(
    overlay_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker_env(overlay_docs, monkeypatch)
    settings = load_settings(Settings)
    im = load_settings(IMSettings)
    assert settings.web_host == "0.0.0.0" and settings.web_port == 6066
    assert str(settings.data_dir) == "/var/lib/streams" and settings.table_store == "rocksdb://"
    assert settings.topic_partitions == 12 and settings.sdk == "tencent"
    assert settings.broker_security_protocol == "SASL_SSL"
    assert im.endpoint.startswith("https://") and im.sdkappid > 0


def test_the_worker_refuses_the_unconfigured_base(
    base_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker_env(base_docs, monkeypatch)
    load_settings(Settings)
    with pytest.raises(ConfigError, match="STREAMS_IM_SDKAPPID"):
        load_settings(IMSettings)


# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore


BAD_DOCKERFILE = """\
FROM python:latest
ENV STREAMS_IM_SECRET_KEY=abc
COPY . /app
RUN pip install /app
ENTRYPOINT streams worker
"""


def test_dockerfile_meets_the_image_contract() -> None:
    assert dockerfile_problems(DOCKERFILE) == []


def test_dockerfile_contract_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    assert dockerfile_problems(bad) == ["expected a multi-stage build, found 1 stage(s)"]
    bad.write_text("FROM python:3.11-slim AS builder\nRUN pip wheel -w /w .\n" + BAD_DOCKERFILE)
    problems = dockerfile_problems(bad)
    for expected in (
        "base image python:latest uses the latest tag",
        "the final stage has no USER (runs as root)",
        'ENTRYPOINT must be ["streams"]',
        'CMD must be ["worker"]',
        "STREAMS_IM_SECRET_KEY looks like a secret baked into the image",
        "the final stage must install only the built wheels (pip install --no-index)",
    ):
        assert expected in problems, problems


#: (text of the Dockerfile, its replacement, the problem that must then be reported)
LOCK_BREAKS = [
    # the runtime installs the wheels without checking the lock's hashes
    (
        "--require-hashes \\\n        -r /requirements/worker.lock",
        "\\\n        -r /requirements/worker.lock",
        "the final stage must install the dependencies from requirements/worker.lock with "
        "--require-hashes",
    ),
    # the builder fetches from PyPI without them
    (
        "pip wheel --require-hashes",
        "pip wheel",
        "no builder stage fetches the dependencies from requirements/worker.lock with "
        "--require-hashes",
    ),
    # the project's wheel, or its install, resolves dependencies itself
    ("pip wheel --no-deps", "pip wheel", "resolves dependencies outside the lock (--no-deps)"),
    (
        "pip install --no-index --no-deps",
        "pip install --no-index",
        "resolves dependencies outside the lock (--no-deps)",
    ),
    ("&& /opt/venv/bin/pip check", "&& true", "the final stage must run `pip check` after"),
    # the project's wheel built in an isolated environment: setuptools fetched unchecked
    ("--no-build-isolation ", "", "fetches its build backend without hashes"),
    # the build backend installed without its lock's hashes
    (
        "pip install --require-hashes --only-binary=:all: -r requirements/build.lock",
        "pip install setuptools",
        "installs the build backend from requirements/build.lock",
    ),
    # the development lock (test tools) instead of the worker's
    ("worker.lock", "dev.lock", "COPY uses requirements/dev.lock: development only"),
]


@pytest.mark.parametrize(("original", "replacement", "expected"), LOCK_BREAKS)
def test_dockerfile_contract_catches_installs_outside_the_lock(
    tmp_path: Path, original: str, replacement: str, expected: str
) -> None:
    good = DOCKERFILE.read_text()
    assert original in good
    bad = tmp_path / "Dockerfile"
    bad.write_text(good.replace(original, replacement))
    problems = dockerfile_problems(bad)
    assert any(expected in problem for problem in problems), problems


def test_hadolint_passes() -> None:
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    result = run([tool("hadolint"), "--no-color", "-f", "json", str(bad)])
    assert result.returncode != 0
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3025"} <= codes  # latest tag; shell-form ENTRYPOINT


def test_dockerignore_lets_in_only_the_sources(tmp_path: Path) -> None:
    assert dockerignore_problems(DOCKERIGNORE, DOCKERFILE) == []
    loose = tmp_path / ".dockerignore"
    loose.write_text(".venv\n.git\n")
    problems = dockerignore_problems(loose, DOCKERFILE)
    assert ".dockerignore must start with `*` (allowlist)" in problems
    assert "COPY source streams is not let in by .dockerignore" in problems
    loose.write_text("*\n!pyproject.toml\n!requirements\n!README.md\n!streams\n")
    problems = dockerignore_problems(loose, DOCKERFILE)
    assert problems == [".dockerignore lets in requirements (development only)"], problems
