"""k8s/monitoring checked offline: the alerts, the scrape configuration and the dashboard.

What a PrometheusRule's schema cannot see: every expression parses as PromQL (promql-parser),
reads only metrics that exist (a live worker's /metrics page and the other exporters' metrics
listed in :data:`EXTERNAL_METRICS`), and reads a counter only through ``rate()``/``increase()``. The
ServiceMonitor must select the metrics Service and name one of its ports; the dashboard must be
JSON whose panels all have a Prometheus datasource and queries; docs/OPERATING.md's alert table
must list the PrometheusRule's alerts. Each check returns a list of problems (empty = fine).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
from prometheus_client.parser import text_string_to_metric_families

from tests.k8s import scaling
from tests.k8s.manifests import K8S, ROOT, Doc, ident

MONITORING = K8S / "monitoring"
DASHBOARD = MONITORING / "dashboard.json"
OPERATING = ROOT / "docs" / "OPERATING.md"

#: Metrics the alerts and the dashboard read from other exporters, never from a worker, with their
#: Prometheus types. Only these may appear besides the worker's own; add a name here only with
#: its source, after checking its name and type in that exporter's documentation.
EXTERNAL_METRICS = {
    # kube-state-metrics (StatefulSet and pod state).
    "kube_statefulset_replicas": "gauge",
    "kube_statefulset_status_replicas_ready": "gauge",
    "kube_pod_container_status_restarts_total": "counter",
    # The kubelet's volume statistics (kube-prometheus-stack scrapes them with the kubelet job).
    "kubelet_volume_stats_used_bytes": "gauge",
    "kubelet_volume_stats_capacity_bytes": "gauge",
    # KEDA's operator: the value of each trigger of a ScaledObject (labels scaledObject, scaler).
    "keda_scaler_metrics_value": "gauge",
    # danielqsj/kafka-exporter, if installed: lag per consumer group, topic and partition.
    "kafka_consumergroup_lag": "gauge",
}

#: Grafana's interval variables, replaced by a plausible value before parsing.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}
#: Sample suffixes of each exposition type, and how PromQL must read them.
_SAMPLES = {
    "counter": {"_total": "counter"},
    "gauge": {"": "gauge"},
    "histogram": {"_bucket": "counter", "_count": "counter", "_sum": "counter"},
    "summary": {"": "gauge", "_count": "counter", "_sum": "counter"},
    "untyped": {"": "untyped"},
}
_RATES = ("rate", "increase")


# --------------------------------------------------------------------------------------------
# Metric names


def exposition_kinds(text: str) -> dict[str, str]:
    """``{sample name: "counter" | "gauge" | "untyped"}`` of a /metrics page.

    Every family the page declares counts, samples or not (a labelled counter has none until a
    label value is used). Histogram buckets, counts and sums are counters for PromQL.
    """
    kinds: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        for suffix, kind in _SAMPLES.get(family.type, {"": "untyped"}).items():
            kinds[family.name + suffix] = kind
    return kinds


def known_kinds(live: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The names rules and dashboards may read, and problems with the allowlist.

    ``live``: :func:`exposition_kinds` of a running worker; an external metric the worker
    exports itself is a mistake of the allowlist.
    """
    problems = []
    known = {**EXTERNAL_METRICS}
    clash = sorted(set(EXTERNAL_METRICS) & set(live))
    if clash:
        problems.append(f"EXTERNAL_METRICS lists metrics the worker exports: {clash}")
    known.update(live)
    return known, problems


# --------------------------------------------------------------------------------------------
# PromQL


def expr_problems(
    expr: str, known: dict[str, str], where: str, *, series_only: bool = False
) -> list[str]:
    """An expression parses, reads known metrics, and reads counters only via rate/increase
    (not checked with ``series_only``: a label lookup such as Grafana's label_values)."""
    try:
        tree = promql_parser.parse(expr)
    except ValueError as exc:
        return [f"{where}: does not parse as PromQL: {exc}"]
    problems: list[str] = []

    def check(name: str | None, rated: bool) -> None:
        if not name or name not in known:
            problems.append(f"{where}: reads {name!r}, which no worker or listed exporter exports")
            return
        kind = known[name]
        if series_only:
            return
        if rated and kind != "counter":
            problems.append(f"{where}: rate()/increase() of {name}, a {kind}, not a counter")
        if not rated and kind == "counter":
            problems.append(f"{where}: counter {name} read without rate() or increase()")

    def visit(node: Any, rated: bool = False) -> None:
        if isinstance(node, promql_parser.Call):
            for arg in node.args:
                visit(
                    arg, node.func.name in _RATES and isinstance(arg, promql_parser.MatrixSelector)
                )
        elif isinstance(node, promql_parser.MatrixSelector):
            check(node.vector_selector.name, rated)
        elif isinstance(node, promql_parser.VectorSelector):
            check(node.name, False)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs)
            visit(node.rhs)
        elif isinstance(node, promql_parser.AggregateExpr):
            visit(node.expr)
            if node.param is not None:
                visit(node.param)
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.SubqueryExpr)):
            visit(node.expr)
        elif isinstance(node, promql_parser.UnaryExpr):
            visit(node.expr)
        elif not isinstance(node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)):
            problems.append(f"{where}: unexpected PromQL node {type(node).__name__}")

    visit(tree)
    return problems


def same_promql(a: str, b: str) -> bool:
    """Whether two expressions are the same PromQL, whitespace and formatting aside."""
    return bool(promql_parser.parse(a).prettify() == promql_parser.parse(b).prettify())


# --------------------------------------------------------------------------------------------
# PrometheusRule

SEVERITIES = {"warning", "critical"}


def alert_rules(docs: list[Doc]) -> dict[str, Doc]:
    """The alerting rules of every PrometheusRule, by alert name (a repeat is kept once)."""
    return {
        rule["alert"]: rule
        for doc in docs
        if doc.get("kind") == "PrometheusRule"
        for group in doc["spec"].get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    }


def check_rules(docs: list[Doc], known: dict[str, str]) -> list[str]:
    """Alerts with unique names, a severity, a summary and description, and sound PromQL."""
    problems = []
    rules = [doc for doc in docs if doc.get("kind") == "PrometheusRule"]
    if not rules:
        return ["no PrometheusRule"]
    names: list[str] = []
    for doc in rules:
        for group in doc["spec"].get("groups") or []:
            for rule in group.get("rules") or []:
                name = str(rule.get("alert") or rule.get("record"))
                names.append(name)
                where = f"{ident(doc)} {name}"
                if "alert" in rule:
                    if not re.fullmatch(r"Streams[A-Z][A-Za-z]+", name):
                        problems.append(f"{where}: alert names are StreamsCamelCase")
                    severity = (rule.get("labels") or {}).get("severity")
                    if severity not in SEVERITIES:
                        problems.append(f"{where}: severity {severity!r} not in {SEVERITIES}")
                    annotations = rule.get("annotations") or {}
                    for key in ("summary", "description"):
                        if not annotations.get(key):
                            problems.append(f"{where}: no {key} annotation")
                problems += expr_problems(str(rule.get("expr", "")), known, where)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"rule names repeat: {repeated}")
    return problems


def alert_table(markdown: str) -> dict[str, dict[str, str]]:
    """docs/OPERATING.md's "Alerts" table: ``{alert: {severity, expr, for, why}}``."""
    section = markdown.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`Streams"):
            continue
        alert, severity, expr, duration, why = cells
        rows[alert.strip("`")] = {
            "severity": severity,
            "expr": expr.strip("`"),
            "for": duration,
            "why": why,
        }
    return rows


def check_alert_table(markdown: str, docs: list[Doc]) -> list[str]:
    """The table lists exactly the PrometheusRule's alerts, with the same expr, for, severity."""
    table, rules = alert_table(markdown), alert_rules(docs)
    problems = [
        f"{n}: in OPERATING's table, not in the PrometheusRule" for n in table if n not in rules
    ]
    problems += [
        f"{n}: in the PrometheusRule, not in OPERATING's table" for n in rules if n not in table
    ]
    for name in sorted(set(table) & set(rules)):
        row, rule = table[name], rules[name]
        try:
            same = same_promql(row["expr"], str(rule["expr"]))
        except ValueError as exc:
            problems.append(f"{name}: OPERATING's expression does not parse: {exc}")
            continue
        if not same:
            problems.append(f"{name}: OPERATING's expression differs from the PrometheusRule's")
        if row["for"] != str(rule.get("for", "")):
            problems.append(
                f"{name}: for {row['for']!r} in OPERATING, {rule.get('for')!r} in the rule"
            )
        if row["severity"] != (rule.get("labels") or {}).get("severity"):
            problems.append(f"{name}: severity differs between OPERATING and the rule")
        description = " ".join(str((rule.get("annotations") or {}).get("description")).split())
        if row["why"] != description:
            problems.append(f"{name}: OPERATING's why differs from the rule's description")
    return problems


# --------------------------------------------------------------------------------------------
# ServiceMonitor


def check_service_monitor(docs: list[Doc]) -> list[str]:
    """The ServiceMonitor selects the metrics Service, in its namespace, by a port it has."""
    monitors = [d for d in docs if d.get("kind") == "ServiceMonitor"]
    if len(monitors) != 1:
        return [f"expected one ServiceMonitor, found {len(monitors)}"]
    [monitor] = monitors
    spec = monitor["spec"]
    namespace = monitor["metadata"].get("namespace")
    problems = []
    selector = spec["selector"]
    if selector.get("matchExpressions") or not selector.get("matchLabels"):
        problems.append("the selector must be matchLabels only (what tests/k8s can follow)")
    labels = selector.get("matchLabels") or {}
    names = (spec.get("namespaceSelector") or {}).get("matchNames")
    if (spec.get("namespaceSelector") or {}).get("any"):
        problems.append("namespaceSelector any: would scrape other namespaces' Services")
    services = [
        s
        for s in docs
        if s.get("kind") == "Service"
        and all((s["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        and (
            s["metadata"].get("namespace") in names
            if names
            else s["metadata"].get("namespace") == namespace
        )
    ]
    if [s["metadata"]["name"] for s in services] != ["streams-metrics"]:
        found = [s["metadata"]["name"] for s in services]
        return [*problems, f"the ServiceMonitor selects Services {found}, not just streams-metrics"]
    [service] = services
    ports = {p.get("name"): p for p in service["spec"].get("ports") or []}
    for endpoint in spec.get("endpoints") or []:
        port = endpoint.get("port")
        if port not in ports:
            problems.append(
                f"endpoint port {port!r} is not a port of streams-metrics {sorted(ports)}"
            )
        elif ports[port].get("targetPort") != "web":
            problems.append(f"port {port} of streams-metrics does not target the pods' web port")
        if endpoint.get("path", "/metrics") != "/metrics":
            problems.append(f"endpoint path {endpoint.get('path')!r} is not /metrics")
        if endpoint.get("scheme", "http").lower() != "http":
            problems.append("the worker serves /metrics over plain HTTP")
    if not spec.get("endpoints"):
        problems.append("the ServiceMonitor has no endpoints")
    return problems


# --------------------------------------------------------------------------------------------
# Dashboard


def grafana_to_promql(expr: str, variables: set[str]) -> str:
    """``expr`` with Grafana's variables replaced by plausible values, ready to parse."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in GRAFANA_INTERVALS:
            return GRAFANA_INTERVALS[name]
        if name in variables:
            return "x"
        raise ValueError(f"unknown dashboard variable ${name}")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _panels(dashboard: Doc) -> list[Doc]:
    found = []
    for panel in dashboard.get("panels") or []:
        found.append(panel)
        found.extend(panel.get("panels") or [])  # a collapsed row holds its panels
    return found


def dashboard_exprs(dashboard: Doc) -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every query of the dashboard, variables replaced."""
    variables = {v["name"] for v in (dashboard.get("templating") or {}).get("list") or []}
    result = []
    for panel in _panels(dashboard):
        for target in panel.get("targets") or []:
            where = f"panel {panel.get('title')!r} {target.get('refId')}"
            result.append((where, grafana_to_promql(str(target.get("expr", "")), variables)))
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") == "query":
            query = variable.get("query")
            text = str(query.get("query") if isinstance(query, dict) else query)
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text)
            if match is None:
                result.append((f"variable {variable['name']}", text))
            else:
                result.append((f"variable {variable['name']}", match[1]))
    return result


def check_dashboard(text: str, known: dict[str, str]) -> list[str]:
    """JSON; a uid; panels with unique ids, a Prometheus datasource and queries; sound PromQL;
    the worker's own series scoped to the dashboard's namespace variable."""
    try:
        dashboard = json.loads(text)
    except ValueError as exc:
        return [f"dashboard is not JSON: {exc}"]
    problems = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("dashboard needs a uid and a title")
    variables = {v["name"]: v for v in (dashboard.get("templating") or {}).get("list") or []}
    source = variables.get("datasource", {})
    if (source.get("type"), source.get("query")) != ("datasource", "prometheus"):
        problems.append("no Prometheus datasource variable named datasource")
    prometheus = {"type": "prometheus", "uid": "${datasource}"}
    ids = [p.get("id") for p in _panels(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids must be unique: {ids}")
    for panel in _panels(dashboard):
        if panel.get("type") == "row":
            continue
        title = panel.get("title")
        if panel.get("datasource") != prometheus:
            problems.append(f"panel {title!r}: datasource is not {prometheus}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        for target in targets:
            if not target.get("expr") or not target.get("refId"):
                problems.append(f"panel {title!r}: a query without expr or refId")
            if target.get("datasource", prometheus) != prometheus:
                problems.append(f"panel {title!r} {target.get('refId')}: another datasource")
        if not all(isinstance(panel.get("gridPos", {}).get(k), int) for k in "hwxy"):
            problems.append(f"panel {title!r}: no gridPos")
    try:
        exprs = dashboard_exprs(dashboard)
    except ValueError as exc:
        return [*problems, str(exc)]
    for where, expr in exprs:
        variable = where.startswith("variable")
        problems += expr_problems(expr, known, where, series_only=variable)
        if variable:
            continue
        try:
            selectors = scaling.selectors(expr)
        except ValueError:
            continue  # reported above
        for selector in selectors:
            if selector.name in EXTERNAL_METRICS and not selector.name.startswith("kube_"):
                continue  # KEDA's and the exporter's series carry their own namespace labels
            matchers = {m.name: m.value for m in selector.matchers.matchers}
            if matchers.get("namespace") != "x":
                problems.append(f"{where}: {selector.name} is not scoped to $namespace")
    return problems


def check_dashboard_configmap(docs: list[Doc], dashboard: Path = DASHBOARD) -> list[str]:
    """One ConfigMap for Grafana's sidecar, holding the dashboard file unchanged."""
    maps = [
        d
        for d in docs
        if d.get("kind") == "ConfigMap"
        and (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"
    ]
    if len(maps) != 1:
        return [f'expected one ConfigMap labelled grafana_dashboard: "1", found {len(maps)}']
    data = maps[0].get("data") or {}
    if list(data) != ["conversation-custom-data-streams.json"]:
        return [f"the dashboard ConfigMap holds {sorted(data)}, not one .json file"]
    if next(iter(data.values())) != dashboard.read_text():
        return ["the dashboard ConfigMap differs from k8s/monitoring/dashboard.json"]
    return []
