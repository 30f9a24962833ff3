"""The fleet at a glance: `fluxfleet inventory [--format table|markdown|csv|json]`.

One row per definition file, sorted by name: what the definition (defaults merged) asks for. An
invalid definition is listed with its first problem, never dropped. Read like `validate` reads
(no Pulumi, no git): fast at any fleet size.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from components.builders.ecr import pulls
from components.builders.flux import OPERATOR_CHART
from components.builders.options import ecr_options
from components.definition.cluster import Cluster
from components.loading.fleet import Fleet
from components.problems import one_line, show

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
    alert_providers: tuple[str, ...] = ()  # spec.alerts.providers, each as name (type)
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
    "alert_providers": "alert providers",
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
        # what it follows: the branch, else the ref's kind and value (tag v1.4.2)
        branch=spec.git.checkout.value
        if spec.git.checkout.kind == "branch"
        else f"{spec.git.checkout.kind} {spec.git.checkout.value}",
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
        ecr_registries=tuple(
            sorted({p.registry for p in pulls(ecr_options(cluster), fleet.registries)})
        ),
        slack_channel=(slack.channel or "") if slack.is_enabled else "",
        alert_providers=tuple(f"{p.name} ({p.type})" for p in spec.alerts.providers),
    )


def inventory(fleet: Fleet) -> list[Row]:
    """Every definition file of `fleet`, valid or not, and every file of k8s-clusters/ read as
    nothing (named by its file name), sorted by name."""
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
    for display in fleet.strays:
        rows.append(
            Row(
                name=display.rpartition("/")[2],
                valid=False,
                problem=str(fleet.problems[display][0]),
            )
        )
    return sorted(rows, key=lambda row: row.name)


# --- formats ----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, tuple):
        return one_line(SEPARATOR.join(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    # a file name or a value a person wrote: never a line break or a terminal escape
    return "" if value is None else one_line(str(value))


COLUMNS = [f.name for f in fields(Row)]
# What a table fits in a terminal; --wide or --columns for the rest (csv and json: every column).
NARROW = ["name", "environment", "wave", "account", "region", "flux_version", "git_auth", "valid"]
NARROW += ["problem"]


def json_name(column: str) -> str:
    """A column's name in json and on the command line (--columns): camelCase."""
    first, *rest = column.split("_")
    return first + "".join(part.title() for part in rest)


def columns_from(text: str) -> list[str]:
    """--columns name,region,...: the columns (their json names), in that order; ValueError
    naming an unknown one (and the nearest)."""
    by_json = {json_name(c): c for c in COLUMNS}
    chosen = []
    for name in (part.strip() for part in text.split(",")):
        if name not in by_json:
            close = difflib.get_close_matches(name, list(by_json), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(
                f"unknown column {show(name)}{hint} (expected some of {', '.join(by_json)})"
            )
        chosen.append(by_json[name])
    return list(dict.fromkeys(chosen))


def _cells(
    rows: Sequence[Row], names: Sequence[str] = COLUMNS
) -> tuple[list[str], list[list[str]]]:

    def value(row: Row, name: str) -> Any:
        if name == "components":  # the controllers by their short names, to keep rows short
            return tuple(c.removesuffix("-controller") for c in row.components)
        return getattr(row, name)

    return [HEADERS[n] for n in names], [[_cell(value(r, n)) for n in names] for r in rows]


def as_json(rows: Sequence[Row], names: Sequence[str] = COLUMNS) -> str:
    def record(row: Row) -> dict[str, Any]:
        out = {}
        for name in COLUMNS:  # a record keeps every field
            value = getattr(row, name)
            out[json_name(name)] = list(value) if isinstance(value, tuple) else value
        return out

    return json.dumps({"clusters": [record(r) for r in rows]}, indent=2) + "\n"


def as_csv(rows: Sequence[Row], names: Sequence[str] = COLUMNS) -> str:
    headers, body = _cells(rows, names)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(body)
    return out.getvalue()


def as_markdown(rows: Sequence[Row], names: Sequence[str] = COLUMNS) -> str:
    headers, body = _cells(rows, names)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    valid = sum(r.valid for r in rows)
    lines = [f"## Fleet inventory: {len(rows)} cluster(s), {valid} valid", ""]
    lines += [line(headers), line(["---"] * len(headers)), *(line(cells) for cells in body)]
    return "\n".join(lines) + "\n"


def as_table(rows: Sequence[Row], names: Sequence[str] = COLUMNS) -> str:
    headers, body = _cells(rows, names)
    widths = [max(len(c) for c in column) for column in zip(headers, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(cells) for cells in body)]) + "\n"


# The columns of each format unless --columns or --wide says otherwise.
DEFAULT_COLUMNS = {"table": NARROW, "markdown": NARROW, "csv": COLUMNS, "json": COLUMNS}
FORMATS: dict[str, Callable[[Sequence[Row], Sequence[str]], str]] = {
    "table": as_table,
    "markdown": as_markdown,
    "csv": as_csv,
    "json": as_json,
}
