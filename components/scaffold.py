"""Scaffolding: `fluxfleet new-cluster` and `fluxfleet new-app`.

Both build what they will write, validate it with the same functions `fluxfleet validate`
uses (problems are the same `Problem` lines), and write nothing unless everything is valid and
no file would be overwritten. The Flux files come from the builders in gitops.py, so what is
scaffolded is what the tests compare the committed tree with. No Pulumi here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import safe_yaml
from .alerts import CONFIG_NAMESPACE, SLACK_BOT_TOKEN_KEY, SLACK_WEBHOOK_URL_KEY
from .consistency import overlay_problem
from .definitions import (
    CLUSTERS_DIR,
    DefinitionError,
    Problem,
    duplicate_eks_problems,
    load_defaults,
    load_fleet,
    read_yaml,
    validate_cluster_doc,
)
from .gitops import (
    app_file,
    app_source,
    cluster_files,
    cluster_kustomization,
    dump_yaml,
)
from .model import API_VERSION, AppRepository, Cluster, GitSpec

SCHEMA_LINE = "# yaml-language-server: $schema=./cluster.schema.json"
STACKS_DIR = "stacks"
KUSTOMIZATION = "kustomization.yaml"
PLACEHOLDER_CIPHERTEXT = "v1:placeholder-not-a-real-ciphertext"

# Where a field of a scaffolded definition came from on the command line, for error lines.
CLUSTER_OPTIONS = {
    "metadata.name": "NAME",
    "metadata.environment": "--environment",
    "spec.aws.accountId": "--account-id",
    "spec.aws.region": "--region",
    "spec.aws.eksClusterName": "--eks-cluster-name",
    "spec.aws.roleArn": "--role-arn",
    "spec.git.owner": "--owner",
    "spec.git.repository": "--repository",
    "spec.git.branch": "--branch",
}
APP_OPTIONS = {
    "name": "NAME",
    "owner": "--owner",
    "repository": "--repository",
    "branch": "--branch",
    "path": "--path",
    "secretName": "--secret-name",
}


@dataclass
class Written:
    """What a scaffolding command wrote (project-relative paths) and what to do next."""

    files: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = ["Wrote:", *(f"  {f}" for f in self.files), "", "Next steps:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.next_steps, 1)]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NewCluster:
    name: str
    account_id: str
    region: str
    environment: str
    owner: str | None = None
    repository: str | None = None
    branch: str | None = None
    eks_cluster_name: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class NewApp:
    cluster: str
    name: str
    repository: str
    owner: str | None = None
    branch: str | None = None
    path: str | None = None  # default: flux/app/<the cluster's environment>
    secret_name: str | None = None


# --- YAML ---------------------------------------------------------------------------------------


def _round_trip() -> YAML:
    """Comment- and order-keeping YAML, indented like the rest of the repository."""
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _rt_dump(doc: Any) -> str:
    out = io.StringIO()
    _round_trip().dump(doc, out)
    return out.getvalue()


def _parse(text: str, display: str) -> tuple[Any, list[Problem]]:
    """`text` read back exactly as `fluxfleet validate` will read the written file."""
    try:
        return safe_yaml.load(text), []
    except safe_yaml.YAMLError as exc:  # pragma: no cover - we wrote it ourselves
        return None, [Problem(display, "", f"invalid YAML: {exc}")]


def _with_option(problems: list[Problem], options: Mapping[str, str], prefix: str) -> list[Problem]:
    """Name the command-line option a problem came from, when it came from one."""
    out = []
    for p in problems:
        option = options.get(p.path.removeprefix(prefix)) if p.path.startswith(prefix) else None
        out.append(Problem(p.file, p.path, f"{p.message} (option {option})") if option else p)
    return out


# --- writing --------------------------------------------------------------------------------------


def _refuse_existing(project: Path, paths: list[str], command: str) -> None:
    existing = [p for p in paths if (project / p).exists()]
    if existing:
        raise DefinitionError(
            Problem(p, "", f"already exists; {command} never overwrites (nothing written)")
            for p in existing
        )


def _write(project: Path, files: Mapping[str, str]) -> list[str]:
    for rel, text in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


# --- new-cluster ----------------------------------------------------------------------------------


def _differs(defaults: Mapping[str, Any], section: str, key: str, value: Any, model: Any) -> bool:
    """Whether `value` must be written: given, and not what the defaults already give."""
    if value is None:
        return False
    inherited = (defaults.get(section) or {}).get(key, model)
    return value != inherited


def cluster_document(options: NewCluster, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of a new cluster: only what differs from _defaults.yaml."""
    aws: dict[str, Any] = {}
    for key, value, model in (
        ("accountId", options.account_id, None),
        ("region", options.region, None),
        ("eksClusterName", options.eks_cluster_name, options.name),
        ("roleArn", options.role_arn, None),
    ):
        if _differs(defaults, "aws", key, value, model):
            aws[key] = value
    git: dict[str, Any] = {}
    for key, value, model in (
        ("owner", options.owner, None),
        ("repository", options.repository, None),
        ("branch", options.branch, GitSpec.model_fields["branch"].default),
    ):
        if _differs(defaults, "git", key, value, model):
            git[key] = value
    spec: dict[str, Any] = {"aws": aws}
    if git:
        spec["git"] = git
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": options.name, "environment": options.environment},
        "spec": spec,
    }


def stack_file(cluster: Cluster) -> str:
    """stacks/Pulumi.NAME.yaml. With Slack alerts on, it holds a placeholder credential (like
    the examples'), so that the stack plans at once; `pulumi config set --secret` replaces it."""
    name = cluster.name
    text = (
        f"# Stack {name}: its definition is {CLUSTERS_DIR}/{name}.yaml; only stack-scoped "
        "settings live here\n"
        "# (secrets with `pulumi config set --secret`, and the secrets provider after "
        "`pulumi stack init`).\n"
    )
    if not cluster.spec.alerts.slack.is_enabled:
        return text + "config: {}\n"
    return text + (
        "config:\n"
        "  # Slack bot token for spec.alerts.slack (Secret key `token`). The value below is a "
        "placeholder,\n"
        "  # not a real ciphertext: set the real one (encrypted by this stack's secrets "
        "provider) with\n"
        f"  #   pulumi config set --secret {SLACK_BOT_TOKEN_KEY} xoxb-... -s {name}\n"
        "  # or, for a legacy incoming webhook instead: pulumi config set --secret "
        f"{SLACK_WEBHOOK_URL_KEY} https://hooks.slack.com/...\n"
        f"  {CONFIG_NAMESPACE}:{SLACK_BOT_TOKEN_KEY}:\n"
        f"    secure: {PLACEHOLDER_CIPHERTEXT}\n"
    )


def _new_cluster_paths(cluster: Cluster) -> list[str]:
    """What must not exist yet for a new cluster (files, and the folder Flux syncs)."""
    return [
        f"{CLUSTERS_DIR}/{cluster.name}.yaml",
        f"{CLUSTERS_DIR}/{cluster.name}.yml",
        f"{STACKS_DIR}/Pulumi.{cluster.name}.yaml",
        cluster.git_path,
    ]


def _new_definition(project: Path, options: NewCluster, display: str) -> tuple[Cluster, str]:
    """The validated new cluster and the text of its definition file, or DefinitionError."""
    defaults, problems = load_defaults(project)
    if problems:
        raise DefinitionError(problems)
    text = f"{SCHEMA_LINE}\n" + dump_yaml(
        [cluster_document(options, defaults)], explicit_start=False
    )
    doc, problems = _parse(text, display)
    cluster, problems = (
        validate_cluster_doc(doc, display, options.name, defaults) if not problems else (None, [])
    )
    if cluster is None:
        raise DefinitionError(_with_option(problems, CLUSTER_OPTIONS, ""))
    _refuse_existing(project, _new_cluster_paths(cluster), "new-cluster")
    # What load_fleet checks across files: the same EKS cluster defined twice.
    fleet = load_fleet(project)
    clusters = {**fleet.clusters, **fleet.duplicates, cluster.name: cluster}
    files = {**fleet.files, cluster.name: display}
    problems += duplicate_eks_problems(clusters, files, also="already").get(display, [])
    # What validate checks against the tree: apps.yaml will point at this overlay.
    overlay = overlay_problem(project, cluster, display)
    if overlay is not None:
        problems += _with_option([overlay], CLUSTER_OPTIONS, "")
    if problems:
        raise DefinitionError(problems)
    return cluster, text


def new_cluster(project: Path, options: NewCluster) -> Written:
    """k8s-clusters/NAME.yaml, stacks/Pulumi.NAME.yaml and flux/clusters/NAME/, or nothing."""
    display = f"{CLUSTERS_DIR}/{options.name}.yaml"
    cluster, definition = _new_definition(project, options, display)
    files = {
        display: definition,
        f"{STACKS_DIR}/Pulumi.{cluster.name}.yaml": stack_file(cluster),
        **{f"{cluster.git_path}/{name}": text for name, text in cluster_files(cluster).items()},
    }
    _refuse_existing(project, [*files, *_new_cluster_paths(cluster)], "new-cluster")
    written = _write(project, files)
    return Written(written, _cluster_next_steps(cluster, display))


def _cluster_next_steps(cluster: Cluster, display: str) -> list[str]:
    git, aws = cluster.spec.git, cluster.spec.aws
    repo = f"{git.owner}/{git.repository}"
    role = f", able to assume {aws.role_arn}" if aws.role_arn else ""
    steps = [
        f"Review {display} (only what differs from {CLUSTERS_DIR}/_defaults.yaml), then check "
        f"it: `fluxfleet validate` and `fluxfleet plan {cluster.name}`.",
        f"Commit and push, so that {cluster.git_path}/ is on branch {git.branch} of {repo} "
        "before Flux starts syncing it.",
        f"`pulumi stack init {cluster.name}` (add `--secrets-provider awskms://...` to keep "
        "the stack's secrets in your own KMS key).",
        f"Credentials for `pulumi up`: GitHub, with admin rights on {repo} to create the deploy "
        "key (GITHUB_TOKEN, or GITHUB_APP_ID / GITHUB_APP_INSTALLATION_ID / GITHUB_APP_PEM_FILE), "
        f"and AWS, for account {aws.account_id}{role}.",
    ]
    if cluster.spec.alerts.slack.is_enabled:
        steps.append(
            f"Slack alerts are on: `pulumi config set --secret {SLACK_BOT_TOKEN_KEY} xoxb-... "
            f"-s {cluster.name}` (or {SLACK_WEBHOOK_URL_KEY}) replaces the placeholder in "
            f"{STACKS_DIR}/Pulumi.{cluster.name}.yaml."
        )
    steps.append(f"`pulumi up --stack {cluster.name}`.")
    return steps


# --- new-app ------------------------------------------------------------------------------------


def app_entry(options: NewApp, environment: str) -> CommentedMap:
    """The spec.apps entry, with only what was given (and the path)."""
    entry = CommentedMap()
    entry["name"] = options.name
    if options.owner is not None:
        entry["owner"] = options.owner
    entry["repository"] = options.repository
    if options.branch is not None:
        entry["branch"] = options.branch
    entry["path"] = options.path if options.path is not None else f"flux/app/{environment}"
    if options.secret_name is not None:
        entry["secretName"] = options.secret_name
    return entry


def _load_round_trip(
    project: Path, path: Path, display: str
) -> tuple[CommentedMap | None, list[Problem]]:
    _, problems = read_yaml(path, display, project)  # the same checks (and messages) as validate
    if problems:
        return None, problems
    doc = _round_trip().load(path.read_text(encoding="utf-8"))
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
    doc = _round_trip().load(text)
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
    return _rt_dump(doc)


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
        raise DefinitionError(
            [Problem(display, "", f'no definition for cluster "{options.cluster}" (CLUSTER)')]
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
    definition = _rt_dump(doc)
    parsed, problems = _parse(definition, display)
    cluster, problems = (
        validate_cluster_doc(parsed, display, options.cluster, defaults)
        if not problems
        else (None, problems)
    )
    if cluster is None:
        raise DefinitionError(_with_option(problems, APP_OPTIONS, f"spec.apps[{index}]."))
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
    _refuse_existing(project, [app_path], "new-app")
    files = {display: definition, app_path: dump_yaml(app_source(cluster, app))}
    kustomization = folder / KUSTOMIZATION
    if kustomization.is_file():
        updated = _kustomization_with(kustomization.read_text(encoding="utf-8"), app_file(app))
        if updated is not None:
            files[f"{cluster.git_path}/{KUSTOMIZATION}"] = updated
    written = _write(project, files)
    return Written(written, _app_next_steps(cluster, app, app_path))


def _app_next_steps(cluster: Cluster, app: AppRepository, app_path: str) -> list[str]:
    repo = f"{app.owner_or(cluster.spec.git.owner)}/{app.repository}"
    return [
        f"Review the changes (`git diff`, {app_path}), then `fluxfleet validate` and "
        f"`fluxfleet plan {cluster.name}`.",
        f"`pulumi up --stack {cluster.name}`: creates the key pair, a read-only deploy key on "
        f"{repo} (the GitHub credentials need admin rights on it) and the Secret "
        f"flux-system/{app.pull_secret}.",
        f"Commit and push: Flux then pulls {repo} (branch {app.branch}) and applies ./{app.path}.",
    ]
