"""Which stacks a git change touches: `fluxfleet affected --base REF [--head REF]`.

CI previews and deploys only these: a GitHub Actions matrix `{"include": [{"stack": ...}]}`,
registries first, then by name. The rules, for the change from merge-base(BASE, HEAD) to HEAD:

- a cluster's definition (k8s-clusters/<name>.yaml) or its stacks/Pulumi.<name>.yaml changed:
  that stack;
- _defaults.yaml or _registries.yaml changed: the clusters whose definition *as the program reads
  it* changed between the two commits (merged with the defaults and validated, with the
  repository ARNs it is granted from the registries), not every cluster;
- _registries.yaml, stacks/Pulumi.registries.yaml, or what the registries stack reads of any
  cluster (its spec.ecr, account, region, tag scanning) changed: `registries`;
- program code (components/, __main__.py, Pulumi.yaml, dependency files) changed: every stack;
- flux/ only: no stack (Flux syncs it); a cluster that syncs the OCI artifact of the tree is
  touched through the artifact (`artifact_changes`, tools/artifacts.py), not its stack;
- a definition deleted: listed with "removed": true (nothing destroys a stack automatically).

Each entry of a valid cluster also carries what its CI job needs: "environment" (the GitHub
environment is chosen from it) and "githubOwner"/"githubRepositories" (the GitHub App token is
scoped to the repositories its deploy keys go to).

Each commit's definitions are read as the program would read them (tools/snapshots.py), so
"changed" means "the program would see something else". No Pulumi here.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from components.definition.rollout import Rollout
from components.loading.fleet import Fleet
from components.names import (
    CLUSTERS_DIR,
    DEFAULTS_FILE,
    REGISTRIES_FILE,
    REGISTRIES_STACK,
    STACKS_DIR,
)
from components.tools.artifacts import ArtifactTag, artifact_tags
from components.tools.snapshots import (
    AffectedStack,
    Snapshot,
    changed_paths,
    cluster_view,
    merge_base,
    project_prefix,
    registries_view,
    resolve_commit,
    snapshot,
)

# What the program is made of: a change here can change every stack.
PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "pyproject.toml", "requirements.lock")
PROGRAM_DIRS = ("components/",)
DEPENDENCY_PATTERNS = ("requirements*.txt", "requirements*.lock", "constraints*.txt")
# Tools the tests and linters use: never installed where a stack runs.
DEV_DEPENDENCY_FILES = ("requirements-dev.lock",)


def matrix(stacks: Iterable[AffectedStack]) -> dict[str, list[dict[str, Any]]]:
    """The GitHub Actions matrix: `{"include": [{"stack": ...}, ...]}`."""
    return {"include": [s.matrix_entry() for s in stacks]}


# --- which files are what ---------------------------------------------------------------------


def is_program(path: str) -> bool:
    if path in PROGRAM_FILES or path.startswith(PROGRAM_DIRS):
        return True
    if path in DEV_DEPENDENCY_FILES:
        return False
    return "/" not in path and any(fnmatch.fnmatch(path, p) for p in DEPENDENCY_PATTERNS)


def definition_name(path: str) -> str | None:
    """The cluster a k8s-clusters/<name>.yaml path defines (None for _*.yaml and the rest)."""
    parts = PurePosixPath(path)
    if (
        len(parts.parts) == 2
        and parts.parts[0] == CLUSTERS_DIR
        and parts.suffix in (".yaml", ".yml")
        and not parts.name.startswith("_")
    ):
        return parts.stem
    return None


def stack_file_name(path: str) -> str | None:
    """The stack a stacks/Pulumi.<stack>.yaml path configures."""
    parts = PurePosixPath(path)
    if len(parts.parts) == 2 and parts.parts[0] == STACKS_DIR:
        name = parts.name
        for suffix in (".yaml", ".yml"):
            if name.startswith("Pulumi.") and name.endswith(suffix):
                stack = name[len("Pulumi.") : -len(suffix)]
                return stack or None
    return None


# --- the comparison ---------------------------------------------------------------------------


def _ordered(stacks: dict[str, AffectedStack]) -> list[AffectedStack]:
    first = [stacks[REGISTRIES_STACK]] if REGISTRIES_STACK in stacks else []
    return first + [stacks[n] for n in sorted(stacks) if n != REGISTRIES_STACK]


def compare(
    before: Snapshot, after: Snapshot, paths: Sequence[str], *, program_changes: bool = True
) -> list[AffectedStack]:
    """The stacks the change `paths` (from `before` to `after`) touches: registries first,
    then by name. Without `program_changes`, a change of program code touches no stack (the
    preview runs main's code: only the definitions of a pull request are previewed)."""
    reasons: dict[str, list[str]] = defaultdict(list)
    known_before, known_after = set(before.definitions), set(after.definitions)

    def stack_exists(name: str, snap: Snapshot) -> bool:
        return snap.has_registries if name == REGISTRIES_STACK else name in snap.definitions

    program = [p for p in paths if is_program(p)] if program_changes else []
    if program:
        more = ", ..." if len(program) > 3 else ""
        changed = f"program code changed ({', '.join(program[:3])}{more})"
        for name in after.definitions:
            reasons[name].append(changed)
        if after.has_registries:
            reasons[REGISTRIES_STACK].append(changed)

    for path in paths:
        if (cluster := definition_name(path)) is not None:
            reasons[cluster].append(f"{path} changed")
        elif path == f"{CLUSTERS_DIR}/{REGISTRIES_FILE}":
            reasons[REGISTRIES_STACK].append(f"{path} changed")
        elif (stack := stack_file_name(path)) is not None and (
            stack_exists(stack, after) or stack_exists(stack, before)
        ):  # a stack file without a definition on either side configures no stack
            reasons[stack].append(f"{path} changed")

    shared_files = [f"{CLUSTERS_DIR}/{f}" for f in (DEFAULTS_FILE, REGISTRIES_FILE)]
    shared = [path for path in shared_files if path in paths]
    for name in sorted(known_before & known_after):
        if not reasons[name] and cluster_view(before, name) != cluster_view(after, name):
            via = ", ".join(shared) or "another definition"
            reasons[name].append(f"its definition as the program reads it changed (via {via})")

    if (before.has_registries or after.has_registries) and registries_view(
        before
    ) != registries_view(after):
        reasons[REGISTRIES_STACK].append("what it reads of the cluster definitions changed")

    stacks: dict[str, AffectedStack] = {}
    for name, why in reasons.items():
        if not why:
            continue
        removed = stack_exists(name, before) and not stack_exists(name, after)
        if not removed and not stack_exists(name, after):
            continue  # never existed (a stray stack file on both sides is filtered above)
        affected_stack = (before if removed else after).stack(
            name, tuple(dict.fromkeys(why)), removed
        )
        stacks[name] = _keys_it_deletes(_reviewed_if_it_was(affected_stack, before), before)
    return _ordered(stacks)


def _keys_it_deletes(stack: AffectedStack, before: Snapshot) -> AffectedStack:
    """A cluster switched from Git to the OCI artifact deletes its fleet deploy key in this
    deploy: its GitHub token must still reach the repository the key is on."""
    if stack.removed or stack.environment is None:  # invalid: no facts, as before
        return stack
    was = before.stack(stack.stack, stack.reasons)
    if was.github_owner is None or stack.github_owner not in (None, was.github_owner):
        return stack
    repositories = set(stack.github_repositories) | set(was.github_repositories)
    if repositories == set(stack.github_repositories):
        return stack
    return dataclasses.replace(
        stack, github_owner=was.github_owner, github_repositories=tuple(sorted(repositories))
    )


def _reviewed_if_it_was(stack: AffectedStack, before: Snapshot) -> AffectedStack:
    """A deploy needs review when the base commit says so too: the change being deployed cannot
    lift its own review (a cluster moved out of production, or review: false for its
    environment, waits for the reviewers once more)."""
    if stack.removed or stack.github_environment is None:
        return stack
    was = before.stack(stack.stack, stack.reasons)
    if was.github_environment == "production" and stack.github_environment != "production":
        return dataclasses.replace(stack, github_environment="production")
    return stack


def every_stack(snap: Snapshot) -> list[AffectedStack]:
    """Every stack of a commit (the drift check): each cluster, and registries when defined."""
    stacks = {name: snap.stack(name, ("every stack",)) for name in snap.definitions}
    if snap.has_registries:
        stacks[REGISTRIES_STACK] = AffectedStack(REGISTRIES_STACK, ("every stack",))
    return _ordered(stacks)


def _compared(
    project: Path, base: str | None, head: str
) -> tuple[Snapshot, Snapshot | None, list[str] | None]:
    """The fleet at `head` and, with `base`, at merge-base(base, head) and the paths changed
    between the two."""
    project_prefix(project)
    head_commit = resolve_commit(project, head, "--head")
    with tempfile.TemporaryDirectory(prefix="fluxfleet-affected-") as scratch:
        after = snapshot(project, head_commit, Path(scratch) / "head")
        if base is None:
            return after, None, None
        since = merge_base(project, resolve_commit(project, base, "--base"), head_commit)
        paths = changed_paths(project, since, head_commit)
        return after, snapshot(project, since, Path(scratch) / "base"), paths


def changes(
    project: Path,
    base: str | None,
    head: str = "HEAD",
    *,
    program_changes: bool = True,
    same_aws_as: Fleet | None = None,
    strict_artifacts: bool = False,
) -> tuple[list[AffectedStack], Rollout, list[AffectedStack], list[ArtifactTag]]:
    """The stacks the change from merge-base(base, head) to head touches (every stack at `head`
    when `base` is None), the rollout settings at `head`, the stacks left out: with
    `same_aws_as`, those whose AWS accounts, regions, roles or EKS cluster are not that fleet's;
    and the OCI tags it moves (the clusters it touches through the artifact, not their stacks;
    `strict_artifacts`: a tag followed by clusters of several waves is an AffectedError)."""
    after, before, paths = _compared(project, base, head)
    artifacts = artifact_tags(after.fleet, paths, strict=strict_artifacts)
    if before is None or paths is None:
        stacks = every_stack(after)
    else:
        stacks = compare(before, after, paths, program_changes=program_changes)
    left_out: list[AffectedStack] = []
    if same_aws_as is not None:
        left_out = [
            s for s in stacks if not s.removed and not same_aws(after.fleet, same_aws_as, s.stack)
        ]
        stacks = [s for s in stacks if s not in left_out]
    return stacks, after.fleet.rollout, left_out, artifacts


def aws_identity(fleet: Fleet, stack: str) -> Any:
    """Where a stack's AWS providers point: each account, region and role (and the EKS cluster
    of a cluster stack). None: no valid definition."""
    if stack == REGISTRIES_STACK:
        return sorted(
            (r.name, r.account_id, r.region, r.role_arn or "") for r in fleet.registries.values()
        )
    cluster = fleet.clusters.get(stack)
    if cluster is None:
        return None
    aws = cluster.spec.aws
    return (aws.account_id, aws.region, aws.role_arn or "", cluster.eks_cluster_name)


def same_aws(fleet: Fleet, reference: Fleet, stack: str) -> bool:
    """`stack` reaches the same AWS accounts, roles and cluster in both fleets (and exists in
    `reference`): a preview with the fleet's credentials goes nowhere a definition could add."""
    identity = aws_identity(fleet, stack)
    return identity is not None and identity == aws_identity(reference, stack)


def affected(project: Path, base: str, head: str = "HEAD") -> list[AffectedStack]:
    """The stacks the change from merge-base(base, head) to head touches."""
    return changes(project, base, head)[0]


def all_stacks(project: Path, head: str = "HEAD") -> list[AffectedStack]:
    """Every stack defined at `head`."""
    return changes(project, None, head)[0]
