"""Day-2 safety: taking over a bootstrapped cluster (`spec.flux.adopt`), and the recovery commands
for clusters rebuilt or deleted under their stack. Pure, no Pulumi.

Why adoption is `upsertExistingObjects` plus `pulumi.com/patchForce` (and not an import or patch
resources), and why destroy needs PULUMI_K8S_DELETE_UNREACHABLE: README, "Migrating an existing
cluster" (its "Evidence") and "Rebuilt and deleted clusters". A test checks the URNs the
commands name against the plan.
"""

from __future__ import annotations

from components.definition.cluster import Cluster
from components.names import urn

PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
DELETE_UNREACHABLE_ENV = "PULUMI_K8S_DELETE_UNREACHABLE"
# The type chains (parent types joined by `$`) of the two resources the recovery commands name.
K8S_PROVIDER_TYPES = (
    "flux-fleet:index:FluxCluster$flux-fleet:index:EksConnection$pulumi:providers:kubernetes"
)
OPERATOR_RELEASE_TYPES = (
    "flux-fleet:index:FluxCluster$flux-fleet:index:Flux$kubernetes:helm.sh/v3:Release"
)


def upsert_existing_objects(cluster: Cluster) -> bool | None:
    """The cluster provider's `upsertExistingObjects`: on while taking over a bootstrapped
    cluster; otherwise left unset (creates fail on an existing object, the provider default)."""
    return True if cluster.spec.flux.adopt else None


def adoption_annotations(adopt: bool) -> dict[str, str]:
    """Annotations of the objects the bootstrap left (flux-system Namespace and Secret) while
    `spec.flux.adopt` is on: their create is an apply that takes the fields over from the
    bootstrap's field manager; none otherwise."""
    return {PATCH_FORCE_ANNOTATION: "true"} if adopt else {}


def k8s_provider_urn(stack: str) -> str:
    return urn(stack, K8S_PROVIDER_TYPES, f"{stack}-eks-k8s")


def operator_release_urn(stack: str) -> str:
    return urn(stack, OPERATOR_RELEASE_TYPES, f"{stack}-flux-operator")


def rebuilt_cluster_commands(stack: str) -> list[str]:
    """After the EKS cluster was deleted and created again under the same name: forget every
    object of the old cluster (they went with it), then create them all on the new one."""
    return [
        f"pulumi state delete --target-dependents --yes -s {stack} '{k8s_provider_urn(stack)}'",
        f"pulumi up -s {stack}",
    ]


def deleted_cluster_commands(stack: str) -> list[str]:
    """Destroy a stack whose EKS cluster no longer exists: the deploy keys, key pairs and IAM
    roles are deleted; the objects of the unreachable cluster only leave the state."""
    return [
        f"pulumi state delete --target-dependents --yes -s {stack} '{operator_release_urn(stack)}'",
        f"{DELETE_UNREACHABLE_ENV}=true pulumi destroy -s {stack}",
    ]
