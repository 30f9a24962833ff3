"""ECR access, pure: the repository grants of a fleet, the policy documents on both sides of a
cross-account pull, their validation, and parliament's opinion of every one of them."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from crdcheck import validate
from hypothesis import given, settings
from hypothesis import strategies as st
from parliament import analyze_policy_string

from components.builders import controller_role, ecr, ecr_cluster, iam
from components.builders.flux import IRSA_ANNOTATION, flux_instance
from components.builders.options import cluster_pulls, ecr_fleet, ecr_options, flux_options
from components.definition.cluster import Cluster
from components.definition.ecr import EcrPull
from components.definition.registries import Registry
from components.loading.fleet import load_fleet
from components.plan import iam as plan_iam
from components.problems import DefinitionError

PULL = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
LIST = {"ecr:ListImages", "ecr:DescribeImages"}
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
PROD, STAGING = "production-cluster-name", "staging-cluster-name"


# --- building fleets ------------------------------------------------------------------------------


@dataclass
class Fleet:
    clusters: dict[str, Cluster] = field(default_factory=dict)
    registries: dict[str, Registry] = field(default_factory=dict)


MIRROR = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"  # registry()'s account and region


def registry(name: str = "shared", account: str = "210987654321", **extra: Any) -> Registry:
    return Registry.model_validate(
        {"name": name, "accountId": account, "region": "eu-west-1", **extra}
    )


def cluster(
    name: str,
    account: str,
    pull: Mapping[str, list[str]],
    *,
    extra: Iterable[str] = (),
    node_roles: Iterable[str] = (),
    oci_sources: bool = False,
    region: str = "eu-west-1",
    flux: Mapping[str, Any] | None = None,
) -> Cluster:
    return Cluster.model_validate(
        {
            "apiVersion": "flux-fleet/v1",
            "kind": "Cluster",
            "metadata": {"name": name, "environment": "production"},
            "spec": {
                "aws": {"accountId": account, "region": region},
                "git": {"owner": "acme", "repository": "gitops"},
                "flux": {"componentsExtra": list(extra), **(flux or {})},
                "ecr": {
                    "pull": [{"registry": r, "repositories": refs} for r, refs in pull.items()],
                    "nodeRoleNames": list(node_roles),
                    "ociSources": oci_sources,
                },
            },
        }
    )


def fleet_of(clusters: Iterable[Cluster], registries: Iterable[Registry]) -> Fleet:
    return Fleet({c.name: c for c in clusters}, {r.name: r for r in registries})


def principals(document: Mapping[str, Any]) -> list[str]:
    """Every account root the policy names, sorted."""
    return sorted(a for s in document["Statement"] for a in as_set(s["Principal"]["AWS"]))


def as_set(value: str | list[str]) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def statements(document: Mapping[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    """Sid -> (actions, account ids)."""
    return {
        s["Sid"]: (actions(s), {a.split(":")[4] for a in as_set(s["Principal"]["AWS"])})
        for s in document["Statement"]
    }


def actions(statement: Mapping[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


@pytest.fixture(scope="module")
def example(root: Path):
    fleet = load_fleet(root)
    assert fleet.all_problems == []
    return fleet


# --- the registry side ----------------------------------------------------------------------------


def test_example_api_policy_grants_exactly_both_consuming_accounts(example) -> None:
    grants = ecr.repository_grants(ecr_fleet(example))
    assert set(grants) == {("shared", "api"), ("shared", "worker")}
    api = ecr.repository_policy(example.registries["shared"], grants[("shared", "api")])
    assert api["Version"] == "2012-10-17"
    assert principals(api) == [
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::234567890123:root",
    ]
    # one statement for the accounts granted the same actions (the provider's reverse order)
    (statement,) = api["Statement"]
    assert statement["Sid"] == "Pull"
    assert statement["Principal"]["AWS"] == [
        "arn:aws:iam::234567890123:root",
        "arn:aws:iam::123456789012:root",
    ]
    for statement in api["Statement"]:
        assert statement["Effect"] == "Allow"
        assert actions(statement) == PULL
        assert "Resource" not in statement  # ECR refuses a Resource in a repository policy
        assert "Condition" not in statement  # no organizationId on the example registry
    worker = ecr.repository_policy(example.registries["shared"], grants[("shared", "worker")])
    assert principals(worker) == ["arn:aws:iam::123456789012:root"]


def test_image_reflector_adds_list_actions_for_its_own_account_only() -> None:
    reg = registry()
    fleet = fleet_of(
        [
            cluster("a", "111111111111", {"shared": ["api"]}, extra=[ecr.IMAGE_REFLECTOR]),
            cluster("b", "222222222222", {"shared": ["api", "worker"]}),
            # reflector in b's account, but it does not pull api: api's grant to b stays pull-only
            cluster("c", "222222222222", {"shared": ["worker"]}, extra=[ecr.IMAGE_REFLECTOR]),
        ],
        [reg],
    )
    grants = ecr.repository_grants(ecr_fleet(fleet))
    api = ecr.repository_policy(reg, grants[("shared", "api")])
    assert statements(api) == {
        "Pull": (PULL, {"222222222222"}),
        "PullDescribeImagesListImages": (PULL | LIST, {"111111111111"}),
    }
    assert [s["Sid"] for s in api["Statement"]] == ["Pull", "PullDescribeImagesListImages"]
    worker = ecr.repository_policy(reg, grants[("shared", "worker")])
    assert statements(worker) == {"PullDescribeImagesListImages": (PULL | LIST, {"222222222222"})}
    assert [g.clusters for g in grants[("shared", "worker")]] == [("b", "c")]


def test_oci_sources_add_tag_listing_on_both_sides_and_nowhere_else() -> None:
    """source-controller resolving a semver ref or a chart version range lists the tags
    (ecr:ListImages); a cluster with spec.ecr.ociSources gets it on the repositories of
    spec.ecr.pull, in its controller's identity policy and for its account in the repository
    policy; not its nodes, not the controller images of an ECR mirror, not another account."""
    reg = registry(repositories=["api", "worker", "mirror/flux/source-controller"])
    mirror_url = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/mirror"
    oci = cluster(
        "a",
        "111111111111",
        {"shared": ["api"]},
        node_roles=["n"],
        oci_sources=True,
        flux={"registry": {"url": mirror_url}},
    )
    plain = cluster("b", "222222222222", {"shared": ["api", "worker"]}, node_roles=["n"])
    fleet = fleet_of([oci, plain], [reg])
    grants = ecr.repository_grants(ecr_fleet(fleet))
    api = ecr.repository_policy(reg, grants[("shared", "api")])
    assert statements(api) == {
        "Pull": (PULL, {"222222222222"}),
        "PullListImages": (PULL | {"ecr:ListImages"}, {"111111111111"}),
    }
    mirror = ecr.repository_policy(reg, grants[("shared", "mirror/flux/source-controller")])
    assert statements(mirror) == {"Pull": (PULL, {"111111111111"})}
    # the cluster side: source-controller's role lists, the nodes only pull
    source = ecr_cluster.irsa_permissions(
        cluster_pulls(oci, fleet.registries), ecr.SOURCE_CONTROLLER
    )
    assert actions(source["Statement"][1]) == PULL | {"ecr:ListImages"}
    assert source["Statement"][1]["Resource"] == ecr.repository_arn(reg, "api")
    for c in (oci, plain):
        assert (
            actions(
                ecr_cluster.node_pull_policy(cluster_pulls(c, fleet.registries))["Statement"][1]
            )
            == PULL
        )
    # without ociSources, no controller role and no listing anywhere
    assert ecr.listing_controllers(ecr_options(plain)) == []
    off = cluster("a", "111111111111", {"shared": ["api"]}, flux={"registry": {"url": mirror_url}})
    grants = ecr.repository_grants(ecr_fleet(fleet_of([off, plain], [reg])))
    assert {a for key in grants for grant in grants[key] for a in grant.actions} == PULL


def test_same_account_pull_writes_no_statement_and_is_reported() -> None:
    reg = registry()
    fleet = fleet_of(
        [
            cluster("home", "210987654321", {"shared": ["api", "tools"]}),
            cluster("away", "111111111111", {"shared": ["api"]}),
        ],
        [reg],
    )
    grants = ecr.repository_grants(ecr_fleet(fleet))
    assert set(grants) == {("shared", "api")}  # tools: pulled only from its own account
    assert principals(ecr.repository_policy(reg, grants[("shared", "api")])) == [
        "arn:aws:iam::111111111111:root"
    ]
    notes = [str(p) for p in ecr.same_account_pulls(ecr_fleet(fleet))]
    assert notes == [
        "shared/api <- home: same account 210987654321, no repository policy "
        "(identity policies grant it)",
        "shared/tools <- home: same account 210987654321, no repository policy "
        "(identity policies grant it)",
    ]
    # the cluster side still applies to a same-account pull
    home = fleet.clusters["home"]
    assert ecr_cluster.pulled_repository_arns(cluster_pulls(home, fleet.registries).nodes) == [
        "arn:aws:ecr:eu-west-1:210987654321:repository/api",
        "arn:aws:ecr:eu-west-1:210987654321:repository/tools",
    ]


def test_prefix_is_granted_on_the_declared_repositories_it_matches() -> None:
    reg = registry(repositories=["api", "platform/ingress", "platform/dns/coredns", "platformx"])
    pulling = cluster("a", "111111111111", {"shared": ["platform/*", "api"]})
    fleet = fleet_of([pulling], [reg])
    assert sorted(ecr.repository_grants(ecr_fleet(fleet))) == [
        ("shared", "api"),
        ("shared", "platform/dns/coredns"),
        ("shared", "platform/ingress"),
    ]
    # the cluster side grants the prefix as an IAM wildcard
    assert ecr_cluster.pulled_repository_arns(cluster_pulls(pulling, fleet.registries).nodes) == [
        "arn:aws:ecr:eu-west-1:210987654321:repository/api",
        "arn:aws:ecr:eu-west-1:210987654321:repository/platform/*",
    ]


def test_organization_id_conditions_every_grant() -> None:
    reg = registry(organizationId="o-abc123def4")
    fleet = fleet_of(
        [cluster(n, a, {"shared": ["api"]}) for n, a in (("a", "111111111111"), ("b", "2" * 12))],
        [reg],
    )
    document = ecr.repository_policy(
        reg, ecr.repository_grants(ecr_fleet(fleet))[("shared", "api")]
    )
    for statement in document["Statement"]:
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}
        assert "*" not in as_set(statement["Principal"]["AWS"])  # grantTo: accounts (default)


def test_grant_to_organization_is_one_statement_whatever_the_fleet() -> None:
    """At scale the registry grants its AWS Organization: `*` under aws:PrincipalOrgID, the
    actions any consumer needs, a size that does not grow with the accounts."""
    reg = registry(organizationId="o-abc123def4", grantTo="organization")
    sizes = []
    for n in (2, 2000):
        clusters = [cluster(f"c{i}", f"{100000000000 + i}", {"shared": ["api"]}) for i in range(n)]
        clusters[0] = cluster("c0", "100000000000", {"shared": ["api"]}, oci_sources=True)
        grants = ecr.repository_grants(ecr_fleet(fleet_of(clusters, [reg])))[("shared", "api")]
        document = ecr.repository_policy(reg, grants)
        assert document["Statement"] == [
            {
                "Sid": "PullListImages",
                "Effect": "Allow",
                "Action": sorted(PULL | {"ecr:ListImages"}, reverse=True),
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}},
            }
        ]
        assert ecr.repository_policy_problems(document) == []
        sizes.append(iam.policy_size(document))
    assert sizes[0] == sizes[1] < 400
    # an organization grant needs the organization
    with pytest.raises(ValueError, match="expected organizationId too"):
        registry(grantTo="organization")


def test_adding_an_account_changes_only_the_repositories_it_pulls(example) -> None:
    before = {
        k: ecr.repository_policy(example.registries[k[0]], g)
        for k, g in ecr.repository_grants(ecr_fleet(example)).items()
    }
    newcomer = cluster("newcomer", "345678901234", {"shared": ["worker"]})
    grown = Fleet({**example.clusters, "newcomer": newcomer}, dict(example.registries))
    after = {
        k: ecr.repository_policy(grown.registries[k[0]], g)
        for k, g in ecr.repository_grants(ecr_fleet(grown)).items()
    }
    assert set(after) == set(before)
    assert iam.policy_text(after[("shared", "api")]) == iam.policy_text(before[("shared", "api")])
    assert principals(after[("shared", "worker")]) == [
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::345678901234:root",
    ]


def test_removing_the_last_consumer_removes_the_policy(example) -> None:
    without_prod = Fleet(
        {n: c for n, c in example.clusters.items() if n != PROD}, dict(example.registries)
    )
    grants = ecr.repository_grants(ecr_fleet(without_prod))
    assert set(grants) == {("shared", "api")}  # worker had only production: no policy any more
    assert principals(
        ecr.repository_policy(without_prod.registries["shared"], grants[("shared", "api")])
    ) == ["arn:aws:iam::234567890123:root"]


ACCOUNTS = st.lists(
    st.from_regex(r"[0-9]{12}", fullmatch=True), min_size=1, max_size=6, unique=True
)
REPOS = ["api", "worker", "team/web", "team/jobs", "tools"]


@settings(max_examples=60, deadline=None)
@given(
    accounts=ACCOUNTS,
    data=st.data(),
    org=st.booleans(),
)
def test_any_fleet_renders_policies_by_the_rules_and_byte_identically(
    accounts: list[str], data: st.DataObject, org: bool
) -> None:
    reg = registry(repositories=REPOS, **({"organizationId": "o-abc123def4"} if org else {}))
    clusters = []
    for i, account in enumerate(accounts):
        refs = data.draw(st.lists(st.sampled_from([*REPOS, "team/*"]), min_size=1, unique=True))
        reflector = data.draw(st.booleans())
        clusters.append(
            cluster(f"c{i}", account, {"shared": refs}, extra=[ecr.IMAGE_REFLECTOR] * reflector)
        )
    fleet = fleet_of(clusters, [reg])
    shuffled = fleet_of(random.Random(len(accounts)).sample(clusters, len(clusters)), [reg])
    grants = ecr.repository_grants(ecr_fleet(fleet))
    assert grants == ecr.repository_grants(ecr_fleet(shuffled))
    for (_, repository), account_grants in grants.items():
        document = ecr.repository_policy(reg, account_grants)
        again = ecr.repository_policy(reg, list(reversed(account_grants)))
        assert iam.policy_text(document) == iam.policy_text(again)
        assert ecr.repository_policy_problems(document) == []
        consumers = {
            c.spec.aws.account_id
            for c in clusters
            if any(ecr.matches(ref, repository) for ref in c.spec.ecr.pull[0].repositories)
            and c.spec.aws.account_id != reg.account_id
        }
        assert principals(document) == [f"arn:aws:iam::{a}:root" for a in sorted(consumers)]
        assert len(principals(document)) == len(consumers)  # each account in one statement
        sids = [s["Sid"] for s in document["Statement"]]
        assert (
            len(set(sids))
            == len(sids)
            == len({frozenset(actions(s)) for s in document["Statement"]})
        )
        for statement in document["Statement"]:
            for account in statements(document)[statement["Sid"]][1]:
                scans = any(
                    ecr_options(c).image_reflector
                    for c in clusters
                    if c.spec.aws.account_id == account
                    and any(ecr.matches(r, repository) for r in c.spec.ecr.pull[0].repositories)
                )
                assert actions(statement) == (PULL | LIST if scans else PULL)
            assert ecr.AUTH_ACTION not in actions(statement)
            assert ("Condition" in statement) == org


def most_accounts(registry_: Registry, action_sets: list[tuple[str, ...]]) -> int:
    """How many consuming accounts fit one repository policy, the accounts spread over
    `action_sets` in turn (measured on the text the provider sends)."""

    def fits(n: int) -> bool:
        grants = [
            ecr.AccountGrant(f"{100000000000 + i}", "aws", action_sets[i % len(action_sets)], ())
            for i in range(n)
        ]
        document = ecr.repository_policy(registry_, grants)
        return iam.policy_size(document) <= iam.REPOSITORY_POLICY_LIMIT

    n = 1
    while fits(n + 1):
        n += 1
    return n


def test_the_readme_size_figures_are_the_measured_ones(root: Path) -> None:
    pull = tuple(sorted(PULL))
    tags = tuple(sorted(PULL | {"ecr:ListImages"}))
    scan = tuple(sorted(PULL | LIST))
    org = registry(organizationId="o-abc123def4")
    measured = {
        "pull only": most_accounts(registry(), [pull]),
        "organization condition and tag scanning": most_accounts(org, [scan]),
        "all three action sets": most_accounts(org, [pull, tags, scan]),
    }
    assert measured == {
        "pull only": 304,
        "organization condition and tag scanning": 300,
        "all three action sets": 286,
    }
    grants = [ecr.AccountGrant(f"{100000000000 + i}", "aws", scan, ()) for i in range(5000)]
    whole = registry(organizationId="o-abc123def4", grantTo="organization")
    organization_size = iam.policy_size(ecr.repository_policy(whole, grants))
    assert organization_size == iam.policy_size(ecr.repository_policy(whole, grants[:1])) == 309
    readme = " ".join((root / "docs" / "how-to" / "private-registries.md").read_text().split())
    assert (
        "so 304 consuming accounts fit one repository pulling only, 300 with an organization "
        "condition and tag scanning, 286 when the accounts split over all three action sets"
    ) in readme
    assert f"{organization_size} characters whatever the number of accounts" in readme


def test_repository_policy_problems_catch_what_must_never_be_written() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "ecr:BatchGetImage", "Principal": "*"},
            {
                "Sid": "B",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"],
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Resource": "*",
            },
        ],
    }
    assert ecr.repository_policy_problems(bad) == [
        'statement A: a "*" principal without condition',
        "statement B: ecr:GetAuthorizationToken does nothing here",
        "statement B: ECR rejects a Resource element",
    ]


# --- the cluster side -----------------------------------------------------------------------------


def test_node_pull_policy_allows_the_token_and_pulls_only_the_pulled_repositories(example) -> None:
    prod = example.clusters[PROD]
    document = ecr_cluster.node_pull_policy(cluster_pulls(prod, example.registries))
    token, pull = document["Statement"]
    assert token == {
        "Sid": "EcrAuthorizationToken",
        "Effect": "Allow",
        "Action": "ecr:GetAuthorizationToken",
        "Resource": "*",
    }
    assert actions(pull) == PULL
    assert set(pull["Resource"]) == {
        "arn:aws:ecr:eu-west-1:210987654321:repository/api",
        "arn:aws:ecr:eu-west-1:210987654321:repository/worker",
    }


def test_irsa_trust_policy_names_exactly_the_controllers_service_account() -> None:
    document = controller_role.irsa_trust_policy(ISSUER, "123456789012", ecr.IMAGE_REFLECTOR)
    (statement,) = document["Statement"]
    host = ISSUER.removeprefix("https://")
    assert statement == {
        "Effect": "Allow",
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"},
        "Condition": {
            "StringEquals": {
                f"{host}:aud": "sts.amazonaws.com",
                f"{host}:sub": "system:serviceaccount:flux-system:image-reflector-controller",
            }
        },
    }


def test_irsa_permissions_per_controller() -> None:
    reg = registry()
    c = cluster(
        "a", "111111111111", {"shared": ["api"]}, extra=[ecr.IMAGE_REFLECTOR], oci_sources=True
    )
    assert ecr.listing_controllers(ecr_options(c)) == [ecr.SOURCE_CONTROLLER, ecr.IMAGE_REFLECTOR]
    reflector = ecr_cluster.irsa_permissions(
        cluster_pulls(c, {"shared": reg}), ecr.IMAGE_REFLECTOR
    )["Statement"]
    source = ecr_cluster.irsa_permissions(cluster_pulls(c, {"shared": reg}), ecr.SOURCE_CONTROLLER)[
        "Statement"
    ]
    assert actions(reflector[0]) == actions(source[0]) == {ecr.AUTH_ACTION}
    assert actions(reflector[1]) == PULL | LIST
    assert actions(source[1]) == PULL | {"ecr:ListImages"}  # resolves a semver range: tags/list
    assert reflector[1]["Resource"] == "arn:aws:ecr:eu-west-1:210987654321:repository/api"
    # no pulls, no IRSA, whatever runs
    assert (
        ecr.listing_controllers(
            ecr_options(cluster("b", "1" * 12, {}, extra=[ecr.IMAGE_REFLECTOR]))
        )
        == []
    )


def test_irsa_role_names_fit_iam() -> None:
    short = cluster("a", "111111111111", {"shared": ["api"]})
    assert (
        controller_role.controller_role_name(short.name, ecr.IMAGE_REFLECTOR)
        == "a-image-reflector-controller"
    )
    long = cluster("x" * 60, "111111111111", {"shared": ["api"]})
    name = controller_role.controller_role_name(long.name, ecr.IMAGE_REFLECTOR)
    assert len(name) == 64 and name.startswith("x" * 50)
    assert name != controller_role.controller_role_name(long.name, ecr.SOURCE_CONTROLLER)


def test_flux_instance_patches_the_service_accounts_with_their_roles(example) -> None:
    roles = {
        ecr.IMAGE_REFLECTOR: "arn:aws:iam::123456789012:role/r1",
        ecr.SOURCE_CONTROLLER: "arn:aws:iam::123456789012:role/r2",
    }
    instance = flux_instance(flux_options(example.clusters[PROD]), service_account_roles=roles)
    assert validate(instance) == []
    patches = instance["spec"]["kustomize"]["patches"]
    sa = [p for p in patches if p["target"]["kind"] == "ServiceAccount"]
    assert [p["target"]["name"] for p in sa] == sorted(roles)
    for p in sa:
        body = json.loads(p["patch"])
        assert body["kind"] == "ServiceAccount"
        assert body["metadata"]["name"] == p["target"]["name"]
        assert body["metadata"]["annotations"] == {IRSA_ANNOTATION: roles[p["target"]["name"]]}
    # the toleration patch is still there, and nothing changes without roles
    assert any(p["target"]["kind"] == "Deployment" for p in patches)
    options = flux_options(example.clusters[PROD])
    assert flux_instance(options) == flux_instance(options, service_account_roles={})


# --- parliament -----------------------------------------------------------------------------------


def with_resource(document: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A resource-based policy as parliament reads it: the resource it is attached to spelled
    out. ECR refuses a Resource in a repository policy and IAM one in a trust policy, so the
    documents leave it implicit; parliament (an identity-policy linter) requires it."""
    return {**document, "Statement": [{**s, "Resource": arn} for s in document["Statement"]]}


def findings(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    policy = analyze_policy_string(json.dumps(document))
    return [(f.issue, str(f.detail)) for f in policy.findings]


def rich_fleet() -> Fleet:
    reg = registry(
        repositories=["api", "worker", "platform/ingress", "platform/dns"],
        organizationId="o-abc123def4",
    )
    other = registry("tools", "333333333333")
    return fleet_of(
        [
            cluster(
                "a",
                "111111111111",
                {"shared": ["api", "platform/*"], "tools": ["lint"]},
                extra=[ecr.IMAGE_REFLECTOR],
                node_roles=["nodes-a", "nodes-b"],
                oci_sources=True,
            ),
            cluster("b", "222222222222", {"shared": ["api", "worker"]}, node_roles=["eks-nodes"]),
            cluster("c", "210987654321", {"shared": ["worker"]}),
        ],
        [reg, other],
    )


@pytest.mark.parametrize("which", ["example", "rich"])
def test_parliament_finds_nothing_in_any_generated_policy(which: str, example) -> None:
    fleet = example if which == "example" else rich_fleet()
    documents: list[tuple[str, dict[str, Any]]] = []
    for (name, repository), grants in ecr.repository_grants(ecr_fleet(fleet)).items():
        reg = fleet.registries[name]
        document = ecr.repository_policy(reg, grants)
        documents.append((repository, with_resource(document, ecr.repository_arn(reg, repository))))
    for c in fleet.clusters.values():
        if c.spec.ecr.node_role_names:
            documents.append(
                (
                    f"{c.name} nodes",
                    ecr_cluster.node_pull_policy(cluster_pulls(c, fleet.registries)),
                )
            )
        for controller in ecr.listing_controllers(ecr_options(c)):
            documents.append(
                (
                    f"{c.name} {controller}",
                    ecr_cluster.irsa_permissions(cluster_pulls(c, fleet.registries), controller),
                )
            )
    assert len(documents) >= 3
    for label, document in documents:
        assert findings(document) == [], label


def test_parliament_on_the_irsa_trust_policy_knows_nothing_of_oidc_but_finds_nothing_else() -> None:
    """parliament 1.6 knows SAML and four web identity providers, not IAM OIDC providers, nor
    the `<issuer>:sub` / `<issuer>:aud` keys every EKS IRSA trust policy uses (AWS's documented
    form): exactly those gaps are tolerated here, nothing else."""
    host = ISSUER.removeprefix("https://")
    for controller in (ecr.IMAGE_REFLECTOR, ecr.SOURCE_CONTROLLER):
        document = controller_role.irsa_trust_policy(ISSUER, "123456789012", controller)
        role = f"arn:aws:iam::123456789012:role/a-{controller}"
        assert sorted(findings(with_resource(document, role))) == sorted(
            [
                ("UNKNOWN_FEDERATION_SOURCE", f"arn:aws:iam::123456789012:oidc-provider/{host}"),
                (
                    "UNKNOWN_CONDITION_FOR_ACTION",
                    f"Unknown condition {host}:aud for action sts:AssumeRoleWithWebIdentity",
                ),
                (
                    "UNKNOWN_CONDITION_FOR_ACTION",
                    f"Unknown condition {host}:sub for action sts:AssumeRoleWithWebIdentity",
                ),
            ]
        )


def test_parliament_would_catch_a_wrong_action() -> None:
    """The check has teeth: a typo in an action is a finding."""
    fleet = rich_fleet()
    document = ecr_cluster.node_pull_policy(cluster_pulls(fleet.clusters["a"], fleet.registries))
    document["Statement"][1]["Action"] = ["ecr:BatchGetImages"]
    assert [issue for issue, _ in findings(document)] == ["UNKNOWN_ACTION"]


# --- what the provider renders (the plan's emulation of get_policy_document) ----------------------


@pytest.mark.parametrize("which", ["repository", "organization", "node", "trust"])
def test_rendered_policy_equals_the_pure_document(which: str) -> None:
    fleet = rich_fleet()
    a = fleet.clusters["a"]
    org = fleet.registries["shared"].model_copy(update={"grant_to": "organization"})
    document = {
        "repository": ecr.repository_policy(
            fleet.registries["shared"], ecr.repository_grants(ecr_fleet(fleet))[("shared", "api")]
        ),
        "organization": ecr.repository_policy(
            org, ecr.repository_grants(ecr_fleet(fleet))[("shared", "api")]
        ),
        "node": ecr_cluster.node_pull_policy(cluster_pulls(a, fleet.registries)),
        "trust": controller_role.irsa_trust_policy(ISSUER, "111111111111", ecr.IMAGE_REFLECTOR),
    }[which]
    rendered = plan_iam.get_policy_document(
        {
            "version": document["Version"],
            "statements": iam.statement_args(document),
        }
    )
    assert json.loads(rendered["json"]) == document
    assert rendered["json"] == iam.policy_text(document)
    # what AWS receives: the same document, compact, keys sorted (NormalizeJsonString)
    assert json.loads(iam.sent_text(document)) == document
    assert iam.policy_size(document) == len(rendered["minifiedJson"]) < len(rendered["json"])


def test_the_size_is_measured_on_the_text_the_provider_sends() -> None:
    """terraform-provider-aws sends structure.NormalizeJsonString(policy): Go's json.Marshal of
    the parsed document, so compact, object keys sorted, <, > and & escaped."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:Get<&>"}],
    }
    assert iam.sent_text(document) == (
        '{"Statement":[{"Action":"s3:Get\\u003c\\u0026\\u003e","Effect":"Allow","Sid":"A"}],'
        '"Version":"2012-10-17"}'
    )
    assert iam.policy_size(document) == len(iam.sent_text(document))


def test_renderer_follows_the_providers_rules() -> None:
    rendered = plan_iam.get_policy_document(
        {
            "statements": [
                {"actions": ["s3:A", "s3:C", "s3:B", "s3:A"], "resources": ["x"]},
                {
                    "sid": "Two",
                    "effect": "Deny",
                    "actions": ["s3:A"],
                    "notResources": ["arn:aws:s3:::b/&{aws:username}"],
                    "principals": [{"type": "*", "identifiers": ["*"]}],
                    "conditions": [
                        {"test": "StringLike", "variable": "k", "values": ["b", "a"]},
                        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]},
                    ],
                },
            ]
        }
    )
    assert json.loads(rendered["json"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:C", "s3:B", "s3:A"], "Resource": "x"},
            {
                "Sid": "Two",
                "Effect": "Deny",
                "Action": "s3:A",
                "NotResource": "arn:aws:s3:::b/${aws:username}",
                "Principal": "*",
                "Condition": {
                    "Bool": {"aws:SecureTransport": "false"},
                    "StringLike": {"k": ["b", "a"]},
                },
            },
        ],
    }
    assert rendered["json"].startswith('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n')
    with pytest.raises(ValueError, match="must be alphanumeric"):
        plan_iam.get_policy_document({"statements": [{"sid": "pull-123", "actions": ["a:b"]}]})
    with pytest.raises(ValueError, match="duplicate Sid"):
        plan_iam.get_policy_document({"statements": [{"sid": "A"}, {"sid": "A"}]})
    with pytest.raises(ValueError, match="not_actions"):
        plan_iam.get_policy_document({"statements": [{"not_actions": ["a:b"]}]})


# --- validation -----------------------------------------------------------------------------------


def write(project: Path, name: str, text: str) -> None:
    (project / "k8s-clusters" / name).write_text(text)


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "k8s-clusters" / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def problems(project: Path) -> list[str]:
    return [str(p) for p in load_fleet(project).all_problems]


def test_example_registries_file_is_valid(example) -> None:
    assert list(example.registries) == ["shared"]
    assert example.registries["shared"].account_id == "210987654321"


def test_unknown_registry_is_a_problem_on_the_cluster_file(project: Path) -> None:
    edit(project, f"{STAGING}.yaml", "- registry: shared", "- registry: sharred")
    assert problems(project) == [
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].registry: expected one of shared, "
        'got "sharred"'
    ]
    fleet = load_fleet(project)
    with pytest.raises(DefinitionError):
        fleet.cluster(STAGING)
    with pytest.raises(DefinitionError):
        fleet.registries_stack()  # it would revoke staging's grants
    assert fleet.cluster(PROD).name == PROD  # the other cluster is unaffected


def test_invalid_repository_name_says_what_is_expected(project: Path) -> None:
    edit(project, f"{STAGING}.yaml", "repositories: [api]", "repositories: [API, 'x/**']")
    lines = problems(project)
    assert lines == [
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[0]: expected an ECR "
        "repository name such as api or team/api, or a prefix ending in /* such as platform/*, "
        'got "API"',
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[1]: expected an ECR "
        "repository name such as api or team/api, or a prefix ending in /* such as platform/*, "
        'got "x/**"',
    ]


def test_repository_not_in_the_registry_list_and_prefix_matching_nothing(project: Path) -> None:
    edit(project, f"{STAGING}.yaml", "repositories: [api]", "repositories: [apx, 'team/*']")
    assert problems(project) == [
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[0]: expected a repository "
        'of registry "shared" (api, worker), got "apx"',
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[1]: expected a prefix "
        'matching a repository of registry "shared", got "team/*" (matches none of api, worker)',
    ]


def test_prefix_needs_the_registry_to_list_its_repositories(project: Path) -> None:
    edit(project, "_registries.yaml", "    repositories: [api, worker]\n", "")
    edit(project, f"{STAGING}.yaml", "repositories: [api]", "repositories: [api, 'team/*']")
    assert problems(project) == [
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[1]: a prefix is granted on "
        'the repositories registry "shared" lists in k8s-clusters/_registries.yaml '
        '(repositories), and it lists none: expected a repository name, got "team/*"'
    ]


def test_registries_file_problems_and_their_effect_on_pulling_clusters(project: Path) -> None:
    edit(project, "_registries.yaml", 'accountId: "210987654321"', "accountId: 210987654321")
    lines = problems(project)
    assert (
        "k8s-clusters/_registries.yaml: registries[0].accountId: expected a string (12 digits), "
        "got the number 210987654321 (quote it)" in lines
    )
    assert (
        f"k8s-clusters/{PROD}.yaml: spec.ecr.pull: cannot be checked: "
        "k8s-clusters/_registries.yaml is invalid (fluxfleet validate)"
    ) in lines
    assert len(lines) == 3


def test_registries_file_shape(project: Path) -> None:
    header = "apiVersion: flux-fleet/v1\nkind: Registries\nregistries:\n"
    first = "  - {name: shared, accountId: '210987654321', region: eu-west-1}\n"
    write(project, "_registries.yaml", header + first + first)
    assert problems(project)[0] == (
        "k8s-clusters/_registries.yaml: registries: expected each entry once, got shared more "
        "than once"
    )
    write(
        project,
        "_registries.yaml",
        header
        + first
        + "  - {name: b, accountId: '210987654321', region: eu-west-9, organizationId: org1}\n",
    )
    lines = [line for line in problems(project) if "_registries.yaml:" in line]
    assert lines == [
        "k8s-clusters/_registries.yaml: registries[1].organizationId: expected an AWS "
        'Organizations ID such as o-abc123def4, got "org1"',
        "k8s-clusters/_registries.yaml: registries[1].region: expected an AWS region code such "
        'as eu-west-1, got "eu-west-9"; did you mean eu-west-3?',
    ]


def test_cross_partition_pull_is_refused(project: Path) -> None:
    edit(project, f"{STAGING}.yaml", "region: eu-west-1", "region: cn-north-1")
    assert problems(project) == [
        f'k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].registry: registry "shared" is in '
        "partition aws, the cluster in aws-cn: expected a registry of the cluster's partition"
    ]


def test_a_repository_policy_over_the_size_limit_is_a_validation_error(project: Path) -> None:
    """304 accounts pulling only fit one repository policy as the provider sends it (the
    documented figure): with the example's two accounts, 303 more are one too many; the message
    points to the organization grant, which fits any number."""
    for i in range(303):
        write(
            project,
            f"c{i:03d}.yaml",
            f"apiVersion: flux-fleet/v1\nkind: Cluster\nmetadata: {{name: c{i:03d}, "
            f"environment: staging}}\nspec:\n  aws: {{accountId: '{400000000000 + i}', "
            "region: eu-west-1}\n"
            "  ecr: {pull: [{registry: shared, repositories: [api]}]}\n",
        )
    lines = problems(project)
    assert len(lines) == 1, lines
    assert lines[0] == (
        'k8s-clusters/_registries.yaml: registries[0]: the repository policy of "api" would be '
        "10251 characters (the compact JSON the provider sends) for 305 consuming accounts, "
        "expected at most 10240 (ECR's limit): grant the AWS Organization instead (grantTo: "
        "organization, with organizationId)"
    )
    with pytest.raises(DefinitionError):
        load_fleet(project).registries_stack()
    (project / "k8s-clusters" / "c302.yaml").unlink()
    assert problems(project) == []  # 304 fit
    c301 = (project / "k8s-clusters" / "c301.yaml").read_text()
    write(project, "c302.yaml", c301.replace("c301", "c302").replace("0301'", "0302'"))
    assert len(problems(project)) == 1
    edit(
        project,
        "_registries.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    organizationId: o-abc123def4\n    grantTo: organization\n",
    )
    assert problems(project) == []


def registries_problems(project: Path) -> list[str]:
    """The lines about _registries.yaml (each pulling cluster adds that it cannot be checked)."""
    return [line for line in problems(project) if line.startswith("k8s-clusters/_registries")]


def test_an_organization_grant_needs_the_organization(project: Path) -> None:
    edit(
        project,
        "_registries.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    grantTo: organization\n",
    )
    assert registries_problems(project) == [
        "k8s-clusters/_registries.yaml: registries[0].grantTo: organization grants the AWS "
        "Organization of organizationId: expected organizationId too"
    ]
    edit(project, "_registries.yaml", "grantTo: organization", "grantTo: org")
    assert registries_problems(project) == [
        "k8s-clusters/_registries.yaml: registries[0].grantTo: expected one of accounts or "
        'organization, got "org"'
    ]


def test_duplicate_registry_in_one_cluster(project: Path) -> None:
    edit(
        project,
        f"{STAGING}.yaml",
        "        repositories: [api]\n",
        "        repositories: [api]\n      - registry: shared\n        repositories: [worker]\n",
    )
    assert problems(project) == [
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull: expected each entry once, got shared more "
        "than once"
    ]


def test_ecr_options_hold_what_the_definition_says() -> None:
    """builders/options.py fills EcrOptions from spec.aws, spec.ecr and spec.flux (issue #22)."""
    c = cluster(
        "a",
        "111111111111",
        {"shared": ["api"]},
        extra=[ecr.IMAGE_REFLECTOR],
        oci_sources=True,
        flux={"registry": {"url": f"{MIRROR}/flux"}},
    )
    options = ecr_options(c)
    assert (options.name, options.account_id) == ("a", "111111111111")
    assert options.pull == tuple(c.spec.ecr.pull)
    assert options.oci_sources and options.image_reflector
    assert options.mirror == f"{MIRROR}/flux"
    assert options.sync is None
    assert not ecr_options(cluster("b", "1" * 12, {})).image_reflector


def test_the_ecr_builders_read_their_options_alone() -> None:
    """EcrOptions built directly, without a definition: an OCI sync source gives
    source-controller a role without list actions; the registry side grants the sync source, the
    mirror's controller images (a prefix) and the operator chart."""
    options = ecr.EcrOptions(
        name="a",
        account_id="111111111111",
        mirror=f"{MIRROR}/flux",
        operator_chart=f"oci://{MIRROR}/charts/flux-operator",
        sync=EcrPull.model_validate({"registry": "shared", "repositories": ["fleet"]}),
    )
    assert ecr.listing_controllers(options) == []
    assert ecr.ecr_controllers(options) == [ecr.SOURCE_CONTROLLER]
    assert ecr.cluster_list_actions(options) == set()
    pulled = [(p.registry, p.repositories) for p in ecr.registry_pulls(options, {"s": registry()})]
    assert pulled == [
        ("shared", ["fleet"]),
        ("shared", ["flux/*"]),
        ("shared", ["charts/flux-operator"]),
    ]
    assert sorted(ecr.flux_ecr_references(options)) == ["operatorChart", "registry"]
    assert not ecr.is_same_account(options, registry())
    assert ecr.is_same_account(options, registry(account="111111111111"))
