"""The cluster side of ECR pulls: identity policies in the cluster's account. Node roles get a
managed policy (`node_pull_policy`); the Flux controllers that reach ECR themselves get an IRSA
role each (`irsa_permissions`), trusted only by their ServiceAccount (`irsa_trust_policy`). The
registry side, and why a pull needs both: builders/ecr.py. Pure, no Pulumi."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.ecr import (
    AUTH_ACTION,
    PULL_ACTIONS,
    controller_actions,
    repository_arn,
)
from components.builders.iam import POLICY_VERSION, provider_set
from components.definition.registries import Registry
from components.names import FLUX_NAMESPACE, PROJECT

STS_AUDIENCE = "sts.amazonaws.com"
MAX_ROLE_NAME = 64


# (registry, repository name or prefix `platform/*`)
Pull = tuple[Registry, str]


@dataclass(frozen=True)
class ClusterPulls:
    """What one cluster pulls from the fleet's registries, in a stable order, filled from the
    definition and _registries.yaml by builders/options.py. Two views, as two identities pull:
    the nodes pull images (spec.ecr.pull and an ECR mirror's controller images), the
    controllers with their own role reach spec.ecr.pull only."""

    nodes: tuple[Pull, ...]
    controllers: tuple[Pull, ...]


def pulled_repository_arns(pulled: Iterable[Pull]) -> list[str]:
    """ARNs an identity may pull: prefixes as IAM wildcards (`repository/platform/*`), so a
    repository added under a prefix needs only the registries stack to run again."""
    return sorted({repository_arn(registry, ref) for registry, ref in pulled})


def _identity_policy(arns: Sequence[str], actions: Iterable[str]) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            # GetAuthorizationToken has no resource: it returns a token for the whole registry
            # endpoint; what may be pulled is decided per repository below and by its policy.
            {
                "Sid": "EcrAuthorizationToken",
                "Effect": "Allow",
                "Action": AUTH_ACTION,
                "Resource": "*",
            },
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": provider_set(actions),
                "Resource": provider_set(arns),
            },
        ],
    }


def node_pull_policy(pulls: ClusterPulls) -> dict[str, Any]:
    """The managed policy for `spec.ecr.nodeRoleNames`: the kubelet pulls images (the controller
    images of an ECR mirror included)."""
    return _identity_policy(pulled_repository_arns(pulls.nodes), PULL_ACTIONS)


def irsa_permissions(pulls: ClusterPulls, controller: str) -> dict[str, Any]:
    """The inline policy of a controller's role: pull, plus list the tags (source-controller
    resolving a version, image-reflector-controller scanning) and, for the reflector, describe
    the images. Of spec.ecr.pull only: the controller images are the nodes' to pull."""
    return _identity_policy(
        pulled_repository_arns(pulls.controllers), controller_actions(controller)
    )


def oidc_provider_arn(oidc_issuer: str, account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{oidc_issuer.removeprefix('https://')}"


def service_account_subject(controller: str) -> str:
    return f"system:serviceaccount:{FLUX_NAMESPACE}:{controller}"


def irsa_trust_policy(
    oidc_issuer: str, account_id: str, controller: str, partition: str = "aws"
) -> dict[str, Any]:
    """Who may assume a controller's role: exactly its ServiceAccount, through the cluster's
    OIDC provider, for the STS audience."""
    host = oidc_issuer.removeprefix("https://")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": oidc_provider_arn(oidc_issuer, account_id, partition)},
                "Condition": {
                    "StringEquals": {
                        f"{host}:aud": STS_AUDIENCE,
                        f"{host}:sub": service_account_subject(controller),
                    }
                },
            }
        ],
    }


POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_trust_policy(
    account_id: str, region: str, eks_cluster_name: str, controller: str, partition: str = "aws"
) -> dict[str, Any]:
    """Who may assume a controller's role with EKS Pod Identity: the Pod Identity service, for
    exactly this controller's ServiceAccount on this cluster. The service tags its session with
    the cluster's ARN, the namespace and the ServiceAccount (EKS user guide, "Create IAM role
    with trust policy required by EKS Pod Identity" and "List of session tags added by EKS Pod
    Identity"); the conditions are on those tags."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sts:TagSession", "sts:AssumeRole"],
                "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                "Condition": {
                    "StringEquals": {
                        "aws:RequestTag/eks-cluster-arn": f"arn:{partition}:eks:{region}:"
                        f"{account_id}:cluster/{eks_cluster_name}",
                        "aws:RequestTag/kubernetes-namespace": FLUX_NAMESPACE,
                        "aws:RequestTag/kubernetes-service-account": controller,
                    },
                },
            }
        ],
    }


def _bounded(name: str, limit: int) -> str:
    """`name`, or its first characters and a hash of it when longer than `limit`."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def irsa_role_name(cluster: str, controller: str) -> str:
    """The name of a controller's AWS role on the cluster named `cluster`."""
    return _bounded(f"{cluster}-{controller}", MAX_ROLE_NAME)


def node_policy_name(cluster: str) -> str:
    return f"{cluster}-{PROJECT}-ecr-pull"
