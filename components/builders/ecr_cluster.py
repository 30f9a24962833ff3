"""The cluster side of ECR pulls: identity policies in the cluster's account. Node roles get a
managed policy (`node_pull_policy`); the Flux controllers that reach ECR themselves get a role
each (`irsa_permissions`; the role and its trust: builders/controller_role.py). The registry side,
and why a pull needs both: builders/ecr.py. Pure, no Pulumi."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.ecr import (
    AUTH_ACTION,
    CACHE_ACTIONS,
    PULL_ACTIONS,
    SOURCE_CONTROLLER,
    controller_actions,
    repository_arn,
)
from components.builders.iam import POLICY_VERSION, provider_set
from components.definition.registries import Registry
from components.names import PROJECT

# (registry, repository name or prefix `platform/*`)
Pull = tuple[Registry, str]


@dataclass(frozen=True)
class ClusterPulls:
    """What one cluster pulls from the fleet's registries, in a stable order, filled from the
    definition and _registries.yaml by builders/options.py. Two views, as two identities pull:
    the nodes pull images (spec.ecr.pull and an ECR mirror's controller images), the
    controllers with their own role reach spec.ecr.pull only."""

    nodes: tuple[Pull, ...]
    controllers: tuple[Pull, ...]
    # The OCI sync source's repository (spec.sync kind oci): source-controller's alone, the pulls
    # without tag listing (a tag); and the controllers that reach only it, not `controllers`
    # (source-controller without spec.ecr.ociSources).
    sync: tuple[Pull, ...] = ()
    sync_only: frozenset[str] = frozenset()


def pulled_repository_arns(pulled: Iterable[Pull]) -> list[str]:
    """ARNs an identity may pull: prefixes as IAM wildcards (`repository/platform/*`), so a
    repository added under a prefix needs only the registries stack to run again."""
    return sorted({repository_arn(registry, ref) for registry, ref in pulled})


def pulled_through_cache_arns(pulled: Iterable[Pull]) -> list[str]:
    """The ARNs of what an identity pulls through a pull-through cache of its registry."""
    return sorted(
        {repository_arn(registry, ref) for registry, ref in pulled if registry.cache_prefix(ref)}
    )


def _identity_policy(
    pulled: Iterable[Pull], actions: Iterable[str], more: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    pulled = list(pulled)
    # A first pull through a cache imports the upstream image and creates the repository.
    cache_arns = pulled_through_cache_arns(pulled)
    cache = {
        "Sid": "EcrPullThroughCache",
        "Effect": "Allow",
        "Action": provider_set(CACHE_ACTIONS),
        "Resource": provider_set(cache_arns),
    }
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            # GetAuthorizationToken has no resource: it returns a token for the whole registry
            # endpoint; what may be pulled is decided per repository below and by its policy.
            {
                "Sid": "EcrAuthorizationToken",
                "Effect": "Allow",
                "Action": AUTH_ACTION,
                "Resource": "*",
            },
            *(
                [
                    {
                        "Sid": "EcrPull",
                        "Effect": "Allow",
                        "Action": provider_set(actions),
                        "Resource": provider_set(pulled_repository_arns(pulled)),
                    }
                ]
                if pulled
                else []
            ),
            *([cache] if cache_arns else []),
            *more,
        ],
    }


def sync_pull_statements(pulls: ClusterPulls) -> list[dict[str, Any]]:
    """source-controller's statement for the OCI sync source: the pulls on exactly that
    repository (a tag needs no tag listing); none when the cluster syncs Git."""
    if not pulls.sync:
        return []
    return [
        {
            "Sid": "FluxSyncPull",
            "Effect": "Allow",
            "Action": provider_set(PULL_ACTIONS),
            "Resource": provider_set(pulled_repository_arns(pulls.sync)),
        }
    ]


def node_pull_policy(pulls: ClusterPulls) -> dict[str, Any]:
    """The managed policy for `spec.ecr.nodeRoleNames`: the kubelet pulls images (the controller
    images of an ECR mirror included)."""
    return _identity_policy(pulls.nodes, PULL_ACTIONS)


def irsa_permissions(pulls: ClusterPulls, controller: str) -> dict[str, Any]:
    """The inline policy of a controller's role: pull, plus list the tags (source-controller
    resolving a version, image-reflector-controller scanning) and, for the reflector, describe
    the images. Of spec.ecr.pull only (the controller images are the nodes' to pull), and, for
    source-controller, the OCI sync source."""
    reached = () if controller in pulls.sync_only else pulls.controllers
    more = sync_pull_statements(pulls) if controller == SOURCE_CONTROLLER else []
    return _identity_policy(reached, controller_actions(controller), more)


def node_policy_name(cluster: str) -> str:
    return f"{cluster}-{PROJECT}-ecr-pull"
