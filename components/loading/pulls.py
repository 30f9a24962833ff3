"""Each cluster's spec.ecr checked against the registries of k8s-clusters/_registries.yaml, and
every policy the fleet's pulls need checked against AWS's size limits."""

from __future__ import annotations

from collections.abc import Mapping

from components.builders.ecr import (
    EcrFleet,
    cache_grants,
    ecr_controllers,
    expand,
    fleet_registry,
    is_prefix,
    pulls,
    repository_grants,
    repository_policy,
    repository_policy_problems,
)
from components.builders.ecr_cluster import irsa_permissions, node_pull_policy
from components.builders.iam import INLINE_POLICY_LIMIT, MANAGED_POLICY_LIMIT, policy_size
from components.builders.options import cluster_pulls, ecr_options
from components.definition.cluster import Cluster
from components.definition.registries import Registry, partition_of
from components.definition.types import ecr_location
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
            problems += _ref_problems(f"{at}.repositories[{j}]", ref, registry)
    problems += _image_registry_problems(cluster, registries)
    problems += _sync_source_problems(cluster, registries)
    ecr = ecr_options(cluster)
    if problems or not pulls(ecr, registries):
        return problems
    pulled = cluster_pulls(cluster, registries)
    size = policy_size(node_pull_policy(pulled))
    if cluster.spec.ecr.node_role_names and size > MANAGED_POLICY_LIMIT:
        problems.append(
            (
                "spec.ecr.pull",
                f"the node pull policy would be {size} characters, expected at most "
                f"{MANAGED_POLICY_LIMIT} (IAM's limit): pull prefixes (team/*) instead of names",
            )
        )
    for controller in ecr_controllers(ecr):
        size = policy_size(irsa_permissions(pulled, controller))
        if size > INLINE_POLICY_LIMIT:
            problems.append(
                (
                    "spec.ecr.pull",
                    f"the {controller} policy would be {size} characters, expected at most "
                    f"{INLINE_POLICY_LIMIT} (IAM's limit): pull prefixes (team/*) instead of names",
                )
            )
    return problems


def repository_policy_size_problems(fleet: EcrFleet) -> list[tuple[str, str]]:
    """(registry name, message) for each repository policy AWS would refuse."""
    problems = []
    for (registry, repository), grants in repository_grants(fleet).items():
        document = repository_policy(fleet.registries[registry], grants)
        problems += [
            (registry, f'the repository policy of "{repository}" {problem}')
            for problem in repository_policy_problems(document)
        ]
    for (registry, prefix), grants in cache_grants(fleet).items():
        document = repository_policy(fleet.registries[registry], grants)
        problems += [
            (registry, f'the repository creation template of cache "{prefix}" {problem}')
            for problem in repository_policy_problems(document)
        ]
    return problems


def _ref_problems(where: str, ref: str, registry: Registry) -> list[tuple[str, str]]:
    """What is wrong with pulling `ref` (a name or a prefix) from `registry`."""
    declared = registry.repositories
    if registry.cache_prefix(ref) is not None:
        return []  # a pull-through cache creates its repositories on the first pull
    if is_prefix(ref) and not declared:
        return [
            (
                where,
                f'a prefix is granted on the repositories registry "{registry.name}" '
                f"lists in {REGISTRIES_DISPLAY} (repositories), and it lists "
                f'none: expected a repository name, got "{ref}"',
            )
        ]
    if is_prefix(ref) and not expand(ref, registry):
        return [
            (
                where,
                f'expected a prefix matching a repository of registry "{registry.name}", '
                f'got "{ref}" (matches none of {", ".join(declared)})',
            )
        ]
    if not is_prefix(ref) and declared and ref not in declared:
        return [
            (
                where,
                f'expected a repository of registry "{registry.name}" '
                f'({", ".join(declared)}), got "{ref}"',
            )
        ]
    return []


def _image_registry_problems(
    cluster: Cluster, registries: Mapping[str, Registry]
) -> list[tuple[str, str]]:
    """An ECR mirror of the controller images, of the operator's image or of its chart is a pull
    like any other: from a registry of _registries.yaml, of repositories it lists (the images:
    under the mirror's path)."""
    flux = cluster.spec.flux
    references = (
        ("spec.flux.registry.url", flux.registry.url if flux.registry else None, True),
        ("spec.flux.operatorImage", flux.operator_image, False),
        ("spec.flux.operatorChart", flux.operator_chart, False),
    )
    return [
        problem
        for at, reference, prefix in references
        if reference is not None
        for problem in _mirror_problems(cluster, registries, at, reference, prefix=prefix)
    ]


def _mirror_problems(
    cluster: Cluster,
    registries: Mapping[str, Registry],
    at: str,
    reference: str,
    *,
    prefix: bool,
) -> list[tuple[str, str]]:
    location = ecr_location(reference)
    if location is None:
        return []
    account, region, path = location
    registry = fleet_registry(reference, registries)
    if registry is None:
        known = ", ".join(f"{r.name} ({r.account_id}/{r.region})" for r in registries.values())
        return [
            (
                at,
                f"an ECR registry of {account}/{region}, expected the account and region of a "
                f"registry of {REGISTRIES_DISPLAY} ({known or 'it defines none'})",
            )
        ]
    if not path:
        return [(at, "expected the mirror's path after the ECR host, such as .../ghcr/fluxcd")]
    if registry.partition != partition_of(cluster.spec.aws.region):
        return [(at, f'registry "{registry.name}" is in another partition than the cluster')]
    return _ref_problems(at, f"{path}/*" if prefix else path, registry)


def _sync_source_problems(
    cluster: Cluster, registries: Mapping[str, Registry]
) -> list[tuple[str, str]]:
    """An OCI sync source is pulled like spec.ecr.pull: from a registry of _registries.yaml (the
    registries stack writes its repository policy), in the cluster's partition, of a repository
    the registry lists when it lists any."""
    oci = cluster.oci_source
    if oci is None or oci.registry is None or oci.repository is None:
        return []
    registry = registries.get(oci.registry)
    if registry is None:
        known = ", ".join(registries) or f"none: {REGISTRIES_DISPLAY} defines no registry"
        return [
            (
                "spec.sync.registry",
                f"expected one of {known} (the registries stack grants the pull), "
                f'got "{oci.registry}"',
            )
        ]
    partition = partition_of(cluster.spec.aws.region)
    if registry.partition != partition:
        return [
            (
                "spec.sync.registry",
                f'registry "{registry.name}" ({registry.region}) is in partition '
                f"{registry.partition}, the cluster in {partition}: an ECR URL of another "
                "partition cannot be pulled, expected a registry of the cluster's partition",
            )
        ]
    return _ref_problems("spec.sync.repository", oci.repository, registry)
