"""Scaffolding: `fluxfleet new-cluster` and `fluxfleet new-app`.

Both build what they will write, validate it with the same functions `fluxfleet validate`
uses (problems are the same `Problem` lines), and write nothing unless everything is valid and
no file would be overwritten; then they write all their files or none (`write`). The Flux
files come from the builders in builders/gitops.py, so what is scaffolded is what the tests compare
the committed tree with. No Pulumi here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.builders.alerts import SLACK_BOT_TOKEN_KEY, SLACK_WEBHOOK_URL_KEY
from components.builders.git_access import GITHUB_APP_KEYS
from components.builders.gitops import cluster_files
from components.builders.options import cluster_folder_options
from components.definition.cluster import Cluster, GitSpec
from components.loading.files import yaml_document
from components.loading.fleet import (
    duplicate_eks_problems,
    load_defaults,
    load_fleet,
    validate_cluster_doc,
)
from components.names import (
    API_VERSION,
    CLUSTERS_DIR,
    CONFIG_NAMESPACE,
    DEFAULTS_FILE,
    SCHEMA_FILE,
    definition_file,
    stack_file,
)
from components.problems import DefinitionError, Problem
from components.tools.consistency import overlay_problem
from components.yamlio import dump_yaml

SCHEMA_LINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"
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


# --- what both commands share --------------------------------------------------------------------


def with_option(problems: list[Problem], options: Mapping[str, str], prefix: str) -> list[Problem]:
    """Name the command-line option a problem came from, when it came from one."""
    out = []
    for p in problems:
        option = options.get(p.path.removeprefix(prefix)) if p.path.startswith(prefix) else None
        out.append(Problem(p.file, p.path, f"{p.message} (option {option})") if option else p)
    return out


# --- writing --------------------------------------------------------------------------------------


def refuse_existing(project: Path, paths: list[str], command: str) -> None:
    """Refuse to write over anything: a file, a folder, a symlink (even a dangling one, which a
    write would follow to wherever it points)."""
    existing = [p for p in paths if os.path.lexists(project / p)]
    if existing:
        raise DefinitionError(
            Problem(p, "", f"already exists; {command} never overwrites (nothing written)")
            for p in existing
        )


class _WriteError(Exception):
    def __init__(self, rel: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(rel, "", f"{message} (nothing written)")


def write(
    project: Path, files: Mapping[str, str], replace: frozenset[str] = frozenset()
) -> list[str]:
    """Write `files` (project-relative path -> text) all or nothing: each to a temporary file in
    its target's folder, renamed into place only once every one is written. On any failure what
    was renamed is undone (a replaced file gets its old content back), the temporary files and
    the folders made are removed, and DefinitionError names the file, one line. A file not in
    `replace` must not exist; none is written through a symlink or outside the project."""
    root = project.resolve()
    umask = os.umask(0o022)
    os.umask(umask)
    made: list[Path] = []  # folders created, parents first
    staged: list[tuple[str, Path, Path]] = []  # (rel, temporary file, target)
    placed: list[tuple[Path, bytes | None]] = []  # target, its old content (None: it is new)
    rel = ""
    try:
        for rel, text in files.items():
            target = project / rel
            if rel in replace:
                target = target.resolve()  # a symlink to a file of the project: that file
            elif os.path.lexists(target):
                raise _WriteError(rel, "already exists, never overwritten")
            if not _existing_ancestor(target.parent).resolve().is_relative_to(root):
                raise _WriteError(rel, "its folder is a symlink to outside the project")
            _make_folders(target.parent, made)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((rel, Path(name), target))
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            # mkstemp makes it private (0600): give it the mode of the file it replaces, or
            # what a new file gets
            if rel in replace and target.is_file():
                shutil.copymode(target, name)
            else:
                os.chmod(name, 0o666 & ~umask)
        for rel, tmp, target in staged:
            old = target.read_bytes() if rel in replace and target.is_file() else None
            if old is None and os.path.lexists(target):  # appeared meanwhile
                raise _WriteError(rel, "already exists, never overwritten")
            os.replace(tmp, target)
            placed.append((target, old))
    except (OSError, _WriteError) as exc:
        _undo(placed, [temporary for _, temporary, _ in staged], made)
        if isinstance(exc, _WriteError):
            raise DefinitionError([exc.problem]) from None
        reason = exc.strerror or str(exc)
        raise DefinitionError([_WriteError(rel, f"cannot be written: {reason}").problem]) from None
    return list(files)


def _existing_ancestor(folder: Path) -> Path:
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _make_folders(folder: Path, made: list[Path]) -> None:
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
        made.append(new)


def _undo(placed: list[tuple[Path, bytes | None]], temporary: list[Path], made: list[Path]) -> None:
    """Put back what `write` changed, as far as the file system lets it."""
    for target, old in reversed(placed):
        with contextlib.suppress(OSError):
            if old is None:
                target.unlink()
            else:
                target.write_bytes(old)
    for tmp in temporary:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


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


def stack_settings(cluster: Cluster) -> str:
    """stacks/Pulumi.NAME.yaml. With Slack alerts on, or the GitHub App, it holds placeholder
    credentials (like the examples'), so that the stack plans at once; `pulumi config set
    --secret` replaces them."""
    name = cluster.name
    text = (
        f"# Stack {name}: its definition is {CLUSTERS_DIR}/{name}.yaml; only stack-scoped "
        "settings live here\n"
        "# (secrets with `pulumi config set --secret`, and the secrets provider after "
        "`pulumi stack init`).\n"
    )
    blocks = []
    if cluster.spec.alerts.uses_slack:
        blocks.append(
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
    if cluster.spec.git.uses_github_app:
        blocks.append(
            "  # The fleet's GitHub App (spec.git.auth: githubApp). Placeholders, not real "
            "ciphertexts: set each with\n"
            f"  #   pulumi config set --secret <key> <value> -s {name}   "
            "(the private key: < app.pem)\n"
            + "".join(
                f"  {CONFIG_NAMESPACE}:{key}:\n    secure: {PLACEHOLDER_CIPHERTEXT}\n"
                for key in GITHUB_APP_KEYS
            )
        )
    if not blocks:
        return text + "config: {}\n"
    return text + "config:\n" + "".join(blocks)


def _new_cluster_paths(cluster: Cluster) -> list[str]:
    """What must not exist yet for a new cluster (files, and the folder Flux syncs)."""
    return [
        definition_file(cluster.name),
        f"{CLUSTERS_DIR}/{cluster.name}.yml",
        stack_file(cluster.name),
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
    doc, problems = yaml_document(text, display)  # read back as validate will read it
    cluster, problems = (
        validate_cluster_doc(doc, display, options.name, defaults) if not problems else (None, [])
    )
    if cluster is None:
        raise DefinitionError(with_option(problems, CLUSTER_OPTIONS, ""))
    refuse_existing(project, _new_cluster_paths(cluster), "new-cluster")
    # What load_fleet checks across files: the same EKS cluster defined twice.
    fleet = load_fleet(project)
    clusters = {**fleet.clusters, **fleet.duplicates, cluster.name: cluster}
    files = {**fleet.files, cluster.name: display}
    problems += duplicate_eks_problems(clusters, files, also="already").get(display, [])
    # What validate checks against the tree: apps.yaml will point at this overlay.
    overlay = overlay_problem(project, cluster, display)
    if overlay is not None:
        problems += with_option([overlay], CLUSTER_OPTIONS, "")
    if problems:
        raise DefinitionError(problems)
    return cluster, text


def new_cluster(project: Path, options: NewCluster) -> Written:
    """k8s-clusters/NAME.yaml, stacks/Pulumi.NAME.yaml and flux/clusters/NAME/, or nothing."""
    display = definition_file(options.name)
    cluster, definition = _new_definition(project, options, display)
    files = {
        display: definition,
        stack_file(cluster.name): stack_settings(cluster),
        **{
            f"{cluster.git_path}/{name}": text
            for name, text in cluster_files(cluster_folder_options(cluster)).items()
        },
    }
    refuse_existing(project, [*files, *_new_cluster_paths(cluster)], "new-cluster")
    written = write(project, files)
    return Written(written, _cluster_next_steps(cluster, display))


def _cluster_next_steps(cluster: Cluster, display: str) -> list[str]:
    git, aws = cluster.spec.git, cluster.spec.aws
    repo = f"{git.owner}/{git.repository}"
    role = f", able to assume {aws.role_arn}" if aws.role_arn else ""
    steps = [
        f"Review {display} (only what differs from {CLUSTERS_DIR}/{DEFAULTS_FILE}), then check "
        f"it: `fluxfleet validate` and `fluxfleet plan {cluster.name}`.",
        f"Commit and push, so that {cluster.git_path}/ is on {git.checkout.kind} "
        f"{git.checkout.value} of {repo} before Flux starts syncing it.",
        f"`pulumi stack init {cluster.name}` (add `--secrets-provider awskms://...` to keep "
        "the stack's secrets in your own KMS key).",
        f"Credentials for `pulumi up`: GitHub, with admin rights on {repo} to create the deploy "
        "key (GITHUB_TOKEN, or GITHUB_APP_ID / GITHUB_APP_INSTALLATION_ID / GITHUB_APP_PEM_FILE), "
        f"and AWS, for account {aws.account_id}{role}.",
    ]
    if cluster.spec.alerts.uses_slack:
        steps.append(
            f"Slack alerts are on: `pulumi config set --secret {SLACK_BOT_TOKEN_KEY} xoxb-... "
            f"-s {cluster.name}` (or {SLACK_WEBHOOK_URL_KEY}) replaces the placeholder in "
            f"{stack_file(cluster.name)}."
        )
    steps.append(f"`pulumi up --stack {cluster.name}`.")
    return steps
