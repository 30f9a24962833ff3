"""Tests for the Flux Grafana dashboards (components/data/dashboards, builders/monitoring.py)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from dashboardtools import (
    DOCUMENTED_METRICS,
    iter_panels,
    label_value_problems,
    literal_matchers,
    load_dashboards,
    metric_names,
    panel_queries,
)

from components.builders import monitoring
from components.builders.monitoring import (
    DASHBOARD_DIR,
    dashboard_configmap_data,
    write_dashboards,
)

PROMETHEUS_DS = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED = {
    "flux-cluster-stats.json": ("Flux Cluster Stats", "flux-cluster-stats"),
    "flux-control-plane.json": ("Flux Control Plane", "flux-control-plane"),
}
NAMES = sorted(EXPECTED)


def _all_exprs() -> list[tuple[str, str]]:
    return [
        (name, expr) for name, dash in load_dashboards().items() for expr in panel_queries(dash)
    ]


@pytest.fixture(scope="module")
def dashes() -> dict[str, dict[str, Any]]:
    return load_dashboards()


def test_files_are_valid_json() -> None:
    files = sorted(p.name for p in DASHBOARD_DIR.glob("*.json"))
    assert files == NAMES
    for name in files:
        assert isinstance(json.loads((DASHBOARD_DIR / name).read_text(encoding="utf-8")), dict)


def test_load_dashboards_sorted_by_name(dashes: dict[str, dict[str, Any]]) -> None:
    assert list(dashes) == NAMES


def test_load_dashboards_returns_independent_copies() -> None:
    first = load_dashboards()
    first["flux-cluster-stats.json"]["title"] = "mutated"
    first["flux-control-plane.json"]["panels"].clear()
    second = load_dashboards()
    assert second["flux-cluster-stats.json"]["title"] == "Flux Cluster Stats"
    assert second["flux-control-plane.json"]["panels"]


@pytest.mark.parametrize("name", NAMES)
def test_title_uid_and_top_level(dashes: dict[str, dict[str, Any]], name: str) -> None:
    dash = dashes[name]
    title, uid = EXPECTED[name]
    assert dash["title"] == title
    assert dash["uid"] == uid
    assert dash["id"] is None  # no numeric id, so imports never clash
    assert dash["editable"] is True
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["time"] == {"from": "now-1h", "to": "now"}
    assert dash["refresh"] == "1m"


def test_uids_distinct(dashes: dict[str, dict[str, Any]]) -> None:
    uids = [d["uid"] for d in dashes.values()]
    assert len(set(uids)) == len(uids) == 2
    titles = [d["title"] for d in dashes.values()]
    assert len(set(titles)) == 2


@pytest.mark.parametrize("name", NAMES)
def test_datasource_variable(dashes: dict[str, dict[str, Any]], name: str) -> None:
    variables = {v["name"]: v for v in dashes[name]["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_and_target_uses_datasource_variable(
    dashes: dict[str, dict[str, Any]], name: str
) -> None:
    for panel in iter_panels(dashes[name]):
        assert panel["datasource"] == PROMETHEUS_DS, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == PROMETHEUS_DS, panel["title"]
    for var in dashes[name]["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"] == PROMETHEUS_DS


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_unique_and_grid_positions(dashes: dict[str, dict[str, Any]], name: str) -> None:
    panels = list(iter_panels(dashes[name]))
    ids = [p["id"] for p in panels]
    assert all(type(i) is int for i in ids)
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert all(type(grid[k]) is int for k in ("h", "w", "x", "y"))
        assert grid["h"] > 0 and grid["w"] > 0
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("name", NAMES)
def test_panels_do_not_overlap(dashes: dict[str, dict[str, Any]], name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashes[name]["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("name", NAMES)
def test_every_non_row_panel_has_queries(dashes: dict[str, dict[str, Any]], name: str) -> None:
    for panel in iter_panels(dashes[name]):
        if panel["type"] != "row":
            assert panel.get("targets"), panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]


@pytest.mark.parametrize(("name", "expr"), _all_exprs())
def test_expr_parses_and_uses_only_documented_metrics(name: str, expr: str) -> None:
    names = metric_names(expr)  # raises ValueError if the expression does not parse
    assert names, f"{name}: {expr} selects no metric"
    assert names <= DOCUMENTED_METRICS, f"{name}: undocumented {names - DOCUMENTED_METRICS}"


@pytest.mark.parametrize("name", NAMES)
def test_variable_queries_use_documented_metrics(
    dashes: dict[str, dict[str, Any]], name: str
) -> None:
    for var in dashes[name]["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, query
        assert match.group(1) in DOCUMENTED_METRICS


def _used_metrics(dash: dict[str, Any]) -> set[str]:
    return set().union(*(metric_names(e) for e in panel_queries(dash)))


def test_cluster_stats_content(dashes: dict[str, dict[str, Any]]) -> None:
    dash = dashes["flux-cluster-stats.json"]
    assert {
        "flux_resource_info",
        "flux_instance_info",
        "gotk_reconcile_duration_seconds_bucket",
    } <= _used_metrics(dash)
    exprs = panel_queries(dash)
    assert any('ready="False"' in e for e in exprs)  # failing resources
    assert any('suspended="True"' in e for e in exprs)  # suspended resources
    assert any("by (kind, ready)" in e for e in exprs)  # resources by kind and readiness
    for q in ("0.5", "0.95", "0.99"):
        assert any(
            e.startswith(f"histogram_quantile({q}, sum by (le, kind) ")
            and "rate(gotk_reconcile_duration_seconds_bucket" in e
            for e in exprs
        ), q
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert "exported_namespace" in variables["namespace"]["definition"]


def test_control_plane_content(dashes: dict[str, dict[str, Any]]) -> None:
    dash = dashes["flux-control-plane.json"]
    assert {
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
    } <= _used_metrics(dash)
    exprs = panel_queries(dash)
    assert any("by (controller, result)" in e for e in exprs)
    assert any("by (code)" in e and "rest_client_requests_total" in e for e in exprs)
    assert any("rate(process_cpu_seconds_total" in e for e in exprs)


def test_configmap_data(dashes: dict[str, dict[str, Any]]) -> None:
    data = dashboard_configmap_data()
    assert list(data) == NAMES
    assert data == dashboard_configmap_data()  # deterministic
    for name, text in data.items():
        assert json.loads(text) == dashes[name]
        assert "\n" not in text
        assert text == json.dumps(dashes[name], sort_keys=True, separators=(",", ":"))


def test_write_dashboards_round_trip(tmp_path: Path, dashes: dict[str, dict[str, Any]]) -> None:
    out = tmp_path / "nested" / "out"
    paths = write_dashboards(out)
    assert [p.name for p in paths] == NAMES
    assert all(p.parent == out for p in paths)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert json.loads(text) == dashes[path.name]
        # The committed files are in the same canonical format write_dashboards produces.
        assert text == (DASHBOARD_DIR / path.name).read_text(encoding="utf-8")


def test_panel_queries_includes_nested_row_panels() -> None:
    dash = {
        "panels": [
            {"type": "row", "panels": [{"targets": [{"expr": "go_info"}, {"refId": "B"}]}]},
            {"targets": [{"expr": "go_goroutines"}]},
            {"type": "text"},
        ]
    }
    assert panel_queries(dash) == ["go_info", "go_goroutines"]


def test_metric_names_finds_undocumented_metric() -> None:
    assert metric_names("rate(made_up_total[5m])") == {"made_up_total"}
    assert not metric_names("rate(made_up_total[5m])") <= DOCUMENTED_METRICS


def test_metric_names_handles_composite_expressions() -> None:
    expr = (
        "sum by (kind) (rate(gotk_reconcile_duration_seconds_sum[5m]))"
        " / sum by (kind) (rate(gotk_reconcile_duration_seconds_count[5m] offset 1h))"
        ' or max_over_time({__name__="go_goroutines"}[10m:1m]) or vector(0)'
    )
    assert metric_names(expr) == {
        "gotk_reconcile_duration_seconds_sum",
        "gotk_reconcile_duration_seconds_count",
        "go_goroutines",
    }


def test_metric_names_rejects_unparsable_and_regex_names() -> None:
    with pytest.raises(ValueError):
        metric_names("sum(rate(go_info[5m])")
    with pytest.raises(ValueError):
        metric_names('{__name__=~"go_.*"}')


def test_module_does_not_import_pulumi() -> None:
    tree = ast.parse(Path(monitoring.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "pulumi" not in imported
    assert not any(name.startswith("pulumi_") for name in imported)


def test_every_literal_label_value_of_every_query_is_one_the_exporters_write(
    dashes: dict[str, dict[str, Any]],
) -> None:
    checked = 0
    for name, dash in dashes.items():
        for expr in panel_queries(dash):
            assert label_value_problems(expr) == [], (name, expr)
            checked += len(literal_matchers(expr))
    assert checked >= 4  # ready="True", ready="False" (twice), suspended="True" (twice)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        (
            'flux_resource_info{suspended="true"}',
            "flux_resource_info: suspended='true': the exporter writes ['False', 'True']",
        ),
        (
            'flux_instance_info{ready=~"true|false"}',
            "flux_instance_info: ready=~'true|false': the exporter writes "
            "['False', 'True', 'Unknown']",
        ),
        (
            'gotk_reconcile_duration_seconds_count{kind="kustomization"}',
            "gotk_reconcile_duration_seconds_count: kind='kustomization': values of kind not known",
        ),
    ],
)
def test_a_label_value_the_exporter_never_writes_is_caught(expr: str, problem: str) -> None:
    assert label_value_problems(expr) == [problem]
    assert label_value_problems('flux_resource_info{suspended="True", ready!="Unknown"}') == []
