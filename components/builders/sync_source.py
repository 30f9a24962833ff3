"""The FluxInstance's sync source, by kind (spec.sync): the `spec.sync` block the operator turns
into the source and the `flux-system` Kustomization (flux-operator `internal/builder/templates.go`,
syncTmpl: an OCIRepository's `ref` is its `ref.tag`, and the Kustomization's sourceRef kind is the
sync's kind), and the patches those sync objects need. Pure, no Pulumi.

A kind is one row of SOURCE_KINDS. `git` is the fleet repository (builders/flux.py `sync`);
`oci` is the artifact the producer workflow pushes to ECR, pulled with `provider: aws`
(source-controller's own AWS role, builders/ecr_cluster.py `sync_pull_statement`; the repository
policy comes from the registries stack, builders/ecr.py `sync_pull`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.builders.flux import sync as git_sync
from components.builders.runtime_info import registry_host
from components.definition.cluster import Cluster
from components.definition.registries import Registry
from components.definition.sources import GIT, OCI
from components.names import SYNC_SOURCE_NAME

OCI_SOURCE_KIND = "OCIRepository"
AWS_PROVIDER = "aws"  # source-controller authenticates to ECR with its own AWS identity

# The producer: the workflow that pushes, tags and signs the artifact (a test reads it), on the
# branch it runs for. Keyless cosign signatures made there carry this identity in their Fulcio
# certificate: GitHub's OIDC issuer, and the workflow's ref as the subject
# (https://github.com/<owner>/<repository>/<workflow path>@<ref>).
ARTIFACT_WORKFLOW = ".github/workflows/flux-artifact.yml"
ARTIFACT_BRANCH = "main"
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class SyncSource:
    """What one source kind gives the FluxInstance: its spec.sync, and kustomize patches on the
    sync objects it generates (the operator applies its patches to those too)."""

    sync: dict[str, Any]
    patches: tuple[dict[str, Any], ...] = field(default=())


def oci_url(registry: Registry, repository: str) -> str:
    return f"oci://{registry_host(registry)}/{repository}"


def _go_literal(text: str) -> str:
    """`text` as a Go (RE2) regular expression matching exactly it."""
    special = set(r"\.+*?()|[]{}^$")
    return "".join(f"\\{c}" if c in special else c for c in text)


def signer_identity(cluster: Cluster) -> dict[str, str]:
    """The cosign keyless identity the producer workflow signs with: OCIRepository
    `spec.verify.matchOIDCIdentity` entries are Go regular expressions, anchored here so that no
    other workflow, repository or branch matches."""
    git = cluster.spec.git
    subject = (
        f"https://github.com/{git.owner}/{git.repository}/{ARTIFACT_WORKFLOW}"
        f"@refs/heads/{ARTIFACT_BRANCH}"
    )
    return {
        "issuer": f"^{_go_literal(GITHUB_OIDC_ISSUER)}$",
        "subject": f"^{_go_literal(subject)}$",
    }


def verify_patch(cluster: Cluster) -> dict[str, Any]:
    """The FluxInstance patch that makes the sync OCIRepository verify the artifact's signature
    (source-controller refuses an artifact no matching identity signed)."""
    verify = {"provider": "cosign", "matchOIDCIdentity": [signer_identity(cluster)]}
    return {
        "patch": json.dumps([{"op": "add", "path": "/spec/verify", "value": verify}]),
        "target": {"kind": OCI_SOURCE_KIND, "name": SYNC_SOURCE_NAME},
    }


def oci_sync(cluster: Cluster, registries: Mapping[str, Registry]) -> SyncSource:
    """The OCIRepository of the cluster's artifact, at its tag. The artifact keeps the
    repository's layout (the workflow pushes the root with everything but flux/ ignored), so the
    path is the one the cluster syncs from Git, and the Kustomizations in it are unchanged."""
    oci = cluster.oci_source
    assert oci is not None and oci.registry is not None and oci.repository is not None
    sync = {
        "kind": OCI_SOURCE_KIND,
        "url": oci_url(registries[oci.registry], oci.repository),
        "ref": cluster.sync_tag,
        "path": cluster.git_path,
        "interval": oci.interval or cluster.spec.git.interval,
        "provider": AWS_PROVIDER,
    }
    return SyncSource(sync, (verify_patch(cluster),) if oci.verify else ())


SOURCE_KINDS: dict[str, Callable[[Cluster, Mapping[str, Registry]], SyncSource]] = {
    GIT: lambda cluster, _: SyncSource(git_sync(cluster)),
    OCI: oci_sync,
}


def sync_source(cluster: Cluster, registries: Mapping[str, Registry]) -> SyncSource:
    """The cluster's sync source, of the kind spec.sync names (git without it)."""
    kind = cluster.spec.sync.kind if cluster.spec.sync is not None else GIT
    return SOURCE_KINDS[kind](cluster, registries)
