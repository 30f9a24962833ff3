"""The Flux installation: the flux-operator chart's values and the FluxInstance that installs and
syncs Flux, from option objects builders/options.py fills from a validated cluster definition
(like Flux's own `manifestgen/<artifact>/options.go` and flux-operator's `builder.Options`).
Pure, no Pulumi: the components register what these return, and the tests check them directly."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.definition.flux import FluxPatch
from components.names import FLUX_INSTANCE_NAME, FLUX_NAMESPACE

FLUX_REGISTRY = "ghcr.io/fluxcd"
GIT_SOURCE_KIND = "GitRepository"  # the sync's kind by default (spec.sync kind git)
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
READY_TIMEOUT_SECONDS = 600  # default of spec.flux.readyTimeout
RECONCILE_EVERY_ANNOTATION = "fluxcd.controlplane.io/reconcileEvery"
RECONCILE_TIMEOUT_ANNOTATION = "fluxcd.controlplane.io/reconcileTimeout"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# On a controller's pod template: "<irsa|podIdentity> <role ARN>" (a change rolls its pods)
IDENTITY_ANNOTATION = "flux-fleet/aws-identity"


@dataclass(frozen=True)
class SyncOptions:
    """FluxInstance spec.sync: what the instance syncs, and how it reaches it."""

    url: str
    ref: str  # such as refs/heads/main
    path: str
    pull_secret: str | None  # None: the source-controller's own identity (provider)
    interval: str
    provider: str | None = None  # github with the GitHub App; aws for an OCI artifact in ECR
    kind: str = GIT_SOURCE_KIND


@dataclass(frozen=True)
class FluxOptions:
    """Everything the FluxInstance is built from. Filled in one place (builders/options.py):
    what other concerns add (the controllers' AWS roles, the sync Kustomization's patches for
    SOPS and the runtime facts) arrives here as data, so this module reads no other concern."""

    version: str
    registry: str  # where the controller images come from (FLUX_REGISTRY: Flux's own)
    components: Sequence[str]
    size: str
    network_policy: bool
    sync: SyncOptions
    workload_identity: str  # irsa | podIdentity: how the controllers get their AWS roles
    image_pull_secret: str | None = None
    variant: str | None = None  # the distribution a mirror holds (the operator cannot tell)
    artifact: str | None = None  # the manifests artifact; None: those in the operator's image
    artifact_pull_secret: str | None = None
    multitenant: bool = False
    tenant_default_service_account: str | None = None
    cluster_domain: str | None = None
    storage: tuple[str, str] | None = None  # (StorageClass, size)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    toleration_keys: Sequence[str] = ()
    identities: Mapping[str, str] = field(default_factory=dict)  # controller -> its role's ARN
    # patches other concerns need on the sync Kustomization (SOPS decryption, substitution)
    sync_patches: Sequence[Mapping[str, Any]] = ()
    user_patches: Sequence[FluxPatch] = ()  # spec.flux.patches: applied last
    ready_timeout_seconds: int = READY_TIMEOUT_SECONDS
    reconcile_every: str | None = None
    reconcile_timeout: str | None = None


@dataclass(frozen=True)
class OperatorOptions:
    """The flux-operator chart's values: its tolerations, and its own ServiceMonitor."""

    toleration_keys: Sequence[str] = ()
    service_monitor: bool = False  # spec.monitoring.prometheus
    monitor_labels: Mapping[str, str] = field(default_factory=dict)
    reporting_interval: str | None = None
    image_repository: str | None = None  # the operator's image mirror; None: the chart's ghcr.io
    image_pull_secret: str | None = None


def tolerations(keys: Sequence[str]) -> list[dict[str, Any]]:
    """Tolerations of the taints `keys` (any value, NoSchedule): the Flux controllers' and the
    operator's."""
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]


def toleration_patches(keys: Sequence[str]) -> list[dict[str, Any]]:
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


def identity_rollout_patches(options: FluxOptions) -> list[dict[str, Any]]:
    """A pod-template annotation on each controller with an AWS role, carrying the mode and the
    role: EKS injects credentials (IRSA's webhook, the Pod Identity agent's) only when a pod
    starts, so a new role, or a switch between IRSA and Pod Identity, must change the pod
    template for the Deployment to roll."""
    mode = options.workload_identity
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
        for controller, arn in sorted(options.identities.items())
    ]


def instance_annotations(options: FluxOptions) -> dict[str, str]:
    """The FluxInstance's annotations: Pulumi's wait, and the operator's reconcileEvery /
    reconcileTimeout when the definition sets them (the operator silently falls back to its
    defaults, 1h and 5m, on a value it cannot parse: they are validated as durations first)."""
    out = {
        # `pulumi up` waits for the instance to be Ready: a broken bootstrap fails loudly.
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(options.ready_timeout_seconds),
    }
    if options.reconcile_every is not None:
        out[RECONCILE_EVERY_ANNOTATION] = options.reconcile_every
    if options.reconcile_timeout is not None:
        out[RECONCILE_TIMEOUT_ANNOTATION] = options.reconcile_timeout
    return out


def distribution(options: FluxOptions) -> dict[str, Any]:
    """Which Flux, and where its images come from. No `artifact` unless the definition names
    one: the operator uses the manifests embedded in its image; nothing is downloaded at run
    time. A mirror has its variant written out (the operator knows only its own registries)."""
    out: dict[str, Any] = {"version": options.version, "registry": options.registry}
    if options.variant is not None:
        out["variant"] = options.variant
    if options.image_pull_secret is not None:
        out["imagePullSecret"] = options.image_pull_secret
    if options.artifact is not None:
        out["artifact"] = options.artifact
    if options.artifact_pull_secret is not None:
        out["artifactPullSecret"] = options.artifact_pull_secret
    return out


def cluster_settings(options: FluxOptions) -> dict[str, Any]:
    """FluxInstance spec.cluster: what the operator tunes the installation for."""
    out: dict[str, Any] = {
        "type": "aws",
        "size": options.size,
        "networkPolicy": options.network_policy,
    }
    if options.multitenant:
        out["multitenant"] = True
        out["tenantDefaultServiceAccount"] = options.tenant_default_service_account or "default"
    if options.cluster_domain is not None:
        out["domain"] = options.cluster_domain
    return out


def user_patch(patch: FluxPatch) -> dict[str, Any]:
    """A definition's patch as a FluxInstance kustomize patch (camelCase target fields)."""
    out: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        out["target"] = patch.target.model_dump(by_alias=True, exclude_none=True)
    return out


def sync(options: SyncOptions) -> dict[str, Any]:
    """What the FluxInstance syncs: the cluster's folder of the fleet repository, over SSH with
    the deploy key's Secret, or over HTTPS with the GitHub App's (provider github)."""
    out: dict[str, Any] = {
        "kind": options.kind,
        "url": options.url,
        "ref": options.ref,
        "path": options.path,
        "pullSecret": options.pull_secret,
        "interval": options.interval,
    }
    if options.pull_secret is None:
        del out["pullSecret"]
    if options.provider is not None:
        out["provider"] = options.provider
    return out


def flux_instance(
    options: FluxOptions, *, service_account_roles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The FluxInstance `flux` (fluxcd.controlplane.io/v1) that installs and syncs Flux."""
    instance_spec: dict[str, Any] = {
        "distribution": distribution(options),
        "components": list(options.components),
        "cluster": cluster_settings(options),
        "sync": sync(options.sync),
    }
    if options.storage is not None:
        instance_spec["storage"] = {"class": options.storage[0], "size": options.storage[1]}
    if options.common_labels or options.common_annotations:
        instance_spec["commonMetadata"] = {
            key: dict(value)
            for key, value in (
                ("labels", options.common_labels),
                ("annotations", options.common_annotations),
            )
            if value
        }
    patches = toleration_patches(options.toleration_keys)
    patches += service_account_role_patches(service_account_roles or {})
    patches += identity_rollout_patches(options)
    patches += [dict(patch) for patch in options.sync_patches]
    patches += [user_patch(patch) for patch in options.user_patches]  # last: the last word
    if patches:
        instance_spec["kustomize"] = {"patches": patches}
    return {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {
            "name": FLUX_INSTANCE_NAME,
            "namespace": FLUX_NAMESPACE,
            "annotations": instance_annotations(options),
        },
        "spec": instance_spec,
    }


def operator_values(options: OperatorOptions) -> dict[str, Any]:
    """Helm values of the flux-operator chart."""
    values: dict[str, Any] = {
        "installCRDs": True,
        "web": {"enabled": False},
    }
    if options.service_monitor:
        values["serviceMonitor"] = {"create": True}  # the operator's own metrics
        if options.monitor_labels:  # what Prometheus selects ServiceMonitors by
            values["serviceMonitor"]["labels"] = dict(options.monitor_labels)
        # REPORTING_INTERVAL: how often flux_resource_info is refreshed (chart default 5m)
        values["reporting"] = {"interval": options.reporting_interval}
    if options.toleration_keys:
        values["tolerations"] = tolerations(options.toleration_keys)
    if options.image_repository is not None:  # the chart's default is on ghcr.io
        values["image"] = {"repository": options.image_repository}
        if options.image_pull_secret is not None:
            values["image"]["pullSecrets"] = [{"name": options.image_pull_secret}]
    return values
