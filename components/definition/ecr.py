"""spec.ecr: what a cluster pulls from the registries of k8s-clusters/_registries.yaml."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from components.definition.types import Label, Model, pattern, unique

ECR_REPOSITORY = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
ECR_REPOSITORY_NAME = rf"^{ECR_REPOSITORY}$"
ECR_REPOSITORY_REF = rf"^{ECR_REPOSITORY}(?:/\*)?$"
IAM_ROLE_NAME = r"^[A-Za-z0-9+=,.@_-]{1,64}$"
RepositoryName = Annotated[
    str,
    pattern(
        ECR_REPOSITORY_NAME,
        "an ECR repository name such as api or team/api (lowercase letters, digits, '.', '_', "
        "'-' and '/')",
    ),
    Field(min_length=2, max_length=256),
]
RepositoryRef = Annotated[
    str,
    pattern(
        ECR_REPOSITORY_REF,
        "an ECR repository name such as api or team/api, or a prefix ending in /* such as "
        "platform/*",
    ),
    Field(min_length=2, max_length=258),
]
# The ecrRepositoryPrefix of a pull-through cache rule (ECR API CreatePullThroughCacheRule:
# 2 to 30 characters, lowercase letters, digits, '.', '_', '-' and '/').
RepositoryPrefix = Annotated[
    str,
    pattern(
        r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$",
        "a pull-through cache rule's repository prefix such as ghcr",
    ),
    Field(min_length=2, max_length=30),
]
IamRoleName = Annotated[
    str, pattern(IAM_ROLE_NAME, "an IAM role name (letters, digits and +=,.@_-, at most 64)")
]


def _one_entry_per_registry(pulls: list[EcrPull]) -> list[EcrPull]:
    unique([pull.registry for pull in pulls])
    return pulls


class EcrPull(Model):
    registry: Label = Field(description="a registry name from k8s-clusters/_registries.yaml")
    repositories: Annotated[list[RepositoryRef], AfterValidator(unique)] = Field(
        min_length=1,
        max_length=100,
        description="repository names, or prefixes ending in /* (granted on the registry's "
        "repositories they match)",
    )


class EcrSpec(Model):
    pull: Annotated[list[EcrPull], AfterValidator(_one_entry_per_registry)] = Field(
        default_factory=list, max_length=20, description="what the cluster pulls, per registry"
    )
    node_role_names: Annotated[list[IamRoleName], AfterValidator(unique)] = Field(
        default_factory=list,
        max_length=10,
        description="node roles in the cluster account that get the pull permissions",
    )
    oci_sources: bool = Field(
        False,
        description="source-controller pulls OCI artifacts or Helm OCI charts from these "
        "repositories (it gets a role of its own that pulls and lists their tags)",
    )
