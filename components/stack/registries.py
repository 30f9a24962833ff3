"""Registries: the registry side of cross-account ECR pulls, for the whole fleet (stack registries).

A repository has exactly one policy, and `aws.ecr.RepositoryPolicy` replaces it whole: if two
stacks wrote the same repository they would undo each other, and destroying either would remove
the other's grants. So one stack owns every repository policy the fleet needs, and builds each
from every cluster that pulls the repository.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.builders.ecr import (
    PULL_THROUGH_CACHE,
    EcrFleet,
    cache_grants,
    cache_refs,
    registry_policy,
    repository_grants,
    repository_policy,
    repository_policy_problems,
    same_account_pulls,
)
from components.definition.registries import Registry
from components.names import PROJECT, component_type
from components.stack.aws_account import account_provider
from components.stack.policy_document import policy_json


class Registries(pulumi.ComponentResource):
    """One AWS provider per registry; one RepositoryPolicy per repository pulled from another
    account, granting the consuming accounts (their roots, one statement per set of actions) or,
    with `grantTo: organization`, the registry's AWS Organization (builders/ecr.py).

    A repository whose last consumer goes away loses its RepositoryPolicy resource, and Pulumi
    deletes the policy. Pulls within one account need no repository policy: they are listed in
    the `sameAccountPulls` output instead.
    """

    providers: dict[str, aws.Provider]
    policies: dict[tuple[str, str], aws.ecr.RepositoryPolicy]

    def __init__(
        self, name: str, fleet: EcrFleet, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("Registries"), name, None, opts)
        self.providers = {
            registry.name: self._aws_provider(name, registry)
            for registry in fleet.registries.values()
        }
        self.policies = {}
        grants = repository_grants(fleet)
        for (registry_name, repository), account_grants in grants.items():
            registry = fleet.registries[registry_name]
            document = repository_policy(registry, account_grants)
            problems = repository_policy_problems(document)
            if problems:  # validation reports these first; never write such a policy
                raise ValueError(f"{registry_name}/{repository}: {'; '.join(problems)}")
            provider = self.providers[registry_name]
            self.policies[(registry_name, repository)] = aws.ecr.RepositoryPolicy(
                # "/" cannot occur in a registry name: the first one separates the repository.
                f"{name}-{registry_name}/{repository}",
                repository=repository,
                policy=policy_json(
                    document, pulumi.InvokeOutputOptions(parent=self, provider=provider)
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        self.registry_policies: dict[str, aws.ecr.RegistryPolicy] = {}
        self.creation_templates: dict[tuple[str, str], aws.ecr.RepositoryCreationTemplate] = {}
        self._pull_through_caches(name, fleet)
        self.outputs: dict[str, Any] = {
            "repositoryPolicies": {
                f"{registry}/{repository}": [grant.account_id for grant in account_grants]
                for (registry, repository), account_grants in grants.items()
            },
        }
        caches = cache_grants(fleet)
        if caches:
            self.outputs["pullThroughCacheGrants"] = {
                f"{registry}/{prefix}": [grant.account_id for grant in account_grants]
                for (registry, prefix), account_grants in caches.items()
            }
        same_account = [str(pull) for pull in same_account_pulls(fleet)]
        if same_account:
            self.outputs["sameAccountPulls"] = same_account
        self.register_outputs(self.outputs)

    def _pull_through_caches(self, name: str, fleet: EcrFleet) -> None:
        """What pulls through a pull-through cache from another account need, on repositories
        that may not exist yet (ECR User Guide, "IAM permissions required to sync an upstream
        registry with an Amazon ECR private registry"): the registry policy lets each consuming
        account import upstream images and create the repositories of what it pulls through;
        a repository creation template (applied for PULL_THROUGH_CACHE) per cache prefix gives
        each repository the cache creates the repository policy granting the pulls.

        A registry has one registry policy, replaced whole, like a repository's policy: this
        stack owns it for the registries whose caches the fleet pulls through."""
        refs = cache_refs(fleet)
        for registry in fleet.registries.values():
            pulled = {a: r for (reg, a), r in refs.items() if reg == registry.name}
            if not pulled:
                continue
            provider = self.providers[registry.name]
            self.registry_policies[registry.name] = aws.ecr.RegistryPolicy(
                f"{name}-{registry.name}-registry-policy",
                policy=policy_json(
                    registry_policy(registry, pulled),
                    pulumi.InvokeOutputOptions(parent=self, provider=provider),
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        for (registry_name, prefix), account_grants in cache_grants(fleet).items():
            registry = fleet.registries[registry_name]
            document = repository_policy(registry, account_grants)
            problems = repository_policy_problems(document)
            if problems:  # validation reports these first
                raise ValueError(f"{registry_name}/{prefix}: {'; '.join(problems)}")
            provider = self.providers[registry_name]
            self.creation_templates[(registry_name, prefix)] = aws.ecr.RepositoryCreationTemplate(
                f"{name}-{registry_name}-cache/{prefix}",
                prefix=prefix,
                applied_fors=[PULL_THROUGH_CACHE],
                description=f"{PROJECT}: the fleet's pulls through the cache {prefix}",
                repository_policy=policy_json(
                    document, pulumi.InvokeOutputOptions(parent=self, provider=provider)
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )

    def _aws_provider(self, name: str, registry: Registry) -> aws.Provider:
        return account_provider(
            f"{name}-{registry.name}",
            account_id=registry.account_id,
            region=registry.region,
            role_arn=registry.role_arn,
            parent=self,
        )
