"""AWS identities of a cluster stack (#14): the deployer's EKS access entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from planutil import of_type, one, run_cli

from components import yamlio
from components.plan.runner import plan_stack
from components.stack import program

PROD = "production-cluster-name"
DEPLOYER = "arn:aws:iam::123456789012:role/fleet-deployer"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
K8S_PROVIDER = "pulumi:providers:kubernetes"
AWS_PROVIDER = "pulumi:providers:aws"


def set_aws(project: Path, **values: Any) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["aws"].update(values)
    path.write_text(yamlio.dump_yaml([doc]))
    program.fleet.cache_clear()


def test_no_access_entry_by_default(root: Path) -> None:
    plan = plan_stack(root, PROD)
    assert of_type(plan, ENTRY) == [] and of_type(plan, ASSOCIATION) == []


def test_the_access_entry_comes_before_any_kubernetes_object(project: Path) -> None:
    set_aws(project, accessEntry={"principalArn": DEPLOYER})
    plan = plan_stack(project, PROD)
    entry, association = one(plan, ENTRY), one(plan, ASSOCIATION)
    aws_provider = one(plan, AWS_PROVIDER, f"{PROD}-eks-aws")
    for resource in (entry, association):
        assert resource.provider.startswith(aws_provider.urn)  # the cluster account's provider
        assert resource.inputs["clusterName"] == "production-eks"
        assert resource.inputs["principalArn"] == DEPLOYER
    assert entry.inputs["type"] == "STANDARD"
    assert association.inputs["policyArn"] == (
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert entry.urn in association.dependencies
    k8s = one(plan, K8S_PROVIDER)
    assert association.urn in k8s.dependencies  # every Kubernetes object goes through it
    assert all(
        r.provider.startswith(k8s.urn) for r in plan.resources if r.type.startswith("kubernetes:")
    )


def test_another_access_policy(project: Path) -> None:
    set_aws(project, accessEntry={"principalArn": DEPLOYER, "policy": "AmazonEKSAdminPolicy"})
    association = one(plan_stack(project, PROD), ASSOCIATION)
    assert association.inputs["policyArn"].endswith("/AmazonEKSAdminPolicy")


@pytest.mark.parametrize(
    ("entry", "path", "expected"),
    [
        ({"principalArn": "fleet-deployer"}, "principalArn", "an IAM role or user ARN"),
        ({"principalArn": DEPLOYER, "policy": "Admin"}, "policy", "AmazonEKSClusterAdminPolicy"),
        ({}, "principalArn", "required field is missing"),
    ],
)
def test_a_bad_access_entry_is_one_line(
    project: Path, entry: dict[str, Any], path: str, expected: str
) -> None:
    set_aws(project, accessEntry=entry)
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"k8s-clusters/{PROD}.yaml: spec.aws.accessEntry.{path}: "), line
    assert expected in line


# --- workload identity: IRSA or EKS Pod Identity -------------------------------------------------

ROLE = "aws:iam/role:Role"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
CONTROLLERS = ["image-reflector-controller", "source-controller"]


def pulling_from_ecr(project: Path, mode: str) -> Any:
    """The production cluster with both controllers pulling from ECR, in `mode`."""
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["aws"]["workloadIdentity"] = mode
    doc["spec"]["ecr"]["ociSources"] = True
    doc["spec"]["flux"]["componentsExtra"] = ["image-reflector-controller"]
    path.write_text(yamlio.dump_yaml([doc]))
    program.fleet.cache_clear()
    return plan_stack(project, PROD)


def trust(plan: Any, controller: str) -> dict[str, Any]:
    import json

    role = one(plan, ROLE, f"{PROD}-ecr-{controller}")
    return dict(json.loads(role.inputs["assumeRolePolicy"]))


def test_pod_identity_roles_trust_the_service_for_this_cluster_only(project: Path) -> None:
    plan = pulling_from_ecr(project, "podIdentity")
    for controller in CONTROLLERS:
        (statement,) = trust(plan, controller)["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Action": ["sts:TagSession", "sts:AssumeRole"],
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Condition": {
                "ArnEquals": {
                    "aws:SourceArn": "arn:aws:eks:eu-west-1:123456789012:cluster/production-eks"
                },
                "StringEquals": {"aws:SourceAccount": "123456789012"},
            },
        }
    associations = {r.inputs["serviceAccount"]: r for r in of_type(plan, POD_IDENTITY)}
    assert sorted(associations) == CONTROLLERS
    instance = one(plan, INSTANCE)
    for controller, association in associations.items():
        role = one(plan, ROLE, f"{PROD}-ecr-{controller}")
        assert association.inputs["namespace"] == "flux-system"
        assert association.inputs["clusterName"] == "production-eks"
        assert role.urn in association.dependencies
        assert association.urn in instance.dependencies  # controllers start with credentials
    # no ServiceAccount annotation: the association binds them
    patches = instance.inputs["spec"].get("kustomize", {}).get("patches", [])
    assert not any(p["target"].get("kind") == "ServiceAccount" for p in patches)


def test_irsa_stays_the_default_and_switching_modes_replaces_no_role(project: Path) -> None:
    irsa = pulling_from_ecr(project, "irsa")
    assert of_type(irsa, POD_IDENTITY) == []
    assert trust(irsa, CONTROLLERS[0])["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    patches = one(irsa, INSTANCE).inputs["spec"]["kustomize"]["patches"]
    assert sorted(
        p["target"]["name"] for p in patches if p["target"]["kind"] == "ServiceAccount"
    ) == (CONTROLLERS)
    pods = pulling_from_ecr(project, "podIdentity")
    # the same roles (URN and name): switching updates their trust policy, adds or removes the
    # associations and the ServiceAccount patches
    for controller in CONTROLLERS:
        before, after = (one(p, ROLE, f"{PROD}-ecr-{controller}") for p in (irsa, pods))
        assert before.urn == after.urn and before.inputs["name"] == after.inputs["name"]
    added = {r.urn for r in pods.resources} - {r.urn for r in irsa.resources}
    assert {urn.rsplit("::", 1)[1] for urn in added} == {
        f"{PROD}-ecr-{c}-pod-identity" for c in CONTROLLERS
    }
    assert {r.urn for r in irsa.resources} <= {r.urn for r in pods.resources}


def test_the_pod_identity_trust_policy_is_parliament_clean(project: Path) -> None:
    import json

    from parliament import analyze_policy_string

    plan = pulling_from_ecr(project, "podIdentity")
    for controller in CONTROLLERS:
        document = trust(plan, controller)
        document["Statement"][0]["Resource"] = f"arn:aws:iam::123456789012:role/{controller}"
        found = analyze_policy_string(json.dumps(document)).findings
        assert [(f.issue, f.detail) for f in found] == [], controller


def test_a_bad_workload_identity_is_one_line(project: Path) -> None:
    set_aws(project, workloadIdentity="oidc")
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err == (
        f"k8s-clusters/{PROD}.yaml: spec.aws.workloadIdentity: expected one of irsa or "
        'podIdentity, got "oidc"\n'
    )
