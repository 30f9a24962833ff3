"""Monitoring Flux: the Grafana dashboards (JSON files in data/dashboards/, Grafana's JSON model)
as ConfigMaps for Grafana's dashboard sidecar, and the PodMonitor Prometheus scrapes the
controllers with. Pure, no Pulumi."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.builders.common import metadata
from components.names import DATA_DIR, FLUX_NAMESPACE, MANAGED_BY

DASHBOARD_DIR = DATA_DIR / "dashboards"
MONITORING_API = "monitoring.coreos.com/v1"
POD_MONITOR_NAME = "flux-system"
METRICS_PORT = "http-prom"  # the Flux controllers' metrics port (8080)


@functools.cache
def _load_all() -> dict[str, dict[str, Any]]:
    files = sorted(DASHBOARD_DIR.glob("*.json"), key=lambda p: p.name)
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in files}


def dashboard_configmap_data() -> dict[str, str]:
    """Return file name -> compact, deterministic JSON text for a ConfigMap's ``data``."""
    return {
        name: json.dumps(dashboard, sort_keys=True, separators=(",", ":"))
        for name, dashboard in _load_all().items()
    }


def write_dashboards(out_dir: Path) -> list[Path]:
    """Write every dashboard as pretty JSON into ``out_dir`` (created if missing).

    Returns the written paths, in file-name order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, dashboard in _load_all().items():
        path = out_dir / name
        path.write_text(json.dumps(dashboard, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class MonitoringOptions:
    """spec.monitoring, and the Flux controllers it scrapes (filled by builders/options.py)."""

    controllers: Sequence[str]  # the Flux components that run
    monitor_labels: Mapping[str, str]  # what Prometheus selects monitors by
    dashboards: bool  # spec.monitoring.grafanaDashboards
    dashboard_namespace: str
    dashboard_labels: Mapping[str, str]  # what Grafana's sidecar selects ConfigMaps by


def flux_pod_monitor(options: MonitoringOptions) -> dict[str, Any]:
    """Scrapes the cluster's Flux controllers on their `http-prom` port (only Running pods:
    prometheus-operator's default filterRunning)."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": metadata(
            POD_MONITOR_NAME,
            FLUX_NAMESPACE,
            {
                **options.monitor_labels,
                "app.kubernetes.io/part-of": "flux",
                "app.kubernetes.io/component": "monitoring",
            },
        ),
        "spec": {
            "namespaceSelector": {"matchNames": [FLUX_NAMESPACE]},
            "selector": {
                "matchExpressions": [
                    {"key": "app", "operator": "In", "values": list(options.controllers)}
                ]
            },
            "podMetricsEndpoints": [{"port": METRICS_PORT}],
        },
    }


@dataclass(frozen=True)
class DashboardConfigMap:
    """One Grafana dashboard as a ConfigMap the dashboard sidecar loads."""

    name: str  # the ConfigMap's name, also the suffix of its Pulumi resource name
    namespace: str
    labels: dict[str, str]
    data: dict[str, str]  # file name -> dashboard JSON


def dashboard_configmaps(options: MonitoringOptions) -> list[DashboardConfigMap]:
    """One ConfigMap per dashboard (each stays well under the 1 MiB object limit); none when
    grafanaDashboards is false."""
    if not options.dashboards:
        return []
    labels = {**options.dashboard_labels, **MANAGED_BY}
    return [
        DashboardConfigMap(
            name=f"grafana-dashboard-{file_name.removesuffix('.json')}",
            namespace=options.dashboard_namespace,
            labels=labels,
            data={file_name: text},
        )
        for file_name, text in dashboard_configmap_data().items()
    ]
