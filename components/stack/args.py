"""The thin translator from a validated definition (and the stack's config) to the components'
Args: each Args class lives beside its component (stack/<component>.py) and holds data only; the
builders' option objects come from builders/options.py, so that a component registers resources
and decides nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.builders.controller_role import controller_role_name
from components.builders.ecr import ecr_controllers, pulls
from components.builders.ecr_cluster import irsa_permissions, node_policy_name, node_pull_policy
from components.builders.eks import access_policy_arn
from components.builders.flux import OPERATOR_CHART, operator_values
from components.builders.monitoring import dashboard_configmaps, flux_pod_monitor
from components.builders.options import (
    cluster_pulls,
    ecr_options,
    flux_options,
    git_access_options,
    mirror_options,
    monitoring_options,
    operator_options,
    role_trust,
    runtime_info_options,
    sops_options,
)
from components.builders.recovery import adoption_annotations, upsert_existing_objects
from components.builders.sops import (
    KUSTOMIZE_CONTROLLER,
    decrypt_permissions,
    foreign_key_policy_statements,
)
from components.definition.alerts import SLACK
from components.definition.cluster import Cluster
from components.definition.registries import Registry, partition_of
from components.names import FLUX_NAMESPACE, FLUX_SECRET_NAME
from components.stack.aws_secret import GithubAppArgs
from components.stack.cluster import AppKeyArgs, FluxClusterArgs
from components.stack.controller_role import ControllerRoleArgs
from components.stack.deploy_key import DeployKeyArgs
from components.stack.ecr_access import EcrAccessArgs
from components.stack.eks import EksConnectionArgs
from components.stack.flux import FluxArgs
from components.stack.observability import NotifierArgs, ObservabilityArgs
from components.stack.sops_access import SopsAccessArgs


def _sops_args(cluster: Cluster) -> SopsAccessArgs | None:
    sops = sops_options(cluster)
    if sops is None:
        return None
    return SopsAccessArgs(
        cluster=cluster.name,
        eks_cluster_name=cluster.eks_cluster_name,
        role=ControllerRoleArgs(
            controller=KUSTOMIZE_CONTROLLER,
            role_name=controller_role_name(cluster.name, KUSTOMIZE_CONTROLLER),
            trust=role_trust(cluster),
            permissions=decrypt_permissions(sops),
            purpose="decrypts SOPS secrets",
            policy_name="sops-decrypt",
            policy_suffix="decrypt",
        ),
    )


def _ecr_args(cluster: Cluster, registries: Mapping[str, Registry]) -> EcrAccessArgs | None:
    ecr = ecr_options(cluster)
    if not pulls(ecr, registries):
        return None
    pulled = cluster_pulls(cluster, registries)
    return EcrAccessArgs(
        cluster=cluster.name,
        eks_cluster_name=cluster.eks_cluster_name,
        node_policy_name=node_policy_name(cluster.name),
        node_policy=node_pull_policy(pulled),
        # the nodes pull nothing when the OCI sync source is the cluster's only pull
        node_role_names=list(cluster.spec.ecr.node_role_names) if pulled.nodes else [],
        roles=[
            ControllerRoleArgs(
                controller=controller,
                role_name=controller_role_name(cluster.name, controller),
                trust=role_trust(cluster),
                permissions=irsa_permissions(pulled, controller),
            )
            for controller in ecr_controllers(ecr)
        ],
    )


def cluster_args(
    cluster: Cluster,
    registries: Mapping[str, Registry],
    alerts: Sequence[NotifierArgs],
    github_app: GithubAppArgs | None = None,
) -> FluxClusterArgs:
    """Everything the FluxCluster component registers, from the definition, the fleet's
    registries and the alerts with their credentials (stack/program.py's alert_notifiers)."""
    spec, name = cluster.spec, cluster.name
    flux = flux_options(cluster, registries)
    access = git_access_options(cluster)
    foreign = foreign_key_policy_statements(sops_options(cluster))
    monitoring = monitoring_options(cluster)

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
            known_hosts=access.known_hosts,
            adopt=adopt,
        )

    return FluxClusterArgs(
        name=name,
        eks=EksConnectionArgs(
            account_id=spec.aws.account_id,
            region=spec.aws.region,
            role_arn=spec.aws.role_arn,
            eks_cluster_name=cluster.eks_cluster_name,
            upsert_existing_objects=upsert_existing_objects(spec.flux.adopt),
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
        github_api_url=access.api_url,
        github_app=github_app,
        # The bootstrap's flux-system Secret is taken over (adopt); read-write only when
        # image-automation-controller commits image updates to it (fleet_key_read_write).
        fleet_key=None
        if github_app is not None or not cluster.syncs_git
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
            operator_chart=spec.flux.operator_chart or OPERATOR_CHART,
            operator_version=spec.flux.operator_version,
            operator_values=operator_values(operator_options(cluster)),
            instance=flux,
            runtime_info=runtime_info_options(cluster, registries),
            mirror=mirror_options(cluster),
        ),
        observability=ObservabilityArgs(
            notifiers=alerts,
            pod_monitor=flux_pod_monitor(monitoring) if spec.monitoring.prometheus else None,
            dashboards=dashboard_configmaps(monitoring),
        ),
        outputs={
            "clusterName": name,
            "fluxVersion": spec.flux.version,
            "syncUrl": flux.sync.url,
            "syncPath": flux.sync.path,
            # for the owner of each KMS key of another account: the statement its policy needs
            **({"sopsKeyPolicyStatements": foreign} if foreign else {}),
            **_credential_outputs(alerts),
        },
        syncs_git=cluster.syncs_git,
    )


def _credential_outputs(alerts: Sequence[NotifierArgs]) -> dict[str, Any]:
    """Where each alert credential is read (never the value): Slack's only when from AWS (at apply
    time), each other provider's always (alertCredentials, by provider)."""
    out: dict[str, Any] = {}
    others = {}
    for args in alerts:
        credential = args.notifier.credential
        if credential is None:
            continue
        if credential.provider != SLACK:
            others[credential.provider] = credential.where
        elif credential.source is not None:
            out["slackCredentialFrom"] = credential.where
    return {**out, **({"alertCredentials": others} if others else {})}
