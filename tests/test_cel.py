"""The CRDs' CEL rules, evaluated like the API server would (crdcheck, with cel-python): every
rule compiles, every object the program and the GitOps tree emit satisfies them (crdcheck.validate
runs them wherever the CRD schema is checked), and breaking one is caught with its message.

No field of a definition reaches a CEL-guarded field: flux-fleet never sets a FluxInstance's
sharding, workload identity or sync provider, a Provider's commitStatusExpr, a GitRepository's
serviceAccountName or a Kustomization's kubeConfig, and the FluxInstance is always named flux.
The mutations below show each rule of those objects is enforced should that change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from corecheck import core_problems
from crdcheck import all_rules, cel_problems, compiled, is_transition_rule, validate
from planutil import one

from components.plan.result import StackPlan
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
PROVIDER = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Provider"


@pytest.fixture(scope="module")
def prod(root: Path) -> StackPlan:
    return plan_stack(root, PROD)


def test_every_rule_compiles_and_only_transition_rules_are_left_out() -> None:
    found = all_rules()
    assert len(found) >= 15  # FluxInstance, HelmRelease, Kustomization, Provider, ...
    transition = [rule["rule"] for _, _, rule in found if is_transition_rule(rule)]
    assert transition == ["self == oldSelf"]  # FluxInstance spec.sync.name: immutable
    for _, _, rule in found:
        compiled(rule["rule"])


def test_the_plan_objects_satisfy_every_rule(prod: StackPlan) -> None:
    instance = one(prod, INSTANCE).inputs
    assert cel_problems(instance) == []
    assert cel_problems(one(prod, PROVIDER).inputs) == []


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    obj[last] = value


MUTATIONS: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    (
        INSTANCE,
        "the FluxInstance must be named flux",
        lambda o: set_path(o, "metadata.name", "other"),
        "FluxInstance <root>: ",
    ),
    (
        INSTANCE,
        "persistent sharding needs storage",
        lambda o: set_path(o, "spec.sharding", {"shards": ["a"], "storage": "persistent"}),
        "FluxInstance spec: .spec.storage must be set when .spec.sharding.storage is 'persistent'",
    ),
    (
        INSTANCE,
        "multitenant workload identity needs object-level workload identity",
        lambda o: set_path(o, "spec.cluster.multitenantWorkloadIdentity", True),
        "FluxInstance spec.cluster: .objectLevelWorkloadIdentity must be set to true",
    ),
    (
        INSTANCE,
        "sync provider github is for GitRepository",
        lambda o: set_path(o, "spec.sync", {**o["spec"]["sync"], "kind": "OCIRepository",
                                            "provider": "github"}),
        "FluxInstance spec.sync: sync.provider 'github' is only supported for GitRepository",
    ),
    (
        INSTANCE,
        "sync provider gcp is for OCIRepository and Bucket",
        lambda o: set_path(o, "spec.sync.provider", "gcp"),
        "FluxInstance spec.sync: sync.provider 'gcp' is only supported for OCIRepository",
    ),
    (
        PROVIDER,
        "commitStatusExpr is for Git providers",
        lambda o: set_path(o, "spec.commitStatusExpr", "'x'"),
        "Provider spec: spec.commitStatusExpr is only supported for the 'github'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "case", "mutate", "expected"), MUTATIONS, ids=[m[1] for m in MUTATIONS]
)
def test_breaking_a_rule_is_caught_with_its_message(
    prod: StackPlan,
    type_: str,
    case: str,
    mutate: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    obj = copy.deepcopy(one(prod, type_).inputs)
    mutate(obj)
    problems = cel_problems(obj)
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert problems[0] in validate(obj)


def test_the_gitops_trees_rules_hold_too() -> None:
    # A GitRepository with a serviceAccountName needs an aws or azure provider.
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "x", "namespace": "flux-system"},
        "spec": {"url": "ssh://git@github.com/a/b.git", "interval": "1m"},
    }
    assert cel_problems(repository) == []
    repository["spec"]["serviceAccountName"] = "sa"
    assert cel_problems(repository) == [
        "GitRepository spec: serviceAccountName can only be set when provider is 'azure' or 'aws'"
    ]
    repository["spec"]["provider"] = "aws"
    assert cel_problems(repository) == []


# --- core objects: Kubernetes' own rules --------------------------------------------------------


def test_the_plans_core_objects_pass_kubernetes_own_rules(prod: StackPlan) -> None:
    core = [r.inputs for r in prod.resources if r.type.startswith("kubernetes:core/v1:")]
    assert {o["kind"] for o in core} == {"Namespace", "Secret", "ConfigMap"}
    for obj in core:
        assert core_problems(obj) == [], obj


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"kind": "Namespace", "metadata": {"name": "Flux_System"}}, "must be a DNS label"),
        ({"kind": "ConfigMap", "metadata": {"name": "a" * 254}}, "must be a DNS subdomain"),
        ({"kind": "Secret", "metadata": {"name": "s", "labels": {"a b": "c"}}}, "label key"),
        ({"kind": "Secret", "metadata": {"name": "s", "labels": {"a": "b c"}}}, "label value"),
        ({"kind": "Secret", "metadata": {"name": "s", "annotations": {"-x": "y"}}}, "annotation"),
        ({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a/b": "x"}}, "data key"),
        ({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"d": "x" * 1048577}}, "1 MiB"),
    ],
)
def test_core_rules_catch_what_the_api_server_refuses(obj: dict[str, Any], expected: str) -> None:
    (problem,) = core_problems(obj)
    assert expected in problem
