"""A Git ref (definition/git_ref.py) as Flux takes it: a GitRepository's `spec.ref`, and the
FluxInstance's `spec.sync.ref` with, where that string cannot say it, a patch of the sync
GitRepository. Pure, no Pulumi.

flux-operator renders `sync.ref` as the GitRepository's `ref.name` (internal/builder/templates.go),
a full ref: a branch and a tag fit (refs/heads/<b>, refs/tags/<t>); a semver range and a commit do
not, so the sync GitRepository's whole `spec.ref` is replaced by a kustomize patch, the way the
operator documents "Cluster sync semver range" (docs/guides/instance/instance-customization.md).
The whole ref, because source-controller takes commit over name over semver over tag over branch
(fluxcd/pkg git/gogit/client.go): a `name` left beside `semver` would win.
"""

from __future__ import annotations

import json
from typing import Any

from components.definition.git_ref import GitRef
from components.names import SYNC_SOURCE_NAME

# The kinds `sync.ref` can name itself, as the prefix of the full ref
FULL_REF_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/"}


def git_repository_ref(ref: GitRef) -> dict[str, str]:
    """A source.toolkit.fluxcd.io/v1 GitRepository's spec.ref: {branch|tag|semver|commit: ...}."""
    return {ref.kind: ref.value}


# sync.ref for a kind it cannot say: a full ref no repository has, never the range or the SHA.
# The operator writes sync.ref into YAML unquoted (`name: {{$sync.Ref}}`), where a range such as
# ">=1.0.0", "*" or "!=1.2.3" is a block scalar, an alias or a tag, and a SHA of digits a number.
PATCHED_REF = "refs/flux-fleet/{kind}-set-by-patch"


def sync_ref(ref: GitRef) -> str:
    """The FluxInstance's spec.sync.ref (required by its CRD). For a semver range or a commit,
    the patch replaces what it renders; what is written here is a ref that does not exist, so
    that without the patch the sync fails (no such ref) instead of following a branch."""
    prefix = FULL_REF_PREFIX.get(ref.kind)
    return f"{prefix}{ref.value}" if prefix is not None else PATCHED_REF.format(kind=ref.kind)


def sync_ref_patch(ref: GitRef) -> dict[str, Any] | None:
    """The FluxInstance kustomize patch giving the sync GitRepository (flux-system) the ref that
    `sync.ref` cannot say (None: it can)."""
    if ref.kind in FULL_REF_PREFIX:
        return None
    operations = [{"op": "replace", "path": "/spec/ref", "value": git_repository_ref(ref)}]
    return {
        "patch": json.dumps(operations),
        "target": {"kind": "GitRepository", "name": SYNC_SOURCE_NAME},
    }
