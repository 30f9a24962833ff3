"""The fleet as one commit defines it: read with `git archive` into a scratch folder and loaded
with the same `load_fleet` the program uses, so that "changed" between two commits means "the
program would see something else". For `fluxfleet affected`; no Pulumi here."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from components.builders.ecr import (
    ecr_image_registry,
    flux_ecr_references,
)
from components.builders.ecr_cluster import pulled_repository_arns
from components.builders.options import cluster_pulls, ecr_options
from components.definition.ecr import EcrSpec
from components.definition.rollout import github_environment
from components.loading.fleet import Fleet, definition_files, load_fleet
from components.names import CLUSTERS_DIR, REGISTRIES_FILE
from components.problems import DefinitionError

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
    # Its rollout wave, and the GitHub environment it deploys through (definition/rollout.py):
    # "production" (reviewers) or "fleet". None when the definition is invalid (CI then fails
    # closed: the last wave, through "production").
    wave: int | None = None
    github_environment: str | None = None

    def matrix_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"stack": self.stack}
        if self.environment is not None:
            entry["environment"] = self.environment
        if self.wave is not None and not self.removed:
            entry["wave"] = self.wave
        if self.github_environment is not None and not self.removed:
            entry["githubEnvironment"] = self.github_environment
        if self.github_owner is not None and not self.removed:
            entry["githubOwner"] = self.github_owner
            entry["githubRepositories"] = ",".join(self.github_repositories)
        if self.removed:
            entry["removed"] = True
        return entry


# --- git --------------------------------------------------------------------------------------


def git(project: Path, *args: str, text: bool = True) -> Any:
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


def resolve_commit(project: Path, ref: str, option: str) -> str:
    if not ref or ref.startswith("-"):
        raise AffectedError([f"{option} {ref!r}: expected a commit (a SHA, branch or tag)"])
    try:
        return str(git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except AffectedError:
        raise AffectedError(
            [
                f"{option} {ref}: no such commit in this repository (fetch it, or check out with "
                "fetch-depth: 0 in CI)"
            ]
        ) from None


def merge_base(project: Path, base: str, head: str) -> str:
    try:
        return str(git(project, "merge-base", base, head)).strip()
    except AffectedError:
        raise AffectedError(
            [
                f"--base {base[:12]} and --head {head[:12]} have no common ancestor here "
                "(a shallow clone? check out with fetch-depth: 0)"
            ]
        ) from None


def project_prefix(project: Path) -> str:
    """The project's folder inside its git repository ('' at the top, else 'sub/dir/')."""
    try:
        return str(git(project, "rev-parse", "--show-prefix")).strip()
    except AffectedError:
        raise AffectedError(
            [f"{project}: not in a git repository (fluxfleet affected compares commits)"]
        ) from None


def changed_paths(project: Path, base: str, head: str) -> list[str]:
    """Files that differ between two commits, relative to the project (renames as delete+add)."""
    out = git(project, "diff", "--name-only", "--no-renames", "--relative", "-z", base, head)
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
        # the fleet repository's deploy key, unless the cluster syncs the OCI artifact
        fleet = {cluster.spec.git.repository} if cluster.syncs_git else set()
        repositories = fleet | {
            app.repository for app in cluster.spec.apps if app.owner_or(owner) == owner
        }
        return AffectedStack(
            name,
            reasons,
            removed,
            environment=cluster.metadata.environment,
            github_owner=owner if repositories else None,  # None: no GitHub token at all
            github_repositories=tuple(sorted(repositories)),
            wave=self.fleet.wave(cluster),
            github_environment=github_environment(self.fleet.rollout, cluster.metadata.environment),
        )


def _extract(archive: bytes, dest: Path) -> None:
    """The regular files and folders of a `git archive` tar, written under `dest` (symlinks and
    anything else left out). Written directly, not by tarfile's extractall: its safety filter
    resolves every member's path and sets modes and times, 5 s for 10,000 definitions, where
    the names are checked here once and only the contents matter."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for member in members:  # git archive never writes '..', but be sure
            if member.name.startswith("/") or ".." in PurePosixPath(member.name).parts:
                raise AffectedError([f"git archive: unexpected path {member.name!r}"])
        made: set[Path] = set()
        for member in members:
            target = dest.joinpath(*PurePosixPath(member.name).parts)
            folder = target if member.isdir() else target.parent
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            data = tar.extractfile(member) if member.isfile() else None
            if data is not None:
                target.write_bytes(data.read())


def snapshot(project: Path, commit: str, scratch: Path) -> Snapshot:
    """The fleet's definitions at `commit` (read into `scratch`, which must be empty)."""
    scratch.mkdir(parents=True, exist_ok=True)
    folder = scratch / CLUSTERS_DIR
    folder.mkdir()
    tree = f"{commit}:{project_prefix(project)}{CLUSTERS_DIR}"
    # From the top of the repository: in a subfolder, git archive would also filter by it.
    top = Path(str(git(project, "rev-parse", "--show-toplevel")).strip())
    listed = subprocess.run(
        ["git", "cat-file", "-t", tree], cwd=top, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip() == "tree":
        _extract(git(top, "archive", "--format=tar", tree, text=False), folder)
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
        "pulls": pulled_repository_arns(
            [*(pulled := cluster_pulls(cluster, snap.fleet.registries)).nodes, *pulled.sync]
        ),
    }


def registries_view(snap: Snapshot) -> Any:
    """What the registries stack is built from: _registries.yaml and, of every cluster that sets
    spec.ecr (or mirrors the controller images on ECR, or syncs an OCI artifact from it), that
    section with the account, region, tag scanning, the mirror and the sync source; or the
    problems that stop it (it refuses to run while any definition has one)."""
    if snap.fleet.all_problems:
        return {"problems": [str(p) for p in snap.fleet.all_problems]}
    clusters = {}
    for name, cluster in snap.fleet.clusters.items():
        ecr = cluster.spec.ecr.model_dump(mode="json", by_alias=True)
        pulled = ecr_options(cluster)
        mirror = ecr_image_registry(pulled)  # the controller images, pulled from ECR
        operator = {  # the operator's image and chart, pulled from ECR
            k: v for k, v in flux_ecr_references(pulled).items() if k != "registry"
        }
        source = pulled.sync  # the OCI sync source, pulled from ECR
        if ecr == _EMPTY_ECR and mirror is None and not operator and source is None:
            continue
        clusters[name] = {
            "ecr": ecr,
            "accountId": cluster.spec.aws.account_id,
            "region": cluster.spec.aws.region,
            "imageReflector": pulled.image_reflector,
        }
        if mirror is not None:
            clusters[name]["imageMirror"] = list(mirror)
        clusters[name].update(operator)
        if source is not None:
            clusters[name]["syncSource"] = source.model_dump(mode="json", by_alias=True)
    return {
        "registries": {
            name: registry.model_dump(mode="json", by_alias=True)
            for name, registry in snap.fleet.registries.items()
        },
        "clusters": clusters,
    }
