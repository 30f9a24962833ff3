"""The cluster definition: the product's main interface.

Field names match the YAML (camelCase aliases), constraints sit on the fields, unknown keys are
forbidden and values are never coerced (a quoted "1" is not an integer, 1 is not a string).
The JSON Schema in k8s-clusters/cluster.schema.json is generated from these models.

This module must stay light: `fluxfleet validate` imports it without Pulumi.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
)
from pydantic.alias_generators import to_camel

API_VERSION = "flux-fleet/v1"
DATA_DIR = Path(__file__).parent / "data"

# Pinned by the project (../shared/reference/flux.md): Flux 2.9 and the operator that embeds it.
DEFAULT_FLUX_VERSION = "2.9.x"
DEFAULT_OPERATOR_VERSION = "0.58.1"
CORE_COMPONENTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
EXTRA_COMPONENTS = ("image-reflector-controller", "image-automation-controller", "source-watcher")
REQUIRED_COMPONENTS = ("source-controller", "kustomize-controller")
# Stack names the program uses for something other than a cluster.
RESERVED_NAMES = frozenset({"registries"})


@cache
def aws_regions() -> tuple[str, ...]:
    lines = (DATA_DIR / "aws-regions.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


# --- constrained scalar types -------------------------------------------------------------
# Every pattern carries the human phrase used in error messages ("expected <hint>").
PATTERN_HINTS: dict[str, str] = {}


def _pattern(regex: str, hint: str, **field: Any) -> Any:
    PATTERN_HINTS[regex] = hint
    return Field(pattern=regex, description=field.pop("description", hint), **field)


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


def _git_ref(value: str) -> str:
    """git check-ref-format rules that a character class cannot express."""
    if (
        value.startswith(("/", "-"))
        or value.endswith(("/", ".", ".lock"))
        or "//" in value
        or ".." in value
        or any(part.startswith(".") for part in value.split("/"))
    ):
        raise ValueError(f'expected a Git branch name, got "{value}"')
    return value


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
    _pattern(DNS_LABEL, "an RFC 1123 label (lowercase letters, digits and '-', at most 63)"),
    AfterValidator(_not_too_long),
]
Subdomain = Annotated[
    str,
    _pattern(DNS_SUBDOMAIN, "an RFC 1123 subdomain (lowercase letters, digits, '-' and '.')"),
    Field(max_length=253),
]
AccountId = Annotated[str, _pattern(ACCOUNT_ID, "12 digits")]
RoleArn = Annotated[
    str, _pattern(ROLE_ARN, "an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
]
EksClusterName = Annotated[
    str, _pattern(EKS_NAME, "an EKS cluster name (letters, digits, - and _)")
]
GithubOwner = Annotated[str, _pattern(GITHUB_OWNER, "a GitHub organisation or user name")]
GithubRepository = Annotated[str, _pattern(GITHUB_REPO, "a GitHub repository name")]
Branch = Annotated[str, _pattern(GIT_BRANCH, "a Git branch name"), AfterValidator(_git_ref)]
Duration = Annotated[str, _pattern(GO_DURATION, "a Go duration such as 30s, 1m or 1h30m")]
RelPath = Annotated[
    str,
    _pattern(REL_PATH, "a relative path without '..' or a leading '/'"),
    AfterValidator(_relative_path),
]
FluxVersion = Annotated[
    str,
    _pattern(FLUX_VERSION, "a Flux 2.9+ version: exact (2.9.4) or a range (2.9.x, 2.x, >=2.9.0)"),
]
ChartVersion = Annotated[str, _pattern(SEMVER, "an exact chart version such as 0.58.1")]
TolerationKey = Annotated[str, _pattern(TOLERATION_KEY, "a Kubernetes taint key")]


def _region(value: str) -> str:
    if value not in aws_regions():
        raise ValueError(f'expected an AWS region code such as eu-west-1, got "{value}"')
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


def _unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes = sorted({v for v in values if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"expected each entry once, got {', '.join(dupes)} more than once")
    return values


def _has_required(components: list[str]) -> list[str]:
    missing = [c for c in REQUIRED_COMPONENTS if c not in components]
    if missing:
        raise ValueError(
            f"expected to include {' and '.join(REQUIRED_COMPONENTS)}, missing {', '.join(missing)}"
        )
    return components


def _not_reserved(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(f'"{name}" is reserved for the {name} stack, expected another name')
    return name


# --- the definition -------------------------------------------------------------------------


class AwsSpec(Model):
    account_id: AccountId
    region: Region
    eks_cluster_name: EksClusterName | None = Field(
        None, description="the EKS cluster's name; default: metadata.name"
    )
    role_arn: RoleArn | None = Field(
        None, description="a role to assume to reach the account and the cluster"
    )


class GitSpec(Model):
    owner: GithubOwner
    repository: GithubRepository
    branch: Branch = "main"
    path: RelPath | None = Field(None, description="default: flux/clusters/<metadata.name>")
    interval: Duration = "1m"


class DeployKeySpec(Model):
    algorithm: KeyAlgorithm = "ECDSA-P384"
    rotation: int = Field(1, ge=1, le=10_000, description="bump to rotate the key pair")


class FluxSpec(Model):
    version: FluxVersion = DEFAULT_FLUX_VERSION
    operator_version: ChartVersion = DEFAULT_OPERATOR_VERSION
    components: Annotated[
        list[CoreComponent], AfterValidator(_unique), AfterValidator(_has_required)
    ] = Field(default_factory=lambda: list(CORE_COMPONENTS), min_length=1)
    components_extra: Annotated[list[ExtraComponent], AfterValidator(_unique)] = Field(
        default_factory=list
    )
    size: Literal["small", "medium", "large"] = "medium"
    network_policy: bool = True
    toleration_keys: Annotated[list[TolerationKey], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=20
    )
    deploy_key: DeployKeySpec = Field(default_factory=DeployKeySpec)

    @property
    def all_components(self) -> list[str]:
        return [*self.components, *self.components_extra]

    @property
    def pushes_to_git(self) -> bool:
        """image-automation-controller commits image updates: only then is the key read-write."""
        return "image-automation-controller" in self.components_extra


class ClusterSpec(Model):
    aws: AwsSpec
    git: GitSpec
    flux: FluxSpec = Field(default_factory=FluxSpec)


class ClusterMetadata(Model):
    name: Annotated[Label, AfterValidator(_not_reserved)]
    environment: Label = Field(description="the overlay flux/apps/<environment> this cluster runs")


class Cluster(Model):
    """kind: Cluster — one file k8s-clusters/<name>.yaml per cluster, one Pulumi stack."""

    api_version: Literal["flux-fleet/v1"]
    kind: Literal["Cluster"]
    metadata: ClusterMetadata
    spec: ClusterSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def eks_cluster_name(self) -> str:
        return self.spec.aws.eks_cluster_name or self.metadata.name

    @property
    def git_path(self) -> str:
        return self.spec.git.path or f"flux/clusters/{self.metadata.name}"

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two definitions the same EKS cluster."""
        return (self.spec.aws.account_id, self.spec.aws.region, self.eks_cluster_name)


# --- fleet-wide defaults: the same spec shape, every field optional --------------------------


def _partial(model: type[BaseModel], seen: dict[type, type]) -> type[BaseModel]:
    """A copy of `model` whose fields are all optional (nested models made partial too)."""
    if model in seen:
        return seen[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation, seen)
        optional: Any = annotation | None  # type: ignore[operator]
        if info.metadata:
            optional = Annotated[optional, *info.metadata]
        fields[name] = (optional, Field(None, description=info.description))
    partial = create_model(f"{model.__name__}Defaults", __base__=Model, **fields)
    seen[model] = partial
    return partial


ClusterSpecDefaults = _partial(ClusterSpec, {})


class ClusterDefaults(Model):
    """kind: ClusterDefaults — k8s-clusters/_defaults.yaml, deep-merged under every cluster."""

    api_version: Literal["flux-fleet/v1"]
    kind: Literal["ClusterDefaults"]
    spec: ClusterSpecDefaults = Field(default_factory=ClusterSpecDefaults)  # type: ignore[valid-type]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both kinds, committed as k8s-clusters/cluster.schema.json."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema(
        [(Cluster, "validation"), (ClusterDefaults, "validation")],
        ref_template="#/$defs/{model}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flux-fleet.invalid/cluster.schema.json",
        "title": "flux-fleet cluster definition",
        "oneOf": [{"$ref": "#/$defs/Cluster"}, {"$ref": "#/$defs/ClusterDefaults"}],
        "$defs": defs["$defs"],
    }


def describe_pattern(regex: str) -> str:
    return PATTERN_HINTS.get(regex, f"a value matching {regex}")
