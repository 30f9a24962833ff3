"""The Flux installation: the flux-operator chart's values and the FluxInstance that installs and
syncs Flux, from a validated cluster definition. Pure, no Pulumi: the components register what
these return, and the tests check them directly (like Flux's own `manifestgen`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.build.git_access import ssh_url
from components.definition.cluster import Cluster
from components.names import FLUX_INSTANCE_NAME, FLUX_NAMESPACE, FLUX_SECRET_NAME

FLUX_REGISTRY = "ghcr.io/fluxcd"
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
READY_TIMEOUT_SECONDS = 600
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


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


def flux_instance(
    cluster: Cluster, *, service_account_roles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The FluxInstance `flux` (fluxcd.controlplane.io/v1) that installs and syncs Flux."""
    spec = cluster.spec
    instance_spec: dict[str, Any] = {
        # No `artifact`: the operator uses the manifests embedded in its image; nothing is
        # downloaded at run time.
        "distribution": {"version": spec.flux.version, "registry": FLUX_REGISTRY},
        "components": spec.flux.all_components,
        "cluster": {
            "type": "aws",
            "size": spec.flux.size,
            "networkPolicy": spec.flux.network_policy,
        },
        "sync": {
            "kind": "GitRepository",
            "url": ssh_url(spec.git.owner, spec.git.repository),
            "ref": f"refs/heads/{spec.git.branch}",
            "path": cluster.git_path,
            "pullSecret": FLUX_SECRET_NAME,
            "interval": spec.git.interval,
        },
    }
    patches = toleration_patches(spec.flux.toleration_keys)
    patches += service_account_role_patches(service_account_roles or {})
    if patches:
        instance_spec["kustomize"] = {"patches": patches}
    return {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {
            "name": FLUX_INSTANCE_NAME,
            "namespace": FLUX_NAMESPACE,
            "annotations": {
                # `pulumi up` waits for the instance to be Ready: a broken bootstrap fails loudly.
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": str(READY_TIMEOUT_SECONDS),
            },
        },
        "spec": instance_spec,
    }


def operator_values(cluster: Cluster) -> dict[str, Any]:
    """Helm values of the flux-operator chart."""
    values: dict[str, Any] = {
        "installCRDs": True,
        "web": {"enabled": False},
    }
    if cluster.spec.monitoring.prometheus:
        values["serviceMonitor"] = {"create": True}  # the operator's own metrics
    if cluster.spec.flux.toleration_keys:
        values["tolerations"] = tolerations(cluster.spec.flux.toleration_keys)
    return values
