"""kind Cluster: the cluster definition, the product's main interface.

Field names match the YAML (camelCase aliases), constraints sit on the fields, unknown keys are
forbidden and values are never coerced (a quoted "1" is not an integer, 1 is not a string).
The JSON Schema in k8s-clusters/cluster.schema.json is generated from these models
(definition/schema.py). No I/O, no Pulumi: `fluxfleet validate` imports this.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.definition.alerts import AlertRule, Alerts, Monitoring
from components.definition.apps import Apps
from components.definition.ecr import EcrSpec
from components.definition.flux import NOTIFICATION_CONTROLLER, FluxSpec
from components.definition.git_host import GITHUB_HOST, GitHost
from components.definition.git_ref import OneRef
from components.definition.rollout import Wave
from components.definition.secrets import SecretSource
from components.definition.sops import SopsSpec, key_partition
from components.definition.sources import ARTIFACT_ROOT, OCI, SyncSource
from components.definition.types import (
    AccountId,
    Duration,
    EksClusterName,
    GithubOwner,
    GithubRepository,
    Label,
    Model,
    Region,
    RelPath,
    RoleArn,
    field_error,
    partition_of,
    pattern,
    role_in_account,
)
from components.names import FLUX_CLUSTERS_DIR, FLUX_NAMESPACE, FLUX_SECRET_NAME, REGISTRIES_STACK

# Stack names the program uses for something other than a cluster.
RESERVED_NAMES = frozenset({REGISTRIES_STACK})


def _not_reserved(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(f'"{name}" is reserved for the {name} stack, expected another name')
    return name


PRINCIPAL_ARN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$"
PrincipalArn = Annotated[
    str,
    pattern(PRINCIPAL_ARN, "an IAM role or user ARN (arn:aws:iam::<12 digits>:role/<name>)"),
]
EKS_ACCESS_POLICIES = (
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
)


class AccessEntry(Model):
    """An EKS access entry for the principal that runs `pulumi up` (the cluster-wide policy)."""

    principal_arn: PrincipalArn = Field(description="the deployer's role (or user)")
    policy: Literal[EKS_ACCESS_POLICIES] = Field(  # type: ignore[valid-type]
        "AmazonEKSClusterAdminPolicy",
        description="an EKS access policy, cluster-wide; installing Flux needs cluster admin",
    )


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
    workload_identity: Literal["irsa", "podIdentity"] = Field(
        "irsa",
        description="how Flux controllers get their AWS roles: IRSA (the cluster's OIDC "
        "provider) or EKS Pod Identity (needs the eks-pod-identity-agent add-on)",
    )
    access_entry: AccessEntry | None = Field(
        None,
        description="create the EKS access entry of the deployer (not for the cluster's creator, "
        "which has access already)",
    )
    flux_on_fargate: bool = Field(
        False,
        description="the Flux controllers run on AWS Fargate (a Fargate profile selects "
        "flux-system): their images are pulled with the pod execution role (list it in "
        "spec.ecr.nodeRoleNames), and their AWS roles need IRSA (no Pod Identity on Fargate)",
    )

    @model_validator(mode="after")
    def _role_in_the_account(self) -> AwsSpec:
        role_in_account(self.account_id, self.role_arn, "AwsSpec")
        return self

    @model_validator(mode="after")
    def _no_pod_identity_on_fargate(self) -> AwsSpec:
        # EKS user guide, "EKS Pod Identity restrictions": pods on Fargate are not supported.
        if self.flux_on_fargate and self.workload_identity == "podIdentity":
            message = (
                "EKS Pod Identity does not work for pods on AWS Fargate, and fluxOnFargate says "
                "the Flux controllers run there: expected irsa"
            )
            error = field_error(("workloadIdentity",), self.workload_identity, message)
            raise ValidationError.from_exception_data("AwsSpec", [error])  # type: ignore[list-item]
        return self


class GithubApp(Model):
    """The fleet's GitHub App, for every cluster (in _defaults.yaml) instead of each stack's
    config; stack config (githubAppId, githubAppInstallationId, githubAppPrivateKey) wins."""

    app_id: Annotated[int, Field(ge=1)] | None = Field(None, description="the App's ID")
    installation_id: Annotated[int, Field(ge=1)] | None = Field(
        None, description="its installation on the repositories' owner"
    )
    installation_owner: GithubOwner | None = Field(
        None,
        description="instead of installationId: the owner the App is installed on (Flux looks "
        "the installation up)",
    )
    private_key_from: SecretSource | None = Field(
        None, description="its private key (PEM), read from AWS at apply time"
    )

    @model_validator(mode="after")
    def _one_installation(self) -> GithubApp:
        # Flux refuses a Secret with both (fluxcd/pkg runtime/secrets GitHubAppDataFromSecret).
        if self.installation_id is not None and self.installation_owner is not None:
            message = "set with installationId: expected one of them (Flux refuses both)"
            error = field_error(("installationOwner",), self.installation_owner, message)
            raise ValidationError.from_exception_data("GithubApp", [error])  # type: ignore[list-item]
        return self


class GitSpec(OneRef):
    owner: GithubOwner
    repository: GithubRepository
    path: RelPath | None = Field(None, description="default: flux/clusters/<metadata.name>")
    interval: Duration = "1m"
    auth: Literal["deployKey", "githubApp"] = Field(
        "deployKey",
        description="how Flux pulls: a deploy key per cluster and repository (SSH), or the "
        "fleet's GitHub App (HTTPS; its credentials in stack config)",
    )

    github_app: GithubApp | None = Field(
        None, description="the App's IDs and where its key is (with auth githubApp)"
    )
    host: GitHost | None = Field(
        None,
        description="the GitHub the repositories are on; default github.com. A GitHub "
        "Enterprise Server needs its SSH host keys",
    )

    @property
    def uses_github_app(self) -> bool:
        return self.auth == "githubApp"

    @property
    def hostname(self) -> str:
        return self.host.hostname if self.host is not None else GITHUB_HOST

    @property
    def enterprise_host(self) -> GitHost | None:
        """The GitHub Enterprise Server, or None for github.com."""
        return self.host if self.host is not None and not self.host.is_github_com else None


class ClusterSpec(Model):
    aws: AwsSpec
    alerts: Alerts = Field(default_factory=Alerts)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    git: GitSpec
    sync: SyncSource | None = Field(
        None, description="what the cluster syncs from; default: the fleet repository (spec.git)"
    )
    ecr: EcrSpec = Field(default_factory=EcrSpec)
    flux: FluxSpec = Field(default_factory=FluxSpec)
    apps: Apps = Field(
        default_factory=list, description="application repositories, each with its own key"
    )
    sops: SopsSpec | None = Field(
        None, description="decrypt SOPS secrets of the repository with AWS KMS keys"
    )

    @model_validator(mode="after")
    def _keys_in_the_clusters_partition(self) -> ClusterSpec:
        partition = partition_of(self.aws.region)
        errors = [
            field_error(
                ("sops", "kmsKeyArns", i),
                arn,
                f"a key of partition {key_partition(arn)}, expected one of the cluster's "
                f"({partition})",
            )
            for i, arn in enumerate(self.sops.kms_key_arns if self.sops else [])
            if key_partition(arn) != partition
        ]
        if errors:
            raise ValidationError.from_exception_data("ClusterSpec", errors)  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _alerts_need_notification_controller(self) -> ClusterSpec:
        """The operator installs only the listed components' CRDs: without notification-controller
        the Provider and Alert fail at `pulumi up` ("no matches for kind")."""
        if not self.alerts.any or NOTIFICATION_CONTROLLER in self.flux.components:
            return self
        on, off = (
            ("spec.alerts.slack (a channel is set)", "spec.alerts.slack.enabled: false")
            if self.alerts.slack.is_enabled
            else ("spec.alerts.routes", "no routes")
            if self.alerts.routes
            else ("spec.alerts.providers", "no providers")
        )
        message = (
            f"{NOTIFICATION_CONTROLLER} is not in the list while {on} is on: its Provider and "
            f"Alert need the CRDs only {NOTIFICATION_CONTROLLER} installs, expected "
            f"{NOTIFICATION_CONTROLLER} in spec.flux.components, or {off}"
        )
        error = field_error(("flux", "components"), self.flux.components, message)
        raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]

    @model_validator(mode="after")
    def _fargate_pulls_with_a_listed_role(self) -> ClusterSpec:
        """On Fargate the pod execution role pulls the controller images: from an ECR mirror it
        needs the pull policy that spec.ecr.nodeRoleNames gives (EKS user guide, pod execution
        role), or the controllers never start."""
        registry = self.flux.registry
        if not (self.aws.flux_on_fargate and registry is not None and ".dkr.ecr." in registry.url):
            return self
        if self.ecr.node_role_names:
            return self
        message = (
            "empty while spec.aws.fluxOnFargate is true and the controller images come from ECR "
            f"({registry.url}): expected the Fargate profile's pod execution role, which pulls them"
        )
        error = field_error(("ecr", "nodeRoleNames"), [], message)
        raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]

    @property
    def fleet_key_read_write(self) -> bool:
        """Whether the fleet repository's deploy key may push: as asked (deployKey.readWrite),
        else when image-automation-controller runs and no application repository takes its
        pushes (then the fleet repository, which controls every cluster, stays read-only)."""
        asked = self.flux.deploy_key.read_write
        if asked is not None:
            return asked
        return self.flux.pushes_to_git and not any(app.image_automation for app in self.apps)

    @model_validator(mode="after")
    def _app_writes_need_image_automation(self) -> ClusterSpec:
        """A read-write key is for image-automation-controller's pushes: none without it."""
        if self.flux.pushes_to_git:
            return self
        errors = [
            field_error(
                ("apps", i, "imageAutomation"),
                True,
                "true while image-automation-controller is not in spec.flux.componentsExtra "
                "(nothing would push with the read-write key), expected "
                "image-automation-controller in spec.flux.componentsExtra, or false",
            )
            for i, app in enumerate(self.apps)
            if app.image_automation
        ]
        if self.flux.deploy_key.read_write:
            errors.append(
                field_error(
                    ("flux", "deployKey", "readWrite"),
                    True,
                    "true while image-automation-controller is not in spec.flux.componentsExtra "
                    "(nothing would push with the read-write key), expected false or no readWrite",
                )
            )
        if errors:
            raise ValidationError.from_exception_data("ClusterSpec", errors)  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _alert_secrets_are_their_own(self) -> ClusterSpec:
        """A provider's Secret (alert-<name>) and an application repository's key Secret are both
        in flux-system: one name for both would make one overwrite the other."""
        apps = {app.pull_secret: i for i, app in enumerate(self.apps)}
        errors = [
            field_error(
                ("alerts", "providers", i, "name"),
                provider.name,
                f"expected another name: its Secret {provider.secret_name} is already the Secret "
                f"of spec.apps[{apps[provider.secret_name]}]",
            )
            for i, provider in enumerate(self.alerts.providers)
            if provider.secret_name in apps
        ]
        if errors:
            raise ValidationError.from_exception_data("ClusterSpec", errors)  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _alerts_stay_in_flux_system_under_the_lockdown(self) -> ClusterSpec:
        """With multitenant, notification-controller runs with --no-cross-namespace-refs and
        refuses an event from another namespace than the Alert's (flux-system)."""
        if not self.flux.multitenant or not self.alerts.any:
            return self
        why = (
            "with spec.flux.multitenant notification-controller refuses events from another "
            f"namespace than the Alert's ({FLUX_NAMESPACE}; --no-cross-namespace-refs)"
        )
        errors = (
            [field_error(("alerts", "namespaces"), self.alerts.namespaces, f"{why}, expected none")]
            if self.alerts.namespaces
            else []
        )
        rules: list[tuple[tuple[str | int, ...], AlertRule]] = (
            [(("alerts", "slack"), self.alerts.slack)] if self.alerts.slack.is_enabled else []
        )
        rules += [(("alerts", "routes", i), r) for i, r in enumerate(self.alerts.routes)]
        for at, rule in rules:
            errors += [
                field_error(
                    (*at, "eventSources", j, "namespace"),
                    source.namespace,
                    f"{why}, expected {FLUX_NAMESPACE} or no namespace",
                )
                for j, source in enumerate(rule.event_sources)
                if source.namespace not in (None, FLUX_NAMESPACE)
            ]
        if errors:
            raise ValidationError.from_exception_data("ClusterSpec", errors)  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _oci_sync_from_the_artifact(self) -> ClusterSpec:
        """The producer workflow pushes flux/ alone (with the repository's layout): an OCI
        cluster's folder must be in it; and a takeover moves the bootstrap's Git sync, keyed by
        its deploy key, so it cannot start from an artifact."""
        if self.sync is None or self.sync.kind != OCI:
            return self
        errors = []
        if self.git.path is not None and not self.git.path.startswith(ARTIFACT_ROOT):
            errors.append(
                field_error(
                    ("git", "path"),
                    self.git.path,
                    f"outside {ARTIFACT_ROOT} while spec.sync is of kind oci: the artifact holds "
                    f"the repository's {ARTIFACT_ROOT} tree alone, expected a path under it",
                )
            )
        if self.sync.verify and self.git.enterprise_host is not None:
            errors.append(
                field_error(
                    ("sync", "verify"),
                    True,
                    f"true while the fleet repository is on {self.git.hostname}: keyless cosign "
                    "signatures (Sigstore's public Fulcio) trust the OIDC tokens of github.com's "
                    "Actions, not a GitHub Enterprise Server's, expected false",
                )
            )
        if self.flux.adopt:
            errors.append(
                field_error(
                    ("sync", "kind"),
                    OCI,
                    "oci while spec.flux.adopt is true (the bootstrap's Git sync and its deploy "
                    "key are taken over), expected git: switch after the takeover",
                )
            )
        if errors:
            raise ValidationError.from_exception_data("ClusterSpec", errors)  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _one_secret_per_name(self) -> ClusterSpec:
        """The mirror's pull Secret is a Secret of its own in flux-system: not the fleet
        repository's, nor an application repository's (two resources would own one object)."""
        registry = self.flux.registry
        name = registry.secret_name if registry is not None else None
        taken = {FLUX_SECRET_NAME: "the fleet repository's"} | {
            app.pull_secret: f"spec.apps {app.name}'s" for app in self.apps
        }
        if name is not None and name in taken:
            message = f'"{name}" is {taken[name]} Secret, expected another pullSecret'
            error = field_error(("flux", "registry", "pullSecret"), name, message)
            raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]
        return self

    @model_validator(mode="after")
    def _adopt_keeps_the_bootstrap_path(self) -> ClusterSpec:
        """A takeover keeps the bootstrap's flux-system Kustomization (prune: true): syncing any
        other folder would prune what the bootstrap folder applied, so the path is stated."""
        if self.flux.adopt and self.git.uses_github_app:
            message = (
                "githubApp while spec.flux.adopt is true (the bootstrap's flux-system Secret, "
                "a deploy key's, is taken over), expected deployKey: switch after the takeover"
            )
            error = field_error(("git", "auth"), "githubApp", message)
            raise ValidationError.from_exception_data("ClusterSpec", [error])  # type: ignore[list-item]
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
    wave: Wave | None = Field(
        None,
        description="the rollout wave it deploys in (0: canaries first); default: its "
        "environment's, from rollout.environments in _defaults.yaml",
    )


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
    def oci_source(self) -> SyncSource | None:
        """spec.sync when the cluster syncs an OCI artifact (no Git credential), else None."""
        sync = self.spec.sync
        return sync if sync is not None and sync.kind == OCI else None

    @property
    def syncs_git(self) -> bool:
        """Whether the fleet repository is the sync source (its credential on the cluster)."""
        return self.oci_source is None

    @property
    def sync_tag(self) -> str | None:
        """The OCI tag the cluster follows: spec.sync.tag, else its environment."""
        oci = self.oci_source
        return None if oci is None else oci.tag or self.metadata.environment

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two definitions the same EKS cluster."""
        return (self.spec.aws.account_id, self.spec.aws.region, self.eks_cluster_name)
