"""Load and validate the fleet's definition files: k8s-clusters/<name>.yaml and _defaults.yaml.

Every problem becomes one `Problem` line naming the file, the field path and what was expected.
Nothing here imports Pulumi: `fluxfleet validate` stays fast.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import safe_yaml
from .forkmap import fork_map
from .model import Cluster, ClusterDefaults, describe_pattern
from .registries_model import REGISTRIES_FILE, Registries, Registry

CLUSTERS_DIR = "k8s-clusters"
DEFAULTS_FILE = "_defaults.yaml"
SCHEMA_FILE = "cluster.schema.json"
PARALLEL_FROM = 200  # definition files; fewer are read faster than workers start


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        file, path, message = (one_line(part) for part in (self.file, self.path, self.message))
        return f"{file}: {path}: {message}" if path else f"{file}: {message}"


def one_line(text: str) -> str:
    """`text` with what could break or hide a line (newlines, carriage returns, U+2028, other
    control and invisible characters a person wrote into a key or a value) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class DefinitionError(Exception):
    """One or more problems with the definitions; str() is one line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


# --- YAML -----------------------------------------------------------------------------------


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_problem(path: Path, display: str, project_dir: Path | None) -> Problem | None:
    """Why `path` must not be read: it is not a regular file, or (a symlink) resolves outside
    `project_dir`. Never opens it: a FIFO would block, a device never ends."""
    expected = "expected a regular file"
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                return Problem(display, "", f"a dangling symlink, {expected}")
            if project_dir is not None and not target.is_relative_to(project_dir.resolve()):
                return Problem(
                    display, "", f"a symlink to outside the project (not read), {expected}"
                )
            mode = target.stat().st_mode
    except OSError as exc:
        return Problem(display, "", f"cannot be read: {exc.strerror or exc}")
    for is_kind, kind in _FILE_KINDS:
        if is_kind(mode):
            return Problem(display, "", f"{kind}, {expected}")
    return None if stat.S_ISREG(mode) else Problem(display, "", f"not a file, {expected}")


def read_yaml(
    path: Path,
    display: str,
    project_dir: Path | None = None,
    *,
    allow_empty: bool = False,
    may_be_null: frozenset[str] = frozenset(),
) -> tuple[Any, list[Problem]]:
    """The document in `path`, or the problems that stop it from being read: not a regular file
    inside `project_dir` (not opened then), invalid YAML, not one document, or a null value
    (except at the paths `may_be_null`). An empty file is a problem unless `allow_empty` (then
    the document is None)."""
    refused = file_problem(path, display, project_dir)
    if refused is not None:
        return None, [refused]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, "", f"cannot be read: {exc}")]
    nulls: dict[tuple[int, Any], int] = {}
    try:
        docs = safe_yaml.load_all(text, nulls)  # YAML 1.2, duplicate keys refused
    except safe_yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return None, [Problem(display, where, f"invalid YAML: {what}")]
    except safe_yaml.YAMLError as exc:
        return None, [Problem(display, "", f"invalid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(display, "", "invalid YAML: nested too deeply")]
    except ValueError as exc:  # such as an integer of more than 4300 digits
        return None, [Problem(display, "", f"invalid YAML: {exc}")]
    docs = [d for d in docs if d is not None]
    if not docs and allow_empty:
        return None, []
    if not docs:
        return None, [
            Problem(display, "", "empty file, expected a definition (apiVersion, kind, ...)")
        ]
    if len(docs) > 1:
        return None, [Problem(display, "", f"expected one YAML document, got {len(docs)}")]
    found = [
        p
        for p in null_problems(docs[0], display, nulls, text.splitlines())
        if p.path not in may_be_null
    ]
    return (None, found) if found else (docs[0], [])


def null_problems(
    doc: Any, display: str, lines_of_nulls: Mapping[tuple[int, Any], int], lines: list[str]
) -> list[Problem]:
    """A problem for each null value in `doc`: an empty value, `~`, `null`, or (the usual
    mistake) a value starting with an unquoted #, which YAML reads as a comment."""
    out: list[Problem] = []
    seen: set[int] = set()  # aliases may share a mapping or list

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping | list) and id(value) not in seen:
            seen.add(id(value))
            pairs = value.items() if isinstance(value, Mapping) else enumerate(value)
            for key, item in pairs:
                where = f"{path}[{key}]" if isinstance(value, list) else f"{path}.{key}"
                if item is None:
                    line = lines_of_nulls.get((id(value), key))
                    out.append(Problem(display, where.lstrip("."), _null_message(line, lines)))
                else:
                    walk(item, where)

    walk(doc, "")
    return out


def _null_message(line: int | None, lines: list[str]) -> str:
    text = lines[line] if line is not None and line < len(lines) else ""
    comment = text.partition("#")[2].strip() if "#" in text else ""
    if comment:
        shown = show("#" + comment)
        return (
            f"expected a value, got null: on line {line + 1 if line is not None else '?'} an "
            f"unquoted # starts a YAML comment; quote the value, such as {shown}"
        )
    return "expected a value, got null (leave the key out to use the default)"


# --- pydantic errors → one readable line each ------------------------------------------------


def show(value: Any) -> str:
    """A short rendering of a value a person wrote, for 'got ...'."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:76] + '..."'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            text = str(value)
        except ValueError:  # an integer beyond str()'s digit limit (hexadecimal in YAML)
            return "a number too large to show"
        return f"the number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _unwrap(annotation: Any) -> Any:
    """The model type behind Annotated / Optional / list annotations (or the annotation)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (loc given in YAML aliases)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
        if part not in by_alias:
            return None
        current = _unwrap(by_alias[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _description(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    holder = _model_at(model, tuple(p for p in loc[:-1]))
    if holder is None or isinstance(loc[-1], int):
        return None
    for name, info in holder.model_fields.items():
        if (info.alias or name) == loc[-1]:
            return info.description
    return None


def _message(model: type[BaseModel], err: Any) -> str:
    kind, loc, ctx, value = err["type"], err["loc"], err.get("ctx") or {}, err.get("input")
    got = show(value)
    if kind == "missing":
        desc = _description(model, loc)
        return "required field is missing" + (f", expected {desc}" if desc else "")
    if kind == "extra_forbidden":
        allowed = _field_names(_model_at(model, loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f", did you mean {close[0]}?" if close else ""
        return f"unknown field{hint} (expected one of {', '.join(allowed)})"
    if kind == "string_pattern_mismatch":
        text = f"expected {describe_pattern(ctx.get('pattern', ''))}, got {got}"
        return text
    if kind in ("string_type", "str_type"):
        desc = _description(model, loc) or "a string"
        quote = (
            " (quote it)" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        )
        return f"expected a string ({desc}), got {got}{quote}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        several = " or " in expected or ", " in expected
        return f"expected {'one of ' if several else ''}{expected}, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return f"expected an integer {sign} {limit}, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("list_type",):
        return f"expected a list, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        fields = _field_names(_model_at(model, loc))
        inner = f" ({', '.join(fields)})" if fields else ""
        return f"expected a mapping{inner}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} entries, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']}, got {got}"


def problems_from(exc: ValidationError, model: type[BaseModel], display: str) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"])
        out.append(Problem(display, path.replace(".[", "["), _message(model, err)))
    return out


# --- defaults merging ---------------------------------------------------------------------------


def deep_merge(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge key by key; scalars and lists of `override` win."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


# --- the fleet --------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Every definition of a project, each validated; problems kept per file."""

    project_dir: Path
    clusters: dict[str, Cluster] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # cluster name -> display path
    problems: dict[str, list[Problem]] = field(default_factory=dict)  # display path -> problems
    defaults_spec: dict[str, Any] = field(default_factory=dict)
    defaults_file: str = f"{CLUSTERS_DIR}/{DEFAULTS_FILE}"
    registries: dict[str, Registry] = field(default_factory=dict)  # from _registries.yaml
    registries_file: str = f"{CLUSTERS_DIR}/{REGISTRIES_FILE}"
    # valid on their own, blocked because another file defines the same EKS cluster
    duplicates: dict[str, Cluster] = field(default_factory=dict)

    @cached_property
    def all_problems(self) -> list[Problem]:
        return sorted(p for ps in self.problems.values() for p in ps)

    def cluster(self, name: str) -> Cluster:
        """The valid definition of stack `name`, or DefinitionError with what stops it."""
        display = self.files.get(name, f"{CLUSTERS_DIR}/{name}.yaml")
        own = self.problems.get(display, []) + self.problems.get(self.defaults_file, [])
        if own:
            raise DefinitionError(own)
        if name not in self.clusters:
            raise DefinitionError(
                [Problem(display, "", f'no definition for stack "{name}" (expected this file)')]
            )
        return self.clusters[name]

    def registries_stack(self) -> Fleet:
        """The fleet, for the registries stack: it grants what every cluster pulls, so a problem
        in any definition stops it (a half-read fleet would revoke the grants of the rest)."""
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


def load_defaults(project_dir: Path) -> tuple[dict[str, Any], list[Problem]]:
    defaults, doc, problems = load_optional(
        project_dir, DEFAULTS_FILE, ClusterDefaults, "apiVersion, kind, spec"
    )
    return (dict(doc.get("spec") or {}) if defaults is not None else {}), problems


def definition_files(project_dir: Path) -> list[Path]:
    folder = project_dir / CLUSTERS_DIR
    if not folder.is_dir():
        return []
    return sorted(  # whatever they are: read_yaml refuses what is not a regular file
        p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("_")
    )


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


def load_fleet(project_dir: Path) -> Fleet:
    project_dir = project_dir.resolve()
    fleet = Fleet(project_dir)
    fleet.defaults_spec, defaults_problems = load_defaults(project_dir)
    if defaults_problems:
        fleet.problems[fleet.defaults_file] = defaults_problems
    if not (project_dir / CLUSTERS_DIR).is_dir():
        fleet.problems[CLUSTERS_DIR] = [
            Problem(CLUSTERS_DIR, "", f"no such folder in {project_dir}, expected the definitions")
        ]
        return fleet

    paths = definition_files(project_dir)
    if defaults_problems:  # clusters cannot be judged without their defaults: fix those first
        fleet.files = {path.stem: _display(project_dir, path) for path in paths}
        return fleet
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
    from . import ecr

    fleet.registries, problems = load_registries(fleet.project_dir)
    if problems:
        fleet.problems[fleet.registries_file] = problems
    clean: dict[str, Cluster] = {}
    for name, cluster in fleet.clusters.items():
        display = fleet.files[name]
        if not cluster.spec.ecr.pull:
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
                for path, message in ecr.pull_problems(cluster, fleet.registries)
            ]
        if found:
            fleet.problems.setdefault(display, []).extend(found)
        else:
            clean[name] = cluster
    if problems:
        return
    index = {name: i for i, name in enumerate(fleet.registries)}
    for registry, message in ecr.repository_policy_size_problems(_Clean(clean, fleet.registries)):
        fleet.problems.setdefault(fleet.registries_file, []).append(
            Problem(fleet.registries_file, f"registries[{index[registry]}]", message)
        )
