"""The autoscaling rule of the ScaledObject, checked offline.

KEDA combines the triggers with ``spec.advanced.scalingModifiers.formula`` (an expr-lang
expression over the triggers' names) into one composite metric, and the HPA turns that metric
into a replica count. Nothing here talks to KEDA, Kubernetes or Prometheus:

- :func:`formula_names` and :func:`evaluate` read the formula with a small parser of the part of
  expr-lang the manifests use (numbers, names, arithmetic, comparisons, ``&&``/``||``/``!``,
  parentheses and ``? :``); anything else is refused, never guessed.
- :func:`hpa_replicas` is the HPA's arithmetic for one external metric (Kubernetes
  ``replica_calculator.go``): ``AverageValue`` proposes ``ceil(value / target)`` unless
  ``value / (target * statusReplicas)`` is within the tolerance of 1, when it keeps
  ``statusReplicas``; ``Value`` proposes ``ceil(readyPods * value / target)`` unless
  ``value / target`` is within the tolerance of 1, when it keeps ``specReplicas``.
- :func:`promql_problems` parses the prometheus trigger's query with promql-parser (the Rust
  parser of GreptimeTeam's promql-parser crate) and checks what KEDA needs of its result.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import promql_parser

from streams.observability import Metrics

#: The adaptive rate control's metrics (issue 18), which the prometheus trigger, the dashboard
#: and the alerts of k8s/monitoring read, with their Prometheus types.
RATE_CONTROL_METRICS = {
    "streams_im_rate_limit": "gauge",
    "streams_im_budget": "gauge",
    "streams_im_budget_bound_seconds_total": "counter",
    "streams_im_frequency_limited_total": "counter",
}

#: The HPA's default tolerance (kube-controller-manager --horizontal-pod-autoscaler-tolerance).
TOLERANCE = 0.1


# --------------------------------------------------------------------------------------------
# expr-lang, the subset the manifests use

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||==|!=|>=|<=|\?\?|[-+*/%<>!?:()]))"
)
#: expr-lang words that are operators, not variables.
_WORDS = {"and": "&&", "or": "||", "not": "!"}
_BINARY = [  # lowest precedence first
    {"||"},
    {"&&"},
    {"==", "!=", "<", ">", "<=", ">="},
    {"+", "-"},
    {"*", "/", "%"},
]


class FormulaError(ValueError):
    """A formula outside the supported subset of expr-lang, or malformed."""


@dataclass(frozen=True)
class Node:
    op: str  # "num", "name", a binary or unary operator, or "?:"
    args: tuple[Any, ...]


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FormulaError(f"unsupported text at {pos}: {text[pos:]!r}")
        token = match.group(match.lastgroup or "")
        tokens.append(_WORDS.get(token, token))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise FormulaError(f"expected {expected or 'more'}, found {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek() is not None:
            raise FormulaError(f"unexpected {self.peek()!r}")
        return node

    def ternary(self) -> Node:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        self.take("?")
        then = self.ternary()
        self.take(":")
        return Node("?:", (condition, then, self.ternary()))

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()
            node = Node(op, (node, self.binary(level + 1)))
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "!", "+"):
            op = self.take()
            return Node("neg" if op == "-" else op, (self.unary(),))
        token = self.take()
        if token == "(":
            node = self.ternary()
            self.take(")")
            return node
        if re.fullmatch(r"\d.*", token):
            return Node("num", (float(token),))
        if re.fullmatch(r"[A-Za-z_]\w*", token):
            if self.peek() == "(":
                raise FormulaError(f"function calls ({token}) are not supported here")
            return Node("name", (token,))
        raise FormulaError(f"unexpected {token!r}")


def parse_formula(text: str) -> Node:
    return _Parser(text).parse()


def formula_names(text: str) -> set[str]:
    """The variables (trigger names) a formula reads."""
    names: set[str] = set()

    def visit(node: Node) -> None:
        if node.op == "name":
            names.add(node.args[0])
        elif node.op != "num":
            for arg in node.args:
                visit(arg)

    visit(parse_formula(text))
    return names


def evaluate(text: str, values: dict[str, float]) -> float:
    """The formula's value for the triggers' metric ``values``, as KEDA returns it (a float)."""

    def ev(node: Node) -> Any:
        op, args = node.op, node.args
        if op == "num":
            return args[0]
        if op == "name":
            return values[args[0]]
        if op == "?:":
            return ev(args[1]) if _truth(ev(args[0])) else ev(args[2])
        if op == "neg":
            return -ev(args[0])
        if op == "+" and len(args) == 1:
            return ev(args[0])
        if op == "!":
            return not _truth(ev(args[0]))
        if op == "&&":
            return _truth(ev(args[0])) and _truth(ev(args[1]))
        if op == "||":
            return _truth(ev(args[0])) or _truth(ev(args[1]))
        a, b = ev(args[0]), ev(args[1])
        return {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "%": lambda: a % b,
            "==": lambda: a == b,
            "!=": lambda: a != b,
            "<": lambda: a < b,
            ">": lambda: a > b,
            "<=": lambda: a <= b,
            ">=": lambda: a >= b,
        }[op]()

    result = ev(parse_formula(text))
    if isinstance(result, bool):
        raise FormulaError("the formula returns a boolean; KEDA needs a number")
    return float(result)


def _truth(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FormulaError(f"a condition is a number ({value!r}), not a boolean")
    return value


# --------------------------------------------------------------------------------------------
# The HPA


def hpa_replicas(
    value: float,
    target: float,
    metric_type: str,
    replicas: int,
    *,
    status_replicas: int | None = None,
    ready_pods: int | None = None,
    tolerance: float = TOLERANCE,
) -> int:
    """The HPA's proposal for one external metric, before min/max and behavior.

    ``replicas`` is the scale target's spec.replicas; status.replicas and the ready pods
    default to it (a settled StatefulSet).
    """
    spec_replicas = replicas
    status_replicas = replicas if status_replicas is None else status_replicas
    ready_pods = replicas if ready_pods is None else ready_pods
    if metric_type == "AverageValue":
        ratio = value / (target * status_replicas)
        if abs(1.0 - ratio) <= tolerance:
            return status_replicas
        return math.ceil(value / target)
    if metric_type == "Value":
        ratio = value / target
        if abs(1.0 - ratio) <= tolerance:
            return spec_replicas
        return math.ceil(ratio * ready_pods)
    raise ValueError(f"metricType {metric_type!r} is not one of an external metric's")


# --------------------------------------------------------------------------------------------
# PromQL


def registry_metric_names() -> dict[str, str]:
    """``{exported sample name: Prometheus type}`` of streams/observability.py's registry."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum"),
        "summary": ("", "_count", "_sum"),
    }
    names: dict[str, str] = {}
    for family in Metrics().registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names[family.name + suffix] = family.type
    return names


def known_metric_names() -> dict[str, str]:
    """The names the worker's registry exports, with their types."""
    return registry_metric_names()


def selectors(query: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of ``query`` (parsing it raises ValueError when it is not PromQL)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(query), visit)
    return found


def _equal_matchers(selector: promql_parser.VectorSelector) -> dict[str, str]:
    """``{label: value}`` of the selector's ``label="value"`` matchers."""
    return {
        m.name: m.value for m in selector.matchers.matchers if m.op == promql_parser.MatchOp.Equal
    }


def _one_series(node: promql_parser.Expr) -> bool:
    """Whether ``node`` yields at most one series (KEDA refuses a result of several)."""
    if isinstance(node, promql_parser.NumberLiteral):
        return True
    if isinstance(node, promql_parser.ParenExpr):
        return _one_series(node.expr)
    if isinstance(node, promql_parser.AggregateExpr):
        modifier = node.modifier
        return modifier is None or (
            modifier.type == promql_parser.AggModifierType.By and not modifier.labels
        )
    if isinstance(node, promql_parser.BinaryExpr):
        return _one_series(node.lhs) and _one_series(node.rhs)
    if isinstance(node, promql_parser.Call):
        return node.func.name in ("scalar", "vector") or all(
            _one_series(arg) for arg in node.args if isinstance(arg, promql_parser.Expr)
        )
    return False


def promql_problems(query: str, namespace: str | None = None) -> list[str]:
    """What is wrong with a prometheus trigger's query, for KEDA and for these workers.

    It must parse; return one series (an aggregation without ``by``); read only metrics the
    worker exports (:func:`known_metric_names`), ``rate``/``increase`` only of counters; and, when
    the ScaledObject has a ``namespace``, select every series with ``namespace="<it>"`` so that
    another deployment's workers in the same Prometheus never count.
    """
    try:
        tree = promql_parser.parse(query)
    except ValueError as exc:
        return [f"query does not parse as PromQL: {exc}"]
    problems = []
    if not _one_series(tree):
        problems.append("query may return several series (KEDA needs one): aggregate it")
    known = known_metric_names()
    for selector in selectors(query):
        name = selector.name
        if not name or name not in known:
            problems.append(f"query reads {name!r}, which the worker does not export")
        if namespace is not None:
            if _equal_matchers(selector).get("namespace") != namespace:
                problems.append(f'query: {name} must select namespace="{namespace}"')

    def rates(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name in ("rate", "increase"):
            for arg in node.args:
                if isinstance(arg, promql_parser.MatrixSelector):
                    name = arg.vector_selector.name
                    if known.get(name) != "counter":
                        problems.append(f"query: {node.func.name}() of {name}, not a counter")

    promql_parser.walk(tree, rates)
    return problems
