"""The ScaledObject's scaling rule: lag, held while the workers are budget-bound.

tests/k8s/checks.py's check_scaling_rule runs the committed rule over every worker count; these
tests pin its pieces: the expr-lang subset, the HPA's arithmetic against Kubernetes' own
examples, the PromQL checks against the worker's metric registry, and a readable table of what
the committed manifests do.
"""

from __future__ import annotations

import pytest

from tests.k8s import checks, scaling
from tests.k8s.manifests import Doc

# ---------------------------------------------------------------------------------------------
# expr-lang


def test_formula_names_are_its_variables() -> None:
    formula = "budget >= 0.5 && lag > workers * 5000 ? workers * 5000 : lag"
    assert scaling.formula_names(formula) == {"budget", "lag", "workers"}
    assert scaling.formula_names("(a + b) / 2") == {"a", "b"}
    assert scaling.formula_names("not x or y and z ? 1 : -2") == {"x", "y", "z"}


@pytest.mark.parametrize(
    ("formula", "values", "expected"),
    [
        ("1 + 2 * 3", {}, 7.0),
        ("(1 + 2) * 3", {}, 9.0),
        ("a > 1 ? 10 : 20", {"a": 2.0}, 10.0),
        ("a > 1 ? 10 : a < 0 ? 30 : 20", {"a": -1.0}, 30.0),
        ("a >= 0.5 && b > 2 ? 1 : 0", {"a": 0.5, "b": 3.0}, 1.0),
        ("a >= 0.5 && b > 2 ? 1 : 0", {"a": 0.49, "b": 3.0}, 0.0),
        ("!(a == 1) || a == 1 ? -a : a", {"a": 1.0}, -1.0),
        ("10 - 4 - 3", {}, 3.0),
        ("12 / 3 / 2", {}, 2.0),
    ],
)
def test_formula_evaluates_like_expr_lang(
    formula: str, values: dict[str, float], expected: float
) -> None:
    assert scaling.evaluate(formula, values) == expected


@pytest.mark.parametrize(
    "formula",
    ["max(lag, 1)", "lag ?? 0", "lag >", "lag ? 1", "a.b", "lag in [1]", "1 > 0", "lag && 1"],
)
def test_formula_outside_the_subset_is_refused(formula: str) -> None:
    with pytest.raises(scaling.FormulaError):
        scaling.evaluate(formula, {"lag": 1.0, "a": 1.0})


# ---------------------------------------------------------------------------------------------
# The HPA's arithmetic


def test_hpa_arithmetic_matches_keda_and_kubernetes_examples() -> None:
    # KEDA's ScaledObject reference: 3 replicas, queue of 20, threshold 5.
    assert scaling.hpa_replicas(20, 5, "AverageValue", 3) == 4
    assert scaling.hpa_replicas(20, 5, "Value", 3) == 12
    # Within the 10 % tolerance nothing moves; AverageValue compares with status.replicas.
    assert scaling.hpa_replicas(21_000, 5000, "AverageValue", 4) == 4
    assert scaling.hpa_replicas(23_000, 5000, "AverageValue", 4) == 5
    assert scaling.hpa_replicas(15_000, 5000, "AverageValue", 5, status_replicas=3) == 3
    assert scaling.hpa_replicas(5000, 5000, "Value", 6, ready_pods=2) == 6
    assert scaling.hpa_replicas(10_000, 5000, "Value", 6, ready_pods=2) == 4
    with pytest.raises(ValueError, match="Utilization"):
        scaling.hpa_replicas(1, 1, "Utilization", 1)


# ---------------------------------------------------------------------------------------------
# PromQL and the worker's metrics


def test_registry_names_are_the_exported_sample_names() -> None:
    names = scaling.registry_metric_names()
    assert names["streams_sdk_requests_total"] == "counter"
    assert names["streams_sdk_request_seconds_bucket"] == "histogram"
    assert "streams_sdk_requests" not in names


def test_the_rate_control_metrics_are_exported_with_their_types() -> None:
    registry = scaling.registry_metric_names()
    assert {name: registry.get(name) for name in scaling.RATE_CONTROL_METRICS} == (
        scaling.RATE_CONTROL_METRICS
    )


def test_the_budget_query_reads_known_counters(base_docs: list[Doc]) -> None:
    query = _trigger(base_docs, "prometheus")["metadata"]["query"]
    names = {s.name for s in scaling.selectors(query)}
    assert names == {"streams_im_budget_bound_seconds_total"}
    assert names <= set(scaling.known_metric_names())
    assert scaling.promql_problems(query) == []


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sum(rate(streams_sdk_requests_total[2m])", "does not parse"),
        ("rate(streams_sdk_requests_total)", "does not parse"),
        ("nosuch(streams_sdk_requests_total)", "does not parse"),
        ("rate(streams_sdk_requests_total[2m])", "several series"),
        ("sum without (code) (rate(streams_sdk_requests_total[2m]))", "several series"),
        ("sum(rate(streams_sdk_request_total[2m]))", "does not export"),
        ("sum(rate(streams_sdk_request_seconds_bucket[2m]))", "not a counter"),
        ('sum(rate(streams_sdk_requests_total{namespace!="x"}[2m]))', 'namespace="x"'),
    ],
)
def test_promql_problems_are_found(query: str, problem: str) -> None:
    problems = scaling.promql_problems(query, namespace="x")
    assert any(problem in p for p in problems), problems


def test_promql_accepts_one_series_scoped_to_the_namespace() -> None:
    query = (
        'sum(rate(streams_sdk_requests_total{namespace="x"}[2m]))'
        ' / max(streams_im_budget{namespace="x"})'
    )
    assert scaling.promql_problems(query, namespace="x") == []
    assert scaling.promql_problems("vector(1)") == []


# ---------------------------------------------------------------------------------------------
# What the committed rule does


def _trigger(docs: list[Doc], kind: str) -> Doc:
    scaled = checks.one(docs, "ScaledObject", "streams")
    [trigger] = [t for t in scaled["spec"]["triggers"] if t["type"] == kind]
    return dict(trigger)


#: (workers, lag, budget-bound share of time) -> replicas the HPA proposes (before min/max).
TABLE = [
    (2, 30_000, 0.0, 6),  # not budget-bound: the lag rule, 30000 / 5000
    (2, 30_000, 0.49, 6),  # just below the threshold: still the lag rule
    (4, 60_000, 0.5, 4),  # budget-bound with lag: held at 4, not 12
    (4, 60_000, 1.0, 4),
    (4, 60_000, 0.3, 12),  # the budget frees up: the lag rule again
    (6, 10_000, 0.9, 2),  # budget-bound but little lag: lag still scales down
    (6, 0, 1.0, 0),  # no lag: down to minReplicaCount (2)
    (4, 21_000, 0.0, 4),  # within the HPA's tolerance: no change
]


@pytest.mark.parametrize(("workers", "lag", "budget", "expected"), TABLE)
def test_the_committed_rule(
    docs: list[Doc], workers: int, lag: float, budget: float, expected: int
) -> None:
    modifiers = checks.one(docs, "ScaledObject", "streams")["spec"]["advanced"]["scalingModifiers"]
    values = {"lag": lag, "budget": budget, "workers": float(workers)}
    composite = scaling.evaluate(modifiers["formula"], values)
    target = float(modifiers["target"])
    assert scaling.hpa_replicas(composite, target, modifiers["metricType"], workers) == expected


@pytest.fixture(params=["base", "overlay"])
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return list(request.getfixturevalue(f"{request.param}_docs"))
