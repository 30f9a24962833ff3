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
    PULL_ACTIONS,
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


def pulled_repository_arns(pulled: Iterable[Pull]) -> list[str]:
    """ARNs an identity may pull: prefixes as IAM wildcards (`repository/platform/*`), so a
    repository added under a prefix needs only the registries stack to run again."""
    return sorted({repository_arn(registry, ref) for registry, ref in pulled})


def _identity_policy(arns: Sequence[str], actions: Iterable[str]) -> dict[str, Any]:
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
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": provider_set(actions),
                "Resource": provider_set(arns),
            },
        ],
    }


def node_pull_policy(pulls: ClusterPulls) -> dict[str, Any]:
    """The managed policy for `spec.ecr.nodeRoleNames`: the kubelet pulls images (the controller
    images of an ECR mirror included)."""
    return _identity_policy(pulled_repository_arns(pulls.nodes), PULL_ACTIONS)


def irsa_permissions(pulls: ClusterPulls, controller: str) -> dict[str, Any]:
    """The inline policy of a controller's role: pull, plus list the tags (source-controller
    resolving a version, image-reflector-controller scanning) and, for the reflector, describe
    the images. Of spec.ecr.pull only: the controller images are the nodes' to pull."""
    return _identity_policy(
        pulled_repository_arns(pulls.controllers), controller_actions(controller)
    )


def node_policy_name(cluster: str) -> str:
    return f"{cluster}-{PROJECT}-ecr-pull"
