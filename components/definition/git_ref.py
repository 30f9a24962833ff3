"""A Git ref Flux checks out: exactly one of a branch, a tag, a semver range of tags, or a commit
(spec.git.ref, spec.apps[].ref). `branch` beside them stays the short form of `ref.branch`.

The semver range is checked with the grammar Flux itself parses it with: source-controller hands
it to Masterminds/semver v3 `NewConstraint` (fluxcd/pkg git/gogit/clone.go), whose regular
expressions (constraints.go, version.go) are Go's, so they are evaluated here with RE2, as Go does.
A range Flux would refuse fails `fluxfleet validate`, not the sync hours later.
"""

from __future__ import annotations

from typing import Annotated

import re2
from pydantic import AfterValidator, ConfigDict, Field, ValidationError, model_validator

from components.definition.types import Branch, Model, check_ref_format, field_error, pattern
from components.problems import show

# --- Masterminds/semver v3 constraints -----------------------------------------------------------

_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
# A version in a constraint: x, X and * stand for any number (the | inside a class is literal,
# as upstream writes it: "1|2" passes this expression and then fails NewVersion).
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_RANGE = re2.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_VALID = re2.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")
_FIND = re2.compile(rf"({_OPS})\s*({_CV})")
_ONE = re2.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_LOOSE_VERSION = re2.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)
_UINT64_MAX = 2**64 - 1
SEMVER_MAX_LENGTH = 256  # a longer range is a mistake (upstream has no bound)


def _is_x(part: str) -> bool:
    return part in ("x", "X", "*")


def _rewrite_ranges(text: str) -> str:
    """`1.2 - 1.4` as `>= 1.2, <= 1.4 ` (upstream's rewriteRange)."""
    for match in list(_RANGE.finditer(text)):
        text = text.replace(match.group(0), f">= {match.group(1)}, <= {match.group(11)} ", 1)
    return text


def _version_problem(version: str, written: str) -> str | None:
    """Why Masterminds' NewVersion (coercing, its default) refuses `version` (`written` in the
    range), or None."""
    m = _LOOSE_VERSION.match(version)
    if m is None:
        return f"{show(written)} is not a version"
    numbers = [m.group(1), (m.group(2) or ".0")[1:], (m.group(3) or ".0")[1:]]
    if any(int(n) > _UINT64_MAX for n in numbers):
        return f"{show(written)} has a number over 2^64-1"
    pre_release = m.group(5).split(".") if m.group(5) else []
    if any(p.isdigit() and len(p) > 1 and p.startswith("0") for p in pre_release):
        return f"{show(written)} has a numeric pre-release part with a leading zero"
    return None


def _constraint_problem(constraint: str) -> str | None:
    """Why upstream's parseConstraint refuses one `<op> <version>`, or None."""
    m = _ONE.match(constraint)
    if m is None:
        return f"{show(constraint)} is not a constraint"
    major, minor, patch, pre = m.group(3), m.group(4) or "", m.group(5) or "", m.group(6) or ""
    version = m.group(2)
    if _is_x(major):
        version = f"0.0.0{pre}"
    elif _is_x(minor.removeprefix(".")) or not minor:
        version = f"{major}.0.0{pre}"
    elif _is_x(patch.removeprefix(".")) or not patch:
        version = f"{major}{minor}.0{pre}"
    return _version_problem(version, m.group(2))


def semver_range_problem(text: str) -> str | None:
    """Why Flux (Masterminds/semver v3 NewConstraint) would refuse the range `text`, or None."""
    rewritten = _rewrite_ranges(text)
    for segment in rewritten.split("||"):
        if not _VALID.match(segment):
            return f"{show(segment.strip() or segment)} is not a constraint"
        for found in _FIND.finditer(segment):
            problem = _constraint_problem(found.group(0))
            if problem is not None:
                return problem
    return None


def _semver_range(value: str) -> str:
    if len(value) > SEMVER_MAX_LENGTH:
        raise ValueError(f"expected at most {SEMVER_MAX_LENGTH} characters, got {len(value)}")
    problem = semver_range_problem(value)
    if problem is not None:
        raise ValueError(
            "expected a semver range as Flux parses it (Masterminds/semver: such as "
            f'">=1.0.0 <2.0.0", "~1.4", "1.x", "^2.1 || ^3"): {problem}'
        )
    return value


# --- the four kinds -----------------------------------------------------------------------------

COMMIT = r"^[0-9a-f]{40}$"
GIT_TAG = r"^[A-Za-z0-9._/+-]{1,255}$"


def _tag_name(value: str) -> str:
    """A tag name; a full ref refused: the tag is rendered as refs/tags/<it>."""
    if value.startswith("refs/"):
        raise ValueError(
            f"expected a tag name without refs/ (refs/tags/ is added), got {show(value)}"
        )
    return check_ref_format(value, "tag")


Tag = Annotated[str, pattern(GIT_TAG, "a Git tag name such as v1.2.3"), AfterValidator(_tag_name)]
SemverRange = Annotated[
    str,
    Field(min_length=1, description="a semver range of tags such as >=1.0.0 <2.0.0"),
    AfterValidator(_semver_range),
]
CommitSha = Annotated[str, pattern(COMMIT, "a full commit SHA: 40 lowercase hexadecimal digits")]
REF_KINDS = ("branch", "tag", "semver", "commit")


class GitRef(Model):
    """Which revision Flux checks out: exactly one of the four."""

    # Editors say "exactly one" too (the schema is generated from the model)
    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    branch: Branch | None = Field(None, description="follow a branch (its head)")
    tag: Tag | None = Field(None, description="a fixed tag")
    semver: SemverRange | None = Field(
        None, description="the highest tag in a semver range (Masterminds/semver, as Flux)"
    )
    commit: CommitSha | None = Field(None, description="a fixed commit (full SHA)")

    @model_validator(mode="after")
    def _exactly_one(self) -> GitRef:
        given = [kind for kind in REF_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            got = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(f"expected exactly one of {', '.join(REF_KINDS)}, {got}")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in REF_KINDS if getattr(self, kind) is not None)

    @property
    def value(self) -> str:
        return str(getattr(self, self.kind))


def branch_ref(branch: str) -> GitRef:
    """`branch` (the short form) as a GitRef."""
    return GitRef.model_validate({"branch": branch})


class OneRef(Model):
    """The base of a model with `branch` and `ref` (spec.git, spec.apps[]): the ref Flux checks
    out, and the rule that they are not both written (a fleet default's branch never counts:
    the loader drops it when a cluster gives ref)."""

    branch: Branch = "main"
    ref: GitRef | None = Field(
        None,
        description="what Flux checks out: exactly one of branch, tag, semver, commit; "
        "instead of branch",
    )

    @property
    def checkout(self) -> GitRef:
        """`ref`, else `branch`."""
        return self.ref or branch_ref(self.branch)

    @model_validator(mode="after")
    def _one_ref(self) -> OneRef:
        ref = self.ref
        if ref is None or "branch" not in self.model_fields_set:
            return self
        message = (
            f"two refs at once: branch {show(self.branch)} and ref.{ref.kind}, "
            "expected one (ref.branch replaces branch)"
        )
        error = field_error(("ref",), ref.model_dump(exclude_none=True), message)
        raise ValidationError.from_exception_data(type(self).__name__, [error])  # type: ignore[list-item]
