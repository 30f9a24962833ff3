"""ECR access under the mock runtime: the registries stack and the cluster side of the cluster
stacks, as `pulumi up` would register them (the same __main__.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from crdcheck import validate
from parliament import analyze_policy_string
from planutil import of_type, one

from components.builders import ecr, iam
from components.builders.flux import IRSA_ANNOTATION
from components.builders.options import ecr_fleet
from components.loading.fleet import load_fleet
from components.plan.result import StackPlan, provider_urn
from components.plan.runner import plan_stack
from components.tools.cli import main

PROD, STAGING, REGISTRIES = "production-cluster-name", "staging-cluster-name", "registries"
POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
PULL = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
LIST = {"ecr:ListImages", "ecr:DescribeImages"}
ISSUER_HOST = "oidc.eks.eu-west-1.amazonaws.com/id/placeholder"  # the mocks' EKS cluster


def policies(plan: StackPlan) -> dict[str, str]:
    """Repository → the policy text the stack would write."""
    return {r.inputs["repository"]: r.inputs["policy"] for r in of_type(plan, POLICY)}


def grants(text: str) -> dict[str, tuple[set[str], set[str]]]:
    """Sid -> (actions, account ids) of a written repository policy."""

    def as_set(value: str | list[str]) -> set[str]:
        return {value} if isinstance(value, str) else set(value)

    return {
        s["Sid"]: (as_set(s["Action"]), {a.split(":")[4] for a in as_set(s["Principal"]["AWS"])})
        for s in json.loads(text)["Statement"]
    }


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "k8s-clusters" / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def replan(project: Path, stack: str) -> StackPlan:
    return plan_stack(project, stack)


def add_cluster(project: Path, name: str, account: str, ecr_block: str, extra: str = "") -> None:
    (project / "k8s-clusters" / f"{name}.yaml").write_text(
        "apiVersion: flux-fleet/v1\nkind: Cluster\n"
        f"metadata: {{name: {name}, environment: staging}}\n"
        f"spec:\n  aws: {{accountId: '{account}', region: eu-west-1}}\n{extra}"
        f"  ecr: {ecr_block}\n"
    )
    stacks = project / "stacks"  # the stack's config (the fleet's Slack credential)
    config = (stacks / f"Pulumi.{STAGING}.yaml").read_text().replace(STAGING, name)
    (stacks / f"Pulumi.{name}.yaml").write_text(config)


@pytest.fixture(scope="module")
def registries(root: Path) -> StackPlan:
    return plan_stack(root, REGISTRIES)


# --- the registries stack -------------------------------------------------------------------------


def test_registries_stack_has_one_provider_per_registry_and_one_policy_per_repository(
    registries: StackPlan,
) -> None:
    component = one(registries, "flux-fleet:index:Registries")
    provider = one(registries, "pulumi:providers:aws")
    assert provider.name == "registries-shared"
    assert provider.parent == component.urn
    assert provider.inputs["region"] == "eu-west-1"
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["210987654321"]
    assert json.loads(provider.inputs["assumeRoles"]) == [
        {"roleArn": "arn:aws:iam::210987654321:role/fleet-deployer", "sessionName": "flux-fleet"}
    ]
    repo_policies = of_type(registries, POLICY)
    assert sorted(r.name for r in repo_policies) == [
        "registries-shared/api",
        "registries-shared/worker",
    ]
    for policy in repo_policies:
        assert provider_urn(policy.provider) == provider.urn
        assert policy.parent == component.urn
    assert "aws:iam/getPolicyDocument:getPolicyDocument" in registries.invokes
    assert registries.outputs["repositoryPolicies"] == {
        "shared/api": ["123456789012", "234567890123"],
        "shared/worker": ["123456789012"],
    }


def test_registries_stack_writes_the_pure_documents_as_the_provider_renders_them(
    registries: StackPlan, root: Path
) -> None:
    fleet = load_fleet(root)
    grants = ecr.repository_grants(ecr_fleet(fleet))
    written = policies(registries)
    for (registry, repository), account_grants in grants.items():
        document = ecr.repository_policy(fleet.registries[registry], account_grants)
        assert written[repository] == iam.policy_text(document)  # byte-identical
    api = json.loads(written["api"])
    # both accounts pull only: one statement names them both
    assert [s["Principal"] for s in api["Statement"]] == [
        {"AWS": ["arn:aws:iam::234567890123:root", "arn:aws:iam::123456789012:root"]}
    ]
    for statement in api["Statement"]:
        assert set(statement["Action"]) == PULL
        assert "Resource" not in statement
        # parliament, with the repository the policy is attached to spelled out
        spelled = {
            **api,
            "Statement": [
                {**statement, "Resource": "arn:aws:ecr:eu-west-1:210987654321:repository/api"}
            ],
        }
        assert analyze_policy_string(json.dumps(spelled)).findings == []


def test_registries_plan_is_byte_identical_run_after_run(root: Path, registries: StackPlan) -> None:
    again = plan_stack(root, REGISTRIES)
    assert policies(again) == policies(registries)


def test_a_cluster_in_a_new_account_changes_only_the_policies_it_pulls(project: Path) -> None:
    before = policies(replan(project, REGISTRIES))
    add_cluster(
        project,
        "qa-cluster",
        "345678901234",
        "{pull: [{registry: shared, repositories: [worker]}]}",
    )
    after = policies(replan(project, REGISTRIES))
    assert set(after) == set(before) == {"api", "worker"}
    assert after["api"] == before["api"]
    assert after["worker"] != before["worker"]
    assert grants(after["worker"]) == {"Pull": (PULL, {"123456789012", "345678901234"})}


def test_removing_the_last_consumer_removes_the_policy(project: Path) -> None:
    edit(project, f"{PROD}.yaml", "repositories: [api, worker]", "repositories: [api]")
    plan = replan(project, REGISTRIES)
    assert set(policies(plan)) == {"api"}  # worker's RepositoryPolicy is gone: Pulumi deletes it
    (project / "k8s-clusters" / f"{STAGING}.yaml").unlink()
    (project / "stacks" / f"Pulumi.{STAGING}.yaml").unlink()
    plan = replan(project, REGISTRIES)
    assert grants(policies(plan)["api"]) == {"Pull": (PULL, {"123456789012"})}


def test_image_reflector_adds_list_actions_in_the_written_policy(project: Path) -> None:
    edit(
        project,
        f"{STAGING}.yaml",
        "  flux:\n",
        "  flux:\n    componentsExtra: [image-reflector-controller]\n",
    )
    assert grants(policies(replan(project, REGISTRIES))["api"]) == {
        "Pull": (PULL, {"123456789012"}),
        "PullDescribeImagesListImages": (PULL | LIST, {"234567890123"}),
    }


def test_oci_sources_add_tag_listing_for_that_account_in_the_written_policy(
    project: Path,
) -> None:
    edit(
        project,
        f"{STAGING}.yaml",
        "        repositories: [api]\n",
        "        repositories: [api]\n    ociSources: true\n",
    )
    written = policies(replan(project, REGISTRIES))
    assert grants(written["api"]) == {
        "Pull": (PULL, {"123456789012"}),
        "PullListImages": (PULL | {"ecr:ListImages"}, {"234567890123"}),
    }
    # worker is pulled only by production, which has no ociSources: pull only
    assert grants(written["worker"]) == {"Pull": (PULL, {"123456789012"})}
    # and the consuming cluster's own stack: source-controller's role lists the same repository
    staging = replan(project, STAGING)
    role_policy = one(staging, "aws:iam/rolePolicy:RolePolicy")
    document = json.loads(role_policy.inputs["policy"])
    assert set(document["Statement"][1]["Action"]) == PULL | {"ecr:ListImages"}
    assert document["Statement"][1]["Resource"] == (
        "arn:aws:ecr:eu-west-1:210987654321:repository/api"
    )
    assert analyze_policy_string(role_policy.inputs["policy"]).findings == []


def test_same_account_pulls_get_no_policy_and_the_plan_says_so(project: Path) -> None:
    add_cluster(
        project,
        "tools-cluster",
        "210987654321",
        "{pull: [{registry: shared, repositories: [api, worker]}]}",
    )
    edit(project, "_registries.yaml", "[api, worker]", "[api, worker, tools]")
    plan = replan(project, REGISTRIES)
    assert grants(policies(plan)["api"]) == {"Pull": (PULL, {"123456789012", "234567890123"})}
    assert plan.outputs["sameAccountPulls"] == [
        "shared/api <- tools-cluster: same account 210987654321, no repository policy "
        "(identity policies grant it)",
        "shared/worker <- tools-cluster: same account 210987654321, no repository policy "
        "(identity policies grant it)",
    ]
    # the cluster side still applies: its stack grants its own identities
    add_cluster(
        project,
        "tools-cluster",
        "210987654321",
        "{pull: [{registry: shared, repositories: [tools]}], nodeRoleNames: [tools-nodes]}",
    )
    assert set(policies(replan(project, REGISTRIES))) == {"api", "worker"}  # nothing for tools
    cluster_plan = replan(project, "tools-cluster")
    node_policy = json.loads(one(cluster_plan, "aws:iam/policy:Policy").inputs["policy"])
    assert (
        node_policy["Statement"][1]["Resource"]
        == "arn:aws:ecr:eu-west-1:210987654321:repository/tools"
    )


def test_organization_condition_reaches_the_written_policy(project: Path) -> None:
    edit(
        project,
        "_registries.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    organizationId: o-abc123def4\n",
    )
    for text in policies(replan(project, REGISTRIES)).values():
        for statement in json.loads(text)["Statement"]:
            assert statement["Condition"] == {
                "StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}
            }


def test_an_organization_grant_reaches_the_written_policy(project: Path) -> None:
    edit(
        project,
        "_registries.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    organizationId: o-abc123def4\n    grantTo: organization\n",
    )
    plan = replan(project, REGISTRIES)
    for repository, text in policies(plan).items():
        assert json.loads(text)["Statement"] == [
            {
                "Sid": "Pull",
                "Effect": "Allow",
                "Action": sorted(PULL, reverse=True),
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}},
            }
        ]
        spelled = json.loads(text)
        spelled["Statement"][0]["Resource"] = (
            f"arn:aws:ecr:eu-west-1:210987654321:repository/{repository}"
        )
        assert analyze_policy_string(json.dumps(spelled)).findings == []
    # the output still says which accounts consume what
    assert plan.outputs["repositoryPolicies"] == {
        "shared/api": ["123456789012", "234567890123"],
        "shared/worker": ["123456789012"],
    }


def test_registries_stack_refuses_a_fleet_with_any_problem(project: Path) -> None:
    edit(project, f"{STAGING}.yaml", "- registry: shared", "- registry: other")
    with pytest.raises(pulumi.RunError) as info:
        replan(project, REGISTRIES)
    assert str(info.value) == (
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].registry: expected one of shared, "
        'got "other"'
    )


# --- the cluster side -----------------------------------------------------------------------------


def test_production_grants_its_node_role_the_token_and_the_pulls(root: Path) -> None:
    plan = plan_stack(root, PROD)
    component = one(plan, "flux-fleet:index:EcrAccess")
    assert component.name == f"{PROD}-ecr"
    cluster_aws = one(plan, "pulumi:providers:aws")
    policy = one(plan, "aws:iam/policy:Policy")
    assert policy.parent == component.urn
    assert provider_urn(policy.provider) == cluster_aws.urn  # the cluster's account
    assert policy.inputs["name"] == f"{PROD}-flux-fleet-ecr-pull"
    document = json.loads(policy.inputs["policy"])
    token, pull = document["Statement"]
    assert (token["Action"], token["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert set(pull["Action"]) == PULL
    assert set(pull["Resource"]) == {
        "arn:aws:ecr:eu-west-1:210987654321:repository/api",
        "arn:aws:ecr:eu-west-1:210987654321:repository/worker",
    }
    assert analyze_policy_string(policy.inputs["policy"]).findings == []
    attachment = one(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["role"] == "production-eks-nodes"
    assert policy.urn in attachment.dependencies
    # no image-reflector, no OCI sources: no IRSA role, no ServiceAccount patch
    assert of_type(plan, "aws:iam/role:Role") == []
    instance = one(plan, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    targets = [p["target"]["kind"] for p in instance.inputs["spec"]["kustomize"]["patches"]]
    assert "ServiceAccount" not in targets


def test_a_cluster_without_pulls_has_no_ecr_access(project: Path) -> None:
    edit(
        project,
        f"{STAGING}.yaml",
        "  ecr:\n    pull:\n      - registry: shared\n        repositories: [api]\n",
        "",
    )
    plan = replan(project, STAGING)
    assert of_type(plan, "flux-fleet:index:EcrAccess") == []
    assert not [r for r in plan.resources if r.type.startswith("aws:iam/")]


@pytest.fixture
def irsa(project: Path) -> StackPlan:
    edit(
        project,
        f"{PROD}.yaml",
        "  flux:\n",
        "  flux:\n    componentsExtra: [image-reflector-controller, image-automation-controller]\n",
    )
    edit(project, f"{PROD}.yaml", "    nodeRoleNames:", "    ociSources: true\n    nodeRoleNames:")
    return replan(project, PROD)


def test_irsa_roles_trust_exactly_their_controllers_service_account(irsa: StackPlan) -> None:
    roles = {r.name: r for r in of_type(irsa, "aws:iam/role:Role")}
    assert sorted(roles) == [
        f"{PROD}-ecr-image-reflector-controller",
        f"{PROD}-ecr-source-controller",
    ]
    for controller in ("image-reflector-controller", "source-controller"):
        role = roles[f"{PROD}-ecr-{controller}"]
        assert role.inputs["name"] == f"{PROD}-{controller}"
        trust = json.loads(role.inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {
            "Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER_HOST}"
        }
        assert statement["Condition"] == {
            "StringEquals": {
                f"{ISSUER_HOST}:aud": "sts.amazonaws.com",
                f"{ISSUER_HOST}:sub": f"system:serviceaccount:flux-system:{controller}",
            }
        }


def test_irsa_permissions_and_the_service_account_patches(irsa: StackPlan) -> None:
    inline = {r.name: r for r in of_type(irsa, "aws:iam/rolePolicy:RolePolicy")}
    reflector = json.loads(inline[f"{PROD}-ecr-image-reflector-controller-pull"].inputs["policy"])
    source = json.loads(inline[f"{PROD}-ecr-source-controller-pull"].inputs["policy"])
    assert (
        reflector["Statement"][0]["Action"]
        == source["Statement"][0]["Action"]
        == "ecr:GetAuthorizationToken"
    )
    assert set(reflector["Statement"][1]["Action"]) == PULL | LIST
    # source-controller lists tags to resolve a semver ref or a chart version range
    assert set(source["Statement"][1]["Action"]) == PULL | {"ecr:ListImages"}
    # the nodes only pull
    node = json.loads(one(irsa, "aws:iam/policy:Policy").inputs["policy"])
    assert set(node["Statement"][1]["Action"]) == PULL
    for r in inline.values():
        assert r.inputs["role"] in (
            f"{PROD}-image-reflector-controller",
            f"{PROD}-source-controller",
        )
        assert analyze_policy_string(r.inputs["policy"]).findings == []

    instance = one(irsa, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    desired: dict[str, Any] = {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {k: v for k, v in instance.inputs["metadata"].items()},
        "spec": instance.inputs["spec"],
    }
    assert validate(desired) == []
    patches = {
        p["target"]["name"]: json.loads(p["patch"])
        for p in instance.inputs["spec"]["kustomize"]["patches"]
        if p["target"]["kind"] == "ServiceAccount"
    }
    assert sorted(patches) == ["image-reflector-controller", "source-controller"]
    for controller, patch in patches.items():
        # the role's ARN (known after apply; the mocks' placeholder names the role resource)
        assert patch["metadata"]["annotations"] == {
            IRSA_ANNOTATION: f"[unknown {PROD}-ecr-{controller}.arn]"
        }
    # the instance waits for the roles and their permissions
    role_urns = {r.urn for r in of_type(irsa, "aws:iam/role:Role")}
    policy_urns = {r.urn for r in of_type(irsa, "aws:iam/rolePolicy:RolePolicy")}
    assert role_urns | policy_urns <= set(instance.dependencies)


# --- the CLI --------------------------------------------------------------------------------------


def test_plan_without_stacks_includes_registries_and_plan_registries_works(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--project", str(root), "plan"]) == 0
    out = capsys.readouterr().out
    assert "Stack registries: 5 resources to create" in out
    assert main(["--project", str(root), "plan", "registries", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    types = [s["newState"]["type"] for s in doc["steps"]]
    assert types.count(POLICY) == 2


def test_plan_registries_stops_on_any_definition_problem(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project, f"{STAGING}.yaml", "repositories: [api]", "repositories: [nope]")
    assert main(["--project", str(project), "plan", "registries"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"k8s-clusters/{STAGING}.yaml: spec.ecr.pull[0].repositories[0]: expected a repository "
        'of registry "shared" (api, worker), got "nope"\n'
    )
    assert main(["--project", str(project), "validate"]) == 2
    assert main(["--project", str(project), "plan", PROD]) == 0  # production is fine on its own
