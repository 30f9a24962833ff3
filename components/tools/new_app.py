"""`fluxfleet new-app`: add an application repository to a cluster definition (comments and
order kept) and write its GitRepository + Kustomization into the cluster's folder; or nothing.
Validated with the same functions as `fluxfleet validate`. No Pulumi here."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.builders.gitops import app_file, app_source, cluster_kustomization
from components.builders.options import app_source_options
from components.definition.apps import AppRepository
from components.definition.cluster import Cluster
from components.loading.files import read_text, read_yaml, yaml_document
from components.loading.fleet import definition_files, load_defaults, validate_cluster_doc
from components.names import CLUSTERS_DIR, FLUX_NAMESPACE
from components.problems import DefinitionError, Problem
from components.tools.scaffold import Written, refuse_existing, with_option, write
from components.yamlio import dump_yaml, round_trip, round_trip_dump

KUSTOMIZATION = "kustomization.yaml"
APP_OPTIONS = {
    "name": "NAME",
    "owner": "--owner",
    "repository": "--repository",
    "branch": "--branch",
    **{f"ref.{kind}": f"--{kind}" for kind in ("tag", "semver", "commit")},
    "path": "--path",
    "secretName": "--secret-name",
}


@dataclass(frozen=True)
class NewApp:
    cluster: str
    name: str
    repository: str
    owner: str | None = None
    branch: str | None = None
    tag: str | None = None  # or semver or commit: instead of branch (argparse: one of them)
    semver: str | None = None
    commit: str | None = None
    path: str | None = None  # default: flux/app/<the cluster's environment>
    secret_name: str | None = None


def app_entry(options: NewApp, environment: str) -> CommentedMap:
    """The spec.apps entry, with only what was given (and the path)."""
    entry = CommentedMap()
    entry["name"] = options.name
    if options.owner is not None:
        entry["owner"] = options.owner
    entry["repository"] = options.repository
    if options.branch is not None:
        entry["branch"] = options.branch
    ref = {k: v for k, v in (("tag", options.tag), ("semver", options.semver),
                              ("commit", options.commit)) if v is not None}  # fmt: skip
    if ref:
        entry["ref"] = CommentedMap(ref)
    entry["path"] = options.path if options.path is not None else f"flux/app/{environment}"
    if options.secret_name is not None:
        entry["secretName"] = options.secret_name
    return entry


def _load_round_trip(
    project: Path, path: Path, display: str
) -> tuple[CommentedMap | None, list[Problem]]:
    _, problems = read_yaml(path, display, project)  # the same checks (and messages) as validate
    text, more = read_text(path, display, project) if not problems else (None, problems)
    if text is None:
        return None, more
    doc = round_trip().load(text)
    if not isinstance(doc, CommentedMap):
        return None, [Problem(display, "", "expected a mapping (apiVersion, kind, metadata, spec)")]
    return doc, []


def _append_app(doc: CommentedMap, entry: CommentedMap, defaults: Mapping[str, Any]) -> int:
    """Add `entry` to spec.apps in place; returns its index."""
    spec = doc.get("spec")
    if not isinstance(spec, CommentedMap):
        spec = doc["spec"] = CommentedMap()
    apps = spec.get("apps")
    if apps is None:
        # A file's own list replaces the defaults' list: start from the defaults' entries so
        # that adding one does not silently drop them.
        apps = spec["apps"] = CommentedSeq(defaults.get("apps") or [])
    if not isinstance(apps, CommentedSeq):
        return -1
    apps.fa.set_block_style()
    apps.append(entry)
    return len(apps) - 1


def _kustomization_with(text: str, resource: str) -> str | None:
    """kustomization.yaml `text` listing `resource` too; None when it lists it already."""
    doc = round_trip().load(text)
    if not isinstance(doc, CommentedMap):
        return None
    resources = doc.get("resources")
    if resources is None:
        resources = doc["resources"] = CommentedSeq()
    if resource in resources:
        return None
    if set(doc) == {"apiVersion", "kind", "resources"} and text.startswith("---"):
        # The generated form: keep it byte-identical to what the builder writes.
        return dump_yaml([cluster_kustomization([*resources, resource])])
    resources.append(resource)
    return round_trip_dump(doc)


def new_app(project: Path, options: NewApp) -> Written:
    """Add an application repository to a cluster definition (comments and order kept) and
    write its GitRepository + Kustomization into the cluster's folder; or nothing."""
    display = next(
        (
            f"{CLUSTERS_DIR}/{options.cluster}{suffix}"
            for suffix in (".yaml", ".yml")
            if (project / CLUSTERS_DIR / f"{options.cluster}{suffix}").is_file()
        ),
        f"{CLUSTERS_DIR}/{options.cluster}.yaml",
    )
    path = project / display
    if not path.is_file():
        known = [p.stem for p in definition_files(project)]
        close = difflib.get_close_matches(options.cluster, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DefinitionError(
            [Problem(display, "", f'no definition for cluster "{options.cluster}" (CLUSTER){hint}')]
        )
    defaults, problems = load_defaults(project)
    if problems:
        raise DefinitionError(problems)
    doc, problems = _load_round_trip(project, path, display)
    if doc is None:
        raise DefinitionError(problems)
    environment = str((doc.get("metadata") or {}).get("environment", ""))
    index = _append_app(doc, app_entry(options, environment), defaults)
    if index < 0:
        raise DefinitionError([Problem(display, "spec.apps", "expected a list to add to")])
    definition = round_trip_dump(doc)
    parsed, problems = yaml_document(definition, display)  # read back as validate will read it
    cluster, problems = (
        validate_cluster_doc(parsed, display, options.cluster, defaults)
        if not problems
        else (None, problems)
    )
    if cluster is None:
        raise DefinitionError(with_option(problems, APP_OPTIONS, f"spec.apps[{index}]."))
    app = cluster.spec.apps[index]
    folder = project / cluster.git_path
    if not folder.is_dir():
        raise DefinitionError(
            [
                Problem(
                    cluster.git_path,
                    "",
                    "no such folder, expected the cluster's folder of the fleet repository "
                    "(`fluxfleet new-cluster` writes it; in another repository, add "
                    f"{app_file(app)} there)",
                )
            ]
        )
    app_path = f"{cluster.git_path}/{app_file(app)}"
    refuse_existing(project, [app_path], "new-app")
    files = {display: definition, app_path: dump_yaml(app_source(app_source_options(cluster, app)))}
    kustomization = f"{cluster.git_path}/{KUSTOMIZATION}"
    if (project / kustomization).is_file():
        text, problems = read_text(project / kustomization, kustomization, project)
        if text is None:
            raise DefinitionError(problems)
        updated = _kustomization_with(text, app_file(app))
        if updated is not None:
            files[kustomization] = updated
    written = write(project, files, replace=frozenset({display, kustomization}))
    return Written(written, _app_next_steps(cluster, app, app_path))


def _app_next_steps(cluster: Cluster, app: AppRepository, app_path: str) -> list[str]:
    repo = f"{app.owner_or(cluster.spec.git.owner)}/{app.repository}"
    return [
        f"Review the changes (`git diff`, {app_path}), then `fluxfleet validate` and "
        f"`fluxfleet plan {cluster.name}`.",
        f"`pulumi up --stack {cluster.name}`: creates the key pair, a read-only deploy key on "
        f"{repo} (the GitHub credentials need admin rights on it) and the Secret "
        f"{FLUX_NAMESPACE}/{app.pull_secret}.",
        f"Commit and push: Flux then pulls {repo} ({app.checkout.kind} {app.checkout.value}) "
        f"and applies ./{app.path}.",
    ]
