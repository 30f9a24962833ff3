"""How the program reaches an EKS cluster: a kubeconfig whose user runs `aws eks get-token`, and
the EKS access policy of the deployer's access entry."""

from __future__ import annotations

from typing import Any


def kubeconfig(
    *,
    endpoint: str,
    certificate_authority: str,
    eks_cluster_name: str,
    region: str,
    role_arn: str | None,
) -> dict[str, Any]:
    """A kubeconfig whose user is an exec credential (`aws eks get-token`), never a static token."""
    args = ["eks", "get-token", "--cluster-name", eks_cluster_name, "--region", region]
    if role_arn:
        args += ["--role-arn", role_arn]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": eks_cluster_name,
                "cluster": {
                    "server": endpoint,
                    "certificate-authority-data": certificate_authority,
                },
            }
        ],
        "contexts": [
            {"name": eks_cluster_name, "context": {"cluster": eks_cluster_name, "user": "aws"}}
        ],
        "current-context": eks_cluster_name,
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": args,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def access_policy_arn(policy: str, partition: str = "aws") -> str:
    """The ARN of an EKS access policy (AWS-owned, global)."""
    return f"arn:{partition}:eks::aws:cluster-access-policy/{policy}"
