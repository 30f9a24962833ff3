"""The fleet at a glance: `fluxfleet inventory [--format table|markdown|csv|json]`.

One row per definition file, sorted by name: what the definition (defaults merged) asks for. An
invalid definition is listed with its first problem, never dropped. Read like `validate` reads
(no Pulumi, no git): fast at any fleet size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from components.build.ecr import pulls
from components.build.flux import OPERATOR_CHART
from components.definition.cluster import Cluster
from components.loading.fleet import Fleet

SEPARATOR = " "  # inside a cell that holds a list (csv and tables stay one line per cluster)


@dataclass(frozen=True)
class Row:
    name: str
    environment: str = ""
    wave: int | None = None
    account: str = ""
    region: str = ""
    eks_cluster: str = ""
    repository: str = ""  # owner/repository of the fleet repository
    branch: str = ""
    path: str = ""
    flux_version: str = ""
    operator_chart: str = ""  # the version of the default chart, else chart:version
    components: tuple[str, ...] = ()
    size: str = ""
    git_auth: str = ""  # deployKey or githubApp
    key_algorithm: str = ""
    key_rotation: int | None = None
    apps: tuple[str, ...] = ()  # owner/repository of each application repository
    ecr_registries: tuple[str, ...] = ()  # the _registries.yaml entries it pulls from
    slack_channel: str = ""
    valid: bool = True
    problem: str = ""


HEADERS = {
    "name": "name",
    "environment": "environment",
    "wave": "wave",
    "account": "account",
    "region": "region",
    "eks_cluster": "EKS cluster",
    "repository": "repository",
    "branch": "branch",
    "path": "path",
    "flux_version": "Flux",
    "operator_chart": "operator chart",
    "components": "components",
    "size": "size",
    "git_auth": "git auth",
    "key_algorithm": "key",
    "key_rotation": "rotation",
    "apps": "apps",
    "ecr_registries": "ECR registries",
    "slack_channel": "Slack",
    "valid": "valid",
    "problem": "problem",
}


def cluster_row(fleet: Fleet, cluster: Cluster) -> Row:
    spec = cluster.spec
    app_key = not spec.git.uses_github_app
    slack = spec.alerts.slack
    return Row(
        name=cluster.name,
        environment=cluster.metadata.environment,
        wave=fleet.wave(cluster),
        account=spec.aws.account_id,
        region=spec.aws.region,
        eks_cluster=cluster.eks_cluster_name,
        repository=f"{spec.git.owner}/{spec.git.repository}",
        branch=spec.git.branch,
        path=cluster.git_path,
        flux_version=spec.flux.version,
        operator_chart=(
            f"{spec.flux.operator_chart}:{spec.flux.operator_version}"
            if spec.flux.operator_chart not in (None, OPERATOR_CHART)
            else spec.flux.operator_version
        ),
        components=(*spec.flux.components, *spec.flux.components_extra),
        size=spec.flux.size,
        git_auth=spec.git.auth,
        key_algorithm=spec.flux.deploy_key.algorithm if app_key else "",
        key_rotation=spec.flux.deploy_key.rotation if app_key else None,
        apps=tuple(f"{a.owner_or(spec.git.owner)}/{a.repository}" for a in spec.apps),
        ecr_registries=tuple(sorted({p.registry for p in pulls(cluster, fleet.registries)})),
        slack_channel=(slack.channel or "") if slack.is_enabled else "",
    )


def inventory(fleet: Fleet) -> list[Row]:
    """Every definition file of `fleet`, valid or not, sorted by name."""
    rows = []
    for name in sorted(fleet.files):
        cluster = fleet.clusters.get(name)
        problems = fleet.problems.get(fleet.files[name], []) + fleet.problems.get(
            fleet.defaults_file, []
        )
        if cluster is not None and not problems:
            rows.append(cluster_row(fleet, cluster))
            continue
        first = sorted(problems)[0] if problems else None
        rows.append(
            Row(name=name, valid=False, problem=str(first) if first else "not a valid definition")
        )
    return rows


# --- formats ----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, tuple):
        return SEPARATOR.join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _cells(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    names = [f.name for f in fields(Row)]

    def value(row: Row, name: str) -> Any:
        if name == "components":  # the controllers by their short names, to keep rows short
            return tuple(c.removesuffix("-controller") for c in row.components)
        return getattr(row, name)

    return [HEADERS[n] for n in names], [[_cell(value(r, n)) for n in names] for r in rows]


def as_json(rows: Sequence[Row]) -> str:
    def record(row: Row) -> dict[str, Any]:
        out = {}
        for f in fields(Row):
            value = getattr(row, f.name)
            camel = f.name.split("_")[0] + "".join(p.title() for p in f.name.split("_")[1:])
            out[camel] = list(value) if isinstance(value, tuple) else value
        return out

    return json.dumps({"clusters": [record(r) for r in rows]}, indent=2) + "\n"


def as_csv(rows: Sequence[Row]) -> str:
    headers, body = _cells(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(body)
    return out.getvalue()


def as_markdown(rows: Sequence[Row]) -> str:
    headers, body = _cells(rows)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    valid = sum(r.valid for r in rows)
    lines = [f"## Fleet inventory: {len(rows)} cluster(s), {valid} valid", ""]
    lines += [line(headers), line(["---"] * len(headers)), *(line(cells) for cells in body)]
    return "\n".join(lines) + "\n"


def as_table(rows: Sequence[Row]) -> str:
    headers, body = _cells(rows)
    widths = [max(len(c) for c in column) for column in zip(headers, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(cells) for cells in body)]) + "\n"


FORMATS: dict[str, Callable[[Sequence[Row]], str]] = {
    "table": as_table,
    "markdown": as_markdown,
    "csv": as_csv,
    "json": as_json,
}
