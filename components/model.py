"""The cluster definition: the product's main interface.

Field names match the YAML (camelCase aliases), constraints sit on the fields, unknown keys are
forbidden and values are never coerced (a quoted "1" is not an integer, 1 is not a string).
The JSON Schema in k8s-clusters/cluster.schema.json is generated from these models.

This module must stay light: `fluxfleet validate` imports it without Pulumi.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic.alias_generators import to_camel

API_VERSION = "flux-fleet/v1"
DATA_DIR = Path(__file__).parent / "data"

# Pinned by the project: Flux 2.9 and the Flux Operator release that embeds it (README, "The cluster
# definition"; the CRDs the tests check against are listed in tests/upstream/SOURCES).
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
        None,
        description="a role to assume to reach the account and the cluster (in accountId)",
    )

    @model_validator(mode="after")
    def _role_in_the_account(self) -> AwsSpec:
        role_in_account(self.account_id, self.role_arn, "AwsSpec")
        return self


def role_in_account(account_id: str, role_arn: str | None, model: str) -> None:
    """The AWS provider is locked to accountId (allowedAccountIds): a role of another account
    would be assumed and then refused. Raises the ValidationError of `roleArn`."""
    role_account = role_arn.split(":")[4] if role_arn else account_id
    if role_account != account_id:
        message = (
            f"expected a role in account {account_id} (accountId), got one in account "
            f"{role_account}"
        )
        error = _app_error(("roleArn",), role_arn, message)
        raise ValidationError.from_exception_data(model, [error])  # type: ignore[list-item]


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
    ] = Field(
        default_factory=lambda: cast("list[CoreComponent]", list(CORE_COMPONENTS)),
        min_length=1,
    )
    components_extra: Annotated[list[ExtraComponent], AfterValidator(_unique)] = Field(
        default_factory=list
    )
    size: Literal["small", "medium", "large"] = "medium"
    network_policy: bool = True
    toleration_keys: Annotated[list[TolerationKey], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=20
    )
    deploy_key: DeployKeySpec = Field(default_factory=DeployKeySpec)
    adopt: bool = Field(
        False,
        description="take over a cluster bootstrapped by flux bootstrap or the Terraform "
        "provider: the flux-system namespace and Secret are adopted, not recreated "
        "(needs spec.git.path: the path the bootstrap syncs)",
    )

    @property
    def all_components(self) -> list[str]:
        return [*self.components, *self.components_extra]

    @property
    def pushes_to_git(self) -> bool:
        """image-automation-controller commits image updates: only then is the key read-write."""
        return "image-automation-controller" in self.components_extra


# --- alerts and monitoring (Slack alerts, Grafana dashboards, Prometheus scraping) -------------

# Alert.spec.eventSources[].kind of notification-controller v1beta3, plus FluxInstance, which the
# operator adds to the Alert CRD's enum when it installs Flux.
FluxEventKind = Literal[
    "FluxInstance",
    "Kustomization",
    "HelmRelease",
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "ArtifactGenerator",
    "ExternalArtifact",
]
EVENT_SOURCE_NAME = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
SLACK_CHANNEL = r"^#?[^\s#,]{1,80}$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# RE2 (Go's regexp, which notification-controller uses) has no lookaround and no backreferences.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|(?<!\\)\\[1-9]")
# Go accepts flag groups such as (?i) anywhere; Python only at the start: drop them to check syntax.
_GO_FLAGS = re.compile(r"\(\?[imsU]+\)")


def _go_regex(value: str) -> str:
    if not value:
        raise ValueError("expected a Go regular expression, got an empty one (matches every event)")
    try:
        re.compile(_GO_FLAGS.sub("", value))
    except re.error as exc:
        raise ValueError(f'expected a Go regular expression, got "{value}" ({exc})') from None
    if _NOT_RE2.search(value):
        raise ValueError(
            "expected a Go (RE2) regular expression without lookaround or backreferences, "
            f'got "{value}"'
        )
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if len(name) > 63 or len(prefix) > 253:
        raise ValueError(
            "expected a label key with a name of at most 63 characters and a prefix of at "
            f'most 253, got "{value}"'
        )
    return value


EventSourceName = Annotated[
    str,
    _pattern(EVENT_SOURCE_NAME, 'a Kubernetes object name, or "*" for every object of the kind'),
    Field(max_length=253),
]
SlackChannel = Annotated[
    str, _pattern(SLACK_CHANNEL, "a Slack channel such as #flux-alerts, or a channel ID")
]
GoRegex = Annotated[str, AfterValidator(_go_regex)]
LabelKey = Annotated[
    str,
    _pattern(LABEL_KEY, "a Kubernetes label key such as grafana_dashboard or example.com/name"),
    AfterValidator(_label_key),
]
LabelValue = Annotated[
    str,
    _pattern(LABEL_VALUE, "a Kubernetes label value (letters, digits, '-', '_', '.')"),
    Field(max_length=63),
]


class EventSource(Model):
    kind: FluxEventKind
    name: EventSourceName = Field("*", description='the object\'s name; default "*" (every one)')
    namespace: Label | None = Field(None, description="default: flux-system (the Alert's)")
    match_labels: dict[LabelKey, LabelValue] | None = Field(
        None, description='only objects with these labels (needs name "*")'
    )

    @model_validator(mode="after")
    def _labels_need_wildcard(self) -> EventSource:
        if self.match_labels and self.name != "*":
            raise ValueError(f'expected name "*" with matchLabels, got "{self.name}"')
        return self


def _default_event_sources() -> list[EventSource]:
    kinds = ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
    return [
        *(EventSource.model_validate({"kind": kind, "name": "*"}) for kind in kinds),
        # The operator reconciles exactly one FluxInstance, named flux.
        EventSource.model_validate({"kind": "FluxInstance", "name": "flux"}),
    ]


class SlackAlerts(Model):
    enabled: bool | None = Field(None, description="default: true when a channel is set")
    channel: SlackChannel | None = Field(
        None, description="the Slack channel Flux posts to, such as #flux-alerts"
    )
    severity: Literal["error", "info"] = Field(
        "error", description="error: failures only; info: every event"
    )
    event_sources: list[EventSource] = Field(
        default_factory=_default_event_sources,
        min_length=1,
        max_length=100,
        description="default: every Kustomization, HelmRelease, GitRepository and OCIRepository "
        "in flux-system, and the FluxInstance flux",
    )
    exclusion_list: list[GoRegex] = Field(
        default_factory=list,
        max_length=100,
        description="Go regular expressions; events whose message matches one are not sent",
    )

    @model_validator(mode="after")
    def _channel_when_enabled(self) -> SlackAlerts:
        if self.enabled and self.channel is None:
            raise ValueError("expected a channel (such as #flux-alerts) when enabled is true")
        return self

    @property
    def is_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else self.channel is not None


class Alerts(Model):
    slack: SlackAlerts = Field(default_factory=SlackAlerts)


class Monitoring(Model):
    grafana_dashboards: bool = Field(
        True, description="ship the Flux Grafana dashboards as ConfigMaps"
    )
    namespace: Label = Field(
        "monitoring",
        description="where the dashboard ConfigMaps go; must exist (the Grafana stack owns it)",
    )
    dashboard_label: dict[LabelKey, LabelValue] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        min_length=1,
        description="the label Grafana's dashboard sidecar looks for",
    )
    prometheus: bool = Field(
        True,
        description="scrape the Flux controllers (PodMonitor) and the operator (ServiceMonitor); "
        "needs the prometheus-operator CRDs in the cluster",
    )


# Names an application repository cannot take: the FluxInstance's own sync objects
# (flux-system), the `apps` Kustomization and its apps.yaml, and the folder's kustomization.yaml.
RESERVED_APP_NAMES = frozenset({"flux-system", "apps", "kustomization"})
FLEET_SECRET_NAME = "flux-system"  # the fleet key's Secret (manifests.FLUX_SECRET_NAME)


def _not_reserved_app(name: str) -> str:
    if name in RESERVED_APP_NAMES:
        raise ValueError(
            f'"{name}" is used by the cluster folder itself, expected another name '
            f"(not {', '.join(sorted(RESERVED_APP_NAMES))})"
        )
    return name


def _not_fleet_secret(name: str) -> str:
    if name == FLEET_SECRET_NAME:
        raise ValueError(
            f'"{name}" is the fleet repository\'s Secret, expected another name '
            "(default: <name>-deploykey)"
        )
    return name


class AppRepository(Model):
    """An application repository Flux pulls with a deploy key of its own (spec.apps[])."""

    name: Annotated[Label, AfterValidator(_not_reserved_app)] = Field(
        description="the GitRepository and Kustomization name, unique within the cluster",
        json_schema_extra={"not": {"enum": cast("list[Any]", sorted(RESERVED_APP_NAMES))}},
    )
    owner: GithubOwner | None = Field(None, description="default: spec.git.owner")
    repository: GithubRepository
    branch: Branch = "main"
    path: RelPath = Field(description="the path inside that repository Flux applies")
    interval: Duration = "1m"
    secret_name: Annotated[Subdomain, AfterValidator(_not_fleet_secret)] | None = Field(
        None,
        description="the Secret in flux-system with the key; default: <name>-deploykey",
        json_schema_extra={"not": {"const": FLEET_SECRET_NAME}},
    )

    @property
    def pull_secret(self) -> str:
        """The Secret holding this repository's key: secretName, or <name>-deploykey."""
        return self.secret_name or f"{self.name}-deploykey"

    def owner_or(self, fleet_owner: str) -> str:
        """The repository's owner: its own, or the fleet repository's (spec.git.owner)."""
        return self.owner or fleet_owner


def _app_error(loc: tuple[int | str, ...], value: Any, message: str) -> dict[str, Any]:
    error = ValueError(message)
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": error}}


def _apps_consistent(
    apps: list[AppRepository] | None, info: ValidationInfo
) -> list[AppRepository] | None:
    """Unique names and Secrets, and never the fleet repository itself; each error names
    the entry's field (spec.apps[1].secretName), not the whole list."""
    if not apps:
        return apps
    git = info.data.get("git")
    fleet_owner = getattr(git, "owner", None)
    fleet_repo = getattr(git, "repository", None)
    errors: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    secrets: dict[str, int] = {}
    for i, app in enumerate(apps):
        if app.name in names:
            errors.append(
                _app_error(
                    (i, "name"),
                    app.name,
                    f'"{app.name}" is already the name of spec.apps[{names[app.name]}], '
                    "expected each name once",
                )
            )
        names.setdefault(app.name, i)
        secret = app.pull_secret
        if secret in secrets:
            default = "" if app.secret_name else " (the default <name>-deploykey)"
            errors.append(
                _app_error(
                    (i, "secretName"),
                    secret,
                    f'"{secret}"{default} is already the Secret of spec.apps[{secrets[secret]}], '
                    "expected one Secret per application repository",
                )
            )
        secrets.setdefault(secret, i)
        owner = app.owner_or(fleet_owner or "")
        if (
            fleet_owner
            and fleet_repo
            and owner.casefold() == str(fleet_owner).casefold()
            and app.repository.casefold() == str(fleet_repo).casefold()
        ):
            errors.append(
                _app_error(
                    (i, "repository"),
                    app.repository,
                    f"{owner}/{app.repository} is the fleet repository (spec.git), expected "
                    "another repository: the fleet repository is synced already, "
                    "with the flux-system key",
                )
            )
    if errors:
        raise ValidationError.from_exception_data("AppRepository", errors)  # type: ignore[arg-type]
    return apps


Apps = Annotated[list[AppRepository], AfterValidator(_apps_consistent)]


# --- ECR pulls (spec.ecr): what the cluster pulls from the registries of _registries.yaml ------

ECR_REPOSITORY = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
ECR_REPOSITORY_NAME = rf"^{ECR_REPOSITORY}$"
ECR_REPOSITORY_REF = rf"^{ECR_REPOSITORY}(?:/\*)?$"
IAM_ROLE_NAME = r"^[A-Za-z0-9+=,.@_-]{1,64}$"

RepositoryName = Annotated[
    str,
    _pattern(
        ECR_REPOSITORY_NAME,
        "an ECR repository name such as api or team/api (lowercase letters, digits, '.', '_', "
        "'-' and '/')",
    ),
    Field(min_length=2, max_length=256),
]
RepositoryRef = Annotated[
    str,
    _pattern(
        ECR_REPOSITORY_REF,
        "an ECR repository name such as api or team/api, or a prefix ending in /* such as "
        "platform/*",
    ),
    Field(min_length=2, max_length=258),
]
IamRoleName = Annotated[
    str, _pattern(IAM_ROLE_NAME, "an IAM role name (letters, digits and +=,.@_-, at most 64)")
]


def _one_entry_per_registry(pulls: list[EcrPull]) -> list[EcrPull]:
    _unique([pull.registry for pull in pulls])
    return pulls


class EcrPull(Model):
    registry: Label = Field(description="a registry name from k8s-clusters/_registries.yaml")
    repositories: Annotated[list[RepositoryRef], AfterValidator(_unique)] = Field(
        min_length=1,
        max_length=100,
        description="repository names, or prefixes ending in /* (granted on the registry's "
        "repositories they match)",
    )


class EcrSpec(Model):
    pull: Annotated[list[EcrPull], AfterValidator(_one_entry_per_registry)] = Field(
        default_factory=list, max_length=20, description="what the cluster pulls, per registry"
    )
    node_role_names: Annotated[list[IamRoleName], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=10,
        description="node roles in the cluster account that get the pull permissions",
    )
    oci_sources: bool = Field(
        False,
        description="source-controller pulls OCI artifacts or Helm OCI charts from these "
        "repositories (it gets an IRSA role)",
    )


class ClusterSpec(Model):
    aws: AwsSpec
    alerts: Alerts = Field(default_factory=Alerts)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    git: GitSpec
    ecr: EcrSpec = Field(default_factory=EcrSpec)
    flux: FluxSpec = Field(default_factory=FluxSpec)
    apps: Apps = Field(
        default_factory=list, description="application repositories, each with its own key"
    )

    @model_validator(mode="after")
    def _adopt_keeps_the_bootstrap_path(self) -> ClusterSpec:
        """A takeover keeps the bootstrap's flux-system Kustomization (prune: true): syncing any
        other folder would prune what the bootstrap folder applied, so the path is stated."""
        if self.flux.adopt and self.git.path is None:
            message = (
                "required when spec.flux.adopt is true: expected the path the bootstrap syncs "
                "(flux bootstrap --path, such as clusters/my-cluster); another folder would make "
                "the flux-system Kustomization prune what the bootstrap applied"
            )
            error = _app_error(("git", "path"), None, message)
            raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]
        return self


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

    # A file's spec may leave any field to _defaults.yaml, so the editor schema of the Cluster
    # kind checks names, types and values but not required-ness (validate does, after merging).
    cluster_file = create_model(
        "Cluster",
        __base__=Model,
        __doc__=Cluster.__doc__,
        api_version=(cast(Any, Literal["flux-fleet/v1"]), ...),
        kind=(cast(Any, Literal["Cluster"]), ...),
        metadata=(ClusterMetadata, ...),
        spec=(ClusterSpecDefaults, ...),
    )
    from .registries_model import Registries  # kind Registries: k8s-clusters/_registries.yaml

    _, defs = models_json_schema(
        [(cluster_file, "validation"), (ClusterDefaults, "validation"), (Registries, "validation")],
        ref_template="#/$defs/{model}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flux-fleet.invalid/cluster.schema.json",
        "title": "flux-fleet cluster definition",
        "oneOf": [
            {"$ref": "#/$defs/Cluster"},
            {"$ref": "#/$defs/ClusterDefaults"},
            {"$ref": "#/$defs/Registries"},
        ],
        "$defs": _without_null(defs["$defs"]),
    }


def _without_null(schema: Any) -> Any:
    """`schema` with null taken out of every `anyOf`: an explicit null is an error (validate says
    so; a `# comment` where a value was meant is the usual cause), so editors flag it too."""
    if isinstance(schema, list):
        return [_without_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_null(v) for k, v in schema.items()}
    if "anyOf" in out:
        kept = [s for s in out["anyOf"] if s != {"type": "null"}]
        if len(kept) == 1:
            del out["anyOf"]
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
        if out.get("default", 0) is None:
            del out["default"]
    return out


def describe_pattern(regex: str) -> str:
    return PATTERN_HINTS.get(regex, f"a value matching {regex}")
