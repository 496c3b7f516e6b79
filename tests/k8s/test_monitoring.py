"""k8s/monitoring: the PrometheusRule, the ServiceMonitor and the Grafana dashboard, offline.

Schemas (check-jsonschema against k8s/schemas/, from the Prometheus Operator's CRDs), PromQL
(promql-parser), metric names against the /metrics page of one real worker started for this
module, the ServiceMonitor against the metrics Service, and docs/OPERATING.md's alert table
against the PrometheusRule. Each check is also shown to reject a broken variant.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from streams.observability import Metrics
from streams_devkit.broker import create_topics, free_port
from tests.fixtures.pipeline import PARTITIONS, Pipeline
from tests.k8s import checks, monitoring, scaling
from tests.k8s.manifests import Doc, kustomize, validate
from tests.k8s.monitoring import DASHBOARD, OPERATING

# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def monitoring_docs(k8s_copy: Path) -> list[Doc]:
    return kustomize(k8s_copy / "monitoring")


@pytest.fixture(scope="module")
def live_metrics(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The /metrics page of one real worker (session broker, no IM endpoint needed)."""
    tmp = tmp_path_factory.mktemp("metrics-worker")
    prefix = f"t{time.time_ns() % 10**8:08d}-"
    # Nothing listens on the IM port: the worker runs (not ready) and serves /metrics anyway.
    pipe = Pipeline(broker, prefix, f"http://127.0.0.1:{free_port()}", tmp)
    names = (pipe.changes, pipe.outcomes, pipe.dead_letters)
    asyncio.run(create_topics(broker, dict.fromkeys(names, PARTITIONS)))
    port = free_port()
    pipe.start_worker(STREAMS_WEB_PORT=str(port))
    try:
        deadline = time.monotonic() + 25
        text = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                text = ""
            # Faust's sensor is installed with the pages: both families are there at once.
            if "streams_events_consumed_total" in text and "faust_total_rebalances" in text:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no /metrics from the worker:\n{pipe.worker_log()[-3000:]}")
        yield text
    finally:
        pipe.stop()


@pytest.fixture(scope="module")
def known(live_metrics: str) -> dict[str, str]:
    names, problems = monitoring.known_kinds(monitoring.exposition_kinds(live_metrics))
    assert problems == []
    return names


@pytest.fixture(scope="module")
def offline_known() -> dict[str, str]:
    """The names without a worker (the pipeline's registry), for the broken-variant tests."""
    registry = monitoring.exposition_kinds(generate_latest(Metrics().registry).decode())
    return monitoring.known_kinds(registry)[0]


def _rule(docs: list[Doc], alert: str) -> Doc:
    rule: Doc = monitoring.alert_rules(docs)[alert]
    return rule


# ---------------------------------------------------------------------------------------------
# Rendering and schemas


def test_monitoring_renders_on_its_own_and_in_the_overlay(
    monitoring_docs: list[Doc], overlay_docs: list[Doc], tmp_path: Path
) -> None:
    assert sorted(d["kind"] for d in monitoring_docs) == [
        "ConfigMap",
        "PrometheusRule",
        "ServiceMonitor",
    ]
    assert validate(monitoring_docs, tmp_path) == []
    in_overlay = [d for d in overlay_docs if d["kind"] in {"PrometheusRule", "ServiceMonitor"}]
    in_overlay += [d for d in overlay_docs if d["metadata"]["name"] == "streams-dashboard"]
    assert len(in_overlay) == 3
    assert {d["metadata"]["namespace"] for d in in_overlay} == {"conversation-streams"}


BROKEN: dict[str, tuple[str, Callable[[Doc], Any], str]] = {
    "servicemonitor-misspelled-endpoints": (
        "ServiceMonitor",
        lambda d: d["spec"].update(endpoint=d["spec"].pop("endpoints")),
        "'endpoint' was unexpected",
    ),
    "servicemonitor-misspelled-endpoint-field": (
        "ServiceMonitor",
        lambda d: d["spec"]["endpoints"][0].update(scrapeInterval="15s"),
        "'scrapeInterval' was unexpected",
    ),
    "servicemonitor-interval-not-a-duration": (
        "ServiceMonitor",
        lambda d: d["spec"]["endpoints"][0].update(interval="15 seconds"),
        "does not match",
    ),
    "servicemonitor-without-selector": (
        "ServiceMonitor",
        lambda d: d["spec"].pop("selector"),
        "'selector' is a required property",
    ),
    "rule-for-not-a-duration": (
        "PrometheusRule",
        lambda d: d["spec"]["groups"][0]["rules"][0].update({"for": "10 minutes"}),
        "does not match",
    ),
    "rule-without-expr": (
        "PrometheusRule",
        lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr"),
        "'expr' is a required property",
    ),
    "rule-label-not-a-string": (
        "PrometheusRule",
        lambda d: d["spec"]["groups"][0]["rules"][0]["labels"].update(page=True),
        "True is not of type 'string'",
    ),
    "group-misspelled-rules": (
        "PrometheusRule",
        lambda d: d["spec"]["groups"][0].update(rule=d["spec"]["groups"][0].pop("rules")),
        "'rule' was unexpected",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_monitoring_resource_is_rejected(
    case: str, monitoring_docs: list[Doc], tmp_path: Path
) -> None:
    kind, change, message = BROKEN[case]
    [doc] = [copy.deepcopy(d) for d in monitoring_docs if d["kind"] == kind]
    change(doc)
    problems = validate([doc], tmp_path)
    assert problems and message in "\n".join(problems), problems


# ---------------------------------------------------------------------------------------------
# Metric names: a live worker's /metrics page


def test_the_live_page_has_the_worker_and_faust_metrics(live_metrics: str) -> None:
    kinds = monitoring.exposition_kinds(live_metrics)
    assert kinds["streams_events_consumed_total"] == "counter"
    assert kinds["streams_outcomes_total"] == "counter"  # labelled, no sample yet: declared
    assert kinds["streams_sdk_request_seconds_bucket"] == "counter"
    assert kinds["faust_total_rebalances_recovering"] == "gauge"
    assert {name: kinds.get(name) for name in scaling.RATE_CONTROL_METRICS} == (
        scaling.RATE_CONTROL_METRICS
    )


def test_rules_are_sound_promql_over_existing_metrics(
    monitoring_docs: list[Doc], known: dict[str, str]
) -> None:
    assert monitoring.check_rules(monitoring_docs, known) == []


def test_dashboard_is_sound_over_existing_metrics(known: dict[str, str]) -> None:
    assert monitoring.check_dashboard(DASHBOARD.read_text(), known) == []


def test_known_names_refuse_an_external_metric_the_worker_exports() -> None:
    assert monitoring.known_kinds({"streams_im_budget": "gauge"})[1] == []
    clash = monitoring.known_kinds({"kube_statefulset_replicas": "gauge"})[1]
    assert clash == [
        "EXTERNAL_METRICS lists metrics the worker exports: ['kube_statefulset_replicas']"
    ]


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(rate(streams_events_consumed_total[5m])", "does not parse"),
        ("sum(rate(streams_event_consumed_total[5m]))", "'streams_event_consumed_total'"),
        ("streams_dead_letters_total > 0", "counter streams_dead_letters_total read without"),
        ("deriv(streams_dead_letters_total[5m])", "read without rate() or increase()"),
        ("rate(streams_im_budget[5m])", "streams_im_budget, a gauge, not a counter"),
        ("max_over_time(rate(kube_statefulset_replicas[5m])[1h:])", "a gauge, not a counter"),
        ("sum(up)", "'up', which no worker"),
        ('sum({__name__=~"streams_.*"})', "None"),
    ],
)
def test_expr_problems_are_found(expr: str, problem: str, offline_known: dict[str, str]) -> None:
    problems = monitoring.expr_problems(expr, offline_known, "test")
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.99, sum by (le) (rate(streams_sdk_request_seconds_bucket[5m]))) > 2",
        "sum(rate(streams_sdk_requests_total[1m])) / max(streams_im_budget)",
        'deriv(sum(keda_scaler_metrics_value{scaledObject="streams"})[15m:1m]) > 0',
        "increase(streams_sdk_request_seconds_count[1h]) - 1",
        "-sum(streams_im_rate_limit) or vector(0)",
    ],
)
def test_expr_accepts_counters_through_rates_and_gauges_as_they_are(
    expr: str, offline_known: dict[str, str]
) -> None:
    assert monitoring.expr_problems(expr, offline_known, "test") == []


INCONSISTENT_RULES: dict[str, tuple[Callable[[Doc], Any], str]] = {
    "raw-counter": (lambda r: r.update(expr="streams_dead_letters_total > 0"), "read without"),
    "no-severity": (lambda r: r["labels"].pop("severity"), "severity None"),
    "no-summary": (lambda r: r["annotations"].pop("summary"), "no summary annotation"),
    "lowercase-name": (lambda r: r.update(alert="deadLetters"), "StreamsCamelCase"),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT_RULES))
def test_an_unsound_rule_is_caught(
    case: str, monitoring_docs: list[Doc], offline_known: dict[str, str]
) -> None:
    change, message = INCONSISTENT_RULES[case]
    docs = copy.deepcopy(monitoring_docs)
    change(_rule(docs, "StreamsDeadLetters"))
    problems = monitoring.check_rules(docs, offline_known)
    assert any(message in p for p in problems), problems


def test_a_repeated_alert_name_is_caught(
    monitoring_docs: list[Doc], offline_known: dict[str, str]
) -> None:
    docs = copy.deepcopy(monitoring_docs)
    [rule_doc] = [d for d in docs if d["kind"] == "PrometheusRule"]
    rules = rule_doc["spec"]["groups"][0]["rules"]
    rules.append(copy.deepcopy(rules[0]))
    assert "rule names repeat: ['StreamsWorkersMissing']" in monitoring.check_rules(
        docs, offline_known
    )


# ---------------------------------------------------------------------------------------------
# docs/OPERATING.md's alert table


def test_operating_lists_exactly_the_rules(monitoring_docs: list[Doc]) -> None:
    table = monitoring.alert_table(OPERATING.read_text())
    assert len(table) == len(monitoring.alert_rules(monitoring_docs)) >= 10
    assert monitoring.check_alert_table(OPERATING.read_text(), monitoring_docs) == []


def test_operating_and_rules_out_of_sync_are_caught(monitoring_docs: list[Doc]) -> None:
    markdown = OPERATING.read_text()
    docs = copy.deepcopy(monitoring_docs)
    rule = _rule(docs, "StreamsIMSlow")
    rule["expr"] = str(rule["expr"]).replace("> 2", "> 3")
    rule["for"] = "5m"
    _rule(docs, "StreamsDisk")["alert"] = "StreamsDiskFull"
    problems = monitoring.check_alert_table(markdown, docs)
    assert problems == [
        "StreamsDisk: in OPERATING's table, not in the PrometheusRule",
        "StreamsDiskFull: in the PrometheusRule, not in OPERATING's table",
        "StreamsIMSlow: OPERATING's expression differs from the PrometheusRule's",
        "StreamsIMSlow: for '15m' in OPERATING, '5m' in the rule",
    ]
    # Formatting is not a difference: the same PromQL on several lines matches.
    reformatted = markdown.replace("sum by (le) (rate(", "sum  by(le)(rate(")
    assert monitoring.check_alert_table(reformatted, monitoring_docs) == []


# ---------------------------------------------------------------------------------------------
# ServiceMonitor and the metrics Service


@pytest.fixture(params=["base", "overlay"])
def scraped_docs(request: pytest.FixtureRequest, monitoring_docs: list[Doc]) -> list[Doc]:
    """The workers with their monitoring: base + k8s/monitoring, and the overlay (has both)."""
    if request.param == "base":
        return [*request.getfixturevalue("base_docs"), *monitoring_docs]
    return list(request.getfixturevalue("overlay_docs"))


def test_the_service_monitor_scrapes_the_metrics_service(scraped_docs: list[Doc]) -> None:
    assert monitoring.check_service_monitor(scraped_docs) == []
    # The NetworkPolicy lets the scrape in on the port the Service targets.
    assert checks.check_network_policy(scraped_docs) == []


def _monitor(docs: list[Doc]) -> Doc:
    [doc] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    return doc


MONITOR_BREAKS: dict[str, tuple[Callable[[list[Doc]], Any], str]] = {
    "port-name": (
        lambda docs: _monitor(docs)["spec"]["endpoints"][0].update(port="metrics"),
        "endpoint port 'metrics' is not a port of streams-metrics ['http-metrics']",
    ),
    "selects-the-headless-service-too": (
        lambda docs: _monitor(docs)["spec"]["selector"]["matchLabels"].pop(
            "app.kubernetes.io/component"
        ),
        "selects Services ['streams', 'streams-metrics'], not just streams-metrics",
    ),
    "service-relabelled": (
        lambda docs: next(d for d in docs if d["metadata"]["name"] == "streams-metrics")[
            "metadata"
        ]["labels"].update({"app.kubernetes.io/component": "web"}),
        "selects Services [], not just streams-metrics",
    ),
    "other-namespace": (
        lambda docs: _monitor(docs)["metadata"].update(namespace="monitoring"),
        "selects Services [], not just streams-metrics",
    ),
    "all-namespaces": (
        lambda docs: _monitor(docs)["spec"].update(namespaceSelector={"any": True}),
        "namespaceSelector any",
    ),
    "https": (
        lambda docs: _monitor(docs)["spec"]["endpoints"][0].update(scheme="https"),
        "plain HTTP",
    ),
}


@pytest.mark.parametrize("case", sorted(MONITOR_BREAKS))
def test_a_service_monitor_that_misses_the_workers_is_caught(
    case: str, overlay_docs: list[Doc]
) -> None:
    change, message = MONITOR_BREAKS[case]
    docs = copy.deepcopy(overlay_docs)
    change(docs)
    problems = monitoring.check_service_monitor(docs)
    assert any(message in p for p in problems), problems


# ---------------------------------------------------------------------------------------------
# Dashboard


def test_the_dashboard_configmap_carries_the_file(
    monitoring_docs: list[Doc], overlay_docs: list[Doc]
) -> None:
    assert monitoring.check_dashboard_configmap(monitoring_docs) == []
    assert monitoring.check_dashboard_configmap(overlay_docs) == []
    [config] = [d for d in monitoring_docs if d["kind"] == "ConfigMap"]
    assert config["metadata"]["name"] == "streams-dashboard"  # fixed: no stale copies


def test_the_dashboard_shows_what_the_issue_asks(offline_known: dict[str, str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = "\n".join(expr for _, expr in monitoring.dashboard_exprs(dashboard))
    for metric in (
        "streams_events_consumed_total",
        "streams_outcomes_total",
        "streams_sdk_requests_total",
        "streams_sdk_request_seconds_bucket",
        "streams_im_budget",
        "streams_im_rate_limit",
        "streams_im_budget_bound_seconds_total",
        "streams_im_frequency_limited_total",
        "keda_scaler_metrics_value",
        "faust_total_rebalances_recovering",
        "streams_dead_letters_total",
        "streams_quarantined_records_total",
        "streams_consumer_refetches_total",
    ):
        assert metric in exprs, metric
    # "Are we using the quota we pay for?"
    use = (
        'sum(rate(streams_sdk_requests_total{namespace="x"}[1m]))'
        ' / max(streams_im_budget{namespace="x"})'
    )
    assert any(monitoring.same_promql(use, e) for _, e in monitoring.dashboard_exprs(dashboard))


def _first_panel(dashboard: Doc) -> Doc:
    panel: Doc = next(p for p in dashboard["panels"] if p["type"] != "row")
    return panel


DASHBOARD_BREAKS: dict[str, tuple[Callable[[Doc], Any], str]] = {
    "no-datasource": (lambda d: _first_panel(d).pop("datasource"), "datasource is not"),
    "no-queries": (lambda d: _first_panel(d).update(targets=[]), "no queries"),
    "query-without-expr": (lambda d: _first_panel(d)["targets"][0].pop("expr"), "without expr"),
    "unscoped": (
        lambda d: _first_panel(d)["targets"][0].update(
            expr="sum(rate(streams_events_consumed_total[$__rate_interval]))"
        ),
        "streams_events_consumed_total is not scoped to $namespace",
    ),
    "unknown-variable": (
        lambda d: _first_panel(d)["targets"][0].update(
            expr='sum(rate(streams_events_consumed_total{namespace="$ns"}[5m]))'
        ),
        "unknown dashboard variable $ns",
    ),
    "raw-counter": (
        lambda d: _first_panel(d)["targets"][0].update(
            expr='sum(streams_events_consumed_total{namespace="$namespace"})'
        ),
        "read without rate() or increase()",
    ),
    "repeated-id": (lambda d: _first_panel(d).update(id=d["panels"][0]["id"]), "unique"),
    "variable-of-unknown-metric": (
        lambda d: d["templating"]["list"][1]["query"].update(
            query="label_values(streams_consumed_total, namespace)"
        ),
        "'streams_consumed_total'",
    ),
}


@pytest.mark.parametrize("case", sorted(DASHBOARD_BREAKS))
def test_a_broken_dashboard_is_caught(case: str, offline_known: dict[str, str]) -> None:
    change, message = DASHBOARD_BREAKS[case]
    dashboard = json.loads(DASHBOARD.read_text())
    change(dashboard)
    problems = monitoring.check_dashboard(json.dumps(dashboard), offline_known)
    assert any(message in p for p in problems), problems
    assert monitoring.check_dashboard("{", offline_known)[0].startswith("dashboard is not JSON")
