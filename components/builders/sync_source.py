"""The OCI sync source (spec.sync kind oci): where the FluxInstance pulls the artifact of the fleet
repository's flux/ tree from, and the patch that makes its OCIRepository verify the producer's
keyless cosign signature. Pure, no Pulumi; builders/options.py fills the FluxInstance's
SyncOptions from these (its table SYNC_SOURCES has one row per source kind).

flux-operator turns `spec.sync` into the source and the `flux-system` Kustomization
(`internal/builder/templates.go`, syncTmpl, v0.58.1): an OCIRepository's `ref` is its `ref.tag`,
its `provider` is set as given, and the Kustomization's sourceRef kind is the sync's kind. With
`provider: aws` source-controller pulls with its own AWS role (builders/ecr_cluster.py
`sync_pull_statements`); the repository policy comes from the registries stack like every other
ECR grant (EcrOptions.sync, filled by builders/options.py `ecr_options`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.names import SYNC_SOURCE_NAME

OCI_SOURCE_KIND = "OCIRepository"
AWS_PROVIDER = "aws"  # source-controller authenticates to ECR with its own AWS identity

# The producer: the workflow that pushes, tags and signs the artifact, on the branch it runs
# for (tests check both against .github/workflows/flux-artifact.yml). A keyless signature made
# there carries this identity in its Fulcio certificate: GitHub's OIDC issuer, and the workflow's
# ref as the subject (https://github.com/<owner>/<repository>/<workflow path>@<ref>).
ARTIFACT_WORKFLOW = ".github/workflows/flux-artifact.yml"
ARTIFACT_BRANCH = "main"
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Signer:
    """The fleet repository whose producer workflow signs the artifact."""

    owner: str
    repository: str


def oci_url(registry_host: str, repository: str) -> str:
    return f"oci://{registry_host}/{repository}"


def _go_literal(text: str) -> str:
    """`text` as a Go (RE2) regular expression matching exactly it."""
    special = set(r"\.+*?()|[]{}^$")
    return "".join(f"\\{c}" if c in special else c for c in text)


def signer_identity(signer: Signer) -> dict[str, str]:
    """The cosign keyless identity the producer workflow signs with: OCIRepository
    `spec.verify.matchOIDCIdentity` entries are Go regular expressions, anchored here so that no
    other workflow, repository or branch matches."""
    subject = (
        f"https://github.com/{signer.owner}/{signer.repository}/{ARTIFACT_WORKFLOW}"
        f"@refs/heads/{ARTIFACT_BRANCH}"
    )
    return {
        "issuer": f"^{_go_literal(GITHUB_OIDC_ISSUER)}$",
        "subject": f"^{_go_literal(subject)}$",
    }


def verify_patch(signer: Signer) -> dict[str, Any]:
    """The FluxInstance patch that makes the sync OCIRepository verify the artifact's signature
    (the operator applies its patches to the sync objects too; source-controller then refuses an
    artifact no matching identity signed)."""
    verify = {"provider": "cosign", "matchOIDCIdentity": [signer_identity(signer)]}
    return {
        "patch": json.dumps([{"op": "add", "path": "/spec/verify", "value": verify}]),
        "target": {"kind": OCI_SOURCE_KIND, "name": SYNC_SOURCE_NAME},
    }
