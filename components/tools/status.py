"""What each cluster's Flux actually runs: the pure half of `fluxfleet status`.

From the objects read from a cluster (its FluxReport `flux` in `flux-system`, its Kustomizations
and HelmReleases) to one row: Flux version running against the version declared, components
ready, the sync's revision and status, the reconcilers that fail; healthy or not, and why. Also
the fleet-wide pass (bounded concurrency, a deadline per cluster) and the wait of a wave, with the
reading of one cluster handed in (tools/cluster_reader.py does the network): everything here is
tested without a server.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from components.definition.cluster import Cluster
from components.loading.fleet import Fleet
from components.names import FLUX_NAMESPACE
from components.problems import one_line

SYNC_NAME = "flux-system"  # the FluxInstance's sync Kustomization (and GitRepository)
FIRST_NAMES = 3  # failing reconcilers named in a row (then "+N more")
MAX_MESSAGE = 160  # characters of a condition message kept in a row


class Malformed(ValueError):
    """An object from the cluster without the shape its API promises (the row says where)."""


@dataclass(frozen=True)
class Target:
    """What status needs of a cluster's definition: the connection `pulumi up` uses, and what the
    cluster should run."""

    name: str
    environment: str
    wave: int
    account_id: str
    region: str
    role_arn: str | None
    eks_cluster_name: str
    declared_version: str


def target(fleet: Fleet, cluster: Cluster) -> Target:
    aws = cluster.spec.aws
    return Target(
        name=cluster.name,
        environment=cluster.metadata.environment,
        wave=fleet.wave(cluster),
        account_id=aws.account_id,
        region=aws.region,
        role_arn=aws.role_arn,
        eks_cluster_name=cluster.eks_cluster_name,
        declared_version=cluster.spec.flux.version,
    )


@dataclass(frozen=True)
class Observed:
    """The objects read from one cluster (JSON as the API server sent it)."""

    report: Any
    kustomizations: Sequence[Any] = ()
    helm_releases: Sequence[Any] = ()


@dataclass(frozen=True)
class Row:
    """One cluster's status. `reasons` is empty exactly when it is healthy."""

    cluster: str
    environment: str
    wave: int
    declared: str
    running: str = ""
    components_ready: int = 0
    components_total: int = 0
    sync_ready: bool = False
    sync_status: str = ""
    revision: str = ""
    failing: tuple[str, ...] = ()  # Kind/namespace/name of each failing reconciler
    reasons: tuple[str, ...] = ()
    reached: bool = True  # False: the cluster could not be read at all (reasons say why)

    @property
    def healthy(self) -> bool:
        return not self.reasons


# --- reading the objects ------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _short(text: str) -> str:
    """A message from the cluster on one line, cut to MAX_MESSAGE characters."""
    line = one_line(" ".join(text.split()))
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def ready_condition(obj: Mapping[str, Any], where: str) -> tuple[str, str]:
    """(status, message) of the Ready condition of a Flux object; ("Unknown", "") without one."""
    status = _mapping(obj.get("status") or {}, f"{where}.status")
    for i, cond in enumerate(_list(status.get("conditions"), f"{where}.status.conditions")):
        cond = _mapping(cond, f"{where}.status.conditions[{i}]")
        if cond.get("type") == "Ready":
            return _text(cond.get("status"), "status"), _text(cond.get("message"), "message")
    return "Unknown", ""


def failing_reconcilers(kind: str, items: Iterable[Any]) -> list[str]:
    """`Kind/namespace/name` of each object whose Ready is False and that is not suspended
    (the operator's own definition of failing, FluxReport `spec.reconcilers[].stats.failing`)."""
    failing = []
    for i, item in enumerate(items):
        where = f"{kind}[{i}]"
        obj = _mapping(item, where)
        meta = _mapping(obj.get("metadata") or {}, f"{where}.metadata")
        spec = _mapping(obj.get("spec") or {}, f"{where}.spec")
        if spec.get("suspend") is True:
            continue
        if ready_condition(obj, where)[0] == "False":
            namespace = _text(meta.get("namespace"), f"{where}.metadata.namespace")
            failing.append(
                f"{kind}/{namespace}/{_text(meta.get('name'), f'{where}.metadata.name')}"
            )
    return sorted(failing)


def sync_revision(kustomizations: Iterable[Any]) -> str:
    """The revision the sync Kustomization (flux-system/flux-system) last applied, such as
    `refs/heads/main@sha1:<commit>`; "" before its first apply."""
    for item in kustomizations:
        if not isinstance(item, Mapping):
            continue
        meta = item.get("metadata") or {}
        if meta.get("namespace") == FLUX_NAMESPACE and meta.get("name") == SYNC_NAME:
            status = item.get("status") or {}
            revision = status.get("lastAppliedRevision") if isinstance(status, Mapping) else ""
            return revision if isinstance(revision, str) else ""
    return ""


def commit_of(revision: str) -> str:
    """The commit of a Flux revision (`main@sha1:abc...`, `refs/heads/main@sha1:abc...`)."""
    return revision.rpartition(":")[2] if "@" in revision else revision


def applied(revision: str, expected: str) -> bool:
    """Whether the sync's `revision` is commit `expected` (a full or abbreviated sha, 7+)."""
    commit = commit_of(revision).lower()
    want = expected.lower()
    return bool(commit) and len(want) >= 7 and commit.startswith(want)


# --- Flux versions --------------------------------------------------------------------------------

_VERSION = re.compile(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)")
_CONSTRAINT = re.compile(r"^(~|\^|>=)?([0-9]+)(?:\.([0-9]+|x))?(?:\.([0-9]+|x))?$")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of `v2.9.4` or `2.9.4` (a pre-release suffix ignored)."""
    m = _VERSION.match(text.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def version_allows(declared: str, running: str) -> bool:
    """Whether `running` (as the FluxReport says, `v2.9.4`) is what `spec.flux.version` asks
    for: exact `2.9.4`, `2.9.x`, `2.x`, `~2.9[.N]` (same minor), `^2.9[.N]` (same major),
    `>=2.9[.N]`, the forms the definition admits (definition/types.py FLUX_VERSION), read as the
    operator reads them (semver constraints)."""
    version = parse_version(running)
    m = _CONSTRAINT.match(declared.strip())
    if version is None or m is None:
        return False
    op, major, minor, patch = m[1] or "", int(m[2]), m[3], m[4]
    low = (
        major,
        int(minor) if minor not in (None, "x") else 0,
        int(patch or 0) if patch != "x" else 0,
    )
    if op == ">=":
        return version >= low
    if op == "^":
        return low <= version < (major + 1, 0, 0)
    if op == "~":
        return low <= version < (major, low[1] + 1, 0)
    if minor in (None, "x"):
        return version[0] == major
    if patch in (None, "x"):
        return version[:2] == (major, int(minor))
    return version == low


# --- one row ------------------------------------------------------------------------------------


def unreachable(t: Target, reason: str) -> Row:
    """The row of a cluster that could not be read: the reason, nothing else."""
    return Row(t.name, t.environment, t.wave, t.declared_version, reasons=(reason,), reached=False)


def summarise(t: Target, observed: Observed, expected_revision: str | None = None) -> Row:
    """One cluster's row from what was read from it; Malformed when an object lacks its shape."""
    report = _mapping(observed.report, "FluxReport")
    spec = _mapping(report.get("spec") or {}, "FluxReport.spec")
    distribution = _mapping(spec.get("distribution") or {}, "FluxReport.spec.distribution")
    running = _text(distribution.get("version"), "FluxReport.spec.distribution.version")
    components = [
        _mapping(c, f"FluxReport.spec.components[{i}]")
        for i, c in enumerate(_list(spec.get("components"), "FluxReport.spec.components"))
    ]
    not_ready = [
        _text(c.get("name"), "FluxReport.spec.components[].name")
        for c in components
        if c.get("ready") is not True
    ]
    sync = spec.get("sync")
    sync = _mapping(sync, "FluxReport.spec.sync") if sync is not None else None
    failing = [
        *failing_reconcilers("Kustomization", observed.kustomizations),
        *failing_reconcilers("HelmRelease", observed.helm_releases),
    ]
    revision = sync_revision(observed.kustomizations)
    reasons: list[str] = []
    if not running:
        status = _text(distribution.get("status"), "FluxReport.spec.distribution.status")
        reasons.append(f"Flux not installed ({_short(status) or 'no version in the FluxReport'})")
    elif not version_allows(t.declared_version, running):
        reasons.append(f"runs Flux {running}, declared {t.declared_version}")
    if not_ready:
        reasons.append(f"components not ready: {', '.join(not_ready)}")
    if sync is None:
        reasons.append("no sync in the FluxReport")
    elif sync.get("ready") is not True:
        reasons.append(f"sync not ready: {_short(_text(sync.get('status'), 'sync.status'))}")
    if failing:
        reasons.append(f"{len(failing)} failing: {first_names(failing)}")
    if expected_revision and not applied(revision, expected_revision):
        at = commit_of(revision)[:12] or "nothing applied yet"
        reasons.append(f"sync at {at}, not yet {expected_revision[:12]}")
    return Row(
        cluster=t.name,
        environment=t.environment,
        wave=t.wave,
        declared=t.declared_version,
        running=running,
        components_ready=len(components) - len(not_ready),
        components_total=len(components),
        sync_ready=bool(sync and sync.get("ready") is True),
        sync_status=_short(_text(sync.get("status"), "sync.status")) if sync else "",
        revision=revision,
        failing=tuple(failing),
        reasons=tuple(reasons),
    )


def first_names(names: Sequence[str], count: int = FIRST_NAMES) -> str:
    more = f" (+{len(names) - count} more)" if len(names) > count else ""
    return ", ".join(names[:count]) + more


# --- the fleet ----------------------------------------------------------------------------------

Reader = Callable[[Target], Row]


def collect(
    targets: Sequence[Target],
    read: Reader,
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Every target's row, read at most `concurrency` at once, in the targets' order. `read`
    never raises for a cluster's own trouble (it returns that cluster's row with the reason); a
    bug in it would, and is not hidden."""
    rows: dict[str, Row] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets) or 1))) as pool:
        futures = {pool.submit(read, t): t for t in targets}
        for done, future in enumerate(as_completed(futures), 1):
            rows[futures[future].name] = future.result()
            if progress is not None:
                progress(done, len(targets))
    return [rows[t.name] for t in targets]


@dataclass
class Waiting:
    """`status --wait`: read the clusters not healthy yet, again, until every one is or the
    time is up; a healthy row is kept (a cluster is not read again once it passed)."""

    targets: Sequence[Target]
    read: Reader
    timeout: float
    interval: float | None = None  # default: a tenth of the timeout, from 1 to 15 seconds
    concurrency: int = 32
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rows: dict[str, Row] = field(default_factory=dict)

    def run(self, progress: Callable[[int, int], None] | None = None) -> list[Row]:
        deadline = self.clock() + self.timeout
        pending = list(self.targets)
        while True:
            for row in collect(pending, self.read, self.concurrency, progress):
                self.rows[row.cluster] = row
            pending = [t for t in pending if not self.rows[t.name].healthy]
            left = deadline - self.clock()
            if not pending or left <= 0:
                break
            interval = self.interval or min(15.0, max(1.0, self.timeout / 10))
            self.sleep(min(interval, left))
        return [self.rows[t.name] for t in self.targets]


# --- formats ------------------------------------------------------------------------------------

HEADERS = ("cluster", "wave", "Flux", "declared", "components", "sync", "revision", "failing")


def _cells(row: Row) -> list[str]:
    if not row.reached:
        return [row.cluster, str(row.wave), "", row.declared, "", "", "", ""]
    return [
        row.cluster,
        str(row.wave),
        row.running or "-",
        row.declared,
        f"{row.components_ready}/{row.components_total}",
        "ready" if row.sync_ready else "not ready",
        commit_of(row.revision)[:12] or "-",
        str(len(row.failing)) + (f" {first_names(row.failing)}" if row.failing else ""),
    ]


def _status(row: Row) -> str:
    return "healthy" if row.healthy else "; ".join(row.reasons)


def _counts(rows: Sequence[Row]) -> str:
    healthy = sum(r.healthy for r in rows)
    return f"{len(rows)} cluster(s): {healthy} healthy, {len(rows) - healthy} not"


def as_table(rows: Sequence[Row]) -> str:
    headers = [*HEADERS, "status"]
    body = [[*(one_line(c) for c in _cells(r)), one_line(_status(r))] for r in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(c) for c in body), _counts(rows)]) + "\n"


def as_markdown(rows: Sequence[Row]) -> str:
    """For a job summary: unhealthy clusters first, each with why."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(one_line(c).replace("|", "\\|") for c in cells) + " |"

    ordered = sorted(rows, key=lambda r: r.healthy)
    headers = [*HEADERS, "status"]
    lines = [f"## Fleet status: {_counts(rows)}", "", line(headers), line(["---"] * len(headers))]
    lines += [line([*_cells(r), _status(r)]) for r in ordered]
    return "\n".join(lines) + "\n"


def as_json(rows: Sequence[Row]) -> str:
    def record(row: Row) -> dict[str, Any]:
        return {
            "cluster": row.cluster,
            "environment": row.environment,
            "wave": row.wave,
            "healthy": row.healthy,
            "reached": row.reached,
            "flux": {"running": row.running, "declared": row.declared},
            "components": {"ready": row.components_ready, "total": row.components_total},
            "sync": {"ready": row.sync_ready, "status": row.sync_status, "revision": row.revision},
            "failing": {"count": len(row.failing), "names": list(row.failing)},
            "reasons": list(row.reasons),
        }

    healthy = sum(r.healthy for r in rows)
    document = {"total": len(rows), "healthy": healthy, "clusters": [record(r) for r in rows]}
    return json.dumps(document, indent=2) + "\n"


FORMATS: dict[str, Callable[[Sequence[Row]], str]] = {
    "table": as_table,
    "markdown": as_markdown,
    "json": as_json,
}
