"""The cluster's facts for Flux (spec.flux.runtimeInfo): the ConfigMap flux-runtime-info in
flux-system, named and used as the Flux Operator's own examples do (its Terraform bootstrap
writes it; the FluxInstance's sync Kustomization substitutes from it), and the
postBuild.substituteFrom that hands it to the Kustomizations. Pure, no Pulumi."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.definition.flux import role_fact
from components.definition.registries import Registry
from components.names import FLUX_NAMESPACE, MANAGED_BY, SYNC_SOURCE_NAME

RUNTIME_INFO_NAME = "flux-runtime-info"
# kustomize-controller reconciles a Kustomization again when a ConfigMap it substitutes from
# changes, if the ConfigMap carries this label (the operator's Terraform bootstrap sets it too).
WATCH_LABEL = {"reconcile.fluxcd.io/watch": "Enabled"}
SUBSTITUTE_FROM = [{"kind": "ConfigMap", "name": RUNTIME_INFO_NAME}]


@dataclass(frozen=True)
class RuntimeInfoOptions:
    """What the ConfigMap says, filled from the definition by builders/options.py; only the EKS
    OIDC issuer is missing (read from EKS at run time)."""

    cluster_name: str
    environment: str
    account_id: str
    region: str
    partition: str
    eks_cluster_name: str
    registry_hosts: tuple[str, ...]  # the ECR endpoints the cluster pulls from, sorted
    role_arns: Mapping[str, str]  # controller -> its AWS role's ARN
    entries: Mapping[str, str]  # spec.flux.runtimeInfo's own


def registry_host(registry: Registry) -> str:
    """The ECR registry endpoint of a registry of _registries.yaml."""
    suffix = ".cn" if registry.partition == "aws-cn" else ""
    return f"{registry.account_id}.dkr.ecr.{registry.region}.amazonaws.com{suffix}"


def runtime_info_data(options: RuntimeInfoOptions, oidc_issuer: str) -> dict[str, str]:
    """The ConfigMap's data: the facts, then the definition's entries (which cannot reuse a
    fact's name). `oidc_issuer`: the EKS cluster's (read from EKS at run time)."""
    data = {
        "cluster_name": options.cluster_name,
        "cluster_environment": options.environment,
        "aws_account_id": options.account_id,
        "aws_region": options.region,
        "aws_partition": options.partition,
        "eks_cluster_name": options.eks_cluster_name,
        "eks_oidc_issuer": oidc_issuer,
        "ecr_registries": ",".join(options.registry_hosts),
    }
    data.update({role_fact(c): arn for c, arn in sorted(options.role_arns.items())})
    data.update(options.entries)
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
