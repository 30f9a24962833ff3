"""Each cluster's spec.ecr checked against the registries of k8s-clusters/_registries.yaml, and
every policy the fleet's pulls need checked against AWS's size limits."""

from __future__ import annotations

from collections.abc import Mapping

from components.build.ecr import (
    FleetView,
    expand,
    is_prefix,
    repository_grants,
    repository_policy,
    repository_policy_problems,
)
from components.build.ecr_cluster import irsa_controllers, irsa_permissions, node_pull_policy
from components.build.iam import INLINE_POLICY_LIMIT, MANAGED_POLICY_LIMIT, policy_size
from components.definition.cluster import Cluster
from components.definition.registries import Registry, partition_of
from components.names import CLUSTERS_DIR, REGISTRIES_FILE

REGISTRIES_DISPLAY = f"{CLUSTERS_DIR}/{REGISTRIES_FILE}"


def pull_problems(cluster: Cluster, registries: Mapping[str, Registry]) -> list[tuple[str, str]]:
    """(field path, message) for what the cluster's spec.ecr gets wrong against the registries."""
    problems: list[tuple[str, str]] = []
    partition = partition_of(cluster.spec.aws.region)
    for i, pull in enumerate(cluster.spec.ecr.pull):
        at = f"spec.ecr.pull[{i}]"
        registry = registries.get(pull.registry)
        if registry is None:
            known = ", ".join(registries) or f"none: {REGISTRIES_DISPLAY} defines no registry"
            problems.append((f"{at}.registry", f'expected one of {known}, got "{pull.registry}"'))
            continue
        if registry.partition != partition:
            problems.append(
                (
                    f"{at}.registry",
                    f'registry "{registry.name}" is in partition {registry.partition}, the '
                    f"cluster in {partition}: expected a registry of the cluster's partition",
                )
            )
        for j, ref in enumerate(pull.repositories):
            where = f"{at}.repositories[{j}]"
            declared = registry.repositories
            if is_prefix(ref) and not declared:
                problems.append(
                    (
                        where,
                        f'a prefix is granted on the repositories registry "{registry.name}" '
                        f"lists in {REGISTRIES_DISPLAY} (repositories), and it lists "
                        f'none: expected a repository name, got "{ref}"',
                    )
                )
            elif is_prefix(ref) and not expand(ref, registry):
                problems.append(
                    (
                        where,
                        f'expected a prefix matching a repository of registry "{registry.name}", '
                        f'got "{ref}" (matches none of {", ".join(declared)})',
                    )
                )
            elif not is_prefix(ref) and declared and ref not in declared:
                problems.append(
                    (
                        where,
                        f'expected a repository of registry "{registry.name}" '
                        f'({", ".join(declared)}), got "{ref}"',
                    )
                )
    if problems or not cluster.spec.ecr.pull:
        return problems
    size = policy_size(node_pull_policy(cluster, registries), whitespace=False)
    if cluster.spec.ecr.node_role_names and size > MANAGED_POLICY_LIMIT:
        problems.append(
            (
                "spec.ecr.pull",
                f"the node pull policy would be {size} characters, expected at most "
                f"{MANAGED_POLICY_LIMIT} (IAM's limit): pull prefixes (team/*) instead of names",
            )
        )
    for controller in irsa_controllers(cluster):
        size = policy_size(irsa_permissions(cluster, registries, controller), whitespace=False)
        if size > INLINE_POLICY_LIMIT:
            problems.append(
                (
                    "spec.ecr.pull",
                    f"the {controller} policy would be {size} characters, expected at most "
                    f"{INLINE_POLICY_LIMIT} (IAM's limit): pull prefixes (team/*) instead of names",
                )
            )
    return problems


def repository_policy_size_problems(fleet: FleetView) -> list[tuple[str, str]]:
    """(registry name, message) for each repository policy AWS would refuse."""
    problems = []
    for (registry, repository), grants in repository_grants(fleet).items():
        document = repository_policy(fleet.registries[registry], grants)
        problems += [
            (registry, f'the repository policy of "{repository}" {problem}')
            for problem in repository_policy_problems(document)
        ]
    return problems
