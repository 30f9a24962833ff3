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
