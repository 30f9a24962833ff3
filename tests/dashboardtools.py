"""What the dashboard tests inspect: the PromQL of every panel and the metrics it selects, against
the metrics Flux and the Flux Operator export (the flux-operator and Flux monitoring docs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from components.builders.monitoring import DASHBOARD_DIR

# Metrics exported by the Flux controllers and the Flux Operator (see the project's Flux notes).
DOCUMENTED_METRICS: frozenset[str] = frozenset(
    {
        "gotk_reconcile_duration_seconds_bucket",
        "gotk_reconcile_duration_seconds_sum",
        "gotk_reconcile_duration_seconds_count",
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth",
        "workqueue_adds_total",
        "workqueue_longest_running_processor_seconds",
        "rest_client_requests_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "go_memstats_alloc_bytes",
        "go_goroutines",
        "go_info",
        "flux_instance_info",
        "flux_resource_info",
    }
)


# The values the exporters write into the labels a dashboard query compares with a literal, as
# their sources set them. flux-operator v0.58.1 internal/reporter/metrics.go: `suspended` is
# trueValue "True" or falseValue "False" (never lowercase); `ready` is the Ready condition's status
# (a Kubernetes ConditionStatus: "True", "False" or "Unknown"), "Unknown" when there is none.
# A query comparing any other label with a literal fails the test until its values are added here
# from the exporter's source.
_CONDITION_STATUS = frozenset({"True", "False", "Unknown"})
_FLUX_OPERATOR_LABELS = {"ready": _CONDITION_STATUS, "suspended": frozenset({"True", "False"})}
EXPORTED_LABEL_VALUES: dict[str, dict[str, frozenset[str]]] = {
    "flux_resource_info": _FLUX_OPERATOR_LABELS,
    "flux_instance_info": _FLUX_OPERATOR_LABELS,
    "flux_resourceset_info": _FLUX_OPERATOR_LABELS,
    "flux_resourcesetinputprovider_info": _FLUX_OPERATOR_LABELS,
}


def literal_matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """(metric, label, operator, value) of every label matcher of `expr` whose value is a literal
    (not a Grafana variable such as $namespace); the operator is =, !=, =~ or !~."""
    import promql_parser  # dev-only dependency

    ops = [
        (promql_parser.MatchOp.Equal, "="),
        (promql_parser.MatchOp.NotEqual, "!="),
        (promql_parser.MatchOp.Re, "=~"),
        (promql_parser.MatchOp.NotRe, "!~"),
    ]
    found: list[tuple[str, str, str, str]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            groups = [node.matchers.matchers, *node.matchers.or_matchers]
            for matcher in (m for group in groups for m in group):
                if matcher.name != "__name__" and "$" not in matcher.value:
                    op = next(text for match_op, text in ops if match_op == matcher.op)
                    found.append((node.name, matcher.name, op, matcher.value))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def label_value_problems(expr: str) -> list[str]:
    """Each literal matcher of `expr` that no exported value satisfies, or whose label's values
    are not known from the exporter's source."""
    import re

    problems = []
    for metric, label, op, value in literal_matchers(expr):
        known = EXPORTED_LABEL_VALUES.get(metric, {}).get(label)
        if known is None:
            problems.append(f"{metric}: {label}{op}{value!r}: values of {label} not known")
            continue
        if op in ("=~", "!~"):
            hits = {v for v in known if re.fullmatch(value, v)}
        else:
            hits = {value} & known
        # a matcher that excludes: it must exclude something the exporter writes, and leave some
        if op in ("!=", "!~"):
            hits = known - hits if hits else set()
        if not hits:
            problems.append(f"{metric}: {label}{op}{value!r}: the exporter writes {sorted(known)}")
    return problems


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel of a dashboard, including panels nested in (collapsed) rows."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels") or [])

    yield from walk(dashboard.get("panels") or [])


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    """Return the ``expr`` of every target of every panel (nested row panels included)."""
    return [
        target["expr"]
        for panel in iter_panels(dashboard)
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def metric_names(expr: str) -> set[str]:
    """Return the metric names selected by a PromQL expression.

    Raises ``ValueError`` if the expression does not parse, or if a selector picks its metric
    with a non-equality ``__name__`` matcher (e.g. ``{__name__=~"go_.*"}``), since the selected
    names cannot then be known statically.
    """
    import promql_parser  # dev-only dependency: imported lazily so runtime code never needs it

    names: set[str] = set()

    def add_name_matchers(matchers: list[Any]) -> None:
        for matcher in matchers:
            if matcher.name != "__name__":
                continue
            if matcher.op != promql_parser.MatchOp.Equal:
                raise ValueError(f"cannot resolve metric names of {matcher} in {expr!r}")
            names.add(matcher.value)

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            add_name_matchers(node.matchers.matchers)
            for group in node.matchers.or_matchers:
                add_name_matchers(group)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def load_dashboards() -> dict[str, dict[str, Any]]:
    """File name (such as "flux-cluster-stats.json") -> the parsed dashboard, sorted by name."""
    files = sorted(DASHBOARD_DIR.glob("*.json"), key=lambda p: p.name)
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in files}
