"""The cluster's facts for Flux (spec.flux.runtimeInfo): the ConfigMap flux-runtime-info in
flux-system, named and used as the Flux Operator's own examples do (its Terraform bootstrap
writes it; the FluxInstance's sync Kustomization substitutes from it), and the
postBuild.substituteFrom that hands it to the Kustomizations. Pure, no Pulumi."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.builders.ecr_cluster import cluster_pulls
from components.definition.cluster import Cluster
from components.definition.flux import role_fact
from components.definition.registries import Registry
from components.definition.types import partition_of
from components.names import FLUX_NAMESPACE, MANAGED_BY, SYNC_SOURCE_NAME

RUNTIME_INFO_NAME = "flux-runtime-info"
# kustomize-controller reconciles a Kustomization again when a ConfigMap it substitutes from
# changes, if the ConfigMap carries this label (the operator's Terraform bootstrap sets it too).
WATCH_LABEL = {"reconcile.fluxcd.io/watch": "Enabled"}
SUBSTITUTE_FROM = [{"kind": "ConfigMap", "name": RUNTIME_INFO_NAME}]


def has_runtime_info(cluster: Cluster) -> bool:
    return cluster.spec.flux.runtime_info is not None


def registry_host(registry: Registry) -> str:
    """The ECR registry endpoint of a registry of _registries.yaml."""
    suffix = ".cn" if registry.partition == "aws-cn" else ""
    return f"{registry.account_id}.dkr.ecr.{registry.region}.amazonaws.com{suffix}"


def runtime_info_data(
    cluster: Cluster,
    registries: Mapping[str, Registry],
    role_arns: Mapping[str, str],
    oidc_issuer: str,
) -> dict[str, str]:
    """The ConfigMap's data: the facts, then the definition's entries (which cannot reuse a
    fact's name). `role_arns`: controller -> its AWS role's ARN; `oidc_issuer`: the EKS
    cluster's (read from EKS at run time)."""
    spec = cluster.spec
    hosts = sorted({registry_host(registry) for registry, _ in cluster_pulls(cluster, registries)})
    data = {
        "cluster_name": cluster.name,
        "cluster_environment": cluster.metadata.environment,
        "aws_account_id": spec.aws.account_id,
        "aws_region": spec.aws.region,
        "aws_partition": partition_of(spec.aws.region),
        "eks_cluster_name": cluster.eks_cluster_name,
        "eks_oidc_issuer": oidc_issuer,
        "ecr_registries": ",".join(hosts),
    }
    data.update({role_fact(c): arn for c, arn in sorted(role_arns.items())})
    data.update(spec.flux.runtime_info or {})
    return data


def runtime_info_configmap(data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RUNTIME_INFO_NAME,
            "namespace": FLUX_NAMESPACE,
            "labels": {**MANAGED_BY, **WATCH_LABEL},
        },
        "data": dict(data),
    }


def substitute_from() -> dict[str, Any]:
    """A Kustomization's spec.postBuild substituting from the ConfigMap."""
    return {"substituteFrom": [dict(ref) for ref in SUBSTITUTE_FROM]}


def sync_substitution_patch() -> dict[str, Any]:
    """The FluxInstance patch that makes its sync Kustomization (flux-system) substitute the
    facts in what the cluster's folder applies."""
    operations = [{"op": "add", "path": "/spec/postBuild", "value": substitute_from()}]
    return {
        "patch": json.dumps(operations),
        "target": {"kind": "Kustomization", "name": SYNC_SOURCE_NAME},
    }
