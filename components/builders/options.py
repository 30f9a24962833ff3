"""The one place the builders' option objects are filled from a validated cluster definition (and
the fleet's registries), like flux-operator's controller filling `builder.Options` from the
FluxInstance: each builder module reads only its own options, and what one concern needs of
another (the controllers' AWS roles in the FluxInstance, the registries in the runtime facts)
is decided here. Pure, no Pulumi."""

from __future__ import annotations

from collections.abc import Mapping

from components.builders.controller_role import RoleTrust, controller_role_name, role_arn
from components.builders.ecr import listing_controllers, pulls
from components.builders.ecr_cluster import ClusterPulls, Pull
from components.builders.flux import (
    FLUX_REGISTRY,
    READY_TIMEOUT_SECONDS,
    FluxOptions,
    OperatorOptions,
    SyncOptions,
)
from components.builders.git_access import GitAccessOptions, repository_url
from components.builders.gitops import (
    LOCKDOWN_SERVICE_ACCOUNT,
    AppSourceOptions,
    ClusterFolderOptions,
)
from components.builders.monitoring import MonitoringOptions
from components.builders.runtime_info import (
    RuntimeInfoOptions,
    registry_host,
    substitute_from,
    sync_substitution_patch,
)
from components.builders.sops import (
    DECRYPTION,
    KUSTOMIZE_CONTROLLER,
    SopsOptions,
    sync_decryption_patch,
)
from components.definition.apps import AppRepository
from components.definition.cluster import Cluster
from components.definition.registries import Registry
from components.definition.types import duration_seconds, partition_of


def git_access_options(cluster: Cluster) -> GitAccessOptions:
    return GitAccessOptions(github_app=cluster.spec.git.uses_github_app)


def _pulled(cluster: Cluster, registries: Mapping[str, Registry], images: bool) -> tuple[Pull, ...]:
    found = {
        (pull.registry, ref)
        for pull in pulls(cluster, registries, images=images)
        for ref in pull.repositories
    }
    return tuple((registries[name], ref) for name, ref in sorted(found))


def cluster_pulls(cluster: Cluster, registries: Mapping[str, Registry]) -> ClusterPulls:
    """What the cluster pulls: with the controller images of an ECR mirror (the nodes), and
    spec.ecr.pull alone (the controllers' own roles)."""
    return ClusterPulls(
        nodes=_pulled(cluster, registries, images=True),
        controllers=_pulled(cluster, registries, images=False),
    )


def role_trust(cluster: Cluster) -> RoleTrust:
    """Who may assume the cluster's controller roles (spec.aws.workloadIdentity)."""
    aws = cluster.spec.aws
    return RoleTrust(
        workload_identity=aws.workload_identity,
        account_id=aws.account_id,
        region=aws.region,
        partition=partition_of(aws.region),
        eks_cluster_name=cluster.eks_cluster_name,
    )


def controller_role_names(cluster: Cluster) -> dict[str, str]:
    """controller -> the name of the AWS role it runs with: kustomize-controller with spec.sops,
    and the controllers that pull from ECR themselves (source-controller with ociSources,
    image-reflector-controller)."""
    controllers = [
        *listing_controllers(cluster),
        *([KUSTOMIZE_CONTROLLER] if cluster.spec.sops is not None else []),
    ]
    return {c: controller_role_name(cluster.name, c) for c in sorted(controllers)}


def controller_identities(cluster: Cluster) -> dict[str, str]:
    """controller -> the ARN of the AWS role it runs with (IAM names a role by account and name,
    so the ARN is known before the role exists)."""
    partition, account = partition_of(cluster.spec.aws.region), cluster.spec.aws.account_id
    return {c: role_arn(partition, account, n) for c, n in controller_role_names(cluster).items()}


def sops_options(cluster: Cluster) -> SopsOptions | None:
    """spec.sops and kustomize-controller's role (None: no spec.sops)."""
    sops, aws = cluster.spec.sops, cluster.spec.aws
    if sops is None:
        return None
    partition = partition_of(aws.region)
    name = controller_role_name(cluster.name, KUSTOMIZE_CONTROLLER)
    return SopsOptions(
        cluster=cluster.name,
        account_id=aws.account_id,
        partition=partition,
        kms_key_arns=tuple(sops.kms_key_arns),
        role_arn=role_arn(partition, aws.account_id, name),
    )


def runtime_info_options(
    cluster: Cluster, registries: Mapping[str, Registry]
) -> RuntimeInfoOptions | None:
    """The facts of spec.flux.runtimeInfo (None: off)."""
    spec = cluster.spec
    if spec.flux.runtime_info is None:
        return None
    nodes = cluster_pulls(cluster, registries).nodes
    return RuntimeInfoOptions(
        cluster_name=cluster.name,
        environment=cluster.metadata.environment,
        account_id=spec.aws.account_id,
        region=spec.aws.region,
        partition=partition_of(spec.aws.region),
        eks_cluster_name=cluster.eks_cluster_name,
        registry_hosts=tuple(sorted({registry_host(registry) for registry, _ in nodes})),
        role_arns=controller_identities(cluster),
        entries=dict(spec.flux.runtime_info),
    )


def sync_options(cluster: Cluster) -> SyncOptions:
    """The fleet repository's folder of the cluster, as the FluxInstance syncs it."""
    git, access = cluster.spec.git, git_access_options(cluster)
    return SyncOptions(
        url=repository_url(access, git.owner, git.repository),
        ref=f"refs/heads/{git.branch}",
        path=cluster.git_path,
        pull_secret=access.fleet_secret,
        interval=git.interval,
        provider=access.provider,
    )


def flux_options(cluster: Cluster) -> FluxOptions:
    """The FluxInstance's options: spec.flux, and what the other concerns add to the instance
    (the sync, the controllers' roles, the sync Kustomization's patches)."""
    spec, flux = cluster.spec, cluster.spec.flux
    metadata = flux.common_metadata
    sync_patches = [
        *([sync_decryption_patch()] if spec.sops is not None else []),
        *([sync_substitution_patch()] if flux.runtime_info is not None else []),
    ]
    return FluxOptions(
        version=flux.version,
        registry=flux.registry.url if flux.registry is not None else FLUX_REGISTRY,
        image_pull_secret=flux.registry.pull_secret if flux.registry is not None else None,
        components=tuple(flux.all_components),
        size=flux.size,
        network_policy=flux.network_policy,
        multitenant=flux.multitenant,
        tenant_default_service_account=flux.tenant_default_service_account,
        cluster_domain=flux.cluster_domain,
        storage=(flux.storage.class_name, flux.storage.size) if flux.storage else None,
        common_labels=dict(metadata.labels) if metadata is not None else {},
        common_annotations=dict(metadata.annotations) if metadata is not None else {},
        toleration_keys=tuple(flux.toleration_keys),
        sync=sync_options(cluster),
        workload_identity=spec.aws.workload_identity,
        identities=controller_identities(cluster),
        sync_patches=tuple(sync_patches),
        user_patches=tuple(flux.patches),
        ready_timeout_seconds=READY_TIMEOUT_SECONDS
        if flux.ready_timeout is None
        else round(duration_seconds(flux.ready_timeout)),
        reconcile_every=flux.reconcile_every,
        reconcile_timeout=flux.reconcile_timeout,
    )


def operator_options(cluster: Cluster) -> OperatorOptions:
    """The flux-operator chart's options: the Flux tolerations, and spec.monitoring's
    ServiceMonitor for the operator's own metrics."""
    monitoring = cluster.spec.monitoring
    return OperatorOptions(
        toleration_keys=tuple(cluster.spec.flux.toleration_keys),
        service_monitor=monitoring.prometheus,
        monitor_labels=dict(monitoring.monitor_labels or {}),
        reporting_interval=monitoring.reporting_interval,
    )


def apps_service_account(cluster: Cluster) -> str | None:
    """The ServiceAccount the `apps` Kustomization runs as: kustomize-controller's with
    spec.flux.multitenant (the fleet's own overlay, like the sync), else none (no impersonation)."""
    return LOCKDOWN_SERVICE_ACCOUNT if cluster.spec.flux.multitenant else None


def app_service_account(cluster: Cluster, app: AppRepository) -> str | None:
    """The ServiceAccount an application repository's Kustomization runs as: the entry's
    serviceAccountName, else kustomize-controller's with spec.flux.multitenant, else none."""
    return app.service_account_name or apps_service_account(cluster)


def app_source_options(cluster: Cluster, app: AppRepository) -> AppSourceOptions:
    """An application repository of the cluster (an entry of spec.apps, or one being added)."""
    access = git_access_options(cluster)
    return AppSourceOptions(
        name=app.name,
        url=repository_url(access, app.owner_or(cluster.spec.git.owner), app.repository),
        branch=app.branch,
        path=app.path,
        interval=app.interval,
        pull_secret=app.pull_secret,
        provider=access.provider,
        service_account=app_service_account(cluster, app),
        post_build=substitute_from() if cluster.spec.flux.runtime_info is not None else None,
    )


def cluster_folder_options(cluster: Cluster) -> ClusterFolderOptions:
    """The cluster's folder of flux/clusters/: decrypting with spec.sops, substituting the
    runtime facts, one file per entry of spec.apps."""
    return ClusterFolderOptions(
        environment=cluster.metadata.environment,
        apps_service_account=apps_service_account(cluster),
        decryption=DECRYPTION if cluster.spec.sops is not None else None,
        post_build=substitute_from() if cluster.spec.flux.runtime_info is not None else None,
        apps=tuple(app_source_options(cluster, app) for app in cluster.spec.apps),
    )


def monitoring_options(cluster: Cluster) -> MonitoringOptions:
    monitoring = cluster.spec.monitoring
    return MonitoringOptions(
        controllers=tuple(cluster.spec.flux.all_components),
        monitor_labels=dict(monitoring.monitor_labels),
        dashboards=monitoring.grafana_dashboards,
        dashboard_namespace=monitoring.namespace,
        dashboard_labels=dict(monitoring.dashboard_label),
    )
