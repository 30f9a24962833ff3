"""Pure builders: a validated cluster definition in, the desired objects out.

Like Flux's own `manifestgen`, nothing here has side effects or imports Pulumi; the
components register what these functions return, and the tests check them directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from .model import DATA_DIR, Cluster

FLUX_NAMESPACE = "flux-system"
FLUX_INSTANCE_NAME = "flux"  # the operator reconciles exactly one FluxInstance, named flux
FLUX_SECRET_NAME = "flux-system"  # the name `flux bootstrap` uses: clusters can be taken over
FLUX_REGISTRY = "ghcr.io/fluxcd"
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
READY_TIMEOUT_SECONDS = 600
GITHUB_HOST = "github.com"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# tls.PrivateKey arguments per deployKey.algorithm. ECDSA must name its curve: the provider's
# default P224 has no OpenSSH public key form.
KEY_ALGORITHMS: dict[str, dict[str, Any]] = {
    "ED25519": {"algorithm": "ED25519"},
    "ECDSA-P256": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
    "ECDSA-P384": {"algorithm": "ECDSA", "ecdsa_curve": "P384"},
    "RSA-4096": {"algorithm": "RSA", "rsa_bits": 4096},
}


@cache
def github_known_hosts() -> str:
    """GitHub's published host keys, pinned as data (no key scan at apply time)."""
    return (DATA_DIR / "github_known_hosts").read_text()


def ssh_fingerprint(public_key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a `[host] type base64 [comment]` key line."""
    parts = public_key_line.split()
    key_at = 1 if parts[0].startswith(("ssh-", "ecdsa-", "sk-")) else 2
    blob = base64.b64decode(parts[key_at], validate=True)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def ssh_url(owner: str, repository: str) -> str:
    return f"ssh://git@{GITHUB_HOST}/{owner}/{repository}.git"


def deploy_key_title(cluster: str, purpose: str, rotation: int) -> str:
    return f"flux-fleet {cluster} {purpose} (rotation {rotation})"


def git_secret_string_data(identity: str, identity_pub: str) -> dict[str, str]:
    """The keys source-controller reads from a Git SSH Secret, and nothing else."""
    return {"identity": identity, "identity.pub": identity_pub, "known_hosts": github_known_hosts()}


def toleration_patches(keys: list[str]) -> list[dict[str, Any]]:
    """kustomize patches giving every Flux controller Deployment the tolerations."""
    if not keys:
        return []
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]
    patch = [{"op": "add", "path": "/spec/template/spec/tolerations", "value": tolerations}]
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
        values["tolerations"] = [
            {"key": key, "operator": "Exists", "effect": "NoSchedule"}
            for key in cluster.spec.flux.toleration_keys
        ]
    return values


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
