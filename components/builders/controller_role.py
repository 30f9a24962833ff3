"""The AWS role of one Flux controller, shared by the concerns that give a controller AWS access
(ECR pulls, SOPS decryption): its name and ARN (known before it exists), and its trust policy for
IRSA or EKS Pod Identity. Pure, no Pulumi; stack/controller_role.py registers it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from components.builders.iam import POLICY_VERSION
from components.names import FLUX_NAMESPACE

STS_AUDIENCE = "sts.amazonaws.com"
MAX_ROLE_NAME = 64
POD_IDENTITY = "podIdentity"  # spec.aws.workloadIdentity; else irsa


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


def controller_role_name(cluster: str, controller: str) -> str:
    """The name of a controller's AWS role on the cluster named `cluster`."""
    return _bounded(f"{cluster}-{controller}", MAX_ROLE_NAME)


def role_arn(partition: str, account_id: str, name: str) -> str:
    """A role's ARN, known before the role exists (IAM names a role by account and name)."""
    return f"arn:{partition}:iam::{account_id}:role/{name}"


@dataclass(frozen=True)
class RoleTrust:
    """Who may assume a controller's role, as data (filled by builders/options.py): with IRSA
    the trust policy also needs the cluster's OIDC issuer, read from EKS at run time."""

    workload_identity: str  # irsa | podIdentity
    account_id: str
    region: str
    partition: str
    eks_cluster_name: str

    @property
    def pod_identity(self) -> bool:
        return self.workload_identity == POD_IDENTITY


def trust_policy(trust: RoleTrust, controller: str, oidc_issuer: str | None) -> dict[str, Any]:
    """The trust policy of `controller`'s role (`oidc_issuer`: needed with IRSA only)."""
    if trust.pod_identity:
        return pod_identity_trust_policy(
            trust.account_id, trust.region, trust.eks_cluster_name, controller, trust.partition
        )
    if oidc_issuer is None:
        raise ValueError("an IRSA trust policy needs the cluster's OIDC issuer")
    return irsa_trust_policy(oidc_issuer, trust.account_id, controller, trust.partition)
