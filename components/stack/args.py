"""What each component is given: plain dataclasses the program builds from a validated definition
(and the stack's config), so that a component registers resources and decides nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.builders.alerts import SlackCredential, slack_alert, slack_provider
from components.builders.ecr import listing_controllers, pulls
from components.builders.ecr_cluster import (
    irsa_permissions,
    irsa_role_name,
    irsa_trust_policy,
    node_policy_name,
    node_pull_policy,
    pod_identity_trust_policy,
)
from components.builders.eks import access_policy_arn
from components.builders.flux import (
    OPERATOR_CHART,
    READY_TIMEOUT_SECONDS,
    FluxOptions,
    flux_instance,
    operator_values,
)
from components.builders.monitoring import (
    DashboardConfigMap,
    dashboard_configmaps,
    flux_pod_monitor,
)
from components.builders.options import (
    cluster_pulls,
    flux_options,
    operator_options,
    runtime_info_options,
)
from components.builders.recovery import adoption_annotations, upsert_existing_objects
from components.builders.runtime_info import (
    RuntimeInfoOptions,
    runtime_info_configmap,
    runtime_info_data,
)
from components.builders.sops import (
    KUSTOMIZE_CONTROLLER,
    decrypt_permissions,
    foreign_key_policy_statements,
    sops_role_name,
)
from components.definition.cluster import Cluster
from components.definition.registries import Registry, partition_of
from components.names import FLUX_NAMESPACE, FLUX_SECRET_NAME


@dataclass(frozen=True)
class EksConnectionArgs:
    account_id: str
    region: str
    role_arn: str | None
    eks_cluster_name: str
    upsert_existing_objects: bool | None  # spec.flux.adopt: creates of existing objects update
    # spec.aws.accessEntry: (principal ARN, access policy ARN), made before any Kubernetes object
    access_entry: tuple[str, str] | None = None


@dataclass(frozen=True)
class ControllerRoleArgs:
    controller: str
    role_name: str
    # IRSA: the trust policy for the cluster's OIDC issuer URL; Pod Identity: the trust policy
    trust_policy: Callable[[str], dict[str, Any]] | dict[str, Any]
    permissions: dict[str, Any]
    purpose: str = "pulls from ECR"  # in the role's description
    policy_name: str = "ecr-pull"  # of the inline policy
    policy_suffix: str = "pull"  # of its resource name


@dataclass(frozen=True)
class EcrAccessArgs:
    cluster: str
    eks_cluster_name: str
    node_policy_name: str
    node_policy: dict[str, Any]
    node_role_names: Sequence[str]  # none: no node policy
    roles: Sequence[ControllerRoleArgs]


@dataclass(frozen=True)
class SopsAccessArgs:
    cluster: str
    eks_cluster_name: str
    role: ControllerRoleArgs  # kustomize-controller's: decrypt with the KMS keys


@dataclass(frozen=True)
class DeployKeyArgs:
    cluster: str
    purpose: str  # "fleet" or an application repository's name, for the title
    repository: str
    algorithm: str
    rotation: int
    read_only: bool
    secret_name: str
    namespace: str
    adopt: bool = False  # the Secret exists (flux bootstrap's): its create takes it over


@dataclass(frozen=True)
class GithubAppArgs:
    """spec.git.auth githubApp: the App's credentials, by stack config key. Stack config values
    (Pulumi secrets) win; else spec.git.githubApp's: the IDs, and where in AWS the private key
    is (read by the component with the cluster's AWS provider)."""

    config: Mapping[str, pulumi.Output[str]]
    defined: Mapping[str, Any]


@dataclass(frozen=True)
class AppKeyArgs:
    name: str
    owner: str
    key: DeployKeyArgs


@dataclass(frozen=True)
class FluxArgs:
    version: str
    operator_chart: str
    operator_version: str
    operator_values: dict[str, Any]
    # The FluxInstance, given the IRSA role ARNs of the controllers (known once the roles exist).
    instance: Callable[[Mapping[str, str]], dict[str, Any]]
    ready_timeout_seconds: int = READY_TIMEOUT_SECONDS
    # spec.flux.runtimeInfo: the ConfigMap flux-runtime-info, given the EKS OIDC issuer
    runtime_info: Callable[[str], dict[str, Any]] | None = None


@dataclass(frozen=True)
class SlackAlertArgs:
    route: str | None  # None: spec.alerts.slack; else the route's name (in the resource names)
    provider: dict[str, Any]
    alert: dict[str, Any]


@dataclass(frozen=True)
class SlackArgs:
    credential: SlackCredential
    # from stack config: only ever a Pulumi secret; None: read from AWS (credential.source)
    value: pulumi.Output[str] | None
    channel: str | None  # of spec.alerts.slack, when it is on
    alerts: Sequence[SlackAlertArgs]


@dataclass(frozen=True)
class ObservabilityArgs:
    slack: SlackArgs | None
    pod_monitor: dict[str, Any] | None
    dashboards: Sequence[DashboardConfigMap]


@dataclass(frozen=True)
class FluxClusterArgs:
    name: str
    eks: EksConnectionArgs
    ecr: EcrAccessArgs | None  # None: the cluster pulls nothing from ECR
    sops: SopsAccessArgs | None  # None: no spec.sops
    namespace_labels: dict[str, str]
    namespace_annotations: dict[str, str]
    fleet_owner: str
    fleet_key: DeployKeyArgs | None  # None: the GitHub App's Secret instead
    github_app: GithubAppArgs | None  # every Secret holds the App's credentials instead of a key
    app_keys: Sequence[AppKeyArgs]
    flux: FluxArgs
    observability: ObservabilityArgs
    outputs: dict[str, Any] = field(default_factory=dict)  # the plain ones


def _trust(cluster: Cluster, controller: str) -> Callable[[str], dict[str, Any]] | dict[str, Any]:
    """The trust policy of a controller's role (IRSA: for the OIDC issuer, known at apply)."""
    account, partition = cluster.spec.aws.account_id, partition_of(cluster.spec.aws.region)
    if cluster.spec.aws.workload_identity == "podIdentity":
        return pod_identity_trust_policy(
            account, cluster.spec.aws.region, cluster.eks_cluster_name, controller, partition
        )
    return functools.partial(
        irsa_trust_policy, account_id=account, controller=controller, partition=partition
    )


def _sops_args(cluster: Cluster) -> SopsAccessArgs | None:
    if cluster.spec.sops is None:
        return None
    return SopsAccessArgs(
        cluster=cluster.name,
        eks_cluster_name=cluster.eks_cluster_name,
        role=ControllerRoleArgs(
            controller=KUSTOMIZE_CONTROLLER,
            role_name=sops_role_name(cluster),
            trust_policy=_trust(cluster, KUSTOMIZE_CONTROLLER),
            permissions=decrypt_permissions(cluster),
            purpose="decrypts SOPS secrets",
            policy_name="sops-decrypt",
            policy_suffix="decrypt",
        ),
    )


def _ecr_args(cluster: Cluster, registries: Mapping[str, Registry]) -> EcrAccessArgs | None:
    if not pulls(cluster, registries):
        return None
    pulled = cluster_pulls(cluster, registries)
    return EcrAccessArgs(
        cluster=cluster.name,
        eks_cluster_name=cluster.eks_cluster_name,
        node_policy_name=node_policy_name(cluster.name),
        node_policy=node_pull_policy(pulled),
        node_role_names=list(cluster.spec.ecr.node_role_names),
        roles=[
            ControllerRoleArgs(
                controller=controller,
                role_name=irsa_role_name(cluster.name, controller),
                trust_policy=_trust(cluster, controller),
                permissions=irsa_permissions(pulled, controller),
            )
            for controller in listing_controllers(cluster)
        ],
    )


def _slack_args(
    cluster: Cluster, secret: tuple[SlackCredential, pulumi.Output[str] | None] | None
) -> SlackArgs | None:
    if secret is None:
        return None
    credential, value = secret
    slack = cluster.spec.alerts.slack
    alerts = [
        SlackAlertArgs(
            route.name if route else None,
            slack_provider(cluster, credential, route),
            slack_alert(cluster, route),
        )
        for route in [*([None] if slack.is_enabled else []), *cluster.spec.alerts.routes]
    ]
    return SlackArgs(
        credential=credential,
        value=value,
        channel=slack.channel if slack.is_enabled else None,
        alerts=alerts,
    )


def cluster_args(
    cluster: Cluster,
    registries: Mapping[str, Registry],
    slack: tuple[SlackCredential, pulumi.Output[str] | None] | None,
    github_app: GithubAppArgs | None = None,
) -> FluxClusterArgs:
    """Everything the FluxCluster component registers, from the definition, the fleet's
    registries and the Slack credential read from stack config (None: alerts are off)."""
    spec, name = cluster.spec, cluster.name
    flux = flux_options(cluster)
    runtime_info = runtime_info_options(cluster, registries)
    foreign = foreign_key_policy_statements(cluster)

    def key(
        purpose: str, repository: str, secret_name: str, read_only: bool, adopt: bool = False
    ) -> DeployKeyArgs:
        return DeployKeyArgs(
            cluster=name,
            purpose=purpose,
            repository=repository,
            algorithm=spec.flux.deploy_key.algorithm,
            rotation=spec.flux.deploy_key.rotation,
            read_only=read_only,
            secret_name=secret_name,
            namespace=FLUX_NAMESPACE,
            adopt=adopt,
        )

    return FluxClusterArgs(
        name=name,
        eks=EksConnectionArgs(
            account_id=spec.aws.account_id,
            region=spec.aws.region,
            role_arn=spec.aws.role_arn,
            eks_cluster_name=cluster.eks_cluster_name,
            upsert_existing_objects=upsert_existing_objects(cluster),
            access_entry=(
                (
                    spec.aws.access_entry.principal_arn,
                    access_policy_arn(spec.aws.access_entry.policy, partition_of(spec.aws.region)),
                )
                if spec.aws.access_entry
                else None
            ),
        ),
        ecr=_ecr_args(cluster, registries),
        sops=_sops_args(cluster),
        namespace_labels={"app.kubernetes.io/part-of": "flux", "flux-fleet/cluster": name},
        namespace_annotations=adoption_annotations(spec.flux.adopt),
        fleet_owner=spec.git.owner,
        github_app=github_app,
        # The bootstrap's flux-system Secret is taken over (adopt); read-write only when
        # image-automation-controller commits image updates to it (fleet_key_read_write).
        fleet_key=None
        if github_app is not None
        else key(
            "fleet",
            spec.git.repository,
            FLUX_SECRET_NAME,
            read_only=not spec.fleet_key_read_write,
            adopt=spec.flux.adopt,
        ),
        # One key per application repository (GitHub refuses a public key used twice),
        # read-only unless its entry says imageAutomation (an ImageUpdateAutomation pushes there).
        # Its GitRepository lives in Git (flux/clusters/<name>/<app>.yaml).
        app_keys=[
            AppKeyArgs(
                app.name,
                app.owner_or(spec.git.owner),
                key(app.name, app.repository, app.pull_secret, read_only=not app.image_automation),
            )
            for app in spec.apps
        ],
        flux=FluxArgs(
            version=spec.flux.version,
            operator_chart=spec.flux.operator_chart or OPERATOR_CHART,
            operator_version=spec.flux.operator_version,
            operator_values=operator_values(operator_options(cluster)),
            instance=functools.partial(_instance, flux),
            ready_timeout_seconds=flux.ready_timeout_seconds,
            runtime_info=functools.partial(_runtime_info, runtime_info)
            if runtime_info is not None
            else None,
        ),
        observability=ObservabilityArgs(
            slack=_slack_args(cluster, slack),
            pod_monitor=flux_pod_monitor(cluster) if spec.monitoring.prometheus else None,
            dashboards=dashboard_configmaps(cluster),
        ),
        outputs={
            "clusterName": name,
            "fluxVersion": spec.flux.version,
            "syncUrl": flux.sync.url,
            "syncPath": cluster.git_path,
            # for the owner of each KMS key of another account: the statement its policy needs
            **({"sopsKeyPolicyStatements": foreign} if foreign else {}),
            # where the Slack credential is read at apply time (never the value)
            **(
                {"slackCredentialFrom": slack[0].where}
                if slack is not None and slack[0].source is not None
                else {}
            ),
        },
    )


def _instance(options: FluxOptions, roles: Mapping[str, str]) -> dict[str, Any]:
    return flux_instance(options, service_account_roles=roles)


def _runtime_info(options: RuntimeInfoOptions, oidc_issuer: str) -> dict[str, Any]:
    return runtime_info_configmap(runtime_info_data(options, oidc_issuer))
