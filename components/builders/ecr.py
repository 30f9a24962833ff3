"""ECR pulls as IAM policy documents: what the fleet pulls, and the registry side. Pure, no Pulumi.

A cross-account pull needs two grants (AWS ECR User Guide, "Private repository policy examples"
and "Amazon ECR identity-based policies"; docs/how-to/private-registries.md, "Both sides"):
- the registry side: the repository policy allows the consuming account
  (`repository_grants` → `repository_policy`), owned by the registries stack alone;
- the cluster side: an identity policy in the cluster's account allows `ecr:GetAuthorizationToken`
  and the pull actions (builders/ecr_cluster.py).

Every document is returned in exactly the shape `aws.iam.get_policy_document` renders it
(Sid, Effect, Action, Resource, Principal, Condition; a single value as a string, several as a
list in the provider's reverse-sorted order), so `json.loads` of the provider's output equals the
document built here and the size checks measure the text AWS receives (builders/iam.py).

Prefixes (`platform/*`) are expanded against the registry's declared `repositories` in
_registries.yaml, never a live `ecr:DescribeRepositories` lookup: the grants are reviewed in Git,
`fluxfleet validate` catches a prefix that matches nothing, the offline plan shows the real
policies, and two runs of the same fleet render byte-identical policies. A new repository under a
prefix is one line in _registries.yaml and a run of the registries stack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.iam import (
    POLICY_VERSION,
    REPOSITORY_POLICY_LIMIT,
    as_list,
    policy_size,
    provider_set,
)
from components.definition.ecr import EcrPull
from components.definition.registries import Registry
from components.definition.types import ecr_location

# Why a cluster pulling from ECR may need nothing in its own account (EcrAccess is then empty).
NOTHING_TO_GRANT = (
    "spec.ecr.nodeRoleNames is empty and no Flux controller pulls from ECR itself; the nodes' "
    "own role must allow the pulls (the registries stack grants this account)"
)

PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
# The registry API's tag list (GET /v2/<name>/tags/list, what Flux's controllers call to resolve a
# semver range) is authorized as ecr:ListImages: source-controller needs it for an OCIRepository
# with a semver ref and a HelmChart from an OCI HelmRepository with a version range (the default
# "*" included); without it ECR answers 403 (fluxcd/source-controller#1901).
LIST_TAGS_ACTION = "ecr:ListImages"
LIST_ACTIONS = ("ecr:DescribeImages", LIST_TAGS_ACTION)  # image-reflector-controller scans tags
# What a pull through a pull-through cache needs beyond the pulls (ECR User Guide, "IAM
# permissions required to sync an upstream registry with an Amazon ECR private registry"):
# importing the upstream image (registry, repository or identity policy) and, the first time,
# creating the repository (registry or identity policy only). The only other action a registry
# policy accepts is ecr:ReplicateImage.
CACHE_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
# A repository creation template's appliedFor for the repositories a pull-through cache creates
PULL_THROUGH_CACHE = "PULL_THROUGH_CACHE"
AUTH_ACTION = "ecr:GetAuthorizationToken"  # identity policies only: useless in a repository policy

IMAGE_REFLECTOR = "image-reflector-controller"
SOURCE_CONTROLLER = "source-controller"

# What each Flux controller that reaches ECR itself may do on spec.ecr.pull, beyond the pulls.
CONTROLLER_LIST_ACTIONS: dict[str, tuple[str, ...]] = {
    SOURCE_CONTROLLER: (LIST_TAGS_ACTION,),  # spec.ecr.ociSources: resolves versions
    IMAGE_REFLECTOR: LIST_ACTIONS,
}


@dataclass(frozen=True)
class EcrOptions:
    """What the ECR builders read of one cluster, filled by builders/options.py (`ecr_options`):
    its account, spec.ecr's pulls, the ECR references of spec.flux and the OCI sync source. The
    registries stack reads this of every cluster, so it holds no other concern's fields."""

    name: str
    account_id: str
    pull: tuple[EcrPull, ...] = ()  # spec.ecr.pull
    oci_sources: bool = False  # spec.ecr.ociSources: source-controller reaches spec.ecr.pull
    image_reflector: bool = False  # image-reflector-controller runs (spec.flux.componentsExtra)
    mirror: str | None = None  # spec.flux.registry's URL: the controller images
    operator_image: str | None = None  # spec.flux.operatorImage
    operator_chart: str | None = None  # spec.flux.operatorChart
    sync: EcrPull | None = None  # the OCI sync source's repository (spec.sync kind oci)


@dataclass(frozen=True)
class EcrFleet:
    """What the registry side reads of the fleet: each cluster's EcrOptions (by cluster name) and
    the registries of _registries.yaml (builders/options.py `ecr_fleet`)."""

    clusters: Mapping[str, EcrOptions]
    registries: Mapping[str, Registry]


# --- the controller images, from an ECR mirror (spec.flux.registry) ------------------------------


def ecr_image_registry(cluster: EcrOptions) -> tuple[str, str, str] | None:
    """(account, region, path) of spec.flux.registry when it is an ECR registry."""
    return ecr_location(cluster.mirror) if cluster.mirror is not None else None


def flux_ecr_references(cluster: EcrOptions) -> dict[str, str]:
    """spec.flux field → its reference, for the mirrors on ECR: the controller images
    (registry), the operator's image and chart. Each is a pull the registries stack grants."""
    references = {
        "registry": cluster.mirror,
        "operatorImage": cluster.operator_image,
        "operatorChart": cluster.operator_chart,
    }
    return {k: v for k, v in references.items() if v is not None and ecr_location(v)}


def fleet_registry(reference: str, registries: Mapping[str, Registry]) -> Registry | None:
    """The registry of _registries.yaml an ECR reference (image registry or repository, `oci://`
    chart) is in: the one of its account and region."""
    location = ecr_location(reference)
    if location is None:
        return None
    account, region, _ = location
    return next(
        (r for r in registries.values() if (r.account_id, r.region) == (account, region)), None
    )


def image_registry(cluster: EcrOptions, registries: Mapping[str, Registry]) -> Registry | None:
    """The registry of _registries.yaml the controller images come from (an ECR mirror)."""
    return fleet_registry(cluster.mirror, registries) if cluster.mirror is not None else None


def _pull_of(
    reference: str | None, registries: Mapping[str, Registry], *, prefix: bool
) -> list[EcrPull]:
    """The pull of one ECR reference of spec.flux: every repository under it (`prefix`, the
    controller images' mirror) or the one it names (the operator's image or chart)."""
    registry = fleet_registry(reference, registries) if reference is not None else None
    location = ecr_location(reference) if reference is not None else None
    if registry is None or location is None or not location[2]:
        return []
    repository = f"{location[2]}/*" if prefix else location[2]
    return [EcrPull.model_validate({"registry": registry.name, "repositories": [repository]})]


def pulls(
    cluster: EcrOptions,
    registries: Mapping[str, Registry],
    *,
    images: bool = True,
    sync: bool = True,
) -> list[EcrPull]:
    """What the cluster pulls from the fleet's registries: spec.ecr.pull; with `images`, the
    controller images from an ECR mirror (every repository under the mirror's path) and the
    operator's image from an ECR mirror, which the nodes pull like any other image; with `sync`,
    the OCI sync source's repository (source-controller's alone)."""
    out = list(cluster.pull)
    if sync and cluster.sync is not None:
        out.append(cluster.sync)
    if images:
        out += _pull_of(cluster.mirror, registries, prefix=True)
        out += _pull_of(cluster.operator_image, registries, prefix=False)
    return out


def chart_pulls(cluster: EcrOptions, registries: Mapping[str, Registry]) -> list[EcrPull]:
    """The operator chart from an ECR mirror: pulled at `pulumi up` by the deployer, in the
    cluster's account, with an ECR token (no node or controller pulls it)."""
    return _pull_of(cluster.operator_chart, registries, prefix=False)


def registry_pulls(cluster: EcrOptions, registries: Mapping[str, Registry]) -> list[EcrPull]:
    """Everything the registry side grants the cluster's account: its pulls and the chart."""
    return [*pulls(cluster, registries), *chart_pulls(cluster, registries)]


# --- what the fleet pulls -------------------------------------------------------------------------


def is_prefix(ref: str) -> bool:
    return ref.endswith("/*")


def matches(ref: str, repository: str) -> bool:
    """Whether a pulled name or prefix (`platform/*`: everything under platform/) names it."""
    return repository.startswith(ref[:-1]) if is_prefix(ref) else repository == ref


def expand(ref: str, registry: Registry) -> list[str]:
    """The repositories a pulled name or prefix grants: a prefix → the declared ones it matches."""
    if not is_prefix(ref):
        return [ref]
    return sorted(r for r in registry.repositories if matches(ref, r))


def existing(ref: str, registry: Registry) -> list[str]:
    """The repositories a pulled name or prefix grants that are known to exist: under a
    pull-through cache prefix only those _registries.yaml lists (the cache creates the others on
    their first pull, and ECR refuses a repository policy on a repository that does not exist)."""
    repositories = expand(ref, registry)
    if registry.cache_prefix(ref) is None:
        return repositories
    return [r for r in repositories if r in registry.repositories]


def repository_arn(registry: Registry, ref: str) -> str:
    """The ARN of a repository, or of every repository under a prefix (IAM wildcard)."""
    return f"arn:{registry.partition}:ecr:{registry.region}:{registry.account_id}:repository/{ref}"


def listing_controllers(cluster: EcrOptions) -> list[str]:
    """The Flux controllers that reach spec.ecr.pull with their own identity (IRSA or Pod
    Identity): source-controller with `ociSources`, image-reflector-controller when it runs."""
    if not cluster.pull:
        return []
    controllers = []
    if cluster.oci_sources:
        controllers.append(SOURCE_CONTROLLER)  # OCIRepository / HelmRepository type oci
    if cluster.image_reflector:
        controllers.append(IMAGE_REFLECTOR)  # ImageRepository scans tags
    return controllers


def ecr_controllers(cluster: EcrOptions) -> list[str]:
    """The Flux controllers with an AWS role for ECR: the listing ones, and source-controller
    when it pulls the cluster's OCI sync source (spec.sync kind oci)."""
    controllers = listing_controllers(cluster)
    if cluster.sync is not None and SOURCE_CONTROLLER not in controllers:
        controllers.insert(0, SOURCE_CONTROLLER)
    return controllers


def controller_actions(controller: str) -> list[str]:
    """A controller's actions on the repositories of spec.ecr.pull: pull, and list."""
    return sorted({*PULL_ACTIONS, *CONTROLLER_LIST_ACTIONS[controller]})


def cluster_list_actions(cluster: EcrOptions) -> set[str]:
    """What the cluster's own controllers add to the pulls on spec.ecr.pull's repositories."""
    return {a for c in listing_controllers(cluster) for a in CONTROLLER_LIST_ACTIONS[c]}


def is_same_account(cluster: EcrOptions, registry: Registry) -> bool:
    return cluster.account_id == registry.account_id


@dataclass(frozen=True, order=True)
class AccountGrant:
    """What one consuming account is granted on one repository."""

    account_id: str
    partition: str
    # the pulls, and the list actions of the controllers of this account's clusters that reach
    # the repository through spec.ecr.pull (an ECR mirror's controller images: pulls only)
    actions: tuple[str, ...]
    clusters: tuple[str, ...]

    @property
    def principal(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"


@dataclass(frozen=True, order=True)
class SameAccountPull:
    """A pull that needs no repository policy: the cluster is in the registry's account."""

    registry: str
    repository: str  # a name or a prefix, as the cluster wrote it
    cluster: str
    account_id: str

    def __str__(self) -> str:
        return (
            f"{self.registry}/{self.repository} <- {self.cluster}: same account "
            f"{self.account_id}, no repository policy (identity policies grant it)"
        )


def _grants(
    fleet: EcrFleet, targets: Callable[[str, Registry], list[str]]
) -> dict[tuple[str, str], list[AccountGrant]]:
    """(registry, target) → one grant per consuming account of another account than the
    registry's, where `targets` maps each pulled name or prefix to what is granted on it.
    Sorted: the same fleet always gives the same grants."""
    consumers: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    actions: dict[tuple[str, str, str], set[str]] = defaultdict(lambda: set(PULL_ACTIONS))
    for cluster in fleet.clusters.values():
        account = cluster.account_id
        for pull in registry_pulls(cluster, fleet.registries):
            registry = fleet.registries[pull.registry]
            if is_same_account(cluster, registry):
                continue
            # the controllers list only what spec.ecr.pull names, not the mirror's images
            own = any(pull is p for p in cluster.pull)
            listing = cluster_list_actions(cluster) if own else set()
            for target in {t for ref in pull.repositories for t in targets(ref, registry)}:
                consumers[(registry.name, target)][account].add(cluster.name)
                actions[(registry.name, target, account)] |= listing
    return {
        key: [
            AccountGrant(
                account_id=account,
                partition=fleet.registries[key[0]].partition,
                actions=tuple(sorted(actions[(*key, account)])),
                clusters=tuple(sorted(clusters)),
            )
            for account, clusters in sorted(consumers[key].items())
        ]
        for key in sorted(consumers)
    }


def repository_grants(fleet: EcrFleet) -> dict[tuple[str, str], list[AccountGrant]]:
    """(registry, repository) → one grant per consuming account, for every repository some
    cluster pulls from another account (and that exists: see `existing`)."""
    return _grants(fleet, existing)


def cache_grants(fleet: EcrFleet) -> dict[tuple[str, str], list[AccountGrant]]:
    """(registry, prefix) → one grant per consuming account, for every pull-through cache
    prefix some cluster pulls through from another account: granted by the registry policy
    (what a first pull needs) and the prefix's repository creation template (the pulls)."""
    return _grants(fleet, _cache_target)


def _cache_target(ref: str, registry: Registry) -> list[str]:
    prefix = registry.cache_prefix(ref)
    return [] if prefix is None else [prefix]


def cache_refs(fleet: EcrFleet) -> dict[tuple[str, str], list[str]]:
    """(registry, account) → the pulled names and prefixes under a pull-through cache prefix,
    from another account: where the account may import and create (the registry policy)."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cluster in fleet.clusters.values():
        for pull in registry_pulls(cluster, fleet.registries):
            registry = fleet.registries[pull.registry]
            if is_same_account(cluster, registry):
                continue
            for ref in pull.repositories:
                if registry.cache_prefix(ref) is not None:
                    found[(registry.name, cluster.account_id)].add(ref)
    return {key: sorted(refs) for key, refs in sorted(found.items())}


def same_account_pulls(fleet: EcrFleet) -> list[SameAccountPull]:
    return sorted(
        SameAccountPull(pull.registry, ref, cluster.name, cluster.account_id)
        for cluster in fleet.clusters.values()
        for pull in registry_pulls(cluster, fleet.registries)
        if is_same_account(cluster, fleet.registries[pull.registry])
        for ref in pull.repositories
    )


# --- the registry side ----------------------------------------------------------------------------


def statement_sid(actions: Sequence[str]) -> str:
    """The Sid of the statement granting `actions`: Pull, plus the actions beyond the pulls
    (PullListImages, PullDescribeImagesListImages). Alphanumeric, one per action set."""
    extra = sorted(set(actions) - set(PULL_ACTIONS))
    return "Pull" + "".join(action.split(":", 1)[1] for action in extra)


def repository_policy(registry: Registry, grants: Sequence[AccountGrant]) -> dict[str, Any]:
    """The repository policy: one statement per set of actions, fewest actions first.

    With `grantTo: accounts` (the default) a statement's principals are the roots of the
    accounts granted those actions, never `*`: a root principal survives roles being re-created,
    and the account's own identity policies decide which of its roles may pull. Grouping the
    accounts of one action set into one statement costs each account only its ARN, so several
    hundred fit the size limit. With `grantTo: organization` the one statement grants `*` under
    aws:PrincipalOrgID the actions any consumer needs: its size no longer grows with the fleet.

    No Resource element: ECR rejects one in a repository policy (the policy applies to its
    repository).
    """
    condition = (
        {"StringEquals": {"aws:PrincipalOrgID": registry.organization_id}}
        if registry.organization_id
        else None
    )
    if registry.grant_to == "organization":
        groups: dict[tuple[str, ...], list[str]] = {
            tuple(sorted({a for grant in grants for a in grant.actions})): ["*"]
        }
    else:
        groups = defaultdict(list)
        for grant in sorted(grants):
            groups[grant.actions].append(grant.principal)
    statements = []
    for actions in sorted(groups, key=lambda a: (len(a), a)):
        principals = groups[actions]
        statement: dict[str, Any] = {
            "Sid": statement_sid(actions),
            "Effect": "Allow",
            "Action": provider_set(actions),
            "Principal": "*" if principals == ["*"] else {"AWS": provider_set(principals)},
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Version": POLICY_VERSION, "Statement": statements}


def registry_policy(registry: Registry, refs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The registry policy of a registry with pull-through caches: each consuming account may
    import upstream images and create the repositories of exactly what it pulls through a
    cache (`refs`: account → names and prefixes), so a first pull works from an empty cache.
    Accounts pulling the same things share a statement; with `grantTo: organization`, one
    statement grants `*` under aws:PrincipalOrgID on everything the fleet pulls through."""
    condition = (
        {"StringEquals": {"aws:PrincipalOrgID": registry.organization_id}}
        if registry.organization_id
        else None
    )
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    if registry.grant_to == "organization":
        groups[tuple(sorted({r for pulled in refs.values() for r in pulled}))] = ["*"]
    else:
        for account, pulled in sorted(refs.items()):
            groups[tuple(sorted(pulled))].append(f"arn:{registry.partition}:iam::{account}:root")
    statements = []
    for i, pulled in enumerate(sorted(groups), start=1):
        principals = groups[pulled]
        statement: dict[str, Any] = {
            "Sid": f"PullThroughCache{i}",
            "Effect": "Allow",
            "Action": provider_set(CACHE_ACTIONS),
            "Resource": provider_set([repository_arn(registry, ref) for ref in pulled]),
            "Principal": "*" if principals == ["*"] else {"AWS": provider_set(principals)},
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Version": POLICY_VERSION, "Statement": statements}


def granted_accounts(document: Mapping[str, Any]) -> list[str]:
    """The account roots a repository policy names (none when it grants the organization)."""
    found: set[str] = set()
    for statement in document["Statement"]:
        principal = statement.get("Principal")
        if isinstance(principal, Mapping):
            found.update(a for a in as_list(principal.get("AWS") or []) if a != "*")
    return sorted(found)


def repository_policy_problems(document: Mapping[str, Any]) -> list[str]:
    """What AWS, or this project's rules, refuse in a repository policy."""
    problems = []
    size = policy_size(document)
    if size > REPOSITORY_POLICY_LIMIT:
        problems.append(
            f"would be {size} characters (the compact JSON the provider sends) for "
            f"{len(granted_accounts(document))} consuming accounts, expected at most "
            f"{REPOSITORY_POLICY_LIMIT} (ECR's limit): grant the AWS Organization instead "
            "(grantTo: organization, with organizationId)"
        )
    for statement in document["Statement"]:
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
        if "*" in as_list(aws or []) and not statement.get("Condition"):
            problems.append(f'statement {statement.get("Sid")}: a "*" principal without condition')
        if AUTH_ACTION in as_list(statement.get("Action", [])):
            problems.append(f"statement {statement.get('Sid')}: {AUTH_ACTION} does nothing here")
        if "Resource" in statement:
            problems.append(f"statement {statement.get('Sid')}: ECR rejects a Resource element")
    return problems
