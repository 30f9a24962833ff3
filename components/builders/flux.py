"""The Flux installation: the flux-operator chart's values and the FluxInstance that installs and
syncs Flux, from a validated cluster definition. Pure, no Pulumi: the components register what
these return, and the tests check them directly (like Flux's own `manifestgen`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from components.builders.ecr import ecr_controllers
from components.builders.ecr_cluster import irsa_role_name
from components.builders.git_access import GIT_PROVIDER, GITHUB_APP_SECRET_NAME, repository_url
from components.builders.runtime_info import has_runtime_info, sync_substitution_patch
from components.builders.sops import KUSTOMIZE_CONTROLLER, sops_role_name, sync_decryption_patch
from components.definition.cluster import Cluster
from components.definition.flux import FluxPatch
from components.definition.types import duration_seconds, partition_of
from components.names import FLUX_INSTANCE_NAME, FLUX_NAMESPACE, FLUX_SECRET_NAME

FLUX_REGISTRY = "ghcr.io/fluxcd"
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
READY_TIMEOUT_SECONDS = 600  # default of spec.flux.readyTimeout
RECONCILE_EVERY_ANNOTATION = "fluxcd.controlplane.io/reconcileEvery"
RECONCILE_TIMEOUT_ANNOTATION = "fluxcd.controlplane.io/reconcileTimeout"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# On a controller's pod template: "<irsa|podIdentity> <role ARN>" (a change rolls its pods)
IDENTITY_ANNOTATION = "flux-fleet/aws-identity"


def tolerations(keys: list[str]) -> list[dict[str, Any]]:
    """Tolerations of the taints `keys` (any value, NoSchedule): the Flux controllers' and the
    operator's."""
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]


def toleration_patches(keys: list[str]) -> list[dict[str, Any]]:
    """kustomize patches giving every Flux controller Deployment the tolerations."""
    if not keys:
        return []
    patch = [{"op": "add", "path": "/spec/template/spec/tolerations", "value": tolerations(keys)}]
    return [{"patch": json.dumps(patch), "target": {"kind": "Deployment"}}]


def service_account_role_patches(roles: Mapping[str, str]) -> list[dict[str, Any]]:
    """kustomize patches annotating each controller's ServiceAccount with its IRSA role ARN."""
    return [
        {
            "patch": json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": controller, "annotations": {IRSA_ANNOTATION: arn}},
                }
            ),
            "target": {"kind": "ServiceAccount", "name": controller},
        }
        for controller, arn in sorted(roles.items())
    ]


def controller_identities(cluster: Cluster) -> dict[str, str]:
    """controller -> the ARN of the AWS role it runs with (IAM names a role by account and name,
    so the ARN is known before the role exists): kustomize-controller with spec.sops, and the
    controllers that pull from ECR themselves (source-controller with ociSources or an OCI sync
    source, image-reflector-controller)."""
    partition = partition_of(cluster.spec.aws.region)
    names = {
        controller: irsa_role_name(cluster, controller) for controller in ecr_controllers(cluster)
    }
    if cluster.spec.sops is not None:
        names[KUSTOMIZE_CONTROLLER] = sops_role_name(cluster)
    account = cluster.spec.aws.account_id
    return {c: f"arn:{partition}:iam::{account}:role/{name}" for c, name in sorted(names.items())}


def identity_rollout_patches(cluster: Cluster) -> list[dict[str, Any]]:
    """A pod-template annotation on each controller with an AWS role, carrying the mode and the
    role: EKS injects credentials (IRSA's webhook, the Pod Identity agent's) only when a pod
    starts, so a new role, or a switch between IRSA and Pod Identity, must change the pod
    template for the Deployment to roll."""
    mode = cluster.spec.aws.workload_identity
    return [
        {
            "patch": json.dumps(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": controller},
                    "spec": {
                        "template": {
                            "metadata": {"annotations": {IDENTITY_ANNOTATION: f"{mode} {arn}"}}
                        }
                    },
                }
            ),
            "target": {"kind": "Deployment", "name": controller},
        }
        for controller, arn in controller_identities(cluster).items()
    ]


def ready_timeout_seconds(cluster: Cluster) -> int:
    """How long `pulumi up` waits for the FluxInstance to be Ready (spec.flux.readyTimeout)."""
    timeout = cluster.spec.flux.ready_timeout
    return READY_TIMEOUT_SECONDS if timeout is None else round(duration_seconds(timeout))


def instance_annotations(cluster: Cluster) -> dict[str, str]:
    """The FluxInstance's annotations: Pulumi's wait, and the operator's reconcileEvery /
    reconcileTimeout when the definition sets them (the operator silently falls back to its
    defaults, 1h and 5m, on a value it cannot parse: they are validated as durations first)."""
    flux = cluster.spec.flux
    out = {
        # `pulumi up` waits for the instance to be Ready: a broken bootstrap fails loudly.
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(ready_timeout_seconds(cluster)),
    }
    if flux.reconcile_every is not None:
        out[RECONCILE_EVERY_ANNOTATION] = flux.reconcile_every
    if flux.reconcile_timeout is not None:
        out[RECONCILE_TIMEOUT_ANNOTATION] = flux.reconcile_timeout
    return out


def distribution(cluster: Cluster) -> dict[str, Any]:
    """Which Flux, and where its images come from. No `artifact`: the operator uses the manifests
    embedded in its image; nothing is downloaded at run time."""
    registry = cluster.spec.flux.registry
    out: dict[str, Any] = {
        "version": cluster.spec.flux.version,
        "registry": registry.url if registry is not None else FLUX_REGISTRY,
    }
    if registry is not None and registry.pull_secret is not None:
        out["imagePullSecret"] = registry.pull_secret
    return out


def cluster_settings(cluster: Cluster) -> dict[str, Any]:
    """FluxInstance spec.cluster: what the operator tunes the installation for."""
    flux = cluster.spec.flux
    out: dict[str, Any] = {"type": "aws", "size": flux.size, "networkPolicy": flux.network_policy}
    if flux.multitenant:
        out["multitenant"] = True
        out["tenantDefaultServiceAccount"] = flux.tenant_default_service_account or "default"
    if flux.cluster_domain is not None:
        out["domain"] = flux.cluster_domain
    return out


def user_patch(patch: FluxPatch) -> dict[str, Any]:
    """A definition's patch as a FluxInstance kustomize patch (camelCase target fields)."""
    out: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        out["target"] = patch.target.model_dump(by_alias=True, exclude_none=True)
    return out


def sync(cluster: Cluster) -> dict[str, Any]:
    """What the FluxInstance syncs: the cluster's folder of the fleet repository, over SSH with
    the deploy key's Secret, or over HTTPS with the GitHub App's (provider github)."""
    git = cluster.spec.git
    out: dict[str, Any] = {
        "kind": "GitRepository",
        "url": repository_url(cluster, git.owner, git.repository),
        "ref": f"refs/heads/{git.branch}",
        "path": cluster.git_path,
        "pullSecret": GITHUB_APP_SECRET_NAME if git.uses_github_app else FLUX_SECRET_NAME,
        "interval": git.interval,
    }
    if git.uses_github_app:
        out["provider"] = GIT_PROVIDER
    return out


def flux_instance(
    cluster: Cluster,
    *,
    service_account_roles: Mapping[str, str] | None = None,
    sync_spec: Mapping[str, Any] | None = None,
    sync_patches: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The FluxInstance `flux` (fluxcd.controlplane.io/v1) that installs and syncs Flux: from
    the fleet repository, or the `sync_spec` (and its `sync_patches`) of another source kind
    (builders/sync_source.py)."""
    spec = cluster.spec
    instance_spec: dict[str, Any] = {
        "distribution": distribution(cluster),
        "components": spec.flux.all_components,
        "cluster": cluster_settings(cluster),
        "sync": dict(sync_spec) if sync_spec is not None else sync(cluster),
    }
    if spec.flux.storage is not None:
        instance_spec["storage"] = {
            "class": spec.flux.storage.class_name,
            "size": spec.flux.storage.size,
        }
    metadata = spec.flux.common_metadata
    if metadata is not None and (metadata.labels or metadata.annotations):
        instance_spec["commonMetadata"] = {
            key: dict(value)
            for key, value in (("labels", metadata.labels), ("annotations", metadata.annotations))
            if value
        }
    patches = toleration_patches(spec.flux.toleration_keys)
    patches += service_account_role_patches(service_account_roles or {})
    patches += identity_rollout_patches(cluster)
    if spec.sops is not None:
        patches.append(sync_decryption_patch())
    if has_runtime_info(cluster):
        patches.append(sync_substitution_patch())
    patches += sync_patches
    patches += [user_patch(patch) for patch in spec.flux.patches]  # last: they have the last word
    if patches:
        instance_spec["kustomize"] = {"patches": patches}
    return {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {
            "name": FLUX_INSTANCE_NAME,
            "namespace": FLUX_NAMESPACE,
            "annotations": instance_annotations(cluster),
        },
        "spec": instance_spec,
    }


def operator_values(cluster: Cluster) -> dict[str, Any]:
    """Helm values of the flux-operator chart."""
    values: dict[str, Any] = {
        "installCRDs": True,
        "web": {"enabled": False},
    }
    monitoring = cluster.spec.monitoring
    if monitoring.prometheus:
        values["serviceMonitor"] = {"create": True}  # the operator's own metrics
        if monitoring.monitor_labels:  # what Prometheus selects ServiceMonitors by
            values["serviceMonitor"]["labels"] = dict(monitoring.monitor_labels)
        # REPORTING_INTERVAL: how often flux_resource_info is refreshed (chart default 5m)
        values["reporting"] = {"interval": monitoring.reporting_interval}
    if cluster.spec.flux.toleration_keys:
        values["tolerations"] = tolerations(cluster.spec.flux.toleration_keys)
    return values
