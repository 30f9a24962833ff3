"""The constrained scalar types of the definition files, and the base of every model.

Every pattern carries the human phrase used in error messages ("expected <hint>"). No I/O but
the packaged region list; no Pulumi: `fluxfleet validate` imports this.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin

import re2
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from components.names import DATA_DIR
from components.problems import show


@cache
def aws_regions() -> tuple[str, ...]:
    lines = (DATA_DIR / "aws-regions.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class PatternHint:
    """A pattern's phrase for error messages, kept in its own Field's metadata (pydantic ignores
    an object it does not know there; the JSON Schema is unchanged), so that declaring a field
    fills no table: `pattern_hints` reads them back from the models."""

    hint: str


def pattern(regex: str, hint: str, **field: Any) -> Any:
    """A pydantic Field matching `regex`, whose errors say "expected <hint>"."""
    info = Field(pattern=regex, description=field.pop("description", hint), **field)
    info.metadata.append(PatternHint(hint))
    return info


def _field_hints(info: FieldInfo) -> dict[str, str]:
    """A field's patterns and their hints (several when Annotated types are nested: in order)."""
    regexes = [
        r for r in (getattr(m, "pattern", None) for m in info.metadata) if isinstance(r, str)
    ]
    hints = [m.hint for m in info.metadata if isinstance(m, PatternHint)]
    return dict(zip(regexes, hints, strict=False))


def _type_hints(annotation: Any, seen: set[type]) -> dict[str, str]:
    """The pattern hints of the fields of `annotation`: a model, or any type built of models
    and Annotated types (lists, mappings, unions)."""
    out: dict[str, str] = {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return out
        seen.add(annotation)
        for info in annotation.model_fields.values():
            out.update(_field_hints(info))
            out.update(_type_hints(info.annotation, seen))
        return out
    if get_origin(annotation) is Annotated:
        for item in get_args(annotation)[1:]:
            if isinstance(item, FieldInfo):
                out.update(_field_hints(item))
    for arg in get_args(annotation):
        out.update(_type_hints(arg, seen))
    return out


@cache
def pattern_hints(model: type[BaseModel]) -> dict[str, str]:
    """regex -> its hint, for every pattern of `model` and the models it holds."""
    return _type_hints(model, set())


def describe_pattern(regex: str, model: type[BaseModel]) -> str:
    return pattern_hints(model).get(regex, f"a value matching {regex}")


# A regular expression Flux or kustomize evaluates is Go's regexp: RE2 syntax, checked with RE2
# itself (Python's `re` accepts lookaround, backreferences, possessive quantifiers, \Z; rejects
# (?<name>x) and \p{Greek}). Bounded: a longer one is a mistake, and costs time and memory.
GO_REGEX_MAX_LENGTH = 1024
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised, not written to stderr by RE2


def go_regex(value: str) -> str:
    """`value` if Go's regexp (RE2) compiles it, else ValueError saying why."""
    if not value:
        raise ValueError("expected a Go regular expression, got an empty one (matches everything)")
    if len(value) > GO_REGEX_MAX_LENGTH:
        raise ValueError(
            f"expected a Go regular expression of at most {GO_REGEX_MAX_LENGTH} characters, "
            f"got {len(value):,}"
        )
    try:
        re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "invalid"
        got = f"got {show(value)} (RE2: {reason})"
        raise ValueError(f"expected a Go regular expression, {got}") from None
    return value


def go_fullmatch(regex: str, text: str) -> bool:
    """Whether `regex` (a valid go_regex) matches all of `text`, as kustomize matches names."""
    return re2.fullmatch(regex, text, options=_RE2_OPTIONS) is not None


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ACCOUNT_ID = r"^[0-9]{12}$"
ROLE_ARN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
EKS_NAME = r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"
GITHUB_OWNER = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
GITHUB_REPO = r"^[A-Za-z0-9._-]{1,100}$"
GIT_BRANCH = r"^[A-Za-z0-9._/+-]{1,255}$"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
REL_PATH = r"^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,254}$"
FLUX_VERSION = r"^(2\.x|2\.(9|[1-9][0-9])\.(x|[0-9]+)|(~|\^|>=)2\.(9|[1-9][0-9])(\.[0-9]+)?)$"
SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+$"
TOLERATION_KEY = (
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def check_ref_format(value: str, what: str) -> str:
    """git check-ref-format rules that a character class cannot express, for a branch or tag
    name (`what`) written without its refs/ prefix."""
    if (
        value.startswith(("/", "-"))
        or value.endswith(("/", "."))
        or value == "HEAD"
        or "//" in value
        or ".." in value
        or any(part.startswith(".") or part.endswith(".lock") for part in value.split("/"))
    ):
        raise ValueError(f"expected a Git {what} name, got {show(value)}")
    return value


def _git_ref(value: str) -> str:
    """A branch name; a full ref (refs/tags/v1, refs/heads/main) refused: the branch is rendered
    as refs/heads/<it>."""
    if value.startswith("refs/"):
        raise ValueError(
            f"expected a branch name without refs/ (refs/heads/ is added), got {show(value)}"
            + ("; a tag is not a branch" if value.startswith("refs/tags/") else "")
        )
    return check_ref_format(value, "branch")


def _relative_path(value: str) -> str:
    parts = value.split("/")
    if ".." in parts or "" in parts[:-1]:
        raise ValueError(
            f"expected a relative path without '..' or empty segments, got \"{value}\""
        )
    return value.rstrip("/")


def _not_too_long(value: str) -> str:
    if len(value) > 63:
        raise ValueError(f"expected at most 63 characters, got {len(value)}")
    return value


Label = Annotated[
    str,
    pattern(DNS_LABEL, "an RFC 1123 label (lowercase letters, digits and '-', at most 63)"),
    AfterValidator(_not_too_long),
]
Subdomain = Annotated[
    str,
    pattern(DNS_SUBDOMAIN, "an RFC 1123 subdomain (lowercase letters, digits, '-' and '.')"),
    Field(max_length=253),
]
AccountId = Annotated[str, pattern(ACCOUNT_ID, "12 digits")]
RoleArn = Annotated[
    str, pattern(ROLE_ARN, "an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
]
EksClusterName = Annotated[str, pattern(EKS_NAME, "an EKS cluster name (letters, digits, - and _)")]
GithubOwner = Annotated[str, pattern(GITHUB_OWNER, "a GitHub organisation or user name")]
GithubRepository = Annotated[str, pattern(GITHUB_REPO, "a GitHub repository name")]
Branch = Annotated[str, pattern(GIT_BRANCH, "a Git branch name"), AfterValidator(_git_ref)]
Duration = Annotated[str, pattern(GO_DURATION, "a Go duration such as 30s, 1m or 1h30m")]
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """Seconds in a Go duration that matches GO_DURATION (1h30m -> 5400.0)."""
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def bounded_duration(low: str, high: str) -> Any:
    """An AfterValidator: a Duration from `low` to `high` (both Go durations), inclusive."""

    def check(value: str) -> str:
        if not duration_seconds(low) <= duration_seconds(value) <= duration_seconds(high):
            raise ValueError(f"expected a duration from {low} to {high}, got {value}")
        return value

    return AfterValidator(check)


RelPath = Annotated[
    str,
    pattern(REL_PATH, "a relative path without '..' or a leading '/'"),
    AfterValidator(_relative_path),
]
FluxVersion = Annotated[
    str,
    pattern(FLUX_VERSION, "a Flux 2.9+ version: exact (2.9.4) or a range (2.9.x, 2.x, >=2.9.0)"),
]
ChartVersion = Annotated[str, pattern(SEMVER, "an exact chart version such as 0.58.1")]
TolerationKey = Annotated[str, pattern(TOLERATION_KEY, "a Kubernetes taint key")]


def _region(value: str) -> str:
    if value not in aws_regions():
        close = difflib.get_close_matches(value, aws_regions(), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f'expected an AWS region code such as eu-west-1, got "{value}"{hint}')
    return value


Region = Annotated[
    str,
    Field(description="an AWS region code", json_schema_extra={"enum": list(aws_regions())}),
    AfterValidator(_region),
]
CoreComponent = Literal[
    "source-controller", "kustomize-controller", "helm-controller", "notification-controller"
]
ExtraComponent = Literal[
    "image-reflector-controller", "image-automation-controller", "source-watcher"
]
KeyAlgorithm = Literal["ED25519", "ECDSA-P256", "ECDSA-P384", "RSA-4096"]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


def unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes = sorted({v for v in values if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"expected each entry once, got {', '.join(dupes)} more than once")
    return values


def field_error(loc: tuple[int | str, ...], value: Any, message: str) -> dict[str, Any]:
    """One error of a model validator, at `loc` under the model (for ValidationError's
    from_exception_data): reported as that field's problem, not the whole model's."""
    error = ValueError(message)
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": error}}


def role_in_account(account_id: str, role_arn: str | None, model: str) -> None:
    """The AWS provider is locked to accountId (allowedAccountIds): a role of another account
    would be assumed and then refused. Raises the ValidationError of `roleArn`."""
    role_account = role_arn.split(":")[4] if role_arn else account_id
    if role_account != account_id:
        message = (
            f"expected a role in account {account_id} (accountId), got one in account "
            f"{role_account}"
        )
        error = field_error(("roleArn",), role_arn, message)
        raise ValidationError.from_exception_data(model, [error])  # type: ignore[list-item]


# --- Kubernetes labels -----------------------------------------------------------------------

LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if len(name) > 63 or len(prefix) > 253:
        raise ValueError(
            "expected a label key with a name of at most 63 characters and a prefix of at "
            f'most 253, got "{value}"'
        )
    return value


LabelKey = Annotated[
    str,
    pattern(LABEL_KEY, "a Kubernetes label key such as grafana_dashboard or example.com/name"),
    AfterValidator(_label_key),
]
LabelValue = Annotated[
    str,
    pattern(LABEL_VALUE, "a Kubernetes label value (letters, digits, '-', '_', '.')"),
    Field(max_length=63),
]


def partition_of(region: str) -> str:
    """The AWS partition of a region: ARNs and cross-account grants never cross it."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# An ECR registry host (and the path after it): what an image, chart or artifact reference on
# ECR starts with. ECR needs no pull Secret: the nodes' role and ECR tokens pull from it.
ECR_REGISTRY = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?"
    r"(/(?P<path>.+))?$"
)


def ecr_location(reference: str) -> tuple[str, str, str] | None:
    """(account, region, path) of an image registry, image repository or `oci://` chart or
    artifact on ECR; None for any other registry."""
    found = ECR_REGISTRY.match(reference.removeprefix("oci://"))
    if found is None:
        return None
    return found["account"], found["region"], found["path"] or ""
