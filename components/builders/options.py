"""The one place the builders' option objects are filled from a validated cluster definition (and
the fleet's registries), like flux-operator's controller filling `builder.Options` from the
FluxInstance: each builder module reads only its own options, and what one concern needs of
another (the controllers' AWS roles in the FluxInstance, the registries in the runtime facts)
is decided here. Pure, no Pulumi."""

from __future__ import annotations

from collections.abc import Mapping

from components.builders.ecr import listing_controllers, pulls
from components.builders.ecr_cluster import ClusterPulls, Pull, irsa_role_name
from components.builders.flux import (
    FLUX_REGISTRY,
    READY_TIMEOUT_SECONDS,
    FluxOptions,
    OperatorOptions,
    SyncOptions,
)
from components.builders.git_access import GitAccessOptions, repository_url
from components.builders.runtime_info import (
    RuntimeInfoOptions,
    registry_host,
    sync_substitution_patch,
)
from components.builders.sops import KUSTOMIZE_CONTROLLER, sops_role_name, sync_decryption_patch
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


def controller_identities(cluster: Cluster) -> dict[str, str]:
    """controller -> the ARN of the AWS role it runs with (IAM names a role by account and name,
    so the ARN is known before the role exists): kustomize-controller with spec.sops, and the
    controllers that pull from ECR themselves (source-controller with ociSources,
    image-reflector-controller)."""
    partition = partition_of(cluster.spec.aws.region)
    names = {
        controller: irsa_role_name(cluster.name, controller)
        for controller in listing_controllers(cluster)
    }
    if cluster.spec.sops is not None:
        names[KUSTOMIZE_CONTROLLER] = sops_role_name(cluster)
    account = cluster.spec.aws.account_id
    return {c: f"arn:{partition}:iam::{account}:role/{name}" for c, name in sorted(names.items())}


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
