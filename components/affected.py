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
- flux/ only: no stack (Flux syncs it);
- a definition deleted: listed with "removed": true (nothing destroys a stack automatically).

Each entry of a valid cluster also carries what its CI job needs: "environment" (the GitHub
environment is chosen from it) and "githubOwner"/"githubRepositories" (the GitHub App token is
scoped to the repositories its deploy keys go to).

Each commit's definitions are read with `git archive` into a scratch folder and loaded with the
same `load_fleet` the program uses, so "changed" means "the program would see something else".
No Pulumi here.
"""

from __future__ import annotations

import fnmatch
import io
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .definitions import (
    CLUSTERS_DIR,
    DEFAULTS_FILE,
    DefinitionError,
    Fleet,
    definition_files,
    load_fleet,
)
from .ecr import pulled_repository_arns, runs_image_reflector
from .model import EcrSpec
from .registries_model import REGISTRIES_FILE, REGISTRIES_STACK

STACKS_DIR = "stacks"
# What the program is made of: a change here can change every stack.
PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "pyproject.toml", "requirements.lock")
PROGRAM_DIRS = ("components/",)
DEPENDENCY_PATTERNS = ("requirements*.txt", "requirements*.lock", "constraints*.txt")
# Tools the tests and linters use: never installed where a stack runs.
DEV_DEPENDENCY_FILES = ("requirements-dev.lock",)
_EMPTY_ECR = EcrSpec().model_dump(mode="json", by_alias=True)


class AffectedError(Exception):
    """git could not answer; one line per problem (fluxfleet exits 2)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class AffectedStack:
    stack: str
    reasons: tuple[str, ...] = ()
    removed: bool = False
    # Of a valid cluster definition: its metadata.environment (CI picks the GitHub environment
    # from it), and the GitHub owner and repositories its deploy keys go to (CI scopes the
    # GitHub App token to them).
    environment: str | None = None
    github_owner: str | None = None
    github_repositories: tuple[str, ...] = ()

    def matrix_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"stack": self.stack}
        if self.environment is not None:
            entry["environment"] = self.environment
        if self.github_owner is not None and not self.removed:
            entry["githubOwner"] = self.github_owner
            entry["githubRepositories"] = ",".join(self.github_repositories)
        if self.removed:
            entry["removed"] = True
        return entry


def matrix(stacks: Iterable[AffectedStack]) -> dict[str, list[dict[str, Any]]]:
    """The GitHub Actions matrix: `{"include": [{"stack": ...}, ...]}`."""
    return {"include": [s.matrix_entry() for s in stacks]}


# --- git --------------------------------------------------------------------------------------


def _git(project: Path, *args: str, text: bool = True) -> Any:
    try:
        done = subprocess.run(
            ["git", *args], cwd=project, capture_output=True, text=text, check=False
        )
    except FileNotFoundError:
        raise AffectedError(
            ["git: not found on the PATH (fluxfleet affected compares commits)"]
        ) from None
    if done.returncode != 0:
        err = done.stderr if text else done.stderr.decode("utf-8", "replace")
        first = next((line for line in err.splitlines() if line.strip()), "failed")
        raise AffectedError([f"git {' '.join(args[:2])}: {first.strip()}"])
    return done.stdout


def _commit(project: Path, ref: str, option: str) -> str:
    if not ref or ref.startswith("-"):
        raise AffectedError([f"{option} {ref!r}: expected a commit (a SHA, branch or tag)"])
    try:
        return str(_git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except AffectedError:
        raise AffectedError(
            [
                f"{option} {ref}: no such commit in this repository (fetch it, or check out with "
                "fetch-depth: 0 in CI)"
            ]
        ) from None


def _merge_base(project: Path, base: str, head: str) -> str:
    try:
        return str(_git(project, "merge-base", base, head)).strip()
    except AffectedError:
        raise AffectedError(
            [
                f"--base {base[:12]} and --head {head[:12]} have no common ancestor here "
                "(a shallow clone? check out with fetch-depth: 0)"
            ]
        ) from None


def _project_prefix(project: Path) -> str:
    """The project's folder inside its git repository ('' at the top, else 'sub/dir/')."""
    try:
        return str(_git(project, "rev-parse", "--show-prefix")).strip()
    except AffectedError:
        raise AffectedError(
            [f"{project}: not in a git repository (fluxfleet affected compares commits)"]
        ) from None


def changed_paths(project: Path, base: str, head: str) -> list[str]:
    """Files that differ between two commits, relative to the project (renames as delete+add)."""
    out = _git(project, "diff", "--name-only", "--no-renames", "--relative", "-z", base, head)
    return sorted(p for p in str(out).split("\0") if p)


# --- the fleet at one commit ------------------------------------------------------------------


@dataclass
class Snapshot:
    """The definitions of one commit, loaded as the program would load them."""

    fleet: Fleet
    definitions: list[str]  # cluster names (file stems) with a definition file
    has_registries: bool  # k8s-clusters/_registries.yaml exists

    def stack(self, name: str, reasons: tuple[str, ...], removed: bool = False) -> AffectedStack:
        """The stack `name` as it is defined in this commit (facts only when it is valid)."""
        cluster = self.fleet.clusters.get(name)
        if cluster is None:
            return AffectedStack(name, reasons, removed)
        owner = cluster.spec.git.owner
        repositories = {cluster.spec.git.repository} | {
            app.repository for app in cluster.spec.apps if app.owner_or(owner) == owner
        }
        return AffectedStack(
            name,
            reasons,
            removed,
            environment=cluster.metadata.environment,
            github_owner=owner,
            github_repositories=tuple(sorted(repositories)),
        )


def _extract(archive: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for member in members:  # git archive never writes '..', but be sure
            if member.name.startswith("/") or ".." in PurePosixPath(member.name).parts:
                raise AffectedError([f"git archive: unexpected path {member.name!r}"])
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+ (Debian 12 has 3.11.2)
            tar.extractall(dest, members=members, filter="data")
        else:  # the members are checked above: regular files and folders inside dest
            tar.extractall(dest, members=members)


def snapshot(project: Path, commit: str, scratch: Path) -> Snapshot:
    """The fleet's definitions at `commit` (read into `scratch`, which must be empty)."""
    scratch.mkdir(parents=True, exist_ok=True)
    folder = scratch / CLUSTERS_DIR
    folder.mkdir()
    tree = f"{commit}:{_project_prefix(project)}{CLUSTERS_DIR}"
    # From the top of the repository: in a subfolder, git archive would also filter by it.
    top = Path(str(_git(project, "rev-parse", "--show-toplevel")).strip())
    listed = subprocess.run(
        ["git", "cat-file", "-t", tree], cwd=top, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip() == "tree":
        _extract(_git(top, "archive", "--format=tar", tree, text=False), folder)
    fleet = load_fleet(scratch)
    names = [p.stem for p in definition_files(scratch)]
    return Snapshot(fleet, names, (folder / REGISTRIES_FILE).is_file())


def cluster_view(snap: Snapshot, name: str) -> Any:
    """What the cluster stack `name` is built from: its validated definition (defaults merged)
    and what it uses of the registries it pulls from (the repository ARNs it is granted); or the
    problems that stop it."""
    try:
        cluster = snap.fleet.cluster(name)
    except DefinitionError as exc:
        return {"problems": [str(p) for p in exc.problems]}
    return {
        "definition": cluster.model_dump(mode="json", by_alias=True),
        "pulls": pulled_repository_arns(cluster, snap.fleet.registries),
    }


def registries_view(snap: Snapshot) -> Any:
    """What the registries stack is built from: _registries.yaml and, of every cluster that sets
    spec.ecr, that section with the account, region and tag scanning; or the problems that stop
    it (it refuses to run while any definition has one)."""
    if snap.fleet.all_problems:
        return {"problems": [str(p) for p in snap.fleet.all_problems]}
    clusters = {}
    for name, cluster in snap.fleet.clusters.items():
        ecr = cluster.spec.ecr.model_dump(mode="json", by_alias=True)
        if ecr == _EMPTY_ECR:
            continue
        clusters[name] = {
            "ecr": ecr,
            "accountId": cluster.spec.aws.account_id,
            "region": cluster.spec.aws.region,
            "imageReflector": runs_image_reflector(cluster),
        }
    return {
        "registries": {
            name: registry.model_dump(mode="json", by_alias=True)
            for name, registry in snap.fleet.registries.items()
        },
        "clusters": clusters,
    }


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


def compare(before: Snapshot, after: Snapshot, paths: Sequence[str]) -> list[AffectedStack]:
    """The stacks the change `paths` (from `before` to `after`) touches: registries first,
    then by name."""
    reasons: dict[str, list[str]] = defaultdict(list)
    known_before, known_after = set(before.definitions), set(after.definitions)

    def stack_exists(name: str, snap: Snapshot) -> bool:
        return snap.has_registries if name == REGISTRIES_STACK else name in snap.definitions

    program = [p for p in paths if is_program(p)]
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
        stacks[name] = (before if removed else after).stack(
            name, tuple(dict.fromkeys(why)), removed
        )
    return _ordered(stacks)


def every_stack(snap: Snapshot) -> list[AffectedStack]:
    """Every stack of a commit (the drift check): each cluster, and registries when defined."""
    stacks = {name: snap.stack(name, ("every stack",)) for name in snap.definitions}
    if snap.has_registries:
        stacks[REGISTRIES_STACK] = AffectedStack(REGISTRIES_STACK, ("every stack",))
    return _ordered(stacks)


def affected(project: Path, base: str, head: str = "HEAD") -> list[AffectedStack]:
    """The stacks the change from merge-base(base, head) to head touches."""
    _project_prefix(project)
    head_commit = _commit(project, head, "--head")
    since = _merge_base(project, _commit(project, base, "--base"), head_commit)
    paths = changed_paths(project, since, head_commit)
    with tempfile.TemporaryDirectory(prefix="fluxfleet-affected-") as scratch:
        before = snapshot(project, since, Path(scratch) / "base")
        after = snapshot(project, head_commit, Path(scratch) / "head")
    return compare(before, after, paths)


def all_stacks(project: Path, head: str = "HEAD") -> list[AffectedStack]:
    """Every stack defined at `head`."""
    _project_prefix(project)
    commit = _commit(project, head, "--head")
    with tempfile.TemporaryDirectory(prefix="fluxfleet-affected-") as scratch:
        return every_stack(snapshot(project, commit, Path(scratch) / "head"))
