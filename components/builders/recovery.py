"""Day-2 safety: taking over a bootstrapped cluster (`spec.flux.adopt`). Pure, no Pulumi.

Why adoption is `upsertExistingObjects` plus `pulumi.com/patchForce` (and not an import or patch
resources), and why destroy needs PULUMI_K8S_DELETE_UNREACHABLE: docs/design/evidence.md and
docs/how-to/recover-a-cluster.md (tests/test_day2.py checks the URNs its commands name against
the plan).
"""

from __future__ import annotations

PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


def upsert_existing_objects(adopt: bool) -> bool | None:
    """The cluster provider's `upsertExistingObjects`: on while taking over a bootstrapped
    cluster; otherwise left unset (creates fail on an existing object, the provider default)."""
    return True if adopt else None


def adoption_annotations(adopt: bool) -> dict[str, str]:
    """Annotations of the objects the bootstrap left (flux-system Namespace and Secret) while
    `spec.flux.adopt` is on: their create is an apply that takes the fields over from the
    bootstrap's field manager; none otherwise."""
    return {PATCH_FORCE_ANNOTATION: "true"} if adopt else {}
