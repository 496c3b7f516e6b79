"""What the schemas cannot see: the manifests agree with each other and with the worker.

Each check takes rendered documents and returns a list of problems (empty = fine), so the tests
can show both that the committed manifests pass and that a broken variant is caught.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streams.sdk.config import IMSettings
from streams.settings import Settings
from tests.k8s import scaling
from tests.k8s.manifests import Doc, config_checksum, ident, load_yaml

#: Settings the lead adds to the worker for Kubernetes (not yet fields of Settings):
#: STREAMS_GROUP_INSTANCE_ID -> Faust consumer_group_instance_id (static membership), and
#: STREAMS_TOPIC_ALLOW_DECLARE -> Faust topic_allow_declare (never create topics).
PENDING_SETTINGS = frozenset({"STREAMS_GROUP_INSTANCE_ID", "STREAMS_TOPIC_ALLOW_DECLARE"})

#: Settings that must come from a Secret, never from the ConfigMap.
SECRET_SETTINGS = frozenset(
    {"STREAMS_BROKER_SASL_USERNAME", "STREAMS_BROKER_SASL_PASSWORD", "STREAMS_IM_SECRET_KEY"}
)

WEB_PORT = 6066
DNS_PORTS = {("UDP", 53), ("TCP", 53)}
HTTPS_PORT = ("TCP", 443)


def known_settings() -> set[str]:
    """Every STREAMS_* variable the worker reads."""
    names = {f"STREAMS_{field.upper()}" for field in Settings.model_fields}
    names |= {f"STREAMS_IM_{field.upper()}" for field in IMSettings.model_fields}
    return names


def select(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    """Documents of ``kind`` (and ``name``, if given)."""
    return [
        d
        for d in docs
        if d.get("kind") == kind and (name is None or d.get("metadata", {}).get("name") == name)
    ]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The single document of ``kind`` (and ``name``)."""
    found = select(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def config(docs: list[Doc]) -> dict[str, str]:
    """The worker's ConfigMap data (generated name streams-config-<hash>)."""
    maps = [
        d for d in select(docs, "ConfigMap") if d["metadata"]["name"].startswith("streams-config")
    ]
    assert len(maps) == 1, f"expected one streams-config ConfigMap, found {len(maps)}"
    return dict(maps[0].get("data") or {})


def worker(docs: list[Doc]) -> Doc:
    """The worker container of the StatefulSet."""
    sts = one(docs, "StatefulSet", "streams")
    [container] = [
        c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"
    ]
    return dict(container)


def brokers(cfg: dict[str, str]) -> list[tuple[str, int]]:
    """(host, port) of each URL in STREAMS_BROKER."""
    result = []
    for url in cfg["STREAMS_BROKER"].split(";"):
        parts = urlsplit(url.strip())
        assert parts.hostname and parts.port, f"broker URL without host:port: {url!r}"
        result.append((parts.hostname, parts.port))
    return result


def topic_name(doc: Doc) -> str:
    """The Kafka topic a KafkaTopic creates."""
    return str(doc["spec"].get("topicName") or doc["metadata"]["name"])


def topics(docs: list[Doc]) -> dict[str, Doc]:
    """KafkaTopics by Kafka topic name."""
    return {topic_name(d): d for d in select(docs, "KafkaTopic")}


# --------------------------------------------------------------------------------------------
# Configuration


def check_config(docs: list[Doc]) -> list[str]:
    """ConfigMap keys are real settings, secrets are not in it, and pod-specific values hold."""
    cfg = config(docs)
    problems = []
    unknown = set(cfg) - known_settings() - PENDING_SETTINGS
    if unknown:
        problems.append(f"ConfigMap keys the worker does not read (typo?): {sorted(unknown)}")
    leaked = set(cfg) & SECRET_SETTINGS
    if leaked:
        problems.append(f"secrets in the ConfigMap: {sorted(leaked)}")
    expected = {
        "STREAMS_SDK": "tencent",
        "STREAMS_WEB_HOST": "0.0.0.0",
        "STREAMS_WEB_PORT": str(WEB_PORT),
        "STREAMS_TABLE_STORE": "rocksdb://",
        "STREAMS_DATA_DIR": "/var/lib/streams",
        "STREAMS_TOPIC_ALLOW_DECLARE": "false",
    }
    for key, value in expected.items():
        if cfg.get(key) != value:
            problems.append(f"ConfigMap {key}={cfg.get(key)!r}, expected {value!r}")
    for key in ("STREAMS_APP_ID", "STREAMS_BROKER", "STREAMS_IM_SDKAPPID", "STREAMS_IM_ADMIN"):
        if not cfg.get(key):
            problems.append(f"ConfigMap lacks {key}")
    return problems


def check_checksum(docs: list[Doc]) -> list[str]:
    """The pod template's checksum/config annotation matches the rendered ConfigMap."""
    sts = one(docs, "StatefulSet", "streams")
    annotations = sts["spec"]["template"]["metadata"].get("annotations") or {}
    expected = config_checksum(config(docs))
    actual = annotations.get("checksum/config")
    if actual != expected:
        return [f"checksum/config is {actual!r}; the rendered ConfigMap needs {expected!r}"]
    return []


# --------------------------------------------------------------------------------------------
# StatefulSet


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env") or []}


def check_statefulset(docs: list[Doc]) -> list[str]:
    """Stateful, static-membership, restricted, probed workers that stop gracefully."""
    cfg = config(docs)
    sts = one(docs, "StatefulSet", "streams")
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    container = worker(docs)
    env = _env(container)
    problems = []

    if "replicas" in spec:
        problems.append("StatefulSet sets replicas: the ScaledObject owns the count")
    if spec.get("serviceName") not in {d["metadata"]["name"] for d in _headless(docs)}:
        problems.append(f"serviceName {spec.get('serviceName')!r} is not a headless Service")

    # Static group membership from the pod name.
    instance = env.get("STREAMS_GROUP_INSTANCE_ID") or {}
    field = ((instance.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    if field != "metadata.name":
        problems.append("STREAMS_GROUP_INSTANCE_ID must come from fieldRef metadata.name")

    # Graceful stop: longer than the session and rebalance timeouts.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    for key, default in (
        ("STREAMS_BROKER_SESSION_TIMEOUT_S", 30.0),
        ("STREAMS_BROKER_REBALANCE_TIMEOUT_S", 60.0),
    ):
        limit = float(cfg.get(key, default))
        if grace <= limit:
            problems.append(f"terminationGracePeriodSeconds {grace} <= {key} {limit:g}")

    # RocksDB state on the claim template, mounted at the data dir.
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []}
    data_volume = mounts.get(cfg.get("STREAMS_DATA_DIR", ""))
    if data_volume not in claims:
        problems.append("STREAMS_DATA_DIR is not mounted from a volumeClaimTemplate")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    tmp = volumes.get(mounts.get("/tmp", ""), {})
    if "emptyDir" not in tmp:
        problems.append("/tmp must be a writable emptyDir (the root filesystem is read-only)")
    ca_file = cfg.get("STREAMS_BROKER_CA_FILE")
    if ca_file and not any(ca_file.startswith(path.rstrip("/") + "/") for path in mounts):
        problems.append(f"STREAMS_BROKER_CA_FILE {ca_file} is not under a mounted volume")

    problems += _security(pod, container)
    problems += _probes(container)
    problems += _spread(pod, spec["template"]["metadata"].get("labels") or {})

    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in (resources.get(kind) or {}):
                problems.append(f"resources.{kind}.{resource} is not set")

    image = str(container.get("image", ""))
    untagged = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
    if untagged or image.endswith(":latest"):
        problems.append(f"image {image!r} must have a version tag or digest, not latest")

    if pod.get("enableServiceLinks", True):
        problems.append("enableServiceLinks must be false (Service variables look like STREAMS_*)")
    if pod.get("automountServiceAccountToken", True):
        problems.append("automountServiceAccountToken must be false")

    for name in SECRET_SETTINGS:
        if "secretKeyRef" not in env.get(name, {}).get("valueFrom", {}):
            problems.append(f"{name} must come from a Secret (secretKeyRef)")
    if not any("configMapRef" in src for src in container.get("envFrom") or []):
        problems.append("the ConfigMap is not loaded with envFrom")
    return problems


def _security(pod: Doc, container: Doc) -> list[str]:
    problems = []
    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        problems.append("runAsNonRoot is not set")
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if not isinstance(uid, int) or uid == 0:
        problems.append(f"runAsUser must be a non-zero UID, got {uid!r}")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation must be false")
    if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
        problems.append("capabilities must drop ALL")
    profile = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if profile != "RuntimeDefault":
        problems.append(f"seccompProfile must be RuntimeDefault, got {profile!r}")
    return problems


#: Topology keys the workers must be spread over, softly (a worker not spread is still better
#: than partitions without one).
SPREAD_KEYS = ("topology.kubernetes.io/zone", "kubernetes.io/hostname")


def _spread(pod: Doc, labels: dict[str, str]) -> list[str]:
    problems = []
    constraints = {c.get("topologyKey"): c for c in pod.get("topologySpreadConstraints") or []}
    for key in SPREAD_KEYS:
        constraint = constraints.get(key)
        if constraint is None:
            problems.append(f"no topologySpreadConstraint on {key}")
            continue
        if constraint.get("whenUnsatisfiable") != "ScheduleAnyway":
            problems.append(f"spread on {key} must be whenUnsatisfiable: ScheduleAnyway")
        if constraint.get("maxSkew") != 1:
            problems.append(f"spread on {key}: maxSkew {constraint.get('maxSkew')}, expected 1")
        selector = (constraint.get("labelSelector") or {}).get("matchLabels") or {}
        if not _selects(selector, labels):
            problems.append(f"spread on {key} does not select the worker pods")
    return problems


#: The start-up probe's budget (periodSeconds x failureThreshold) must cover a table recovery
#: of 1M conversations with ample margin (docs/OPERATING.md, "Probes").
STARTUP_BUDGET_S = 600
PROBE_PATHS = {
    "startupProbe": "/startupz",
    "livenessProbe": "/healthz",
    "readinessProbe": "/readyz",
}


def _probes(container: Doc) -> list[str]:
    problems = []
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
    for probe, path in PROBE_PATHS.items():
        get = (container.get(probe) or {}).get("httpGet") or {}
        port = get.get("port")
        port = ports.get(port, port)
        if get.get("path") != path or port != WEB_PORT:
            problems.append(f"{probe} must GET {path} on port {WEB_PORT}")
    startup = container.get("startupProbe") or {}
    # Kubernetes' defaults: periodSeconds 10, failureThreshold 3.
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    if budget < STARTUP_BUDGET_S:
        problems.append(
            f"startupProbe allows {budget} s, under {STARTUP_BUDGET_S} s for a table recovery"
        )
    return problems


# --------------------------------------------------------------------------------------------
# Services, PDB, NetworkPolicy


def _pod_labels(docs: list[Doc]) -> dict[str, str]:
    return dict(one(docs, "StatefulSet", "streams")["spec"]["template"]["metadata"]["labels"])


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _headless(docs: list[Doc]) -> list[Doc]:
    return [d for d in select(docs, "Service") if d["spec"].get("clusterIP") == "None"]


def check_services(docs: list[Doc]) -> list[str]:
    """A headless Service and a metrics Service on the web port, a PDB, all on the workers."""
    labels = _pod_labels(docs)
    problems = []
    services = select(docs, "Service")
    if not _headless(docs):
        problems.append("no headless Service (clusterIP: None) for the StatefulSet")
    metrics = [s for s in services if s["spec"].get("clusterIP") != "None"]
    if not any(
        any(p.get("targetPort") in ("web", WEB_PORT) for p in s["spec"].get("ports", []))
        for s in metrics
    ):
        problems.append("no metrics Service targeting the web port")
    for service in services:
        if not _selects(service["spec"].get("selector") or {}, labels):
            problems.append(f"{ident(service)} does not select the worker pods")
    pdbs = select(docs, "PodDisruptionBudget")
    if len(pdbs) != 1 or not _selects(pdbs[0]["spec"]["selector"]["matchLabels"], labels):
        problems.append("expected one PodDisruptionBudget selecting the worker pods")
    return problems


def _ports(rule: Doc) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports") or []}


def check_network_policy(docs: list[Doc]) -> list[str]:
    """Ingress only to the web port from monitoring; egress only to Kafka, DNS and HTTPS."""
    policy = one(docs, "NetworkPolicy", "streams")
    spec = policy["spec"]
    problems = []
    if not _selects(spec["podSelector"].get("matchLabels") or {}, _pod_labels(docs)):
        problems.append("NetworkPolicy does not select the worker pods")
    if sorted(spec.get("policyTypes") or []) != ["Egress", "Ingress"]:
        problems.append("NetworkPolicy must restrict both Ingress and Egress")

    for rule in spec.get("ingress") or []:
        if _ports(rule) != {("TCP", WEB_PORT)}:
            problems.append(
                f"ingress rule opens {sorted(_ports(rule))}, only TCP {WEB_PORT} allowed"
            )
        peers = rule.get("from") or []
        if not peers or any(
            not (p.get("namespaceSelector") or {}).get("matchLabels") for p in peers
        ):
            problems.append("ingress must come only from a labelled (monitoring) namespace")

    kafka = {("TCP", port) for _, port in brokers(config(docs))}
    allowed = kafka | DNS_PORTS | {HTTPS_PORT}
    egress_ports: set[tuple[str, int]] = set()
    for rule in spec.get("egress") or []:
        ports = _ports(rule)
        if not ports:
            problems.append("an egress rule without ports allows every port")
        egress_ports |= ports
    if egress_ports - allowed:
        problems.append(
            f"egress to ports beyond Kafka, DNS, HTTPS: {sorted(egress_ports - allowed)}"
        )
    if allowed - egress_ports:
        problems.append(f"egress misses {sorted(allowed - egress_ports)}")
    return problems


# --------------------------------------------------------------------------------------------
# Kafka topics and autoscaling


def check_topics(docs: list[Doc]) -> list[str]:
    """Every topic the worker uses exists, with the partition counts Faust needs."""
    cfg = config(docs)
    by_name = topics(docs)
    app_id = cfg["STREAMS_APP_ID"]
    changes = cfg.get("STREAMS_CHANGES_TOPIC", "conversation-custom-data-changes")
    changelogs = [f"{app_id}-last-applied-changelog", f"{app_id}-window-crashes-changelog"]
    leader = f"{app_id}-__assignor-__leader"
    needed = {
        changes,
        cfg.get("STREAMS_OUTCOMES_TOPIC", "conversation-custom-data-outcomes"),
        cfg.get("STREAMS_DEAD_LETTER_TOPIC", "conversation-custom-data-dead-letters"),
        *changelogs,
        leader,
    }
    problems = [f"no KafkaTopic for {name}" for name in sorted(needed - set(by_name))]
    if problems:
        return problems
    for name, doc in by_name.items():
        for key in ("partitions", "replicas"):
            if not isinstance(doc["spec"].get(key), int):
                problems.append(f"KafkaTopic {name}: {key} must be explicit")
    partitions = by_name[changes]["spec"]["partitions"]
    for changelog in changelogs:
        if by_name[changelog]["spec"]["partitions"] != partitions:
            problems.append(
                f"{changelog} has {by_name[changelog]['spec']['partitions']} partitions, "
                f"the changes topic {partitions}: Faust refuses to start on a mismatch"
            )
    if str(partitions) != cfg.get("STREAMS_TOPIC_PARTITIONS"):
        problems.append(
            f"STREAMS_TOPIC_PARTITIONS={cfg.get('STREAMS_TOPIC_PARTITIONS')} but the changes "
            f"topic has {partitions} partitions"
        )
    for changelog in changelogs:
        policy = (by_name[changelog]["spec"].get("config") or {}).get("cleanup.policy")
        if policy != "compact":
            problems.append(
                f"{changelog} must be compacted (cleanup.policy: compact), got {policy!r}"
            )
    if by_name[leader]["spec"]["partitions"] != 1:
        problems.append(f"{leader} must have exactly 1 partition")
    for name in needed - {*changelogs, leader}:
        retention = (by_name[name]["spec"].get("config") or {}).get("retention.ms")
        if not isinstance(retention, int) or retention <= 0:
            problems.append(f"{name}: retention.ms must be set explicitly")
    return problems


def check_scaledobject(docs: list[Doc]) -> list[str]:
    """One Kafka lag trigger on the worker's group and changes topic, capped at partitions."""
    cfg = config(docs)
    scaled = one(docs, "ScaledObject", "streams")
    spec = scaled["spec"]
    problems = []
    target = spec["scaleTargetRef"]
    if (target.get("kind"), target.get("name")) != ("StatefulSet", "streams"):
        problems.append(f"scaleTargetRef {target} is not the worker StatefulSet")
    kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
    if len(kafka) != 1:
        return [*problems, "expected exactly one trigger of type kafka"]
    meta = kafka[0]["metadata"]
    if meta.get("consumerGroup") != cfg["STREAMS_APP_ID"]:
        problems.append("trigger consumerGroup must be STREAMS_APP_ID (Faust's group id)")
    changes = cfg.get("STREAMS_CHANGES_TOPIC", "conversation-custom-data-changes")
    if meta.get("topic") != changes:
        problems.append(f"trigger topic {meta.get('topic')!r} is not the changes topic")
    servers = {tuple(s.rsplit(":", 1)) for s in meta.get("bootstrapServers", "").split(",")}
    if servers != {(host, str(port)) for host, port in brokers(cfg)}:
        problems.append("trigger bootstrapServers differ from STREAMS_BROKER")
    partitions = topics(docs).get(changes, {}).get("spec", {}).get("partitions", 0)
    if not 1 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100) <= partitions:
        problems.append(
            f"need 1 <= minReplicaCount <= maxReplicaCount <= {partitions} partitions, got "
            f"{spec.get('minReplicaCount')}..{spec.get('maxReplicaCount')}"
        )
    auth = (kafka[0].get("authenticationRef") or {}).get("name")
    if auth and not select(docs, "TriggerAuthentication", auth):
        problems.append(f"TriggerAuthentication {auth} is missing")
    return problems


#: The ScaledObject's triggers by type, as its scalingModifiers formula names them.
SCALING_TRIGGERS = {"kafka": "lag", "prometheus": "budget", "kubernetes-workload": "workers"}


def _trigger(spec: Doc, kind: str) -> Doc:
    found = [t for t in spec.get("triggers") or [] if t.get("type") == kind]
    assert len(found) == 1, f"expected one {kind} trigger, found {len(found)}"
    return dict(found[0])


def _selector_labels(selector: str) -> dict[str, str] | None:
    """``{label: value}`` of an equality-only label selector ``k=v,k=v``; None otherwise."""
    labels = {}
    for part in selector.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or value.startswith("=") or "!" in key:
            return None
        labels[key.strip()] = value.strip()
    return labels


def check_scaling_rule(docs: list[Doc]) -> list[str]:
    """The lag rule, held while the workers are budget-bound (scaledobject.yaml's header).

    Structure: named triggers of the three types, a formula that reads exactly those names, a
    composite target equal to lagThreshold, a budget query that parses and reads only the
    worker's metrics (scaling.promql_problems), a workers selector that selects the worker
    pods. Behaviour: the formula run through the HPA's arithmetic (scaling.hpa_replicas) for
    2..maxReplicaCount workers, lags from none to the cap and budgets around the threshold:
    not budget-bound it must propose what the plain lag rule proposes; budget-bound, never more
    than the current workers, and fewer only when the plain lag rule wants fewer.
    """
    scaled = one(docs, "ScaledObject", "streams")
    spec = scaled["spec"]
    namespace = scaled["metadata"].get("namespace")
    problems: list[str] = []
    triggers = spec.get("triggers") or []
    for kind in SCALING_TRIGGERS:
        if len([t for t in triggers if t.get("type") == kind]) != 1:
            problems.append(f"expected exactly one {kind} trigger")
    if problems:
        return problems
    names = [str(t.get("name", "")) for t in triggers]
    for trigger, name in zip(triggers, names, strict=True):
        expected = SCALING_TRIGGERS.get(trigger["type"])
        if expected is not None and name != expected:
            # docs/OPERATING.md's alerts select KEDA's series by trigger name (scaler="lag").
            problems.append(f"{trigger['type']} trigger is named {name!r}, not {expected!r}")
        elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.append(f"{trigger['type']} trigger name {name!r} is not a formula variable")
    if len(set(names)) != len(names):
        problems.append(f"trigger names repeat: {names}")

    modifiers = (spec.get("advanced") or {}).get("scalingModifiers") or {}
    formula = str(modifiers.get("formula", ""))
    if not formula:
        return [*problems, "no advanced.scalingModifiers.formula"]
    try:
        used = scaling.formula_names(formula)
    except scaling.FormulaError as exc:
        return [*problems, f"formula {formula!r}: {exc}"]
    if used - set(names):
        problems.append(f"formula names no trigger: {sorted(used - set(names))}")
    if set(names) - used:
        problems.append(f"triggers the formula does not read: {sorted(set(names) - used)}")

    lag, budget, workers = (_trigger(spec, kind) for kind in SCALING_TRIGGERS)
    lag_threshold = float(lag["metadata"]["lagThreshold"])
    target = float(modifiers.get("target", "nan"))
    if target != lag_threshold:
        problems.append(f"scalingModifiers.target {target:g} differs from lagThreshold")
    metric_type = modifiers.get("metricType", "AverageValue")

    meta = budget["metadata"]
    problems += scaling.promql_problems(str(meta.get("query", "")), namespace)
    if meta.get("ignoreNullValues") != "true":
        problems.append('budget trigger: ignoreNullValues must be "true" (no series = 0)')
    threshold = float(meta.get("threshold", "nan"))
    if not 0 < threshold < 1:
        problems.append(f"budget threshold {threshold:g} is not a fraction of time in (0, 1)")

    # The pods the StatefulSet counts in status.replicas, which the HPA compares with.
    sts_selector = one(docs, "StatefulSet", "streams")["spec"]["selector"]["matchLabels"]
    if _selector_labels(str(workers["metadata"].get("podSelector", ""))) != sts_selector:
        problems.append("workers podSelector must be the StatefulSet's selector (k=v,k=v)")
    if problems:
        return problems

    lowest, highest = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)

    def clamp(n: int) -> int:
        return min(max(n, lowest), highest)

    cap = highest * lag_threshold  # the kafka scaler's cap (allowIdleConsumers: false)
    for current in range(max(lowest, 1), highest + 1):
        per_worker = lag_threshold * current
        lags = {0.0, 1.0, per_worker / 2, per_worker, per_worker + 1, per_worker * 3, cap}
        for lag_value in sorted(lags):
            plain = clamp(scaling.hpa_replicas(lag_value, lag_threshold, "AverageValue", current))
            for bound in (0.0, threshold * 0.99, threshold, 1.0):
                values = {
                    lag["name"]: lag_value,
                    budget["name"]: bound,
                    workers["name"]: float(current),
                }
                try:
                    composite = scaling.evaluate(formula, values)
                    proposed = scaling.hpa_replicas(composite, target, metric_type, current)
                except (scaling.FormulaError, ValueError, ZeroDivisionError) as exc:
                    return [f"formula {formula!r} at {values}: {exc}"]
                bound_now = bound >= threshold
                expected = min(plain, current) if bound_now else plain
                if clamp(proposed) != expected:
                    state = "budget-bound" if bound_now else "not budget-bound"
                    why = (
                        " (adds workers while budget-bound)"
                        if bound_now and clamp(proposed) > current
                        else ""
                    )
                    return [
                        f"{current} workers, lag {lag_value:g}, {state} (budget {bound:g}): the "
                        f"HPA would go to {clamp(proposed)}, the rule says {expected}{why}"
                    ]
    return problems


# --------------------------------------------------------------------------------------------
# References between objects


def check_references(docs: list[Doc], external: Sequence[Doc] = ()) -> list[str]:
    """Every Secret/ConfigMap name and key the workers and KEDA use exists.

    ``external`` are Secrets created outside the kustomization (for the base: the example).
    """
    data: dict[tuple[str, str], set[str]] = {}
    for doc in [*docs, *external]:
        if doc.get("kind") in ("Secret", "ConfigMap"):
            keys = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
            data[(doc["kind"], doc["metadata"]["name"])] = keys

    wanted: list[tuple[str, str, str | None, str]] = []  # kind, name, key, where
    container = worker(docs)
    for item in container.get("env") or []:
        ref = item.get("valueFrom", {})
        for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if field in ref:
                wanted.append((kind, ref[field]["name"], ref[field]["key"], f"env {item['name']}"))
    for source in container.get("envFrom") or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if field in source:
                wanted.append((kind, source[field]["name"], None, "envFrom"))
    pod = one(docs, "StatefulSet", "streams")["spec"]["template"]["spec"]
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            for item in volume["secret"].get("items") or [{"key": None}]:
                wanted.append(("Secret", volume["secret"]["secretName"], item["key"], "volume"))
    for auth in select(docs, "TriggerAuthentication"):
        for ref in auth["spec"].get("secretTargetRef") or []:
            wanted.append(("Secret", ref["name"], ref["key"], ident(auth)))

    problems = []
    for kind, name, key, where in wanted:
        if (kind, name) not in data:
            problems.append(f"{where}: {kind} {name} does not exist")
        elif key is not None and key not in data[(kind, name)]:
            problems.append(f"{where}: {kind} {name} has no key {key}")
    return problems


def check_placeholders(paths: list[Path]) -> list[str]:
    """Committed Secret material is placeholders only (REPLACE_ME), never a value."""
    problems = []
    for path in paths:
        if path.suffix in (".yaml", ".yml"):
            for doc in load_yaml(path):
                if doc.get("kind") == "Secret":
                    values = {**(doc.get("stringData") or {}), **(doc.get("data") or {})}
                    problems += [
                        f"{path.name}: {ident(doc)} {key} is not a placeholder"
                        for key, value in values.items()
                        if value != "REPLACE_ME"
                    ]
        else:
            for line in path.read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    if value.strip() != "REPLACE_ME":
                        problems.append(f"{path.name}: {key} is not a placeholder")
    return problems


# --------------------------------------------------------------------------------------------
# The overlay's kustomization


def check_overlay_patches(overlay: Path, base_docs: list[Doc]) -> list[str]:
    """Every patch of the overlay's kustomization targets a resource the base renders."""
    kustomization = load_yaml(overlay / "kustomization.yaml")[0]
    problems = []
    for resource in kustomization.get("resources") or []:
        if not (overlay / resource).exists():
            problems.append(f"resource {resource} does not exist")
    for patch in kustomization.get("patches") or []:
        path = overlay / patch["path"]
        if not path.is_file():
            problems.append(f"patch {patch['path']} does not exist")
            continue
        target: dict[str, Any] = patch.get("target") or {}
        if not target:  # strategic merge: the patch names its target
            [body] = load_yaml(path)
            group, _, version = str(body["apiVersion"]).rpartition("/")
            target = {
                "group": group,
                "version": version,
                "kind": body["kind"],
                "name": body["metadata"]["name"],
            }
        matches = [d for d in base_docs if _matches(d, target)]
        if not matches:
            problems.append(f"patch {patch['path']} targets {target}, which the base lacks")
    return problems


def _matches(doc: Doc, target: dict[str, Any]) -> bool:
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    checks = {
        "group": group,
        "version": version,
        "kind": doc.get("kind"),
        "name": doc.get("metadata", {}).get("name"),
    }
    for key, value in target.items():
        if key in checks and key == "name" and not re.fullmatch(str(value), str(checks[key])):
            return False
        if key in checks and key != "name" and checks[key] != value:
            return False
    return True
