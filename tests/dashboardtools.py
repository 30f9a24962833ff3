"""What the dashboard tests inspect: the PromQL of every panel and the metrics it selects, against
the metrics Flux and the Flux Operator export (the flux-operator and Flux monitoring docs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from components.build.monitoring import DASHBOARD_DIR

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
