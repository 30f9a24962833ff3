"""Load and validate the fleet's definition files: k8s-clusters/<name>.yaml and _defaults.yaml
(merged under each), then the checks across files (the same EKS cluster twice, ECR pulls against
_registries.yaml). Every problem is one `Problem` line. No Pulumi: `fluxfleet validate` stays fast.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from components.builders.ecr import flux_ecr_references
from components.builders.options import ecr_fleet, ecr_options
from components.definition.cluster import Cluster
from components.definition.defaults import ClusterDefaults
from components.definition.registries import Registries, Registry
from components.definition.rollout import Rollout, wave_of
from components.forkmap import fork_map
from components.loading.certificates import ca_file_problems
from components.loading.files import folder_cache, folder_problem, read_text, read_yaml
from components.loading.messages import problems_from
from components.loading.pulls import pull_problems, repository_policy_size_problems
from components.names import (
    CLUSTERS_DIR,
    DEFAULTS_FILE,
    REGISTRIES_FILE,
    REGISTRIES_STACK,
    SCHEMA_FILE,
    definition_file,
)
from components.problems import DefinitionError, Problem, show

PARALLEL_FROM = 200  # definition files; fewer are read faster than workers start


# Lists of the spec that add up rather than replace: the fleet's patches, then the cluster's (a
# fleet-wide tuning and a cluster's own both apply; kustomize applies them in that order).
CONCATENATED = frozenset({("flux", "patches")})


# Mappings that are one setting, given whole: a cluster's replaces the fleet default's instead of
# merging with it (a ref's kinds, a host's keys, never half the default's and half its own).
WHOLE = frozenset({("git", "ref"), ("git", "host")})
# Keys of a mapping that say the same thing: a cluster giving one drops the fleet default's
# others (a cluster's ref wins over the fleet's branch, its branch over the fleet's ref).
ALTERNATIVES: dict[tuple[str, ...], frozenset[str]] = {("git",): frozenset({"branch", "ref"})}


def deep_merge(base: Any, override: Any, at: tuple[str, ...] = ()) -> Any:
    """`override` over `base` (a spec): mappings merge key by key; scalars and lists of
    `override` win, except the lists at CONCATENATED paths, which are `base`'s then its own;
    mappings at WHOLE paths are `override`'s; of ALTERNATIVES, `override`'s keys win."""
    if at in WHOLE:
        return override
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        alternatives = ALTERNATIVES.get(at, frozenset())
        merged = {
            k: v
            for k, v in base.items()
            if k not in alternatives or not alternatives & set(override)
        }
        for key, value in override.items():
            merged[key] = deep_merge(merged[key], value, (*at, key)) if key in merged else value
        return merged
    if at in CONCATENATED and isinstance(base, list) and isinstance(override, list):
        return [*base, *override]
    return override


@dataclass
class Fleet:
    """Every definition of a project, each validated; problems kept per file."""

    project_dir: Path
    clusters: dict[str, Cluster] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # cluster name -> display path
    problems: dict[str, list[Problem]] = field(default_factory=dict)  # display path -> problems
    defaults_spec: dict[str, Any] = field(default_factory=dict)
    defaults_file: str = f"{CLUSTERS_DIR}/{DEFAULTS_FILE}"
    rollout: Rollout = field(default_factory=Rollout)  # _defaults.yaml's rollout settings
    registries: dict[str, Registry] = field(default_factory=dict)  # from _registries.yaml
    registries_file: str = f"{CLUSTERS_DIR}/{REGISTRIES_FILE}"
    # valid on their own, blocked because another file defines the same EKS cluster
    duplicates: dict[str, Cluster] = field(default_factory=dict)
    # entries of k8s-clusters/ read as nothing (dev-1.YAML, x.yaml.bak): display paths
    strays: list[str] = field(default_factory=list)
    # Loaded for these stacks only (load_fleet's `only`): the other definitions were read only
    # as far as needed to know they cannot clash with them; `files` still names every one.
    only: frozenset[str] | None = None

    @cached_property
    def all_problems(self) -> list[Problem]:
        return sorted(p for ps in self.problems.values() for p in ps)

    def cluster(self, name: str) -> Cluster:
        """The valid definition of stack `name`, or DefinitionError with what stops it."""
        if not self.serves([name]):
            raise ValueError(
                f"{name}: the fleet was loaded for {', '.join(sorted(self.only or ()))}"
            )
        display = self.files.get(name, definition_file(name))
        own = self.problems.get(display, []) + self.problems.get(self.defaults_file, [])
        if own:
            raise DefinitionError(own)
        if name not in self.clusters:
            raise DefinitionError([no_definition(display, name)])
        return self.clusters[name]

    def serves(self, stacks: Collection[str] | None) -> bool:
        """Whether this fleet answers for `stacks` (None: every stack) as the whole one would."""
        if self.only is None:
            return True
        return stacks is not None and REGISTRIES_STACK not in stacks and self.only >= set(stacks)

    def wave(self, cluster: Cluster) -> int:
        """The rollout wave of `cluster` (its metadata.wave, else its environment's)."""
        return wave_of(self.rollout, cluster.metadata.environment, cluster.metadata.wave)

    def registries_stack(self) -> Fleet:
        """The fleet, for the registries stack: it grants what every cluster pulls, so a problem
        in any definition stops it (a half-read fleet would revoke the grants of the rest)."""
        if not self.serves([REGISTRIES_STACK]):
            raise ValueError("the registries stack needs the whole fleet (load_fleet without only)")
        if self.all_problems:
            raise DefinitionError(self.all_problems)
        return self


def _display(project_dir: Path, path: Path) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return path.as_posix()


M = TypeVar("M", bound=BaseModel)


def load_optional(
    project_dir: Path, file_name: str, model: type[M], fields: str
) -> tuple[M | None, Any, list[Problem]]:
    """An optional fleet file (k8s-clusters/_*.yaml) validated as `model`: (model, raw, problems);
    (None, None, []) when the file does not exist."""
    path = project_dir / CLUSTERS_DIR / file_name
    if not os.path.lexists(path):  # a dangling symlink is there, and refused
        return None, None, []
    display = _display(project_dir, path)
    doc, problems = read_yaml(path, display, project_dir)
    if problems:
        return None, None, problems
    if not isinstance(doc, Mapping):
        return None, None, [Problem(display, "", f"expected a mapping ({fields}), got {show(doc)}")]
    try:
        return model.model_validate(doc), doc, []
    except ValidationError as exc:
        return None, None, problems_from(exc, model, display)


def load_defaults_file(project_dir: Path) -> tuple[Rollout, dict[str, Any], list[Problem]]:
    """_defaults.yaml: the fleet's rollout settings and the spec merged under every cluster."""
    defaults, doc, problems = load_optional(
        project_dir, DEFAULTS_FILE, ClusterDefaults, "apiVersion, kind, rollout, spec"
    )
    if defaults is None:
        return Rollout(), {}, problems
    return defaults.rollout, dict(doc.get("spec") or {}), problems


def load_defaults(project_dir: Path) -> tuple[dict[str, Any], list[Problem]]:
    _, spec, problems = load_defaults_file(project_dir)
    return spec, problems


DEFINITION_SUFFIXES = (".yaml", ".yml")
# What else k8s-clusters/ holds by design: the fleet files and the editors' schema.
COMPANIONS = frozenset({DEFAULTS_FILE, REGISTRIES_FILE, SCHEMA_FILE})


def definition_files(project_dir: Path) -> list[Path]:
    folder = project_dir / CLUSTERS_DIR
    if not folder.is_dir():
        return []
    return sorted(  # whatever they are: read_yaml refuses what is not a regular file
        p for p in folder.iterdir() if is_definition_name(p.name)
    )


def is_definition_name(name: str) -> bool:
    return name.endswith(DEFINITION_SUFFIXES) and not name.startswith(("_", "."))


def stray_problem(path: Path, display: str) -> Problem | None:
    """What is wrong with an entry of k8s-clusters/ that is read as nothing: not a definition,
    not a fleet file (_defaults.yaml, _registries.yaml), not the schema, not hidden. A file
    silently left out would be a cluster silently never deployed."""
    name = path.name
    if is_definition_name(name) or name in COMPANIONS or name.startswith("."):
        return None
    if os.path.isdir(path) and not os.path.islink(path):
        what = "a folder, not read: definitions are files k8s-clusters/<name>.yaml"
        return Problem(display, "", what)
    stem, dot, suffix = name.rpartition(".")
    if name.startswith("_"):
        expected = " or ".join(sorted(COMPANIONS - {SCHEMA_FILE}))
        close = difflib.get_close_matches(name, sorted(COMPANIONS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return Problem(display, "", f"not read: the fleet files are {expected}{hint}")
    hint = (
        f" (rename it to {stem}.{suffix.lower()})"
        if dot and f".{suffix.lower()}" in DEFINITION_SUFFIXES
        else " (rename it, or move it out of k8s-clusters/)"
    )
    return Problem(display, "", f"not read: definitions end in .yaml or .yml{hint}")


def validate_cluster_doc(
    doc: Any, display: str, stem: str, defaults_spec: Mapping[str, Any]
) -> tuple[Cluster | None, list[Problem]]:
    """One cluster document, with the fleet defaults merged under it."""
    if not isinstance(doc, Mapping):
        return None, [
            Problem(
                display,
                "",
                f"expected a mapping (apiVersion, kind, metadata, spec), got {show(doc)}",
            )
        ]
    merged = dict(doc)
    if defaults_spec and isinstance(doc.get("spec", {}), Mapping):
        merged["spec"] = deep_merge(defaults_spec, doc.get("spec") or {})
    try:
        cluster = Cluster.model_validate(merged)
    except ValidationError as exc:
        return None, problems_from(exc, Cluster, display)
    if cluster.name != stem:
        return None, [
            Problem(
                display,
                "metadata.name",
                f'expected "{stem}" (the file name and stack name), got "{cluster.name}"',
            )
        ]
    return cluster, []


def load_fleet(project_dir: Path, only: Collection[str] | None = None) -> Fleet:
    """The fleet of `project_dir`, every definition read and checked. With `only` (stack names,
    the registries stack not among them): what those stacks need, for one stack's plan or
    `pulumi up` (see clash_candidates); `cluster()` of each answers as the whole fleet's would."""
    with folder_cache():
        return _load_fleet(project_dir, only)


def _load_fleet(project_dir: Path, only: Collection[str] | None) -> Fleet:
    project_dir = project_dir.resolve()
    fleet = Fleet(project_dir)
    if only is not None and REGISTRIES_STACK not in only:
        fleet.only = frozenset(only)
    fleet.rollout, fleet.defaults_spec, defaults_problems = load_defaults_file(project_dir)
    if defaults_problems:
        fleet.problems[fleet.defaults_file] = defaults_problems
    folder = project_dir / CLUSTERS_DIR
    if not folder.is_dir():
        fleet.problems[CLUSTERS_DIR] = [
            Problem(CLUSTERS_DIR, "", f"no such folder in {project_dir}, expected the definitions")
        ]
        return fleet
    outside = folder_problem(folder, CLUSTERS_DIR, project_dir)
    if outside is not None:  # nothing in it is listed, let alone read
        fleet.problems[CLUSTERS_DIR] = [outside]
        return fleet
    for entry in sorted(folder.iterdir()):
        display = _display(project_dir, entry)
        stray = stray_problem(entry, display)
        if stray is not None:
            fleet.strays.append(display)
            fleet.problems[display] = [stray]

    paths = definition_files(project_dir)
    if defaults_problems:  # clusters cannot be judged without their defaults: fix those first
        fleet.files = {path.stem: _display(project_dir, path) for path in paths}
        return fleet
    unread: list[Path] = []
    if fleet.only is not None:
        paths, unread = clash_candidates(project_dir, paths, fleet.only, fleet.defaults_spec)
    # Reading a file is independent of the others: forked workers read a large fleet's.
    read = fork_map(
        lambda path: read_yaml(path, _display(project_dir, path), project_dir),
        paths,
        min_items=PARALLEL_FROM,
    )
    for path, (doc, problems) in zip(paths, read, strict=True):
        display = _display(project_dir, path)
        cluster = None
        if not problems:
            cluster, problems = validate_cluster_doc(doc, display, path.stem, fleet.defaults_spec)
        if cluster is not None and not problems:
            problems = ca_file_problems(cluster, display, project_dir)
            cluster = None if problems else cluster
        if cluster is not None and cluster.name in fleet.clusters:
            problems = [
                Problem(
                    display,
                    "metadata.name",
                    f'"{cluster.name}" is defined twice, also in {fleet.files[cluster.name]}',
                )
            ]
        if problems:
            fleet.problems[display] = problems
            fleet.files.setdefault(path.stem, display)
            continue
        assert cluster is not None
        fleet.clusters[cluster.name] = cluster
        fleet.files[cluster.name] = display
    for path in unread:  # known by name (a stack named on the command line is looked up)
        fleet.files.setdefault(path.stem, _display(project_dir, path))
    for display, problems in duplicate_eks_problems(fleet.clusters, fleet.files).items():
        fleet.problems[display] = problems
    fleet.duplicates = {
        name: fleet.clusters.pop(name)
        for name in list(fleet.clusters)
        if fleet.files[name] in fleet.problems
    }
    fleet.clusters = dict(sorted(fleet.clusters.items()))
    check_registries(fleet)
    return fleet


def clash_candidates(
    project_dir: Path, paths: list[Path], only: frozenset[str], defaults_spec: Mapping[str, Any]
) -> tuple[list[Path], list[Path]]:
    """(the definition files that stacks `only` need, the others): their own files and every
    other that could be a valid definition of the same EKS cluster as one of theirs (which
    would block both, duplicate_eks_problems). The others are only read as text (could_define);
    a file that cannot be read is not valid, so it blocks nothing."""
    own = [path for path in paths if path.stem in only]
    identities = []
    for path in own:
        display = _display(project_dir, path)
        doc, problems = read_yaml(path, display, project_dir)
        if not problems:
            cluster, _ = validate_cluster_doc(doc, display, path.stem, defaults_spec)
            if cluster is not None:
                identities.append(cluster.identity)
    if not identities:  # no valid definition among them: nothing to clash with
        return own, [path for path in paths if path.stem not in only]
    defaults = frozenset(_strings(defaults_spec))
    needed, unread = list(own), []
    for path in paths:
        if path.stem in only:
            continue
        text, _ = read_text(path, _display(project_dir, path), project_dir)
        if text is not None and any(
            could_define(text, path.stem, identity, defaults) for identity in identities
        ):
            needed.append(path)
        else:
            unread.append(path)
    return sorted(needed), unread


def could_define(
    text: str, stem: str, identity: tuple[str, str, str], defaults: Collection[str]
) -> bool:
    """Whether the definition file `stem`.yaml of this text could, if valid, define the EKS
    cluster `identity` (account, region, name). Never no when it could: in a valid definition
    each of the three is a string written in the file (by anchors and merge keys too, which stay
    within it), or one of _defaults.yaml's (`defaults`), or, the name only, metadata.name, which
    is the file's stem. Being ASCII without spaces (their patterns), such a string appears in
    the text as it is, unless spelled with escapes, which need a backslash: any backslash
    answers yes."""
    if "\\" in text:
        return True
    account, region, eks = identity

    def written(value: str) -> bool:
        return value in text or value in defaults

    return written(account) and written(region) and (written(eks) or eks == stem)


def _strings(value: Any) -> Iterator[str]:
    """Every string value in a YAML document (mappings and lists walked, each once: aliases)."""
    todo, seen = [value], set()
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping | list) and id(item) not in seen:
            seen.add(id(item))
            todo.extend(item.values() if isinstance(item, Mapping) else item)


def duplicate_eks_problems(
    clusters: Mapping[str, Cluster], files: Mapping[str, str], also: str = "also"
) -> dict[str, list[Problem]]:
    """Definitions of the same EKS cluster (account, region, name): a problem on each file,
    naming the others. Neither is planned: which one is right is for a person to say."""
    by_identity: dict[tuple[str, str, str], list[str]] = {}
    for name, cluster in sorted(clusters.items()):
        by_identity.setdefault(cluster.identity, []).append(files[name])
    out: dict[str, list[Problem]] = {}
    for (account, region, eks), displays in by_identity.items():
        for display in displays if len(displays) > 1 else []:
            others = ", ".join(d for d in displays if d != display)
            message = f"the EKS cluster {eks} in {account}/{region} is {also} defined in {others}"
            out[display] = [Problem(display, "spec.aws", message)]
    return out


def no_definition(display: str, stack: str, hint: str = "") -> Problem:
    """A stack without a definition file: the problem names the file it expects."""
    return Problem(display, "", f'no definition for stack "{stack}" (expected this file){hint}')


# --- the registries (_registries.yaml) and what clusters pull from them ------------------------


def load_registries(project_dir: Path) -> tuple[dict[str, Registry], list[Problem]]:
    """The registries of k8s-clusters/_registries.yaml (none when the file does not exist)."""
    registries, _, problems = load_optional(
        project_dir, REGISTRIES_FILE, Registries, "apiVersion, kind, registries"
    )
    if registries is None:
        return {}, problems
    return {registry.name: registry for registry in registries.registries}, []


@dataclass(frozen=True)
class _Clean:
    clusters: dict[str, Cluster]
    registries: dict[str, Registry]


def check_registries(fleet: Fleet) -> None:
    """Load _registries.yaml into `fleet`, check each cluster's spec.ecr against it (problems on
    the cluster's file) and each repository policy the fleet needs (problems on the registries
    file)."""
    fleet.registries, problems = load_registries(fleet.project_dir)
    if problems:
        fleet.problems[fleet.registries_file] = problems
    clean: dict[str, Cluster] = {}
    for name, cluster in fleet.clusters.items():
        display = fleet.files[name]
        if (
            not cluster.spec.ecr.pull
            and not flux_ecr_references(ecr_options(cluster))
            and cluster.oci_source is None
        ):
            clean[name] = cluster
            continue
        if problems:
            found = [
                Problem(
                    display,
                    "spec.ecr.pull",
                    f"cannot be checked: {fleet.registries_file} is invalid (fluxfleet validate)",
                )
            ]
        else:
            found = [
                Problem(display, path, message)
                for path, message in pull_problems(cluster, fleet.registries)
            ]
        if found:
            fleet.problems.setdefault(display, []).extend(found)
        else:
            clean[name] = cluster
    if problems:
        return
    index = {name: i for i, name in enumerate(fleet.registries)}
    for registry, message in repository_policy_size_problems(
        ecr_fleet(_Clean(clean, fleet.registries))
    ):
        fleet.problems.setdefault(fleet.registries_file, []).append(
            Problem(fleet.registries_file, f"registries[{index[registry]}]", message)
        )
