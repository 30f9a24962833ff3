"""spec.sync: what the FluxInstance syncs the cluster from, by source kind.

`git` (the default, and what no `spec.sync` means) is the fleet repository of spec.git. `oci` is
an OCI artifact of the same repository's `flux/` tree, pushed to an ECR repository of
_registries.yaml by the producer workflow (.github/workflows/flux-artifact.yml) and pulled by
source-controller with its AWS identity: no Git credential on the cluster.

One model for every kind, like the FluxInstance's own `spec.sync` (kind, url, ref): a kind is one
row of SOURCE_FIELDS, saying which of the fields it takes and which it needs. No I/O, no Pulumi.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from components.definition.ecr import RepositoryName
from components.definition.types import Duration, Label, Model, field_error, pattern

SourceKind = Literal["git", "oci"]
GIT: SourceKind = "git"
OCI: SourceKind = "oci"

ARTIFACT_ROOT = "flux/"  # what the producer workflow pushes (everything else is ignored)

# An OCI tag (the distribution spec's rule): what `flux tag artifact` writes and `ref.tag` reads.
OCI_TAG = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
OciTag = Annotated[
    str, pattern(OCI_TAG, "an OCI tag (letters, digits, '.', '_', '-'; at most 128)")
]

# kind -> (the fields it takes, the ones it needs); `interval` is every kind's.
SOURCE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    GIT: ((), ()),  # everything is in spec.git
    OCI: (("registry", "repository", "tag", "verify"), ("registry", "repository")),
}


class SyncSource(Model):
    """spec.sync: the source of the cluster's sync. Without it, or with kind git, spec.git."""

    kind: SourceKind = Field(
        GIT,
        description="git: the fleet repository of spec.git; oci: the OCI artifact of its flux/ "
        "tree in an ECR repository of k8s-clusters/_registries.yaml, pulled with "
        "source-controller's AWS identity",
    )
    registry: Label | None = Field(
        None, description="(oci) a registry name from k8s-clusters/_registries.yaml"
    )
    repository: RepositoryName | None = Field(
        None, description="(oci) the ECR repository the producer workflow pushes the artifact to"
    )
    tag: OciTag | None = Field(
        None,
        description="(oci) the tag the cluster follows; default: its metadata.environment (the "
        "producer workflow moves each environment's tag along the rollout waves)",
    )
    verify: bool = Field(
        False,
        description="(oci) verify the artifact's keyless cosign signature, made by the "
        "producer workflow of the fleet repository (spec.git) on its main branch",
    )
    interval: Duration | None = Field(None, description="default: spec.git.interval")

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> SyncSource:
        takes, needs = SOURCE_FIELDS[self.kind]
        errors = [
            field_error(
                (name,), None, f"required with kind {self.kind}: expected {_describe(name)}"
            )
            for name in needs
            if getattr(self, name) is None
        ]
        errors += [
            field_error(
                (name,),
                getattr(self, name),
                f"only for kind {', '.join(k for k, f in SOURCE_FIELDS.items() if name in f[0])}"
                f", expected no {name} with kind {self.kind}",
            )
            for name in ("registry", "repository", "tag", "verify")
            if name not in takes and getattr(self, name) not in (None, False)
        ]
        if errors:
            raise ValidationError.from_exception_data("SyncSource", errors)  # type: ignore[arg-type]
        return self


def _describe(name: str) -> str:
    return (SyncSource.model_fields[name].description or name).removeprefix("(oci) ")
