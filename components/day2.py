"""Day-2 safety: taking over a bootstrapped cluster, and clusters rebuilt or deleted under a stack.

Pure: no Pulumi import. The components ask these functions what to register; the tests and the
README use the recovery commands, whose URNs a test checks against the plan.

How pulumi-kubernetes 4.34 treats an object that already exists in the cluster (the evidence
behind `spec.flux.adopt`):

- A plain create fails with AlreadyExists. Since v4.29.0 (pulumi/pulumi-kubernetes#4278, the fix
  of #2926) the provider creates new objects client-side even with server-side apply enabled, so
  a create never silently updates an existing object; the provider's own test
  TestExistingObjectBlocksCreate applies a Namespace that exists and expects "already exists".
  Updates of objects Pulumi already owns still use server-side apply.
- Upsert is an opt-in provider setting: `upsertExistingObjects` (or the environment variable
  PULUMI_K8S_UPSERT_EXISTING_OBJECTS) "restores the previous upsert behavior for users who
  intentionally adopt existing cluster resources" (v4.29.0 changelog and the Provider argument's
  documentation in the 4.34.2 SDK). The create is then a server-side apply: fields owned by
  another field manager with a different value are a conflict unless forced, and the provider
  forces a create's apply when the object carries the `pulumi.com/patchForce: "true"` annotation
  (await.Creation passes patchForce(inputs) as the apply's Force option).
- Import (`ResourceOptions(import_=...)`) depends on the CLI: older engines fail the update when
  the program's inputs differ from the live object ("inputs to import do not match the existing
  resource"); since pulumi/pulumi#19339 the import succeeds and an update follows (the `import`
  option's documentation). The inputs always differ here: the bootstrap's namespace has labels of
  its own and the Secret's key is by design not the one Pulumi generates, and the Secret's update
  would still conflict with the bootstrap's field manager. Above all an import reads an object
  that must exist: `adopt` left on for a rebuilt cluster, or set on a new one, would fail.
- Patch resources (NamespacePatch, SecretPatch) apply fields without owning the object. They are
  other resource types than the Namespace and Secret a stack without `adopt` registers, so
  turning `adopt` off later would replace them: the new Namespace's create fails with
  AlreadyExists and deleting the patch relinquishes its fields. (A NamespacePatch even creates a
  missing namespace, pulumi/pulumi-kubernetes#2194.)

So `adopt: true` turns on `upsertExistingObjects` for the cluster's provider and forces the
apply of the two objects the bootstrap left, the flux-system Namespace and Secret. The resources
stay the same Namespace and Secret, under the same names and provider, whether `adopt` is on or
off: switching it is an update of the provider's configuration (its `clusterIdentifier` is
unchanged, so it is not replaced) and of two annotations, never a replacement. The rest of the
takeover is the operator's (its migration guide, "Flux Bootstrap Migration"): the FluxInstance
reconciles the same-named GitRepository and Kustomization flux-system, and every object it
applies carries `kustomize.toolkit.fluxcd.io/ssa: Ignore` and `kustomize.toolkit.fluxcd.io/prune:
Disabled` (flux-operator internal/builder/templates.go), so the kustomize-controller neither
reverts nor prunes the controllers when flux-system/gotk-*.yaml leave Git.

Clusters that are rebuilt or deleted under their stack:

- The cluster's provider is replaced only when the cluster's identity (`clusterIdentifier`: ARN
  and creation time) changes, and with it every object created through it; the key pairs and
  GitHub deploy keys do not depend on it. Deleting the old cluster's objects, though, goes through
  the old provider, configured from the state (the engine deletes a replaced resource with the
  options and provider recorded in the state, pulumi/pulumi#13428): its endpoint is gone.
- `pulumi destroy` does not run the program, so a switch read by the program cannot reach the
  provider that destroys; the environment variable PULUMI_K8S_DELETE_UNREACHABLE does (the
  provider's fallback for `deleteUnreachable`, which its own error message recommends,
  pulumi/pulumi-kubernetes#2489): objects of an unreachable cluster leave the state instead of
  failing. The program never sets `deleteUnreachable` itself: on a cluster that is only briefly
  unreachable, a refresh would forget every object.
- A `kubernetes:helm.sh/v3:Release` ignores `deleteUnreachable` in 4.34 ("can't delete Helm
  Release with unreachable cluster", pulumi/pulumi-kubernetes#2675, fix proposed in #4593), so
  the flux-operator release and what depends on it are forgotten first with `pulumi state delete
  --target-dependents` (pulumi/pulumi#11164).
"""

from __future__ import annotations

from .model import Cluster

PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
DELETE_UNREACHABLE_ENV = "PULUMI_K8S_DELETE_UNREACHABLE"
PROJECT = "flux-fleet"  # Pulumi.yaml `name`: the project part of every URN

# The engine's URNs (parent types joined by `$`) of the two resources the recovery commands name.
K8S_PROVIDER_URN = (
    "urn:pulumi:{stack}::{project}::flux-fleet:index:FluxCluster$flux-fleet:index:EksConnection"
    "$pulumi:providers:kubernetes::{stack}-eks-k8s"
)
OPERATOR_RELEASE_URN = (
    "urn:pulumi:{stack}::{project}::flux-fleet:index:FluxCluster$flux-fleet:index:Flux"
    "$kubernetes:helm.sh/v3:Release::{stack}-flux-operator"
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
    return K8S_PROVIDER_URN.format(stack=stack, project=PROJECT)


def operator_release_urn(stack: str) -> str:
    return OPERATOR_RELEASE_URN.format(stack=stack, project=PROJECT)


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
