"""The one place the builders' option objects are filled from a validated cluster definition (and
the fleet's registries), like flux-operator's controller filling `builder.Options` from the
FluxInstance: each builder module reads only its own options, and what one concern needs of
another (the controllers' AWS roles in the FluxInstance, the registries in the runtime facts)
is decided here. Pure, no Pulumi."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from components.builders.alerts import (
    PROVIDERS_RESOURCE,
    SLACK_SECRET_NAME,
    AlertOptions,
    NotifierOptions,
    PairOptions,
    ProviderOptions,
    route_name,
)
from components.builders.controller_role import RoleTrust, controller_role_name, role_arn
from components.builders.ecr import (
    IMAGE_REFLECTOR,
    EcrFleet,
    EcrOptions,
    ecr_controllers,
    listing_controllers,
    pulls,
)
from components.builders.ecr_cluster import ClusterPulls, Pull
from components.builders.flux import (
    FLUX_REGISTRY,
    GIT_SOURCE_KIND,
    READY_TIMEOUT_SECONDS,
    FluxOptions,
    OperatorOptions,
    SyncOptions,
)
from components.builders.git_access import GitAccessOptions, repository_url
from components.builders.git_ref import git_repository_ref, sync_ref, sync_ref_patch
from components.builders.gitops import (
    LOCKDOWN_SERVICE_ACCOUNT,
    AppSourceOptions,
    ClusterFolderOptions,
)
from components.builders.monitoring import MonitoringOptions
from components.builders.registry_access import MirrorOptions, secret_for
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
from components.builders.sync_source import (
    AWS_PROVIDER,
    OCI_SOURCE_KIND,
    Signer,
    oci_url,
    verify_patch,
)
from components.definition.alert_types import PROVIDER_TYPES
from components.definition.alerts import SLACK, AlertProvider, AlertRule
from components.definition.apps import AppRepository
from components.definition.cluster import Cluster
from components.definition.credentials import Credential
from components.definition.ecr import EcrPull
from components.definition.registries import Registry
from components.definition.sources import GIT, OCI
from components.definition.types import duration_seconds, partition_of


def git_access_options(cluster: Cluster) -> GitAccessOptions:
    """spec.git.auth (with the App's installation owner), and spec.git.host (a GitHub Enterprise
    Server: its keys and API)."""
    git, host = cluster.spec.git, cluster.spec.git.enterprise_host
    owner = git.github_app.installation_owner if git.github_app is not None else None
    if host is None:
        return GitAccessOptions(github_app=git.uses_github_app, installation_owner=owner)
    return GitAccessOptions(
        github_app=git.uses_github_app,
        installation_owner=owner,
        host=host.hostname,
        host_keys=tuple(host.known_hosts or ()),
        api_url=host.api,
    )


# --- ECR pulls ---------------------------------------------------------------------------------


class ClusterFleet(Protocol):
    """A validated fleet, or part of one (loading.fleet.Fleet has both)."""

    @property
    def clusters(self) -> Mapping[str, Cluster]: ...

    @property
    def registries(self) -> Mapping[str, Registry]: ...


def _sync_pull(cluster: Cluster) -> EcrPull | None:
    """The ECR repository of an OCI sync source (spec.sync kind oci), as a pull: the registries
    stack grants it like any other (the pulls alone: a tag needs no tag listing)."""
    oci = cluster.oci_source
    if oci is None:
        return None
    return EcrPull.model_validate({"registry": oci.registry, "repositories": [oci.repository]})


def ecr_options(cluster: Cluster) -> EcrOptions:
    """What the ECR builders read of the cluster: spec.ecr, its account, spec.flux's references
    that may be ECR mirrors, and the OCI sync source."""
    flux = cluster.spec.flux
    return EcrOptions(
        name=cluster.name,
        account_id=cluster.spec.aws.account_id,
        pull=tuple(cluster.spec.ecr.pull),
        oci_sources=cluster.spec.ecr.oci_sources,
        image_reflector=IMAGE_REFLECTOR in flux.components_extra,
        mirror=flux.registry.url if flux.registry is not None else None,
        operator_image=flux.operator_image,
        operator_chart=flux.operator_chart,
        sync=_sync_pull(cluster),
    )


def ecr_fleet(fleet: ClusterFleet) -> EcrFleet:
    """What the registry side (the registries stack, the policy size checks) reads of the fleet."""
    return EcrFleet(
        {name: ecr_options(cluster) for name, cluster in fleet.clusters.items()},
        fleet.registries,
    )


def _pulled(
    cluster: EcrOptions, registries: Mapping[str, Registry], images: bool
) -> tuple[Pull, ...]:
    found = {
        (pull.registry, ref)
        for pull in pulls(cluster, registries, images=images, sync=False)
        for ref in pull.repositories
    }
    return tuple((registries[name], ref) for name, ref in sorted(found))


def cluster_pulls(cluster: Cluster, registries: Mapping[str, Registry]) -> ClusterPulls:
    """What the cluster pulls: with the controller images of an ECR mirror (the nodes),
    spec.ecr.pull alone (the controllers' own roles), and the OCI sync source (source-controller
    alone; without spec.ecr.ociSources it reaches nothing else)."""
    ecr = ecr_options(cluster)
    source = ecr.sync
    return ClusterPulls(
        nodes=_pulled(ecr, registries, images=True),
        controllers=_pulled(ecr, registries, images=False),
        sync=tuple((registries[source.registry], ref) for ref in source.repositories)
        if source is not None
        else (),
        sync_only=frozenset(ecr_controllers(ecr)) - set(listing_controllers(ecr)),
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
    and the controllers that pull from ECR themselves (source-controller with ociSources or an
    OCI sync source, image-reflector-controller)."""
    controllers = [
        *ecr_controllers(ecr_options(cluster)),
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
    pulled = cluster_pulls(cluster, registries)
    nodes = (*pulled.nodes, *pulled.sync)  # every registry the cluster pulls from
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


def _git_sync(cluster: Cluster, registries: Mapping[str, Registry]) -> SyncOptions:
    """The fleet repository's folder of the cluster, with its deploy key or the GitHub App."""
    git, access = cluster.spec.git, git_access_options(cluster)
    return SyncOptions(
        url=repository_url(access, git.owner, git.repository),
        ref=sync_ref(git.checkout),
        path=cluster.git_path,
        pull_secret=access.fleet_secret,
        interval=git.interval,
        provider=access.provider,
    )


def _oci_sync(cluster: Cluster, registries: Mapping[str, Registry]) -> SyncOptions:
    """The artifact of the fleet repository's flux/ tree in ECR, at the cluster's tag, pulled
    with source-controller's own AWS role. The artifact keeps the repository's layout (the
    producer workflow ignores everything but flux/), so the path is the one synced from Git."""
    oci = cluster.oci_source
    assert oci is not None and oci.registry is not None and oci.repository is not None
    return SyncOptions(
        url=oci_url(registry_host(registries[oci.registry]), oci.repository),
        ref=cluster.sync_tag or cluster.metadata.environment,
        path=cluster.git_path,
        pull_secret=None,
        interval=oci.interval or cluster.spec.git.interval,
        provider=AWS_PROVIDER,
        kind=OCI_SOURCE_KIND,
    )


# spec.sync.kind -> the FluxInstance's sync: one row per source kind.
SYNC_SOURCES: dict[str, Callable[[Cluster, Mapping[str, Registry]], SyncOptions]] = {
    GIT: _git_sync,
    OCI: _oci_sync,
}


def sync_options(cluster: Cluster, registries: Mapping[str, Registry] | None = None) -> SyncOptions:
    """What the FluxInstance syncs: the source spec.sync names (the fleet repository without
    it). An OCI source needs the fleet's registries (its ECR repository's host)."""
    kind = cluster.spec.sync.kind if cluster.spec.sync is not None else GIT
    return SYNC_SOURCES[kind](cluster, registries or {})


def _verify_patches(cluster: Cluster) -> list[dict[str, Any]]:
    """spec.sync.verify: the sync OCIRepository checks the producer workflow's signature."""
    oci = cluster.oci_source
    if oci is None or not oci.verify:
        return []
    return [verify_patch(Signer(cluster.spec.git.owner, cluster.spec.git.repository))]


def flux_options(cluster: Cluster, registries: Mapping[str, Registry] | None = None) -> FluxOptions:
    """The FluxInstance's options: spec.flux, and what the other concerns add to the instance
    (the sync, the controllers' roles, the sync objects' patches)."""
    spec, flux = cluster.spec, cluster.spec.flux
    metadata = flux.common_metadata
    # the Git ref the sync GitRepository needs a patch for (none when the cluster syncs OCI)
    ref_patch = sync_ref_patch(spec.git.checkout) if cluster.syncs_git else None
    mirror = mirror_options(cluster)
    sync_patches = [
        *([ref_patch] if ref_patch is not None else []),
        *([sync_decryption_patch()] if spec.sops is not None else []),
        *([sync_substitution_patch()] if flux.runtime_info is not None else []),
        *_verify_patches(cluster),
    ]
    return FluxOptions(
        version=flux.version,
        registry=flux.registry.url if flux.registry is not None else FLUX_REGISTRY,
        image_pull_secret=mirror.secret_name,
        variant=flux.registry.distribution_variant if flux.registry is not None else None,
        artifact=flux.registry.artifact if flux.registry is not None else None,
        artifact_pull_secret=secret_for(
            mirror, flux.registry.artifact if flux.registry is not None else None
        ),
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
        sync=sync_options(cluster, registries),
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


def mirror_options(cluster: Cluster) -> MirrorOptions:
    """spec.flux's mirrors, as the pull Secret and the chart's login need them."""
    flux = cluster.spec.flux
    registry = flux.registry
    if registry is None:
        return MirrorOptions(chart=flux.operator_chart)
    return MirrorOptions(
        host=registry.host,
        credential=registry.credential_from,
        secret_name=registry.secret_name,
        chart=flux.operator_chart,
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
        image_repository=cluster.spec.flux.operator_image,
        image_pull_secret=secret_for(mirror_options(cluster), cluster.spec.flux.operator_image),
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
        ref=git_repository_ref(app.checkout),
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
        source_kind=OCI_SOURCE_KIND if cluster.oci_source is not None else GIT_SOURCE_KIND,
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


# --- alerts ------------------------------------------------------------------------------------


def event_metadata(cluster: Cluster) -> dict[str, str]:
    """Added to every event sent, so a shared channel shows which cluster spoke."""
    return {
        "cluster": cluster.name,
        "environment": cluster.metadata.environment,
        "region": cluster.spec.aws.region,
        "account": cluster.spec.aws.account_id,
    }


def alert_options(cluster: Cluster, credentials: Mapping[str, Credential]) -> list[NotifierOptions]:
    """Every Secret, Provider and Alert of the cluster's alerts, given where each credential is
    (definition/credentials.py's check; a provider it found nothing for is left out: the check
    reported it). Which Alert goes to which Provider is decided here (Alerts.route_provider)."""
    out = []
    slack = credentials.get(SLACK)
    if slack is not None:
        out.append(_slack_options(cluster, slack))
    for entry in cluster.spec.alerts.providers:
        credential = credentials.get(entry.name)
        if PROVIDER_TYPES[entry.type].secret_key is not None and credential is None:
            continue
        out.append(_provider_options(cluster, entry, credential))
    return out


def _alert(cluster: Cluster, name: str, provider: str, rule: AlertRule) -> AlertOptions:
    namespaces = cluster.spec.alerts.namespaces
    return AlertOptions(name, provider, rule, namespaces, event_metadata(cluster))


def _slack_options(cluster: Cluster, credential: Credential) -> NotifierOptions:
    """spec.alerts.slack and each route to slack: a Provider and an Alert each, one Secret."""
    alerts = cluster.spec.alerts
    address = None if credential.secret_key == "address" else PROVIDER_TYPES[SLACK].address
    pairs = []
    routes = [r for r in alerts.routes if alerts.route_provider(r) == SLACK]
    for route in [*([None] if alerts.slack.is_enabled else []), *routes]:
        name = route_name(route.name if route else None)
        channel = route.channel if route else alerts.slack.channel
        provider = ProviderOptions(name, SLACK, channel, None, address, SLACK_SECRET_NAME)
        rule: AlertRule = route or alerts.slack
        pairs.append(PairOptions(name, provider, _alert(cluster, name, name, rule)))
    channel = alerts.slack.channel if alerts.slack.is_enabled else None
    return NotifierOptions(SLACK, SLACK_SECRET_NAME, credential, tuple(pairs), channel)


def _provider_options(
    cluster: Cluster, entry: AlertProvider, credential: Credential | None
) -> NotifierOptions:
    """A provider of spec.alerts.providers: its Provider (and its Alert unless routes name it),
    and per route an Alert <name>-<route> (with its own Provider when it has its own channel)."""
    alerts = cluster.spec.alerts
    kind = PROVIDER_TYPES[entry.type]
    secret = entry.secret_name if credential is not None else None
    address = None if kind.secret_key == "address" else entry.address or kind.address
    own = ProviderOptions(entry.name, entry.type, entry.channel, entry.username, address, secret)
    resource = f"{PROVIDERS_RESOURCE}-{entry.name}"
    default = (
        None if alerts.routed(entry.name) else _alert(cluster, entry.name, entry.name, AlertRule())
    )
    pairs = [PairOptions(resource, own, default)]
    for route in alerts.routes:
        if alerts.route_provider(route) != entry.name:
            continue
        name = f"{entry.name}-{route.name}"
        routed = None
        if route.channel is not None:
            routed = ProviderOptions(
                name, entry.type, route.channel, entry.username, address, secret
            )
        target = name if routed is not None else entry.name
        pairs.append(
            PairOptions(f"{resource}-{route.name}", routed, _alert(cluster, name, target, route))
        )
    return NotifierOptions(resource, secret, credential, tuple(pairs))
