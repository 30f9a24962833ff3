"""Consistency of the definitions with the GitOps tree in this repository (`fluxfleet validate`).

Applies to the clusters whose fleet repository is this repository. There is no reliable way
to tell that from a checkout (forks, mirrors, no remote at all), so the rule is the one a
person would use: the fleet repository is here when the folder its clusters' `spec.git.path`
starts with (flux/ for the default flux/clusters/<name>) exists in this project. Then:

- every such cluster's `spec.git.path` exists,
- the overlay flux/apps/<environment> it runs exists,
- every `spec.apps` entry has its GitRepository in that folder, with the entry's Secret
  and repository URL,
- the `apps` Kustomization and each entry's Kustomization run as the ServiceAccount the
  definition gives them (kustomize-controller with spec.flux.multitenant, or the entry's
  serviceAccountName): under the lockdown, one without it applies nothing,
- the Flux objects of that folder and of the overlay that name a namespace are in one the
  default Alert covers (flux-system and spec.alerts.namespaces),
- and no folder under flux/clusters/ is left without a definition.

Pure file reading, no Pulumi: validate stays fast.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components.builders.git_access import GIT_PROVIDER, repository_url
from components.builders.git_ref import git_repository_ref
from components.builders.gitops import app_file
from components.builders.options import (
    app_service_account,
    apps_service_account,
    cluster_folder_options,
    git_access_options,
)
from components.definition.cluster import Cluster
from components.forkmap import fork_map
from components.loading.files import folder_cache, folder_problem, read_yaml_documents
from components.loading.fleet import Fleet
from components.names import (
    FLUX_APPS_DIR,
    FLUX_CLUSTERS_DIR,
    FLUX_NAMESPACE,
    SYNC_SOURCE_NAME,
    definition_file,
)
from components.problems import Problem

CLUSTERS_ROOT = FLUX_CLUSTERS_DIR
OVERLAYS_ROOT = FLUX_APPS_DIR
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SOURCE_API = "source.toolkit.fluxcd.io/v1"

# A Flux object found in the tree: (file it is in, the object).
Found = tuple[str, dict[str, Any]]


def _repository(cluster: Cluster) -> tuple[str, str]:
    git = cluster.spec.git
    return (git.owner.casefold(), git.repository.casefold())


def local_clusters(fleet: Fleet) -> list[Cluster]:
    """The clusters whose fleet repository is this project (see the module docstring)."""
    here: set[tuple[str, str]] = set()
    for cluster in fleet.clusters.values():
        # its first folder ("." is the repository's root: no evidence either way)
        top = next((part for part in cluster.git_path.split("/") if part not in ("", ".")), None)
        if top is not None and (fleet.project_dir / top).is_dir():
            here.add(_repository(cluster))
    return [c for c in fleet.clusters.values() if _repository(c) in here]


def overlays(project_dir: Path) -> list[str]:
    root = project_dir / OVERLAYS_ROOT
    if not root.is_dir() or folder_problem(root, OVERLAYS_ROOT, project_dir) is not None:
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "base")


def overlay_problem(project_dir: Path, cluster: Cluster, display: str) -> Problem | None:
    """The overlay flux/apps/<environment> this cluster runs, when it does not exist."""
    environment = cluster.metadata.environment
    if (project_dir / OVERLAYS_ROOT / environment).is_dir():
        return None
    existing = ", ".join(overlays(project_dir)) or "none"
    return Problem(
        display,
        "metadata.environment",
        f"expected an environment with an overlay in {OVERLAYS_ROOT}/, "
        f'"{OVERLAYS_ROOT}/{environment}" does not exist (existing: {existing})',
    )


# --- reading a cluster folder the way kustomize-controller does ----------------------------------


def _load_all(path: Path, display: str, project_dir: Path) -> tuple[list[Any], list[Problem]]:
    docs, problems = read_yaml_documents(path, display, project_dir)
    return [d for d in docs if d], problems


def _kustomization_file(folder: Path) -> Path | None:
    return next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)


def _resolved(folder: Path, resource: str) -> Path:
    """(folder / resource).resolve() for a resolved `folder`, with one lstat for the usual
    plain file name (a fleet has thousands of them) instead of one per path component."""
    if "/" not in resource and resource not in ("", ".", ".."):
        target = folder / resource
        try:
            if not stat.S_ISLNK(target.lstat().st_mode):
                return target
        except OSError:
            return target  # missing: reported by the caller
    return (folder / resource).resolve()


def folder_objects(project_dir: Path, folder: Path) -> tuple[list[Found], list[Problem]]:
    """The objects Flux applies from `folder`: what its kustomization.yaml lists, or (without
    one, as kustomize-controller generates it) every YAML file below it."""
    project_dir = project_dir.resolve()
    found: list[Found] = []
    problems: list[Problem] = []
    for path, problem in _files(project_dir, folder, set()):
        if problem is not None:
            problems.append(problem)
            continue
        display = path.relative_to(project_dir).as_posix()
        docs, read_problems = _load_all(path, display, project_dir)
        problems += read_problems
        found += [(display, doc) for doc in docs if isinstance(doc, dict)]
    return found, problems


def _files(
    project_dir: Path, folder: Path, seen: set[Path]
) -> Iterator[tuple[Path, Problem | None]]:
    outside = folder_problem(folder, _shown(project_dir, folder), project_dir)
    if outside is not None:  # such as flux/clusters/<name> a symlink out of the repository
        yield folder, outside
        return
    folder = folder.resolve()
    if folder in seen:
        return
    seen.add(folder)
    kustomization = _kustomization_file(folder)
    if kustomization is None:
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                yield path, None
        return
    display = kustomization.relative_to(project_dir).as_posix()
    docs, problems = _load_all(kustomization, display, project_dir)
    for problem in problems:
        yield kustomization, problem
    resources = (docs[0].get("resources") if docs and isinstance(docs[0], dict) else None) or []
    for i, resource in enumerate(resources):
        if not isinstance(resource, str) or "://" in resource or resource.startswith("git@"):
            continue  # remote bases are not this repository's concern
        target = _resolved(folder, resource)
        if not target.is_relative_to(project_dir):
            continue  # outside this repository: kustomize refuses it anyway
        if target.is_file():
            yield target, None
        elif target.is_dir():
            yield from _files(project_dir, target, seen)
        else:
            yield (
                kustomization,
                Problem(
                    display,
                    f"resources[{i}]",
                    f'expected an existing file or folder, "{resource}" does not exist',
                ),
            )


def _shown(project_dir: Path, path: Path) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return path.as_posix()


# --- the checks -------------------------------------------------------------------------------


def _mapping(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """obj[key] when it is a mapping, else {} (a committed `spec: [1]` is kubectl's to refuse;
    here it only matches nothing)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _flux_objects(found: list[Found], group: str, kind: str, name: str) -> list[Found]:
    return [
        (file, obj)
        for file, obj in found
        if obj.get("kind") == kind
        and str(obj.get("apiVersion", "")).startswith(f"{group}/")
        and _mapping(obj, "metadata").get("name") == name
    ]


def _git_repositories(found: list[Found], name: str) -> list[Found]:
    return _flux_objects(found, "source.toolkit.fluxcd.io", "GitRepository", name)


def app_problems(cluster: Cluster, display: str, found: list[Found]) -> list[Problem]:
    """Each spec.apps entry against the GitRepository of the same name in the cluster folder."""
    problems = []
    for i, app in enumerate(cluster.spec.apps):
        entry = f"spec.apps[{i}]"
        matches = _git_repositories(found, app.name)
        if not matches:
            problems.append(
                Problem(
                    display,
                    entry,
                    f"expected a GitRepository {FLUX_NAMESPACE}/{app.name} in "
                    f"{cluster.git_path}/ (such as {cluster.git_path}/{app_file(app)}, "
                    f"`fluxfleet new-app` writes it), found none",
                )
            )
            continue
        file, repo = matches[0]
        where = f"GitRepository {app.name}"
        spec = _mapping(repo, "spec")
        access = git_access_options(cluster)
        url = repository_url(access, app.owner_or(cluster.spec.git.owner), app.repository)
        actual: list[tuple[str, Any, str, str]] = [
            ("apiVersion", repo.get("apiVersion"), SOURCE_API, "the API Flux 2.9 serves"),
            (
                "metadata.namespace",
                _mapping(repo, "metadata").get("namespace"),
                FLUX_NAMESPACE,
                "where its Secret is",
            ),
            (
                "spec.secretRef.name",
                _mapping(spec, "secretRef").get("name"),
                app.pull_secret,
                f"{entry}.secretName in {display}",
            ),
            ("spec.url", spec.get("url"), url, f"{entry} in {display}"),
        ]
        if cluster.spec.git.uses_github_app:
            why = f"spec.git.auth githubApp in {display}"
            actual.append(("spec.provider", spec.get("provider"), GIT_PROVIDER, why))
        for path, got, expected, why in actual:
            same = (
                isinstance(got, str) and got.casefold() == expected.casefold()
                if path == "spec.url"
                else got == expected
            )
            if not same:
                shown = "nothing" if got is None else f'"{got}"'
                problems.append(
                    Problem(file, f"{where}: {path}", f'expected "{expected}" ({why}), got {shown}')
                )
        ref = git_repository_ref(app.checkout)
        if spec.get("ref") != ref:
            why = f"{entry}.{'ref' if app.ref else 'branch'} in {display}"
            got = json.dumps(spec["ref"]) if "ref" in spec else "nothing"
            message = f"expected {json.dumps(ref)} ({why}), got {got}"
            problems.append(Problem(file, f"{where}: spec.ref", message))
    return problems


def sync_source_problems(cluster: Cluster, display: str, found: list[Found]) -> list[Problem]:
    """The Kustomizations of the cluster folder that build from the sync source (flux-system)
    against its kind: the operator names it flux-system whatever the kind, and a sourceRef of
    another kind finds nothing (a cluster switched to OCI keeps saying GitRepository)."""
    expected = cluster_folder_options(cluster).source_kind
    return [
        Problem(
            file,
            f"Kustomization {_mapping(obj, 'metadata').get('name')}: spec.sourceRef.kind",
            f'expected "{expected}" (the kind of the cluster\'s sync source, spec.sync in '
            f'{display}), got "{ref.get("kind")}"',
        )
        for file, obj in found
        if obj.get("kind") == "Kustomization"
        and str(obj.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")
        for ref in [_mapping(_mapping(obj, "spec"), "sourceRef")]
        if ref.get("name") == SYNC_SOURCE_NAME and ref.get("kind") != expected
    ]


def service_account_problems(cluster: Cluster, display: str, found: list[Found]) -> list[Problem]:
    """The `apps` Kustomization and each entry's against the ServiceAccount the definition gives
    them (none expected: nothing checked, a committed one is the team's choice)."""
    wanted: list[tuple[str, str | None, str]] = [
        ("apps", apps_service_account(cluster), f"spec.flux.multitenant in {display}")
    ]
    for i, app in enumerate(cluster.spec.apps):
        why = (
            f"spec.apps[{i}].serviceAccountName in {display}"
            if app.service_account_name
            else f"spec.flux.multitenant in {display}"
        )
        wanted.append((app.name, app_service_account(cluster, app), why))
    tenant_default = cluster.spec.flux.tenant_default_service_account or "default"
    problems = []
    for name, expected, why in wanted:
        if expected is None:
            continue
        for file, obj in _flux_objects(found, "kustomize.toolkit.fluxcd.io", "Kustomization", name):
            got = _mapping(obj, "spec").get("serviceAccountName")
            if got != expected:
                shown = "nothing" if got is None else f'"{got}"'
                problems.append(
                    Problem(
                        file,
                        f"Kustomization {name}: spec.serviceAccountName",
                        f'expected "{expected}" ({why}; without it kustomize-controller '
                        f'impersonates "{tenant_default}" of {FLUX_NAMESPACE}), got {shown}',
                    )
                )
    return problems


# The kinds the default Alert covers (spec.alerts.slack's default eventSources, FluxInstance aside).
ALERTED_KINDS = {
    "Kustomization": "kustomize.toolkit.fluxcd.io",
    "HelmRelease": "helm.toolkit.fluxcd.io",
    "GitRepository": "source.toolkit.fluxcd.io",
    "OCIRepository": "source.toolkit.fluxcd.io",
}


def overlay_objects(project_dir: Path, environments: set[str]) -> dict[str, list[Found]]:
    """environment -> the objects of its overlay flux/apps/<environment> (read once for all the
    clusters that run it; problems reading it are the cluster folders' to report)."""
    out = {}
    for environment in sorted(environments):
        folder = project_dir / OVERLAYS_ROOT / environment
        out[environment] = folder_objects(project_dir, folder)[0] if folder.is_dir() else []
    return out


def alert_namespace_problems(cluster: Cluster, display: str, found: list[Found]) -> list[Problem]:
    """Flux objects of the cluster folder and its overlay in a namespace the default Alert does
    not cover (flux-system and spec.alerts.namespaces): their failures would never alert. Only
    objects that name their namespace are seen (not those given one by a kustomization's
    `namespace:`); none under the lockdown, whose alerts cover flux-system only."""
    alerts = cluster.spec.alerts
    if not alerts.any or cluster.spec.flux.multitenant:
        return []
    named = {s.namespace for rule in alerts.rules for s in rule.event_sources if s.namespace}
    covered = {FLUX_NAMESPACE, *alerts.namespaces, *named}
    apps = {app.name for app in cluster.spec.apps}  # their GitRepositories: app_problems' to check
    problems = []
    for file, obj in found:
        kind = obj.get("kind")
        namespace = _mapping(obj, "metadata").get("namespace")
        name = _mapping(obj, "metadata").get("name")
        if (
            isinstance(kind, str)
            and not (kind == "GitRepository" and name in apps)
            and str(obj.get("apiVersion", "")).startswith(f"{ALERTED_KINDS.get(kind)}/")
            and isinstance(namespace, str)
            and namespace not in covered
        ):
            problems.append(
                Problem(
                    file,
                    f"{kind} {name}: metadata.namespace",
                    f'"{namespace}" is not covered by the alerts of {display}, expected it in '
                    "spec.alerts.namespaces (an Alert's event source without a namespace is "
                    f"{FLUX_NAMESPACE} only)",
                )
            )
    return problems


def cluster_problems(
    project_dir: Path, cluster: Cluster, display: str, overlay_found: list[Found] | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    overlay = overlay_problem(project_dir, cluster, display)
    if overlay is not None:
        problems.append(overlay)
    folder = project_dir / cluster.git_path
    if not folder.is_dir():
        problems.append(
            Problem(
                display,
                "spec.git.path",
                f'expected a folder of this repository, "{cluster.git_path}" does not exist '
                "(`fluxfleet new-cluster` writes it)",
            )
        )
        return problems
    found, read_problems = folder_objects(project_dir, folder)
    return (
        problems
        + read_problems
        + app_problems(cluster, display, found)
        + service_account_problems(cluster, display, found)
        + sync_source_problems(cluster, display, found)
        + alert_namespace_problems(cluster, display, [*found, *(overlay_found or [])])
    )


def orphan_folders(fleet: Fleet) -> list[Problem]:
    """Folders under flux/clusters/ that no definition's spec.git.path leads to."""
    root = fleet.project_dir / CLUSTERS_ROOT
    if not root.is_dir():
        return []
    outside = folder_problem(root, CLUSTERS_ROOT, fleet.project_dir)
    if outside is not None:
        return [outside]
    # Every folder a spec.git.path is, or is in (a set: a fleet of thousands stays linear).
    synced = {
        "/".join(parts[:i])
        for c in fleet.clusters.values()
        for parts in [c.git_path.rstrip("/").split("/")]
        for i in range(1, len(parts) + 1)
    }
    problems = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        rel = f"{CLUSTERS_ROOT}/{folder.name}"
        if rel not in synced:
            problems.append(
                Problem(
                    rel,
                    "",
                    f"no definition syncs this folder, expected {definition_file(folder.name)} "
                    "(or a spec.git.path leading here), or remove the folder",
                )
            )
    return problems


# From this many cluster folders on, forked worker processes read them (fork_map).
PARALLEL_FROM = 100


def consistency_problems(fleet: Fleet) -> list[Problem]:
    """Every mismatch between the (valid) definitions and the GitOps tree, one per line."""
    with folder_cache():
        return _consistency_problems(fleet)


def _consistency_problems(fleet: Fleet) -> list[Problem]:
    work = [
        (cluster, fleet.files.get(cluster.name, definition_file(cluster.name)))
        for cluster in local_clusters(fleet)
    ]
    overlays = overlay_objects(fleet.project_dir, {c.metadata.environment for c, _ in work})
    found = fork_map(
        lambda item: cluster_problems(
            fleet.project_dir, *item, overlays[item[0].metadata.environment]
        ),
        work,
        min_items=PARALLEL_FROM,
    )
    problems = [p for cluster_found in found for p in cluster_found]
    problems += orphan_folders(fleet)
    return sorted(set(problems))
