"""The fleet's ECR registries: k8s-clusters/_registries.yaml (kind Registries).

Same conventions as the cluster definition (definition/cluster.py): camelCase field names, strict
types, unknown keys forbidden; `definition.schema.json_schema()` includes this kind in
k8s-clusters/cluster.schema.json. No Pulumi here: `fluxfleet validate` imports it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.definition.ecr import RepositoryName, RepositoryPrefix
from components.definition.types import (
    AccountId,
    Label,
    Model,
    Region,
    RoleArn,
    field_error,
    partition_of,
    pattern,
    role_in_account,
    unique,
)

ORGANIZATION_ID = r"^o-[a-z0-9]{10,32}$"
OrganizationId = Annotated[
    str, pattern(ORGANIZATION_ID, "an AWS Organizations ID such as o-abc123def4")
]


class Registry(Model):
    name: Label = Field(description="the name clusters use in spec.ecr.pull[].registry")
    account_id: AccountId
    region: Region
    role_arn: RoleArn | None = Field(
        None, description="a role to assume to write the registry's repository policies"
    )
    organization_id: OrganizationId | None = Field(
        None, description="adds an aws:PrincipalOrgID condition to every grant"
    )
    grant_to: Literal["accounts", "organization"] = Field(
        "accounts",
        description="accounts: each repository policy names the consuming accounts (about 300 "
        "fit ECR's size limit); organization: it grants every principal of the AWS "
        "Organization (organizationId), whatever the fleet's size",
    )

    repositories: Annotated[list[RepositoryName], AfterValidator(unique)] = Field(
        default_factory=list,
        max_length=1000,
        description="the registry's repositories: a pulled prefix such as platform/* is granted "
        "on the ones listed here that it matches; when set, pulled names must be listed too",
    )

    pull_through_cache: Annotated[list[RepositoryPrefix], AfterValidator(unique)] = Field(
        default_factory=list,
        max_length=50,
        description="the repository prefixes of the registry's ECR pull-through cache rules "
        "(ecrRepositoryPrefix, such as ghcr): their repositories are created on the first pull, "
        "so the registry policy and a repository creation template grant the consuming "
        "accounts, instead of repository policies",
    )

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def cache_prefix(self, ref: str) -> str | None:
        """The pull-through cache prefix a repository name or prefix falls under, if any."""
        return next((p for p in self.pull_through_cache if ref.startswith(f"{p}/")), None)

    @model_validator(mode="after")
    def _role_in_the_account(self) -> Registry:
        role_in_account(self.account_id, self.role_arn, "Registry")
        return self

    @model_validator(mode="after")
    def _organization_to_grant(self) -> Registry:
        if self.grant_to == "organization" and self.organization_id is None:
            message = (
                "organization grants the AWS Organization of organizationId: expected "
                "organizationId too"
            )
            error = field_error(("grantTo",), self.grant_to, message)
            raise ValidationError.from_exception_data("Registry", [error])  # type: ignore[list-item]
        return self


def _unique_names(registries: list[Registry]) -> list[Registry]:
    unique([registry.name for registry in registries])
    return registries


class Registries(Model):
    """kind: Registries — k8s-clusters/_registries.yaml, the ECR registries clusters pull from."""

    api_version: Literal["flux-fleet/v1"]
    kind: Literal["Registries"]
    registries: Annotated[list[Registry], AfterValidator(_unique_names)] = Field(
        default_factory=list, max_length=50
    )
