"""kind Cluster: the cluster definition, the product's main interface.

Field names match the YAML (camelCase aliases), constraints sit on the fields, unknown keys are
forbidden and values are never coerced (a quoted "1" is not an integer, 1 is not a string).
The JSON Schema in k8s-clusters/cluster.schema.json is generated from these models
(definition/schema.py). No I/O, no Pulumi: `fluxfleet validate` imports this.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.definition.alerts import Alerts, Monitoring
from components.definition.apps import Apps
from components.definition.ecr import EcrSpec
from components.definition.types import (
    AccountId,
    Branch,
    ChartVersion,
    CoreComponent,
    Duration,
    EksClusterName,
    ExtraComponent,
    FluxVersion,
    GithubOwner,
    GithubRepository,
    KeyAlgorithm,
    Label,
    Model,
    Region,
    RelPath,
    RoleArn,
    TolerationKey,
    field_error,
    role_in_account,
    unique,
)
from components.names import FLUX_CLUSTERS_DIR, REGISTRIES_STACK

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
REQUIRED_COMPONENTS = ("source-controller", "kustomize-controller")
# Stack names the program uses for something other than a cluster.
RESERVED_NAMES = frozenset({REGISTRIES_STACK})


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
        list[CoreComponent], AfterValidator(unique), AfterValidator(_has_required)
    ] = Field(
        default_factory=lambda: cast("list[CoreComponent]", list(CORE_COMPONENTS)),
        min_length=1,
    )
    components_extra: Annotated[list[ExtraComponent], AfterValidator(unique)] = Field(
        default_factory=list
    )
    size: Literal["small", "medium", "large"] = "medium"
    network_policy: bool = True
    toleration_keys: Annotated[list[TolerationKey], AfterValidator(unique)] = Field(
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
            error = field_error(("git", "path"), None, message)
            raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]
        return self


class ClusterMetadata(Model):
    name: Annotated[Label, AfterValidator(_not_reserved)]
    environment: Label = Field(description="the overlay flux/apps/<environment> this cluster runs")


class Cluster(Model):
    """kind: Cluster — one file k8s-clusters/<name>.yaml per cluster, one Pulumi stack."""

    api_version: Literal["flux-fleet/v1"]  # names.API_VERSION
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
        return self.spec.git.path or f"{FLUX_CLUSTERS_DIR}/{self.metadata.name}"

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two definitions the same EKS cluster."""
        return (self.spec.aws.account_id, self.spec.aws.region, self.eks_cluster_name)
