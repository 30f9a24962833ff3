"""spec.flux.runtimeInfo (the cluster's facts handed to Flux: the ConfigMap flux-runtime-info
and the substituteFrom of the sync and scaffolded Kustomizations) and the FluxInstance's
durations (readyTimeout, reconcileEvery, reconcileTimeout)."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from corecheck import core_problems
from crdcheck import cel_problems, validate
from fleetworkspace import assert_problem_lines
from planutil import new_staging_cluster, of_type, one, run_cli
from test_aws_identity import kustomized_sync
from test_flux_config import (
    INSTANCE,
    PROD,
    RELEASE,
    checked,
    edit_flux,
    one_problem,
    spec_of,
)

from components import yamlio
from components.builders.flux import flux_instance
from components.builders.gitops import app_source, cluster_files
from components.builders.options import app_source_options, cluster_folder_options, flux_options
from components.builders.runtime_info import RUNTIME_INFO_NAME, sync_substitution_patch
from components.loading.fleet import load_fleet
from components.plan.runner import plan_stack

GUIDE = (ROOT / "docs" / "how-to" / "runtime-info.md").read_text()
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SUBSTITUTE = {"substituteFrom": [{"kind": "ConfigMap", "name": RUNTIME_INFO_NAME}]}
EVERY = "fluxcd.controlplane.io/reconcileEvery"
TIMEOUT = "fluxcd.controlplane.io/reconcileTimeout"


def flux_valid(obj: dict[str, Any]) -> dict[str, Any]:
    assert validate(obj) == [], obj
    assert cel_problems(obj) == [], obj
    return obj


def sync_patches(spec: dict[str, Any]) -> list[Any]:
    return [
        json.loads(p["patch"])
        for p in spec.get("kustomize", {}).get("patches", [])
        if p["target"] == {"kind": "Kustomization", "name": "flux-system"}
    ]


# --- the builder ------------------------------------------------------------------------------


def test_left_out_there_is_no_substitution_and_no_annotation() -> None:
    spec = spec_of({})
    assert sync_patches(spec) == []
    annotations = flux_instance(flux_options(checked({})[0]))["metadata"]["annotations"]
    assert annotations == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "600",
    }


def test_runtime_info_makes_the_sync_kustomization_substitute_from_the_configmap() -> None:
    spec = spec_of({"runtimeInfo": {}})
    assert sync_patches(spec) == [[{"op": "add", "path": "/spec/postBuild", "value": SUBSTITUTE}]]


def test_the_substitution_patch_does_what_it_says_with_kustomize(tmp_path: Path) -> None:
    patched = kustomized_sync(tmp_path, sync_substitution_patch())
    assert flux_valid(patched)["spec"]["postBuild"] == SUBSTITUTE


def test_durations_reach_the_instance_annotations() -> None:
    cluster, problems = checked(
        {"readyTimeout": "15m", "reconcileEvery": "30m", "reconcileTimeout": "3m"}
    )
    assert problems == []
    instance = flux_valid(flux_instance(flux_options(cluster)))
    assert instance["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "900",
        EVERY: "30m",
        TIMEOUT: "3m",
    }


def test_fleet_wide_durations_apply_and_a_cluster_overrides_them() -> None:
    defaults = {"flux": {"reconcileEvery": "2h", "readyTimeout": "20m"}}  # _defaults.yaml spec
    cluster, problems = checked({"readyTimeout": "1h30m"}, defaults)
    assert problems == []
    annotations = flux_instance(flux_options(cluster))["metadata"]["annotations"]
    assert annotations[EVERY] == "2h"
    assert annotations["pulumi.com/timeoutSeconds"] == "5400"
    assert TIMEOUT not in annotations


ABOUT_40 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the AWS docs' example secret key
BAD_VALUES = [
    # (spec.flux, the field path under spec.flux, what the line says)
    ({"runtimeInfo": {"my-var": "x"}}, "runtimeInfo.my-var[key]", "substitution variable"),
    ({"runtimeInfo": {"1st": "x"}}, "runtimeInfo.1st[key]", "substitution variable"),
    ({"runtimeInfo": {"cluster_name": "x"}}, "runtimeInfo.cluster_name", "the facts"),
    ({"runtimeInfo": {"flux_x_role_arn": "x"}}, "runtimeInfo.flux_x_role_arn", "the facts"),
    ({"runtimeInfo": {"k": "-----BEGIN RSA PRIVATE KEY-----"}}, "runtimeInfo.k", "a PEM block"),
    ({"runtimeInfo": {"k": "id AKIAIOSFODNN7EXAMPLE"}}, "runtimeInfo.k", "access key ID"),
    ({"runtimeInfo": {"k": ABOUT_40}}, "runtimeInfo.k", "secret access key"),
    ({"runtimeInfo": {"k": "ghp_" + "a1B2" * 9}}, "runtimeInfo.k", "a GitHub token"),
    ({"runtimeInfo": {"k": "github_pat_11AAA"}}, "runtimeInfo.k", "a GitHub token"),
    ({"runtimeInfo": {"k": "xoxb-1-2-abc"}}, "runtimeInfo.k", "a Slack token"),
    ({"runtimeInfo": {"k": "https://u:p@git.example.com/x"}}, "runtimeInfo.k", "credentials"),
    ({"runtimeInfo": {"k": "a\nb"}}, "runtimeInfo.k", "one line"),
    ({"runtimeInfo": {"k": 3}}, "runtimeInfo.k", "quote it"),
    ({"readyTimeout": "600"}, "readyTimeout", "a Go duration"),
    ({"readyTimeout": "30s"}, "readyTimeout", "from 1m to 2h"),
    ({"reconcileEvery": "1d"}, "reconcileEvery", "a Go duration"),
    ({"reconcileEvery": "25h"}, "reconcileEvery", "from 1m to 24h"),
    ({"reconcileTimeout": "10s"}, "reconcileTimeout", "from 30s to 1h"),
]


@pytest.mark.parametrize(("flux", "path", "expected"), BAD_VALUES)
def test_bad_values_are_one_line_naming_the_field(
    flux: dict[str, Any], path: str, expected: str
) -> None:
    problem = one_problem(flux, path, expected)
    for value in (flux.get("runtimeInfo") or {}).values():  # a secret is never echoed
        assert not isinstance(value, str) or len(value) < 8 or value not in problem


def test_ordinary_values_are_accepted() -> None:
    info = {
        "team": "platform",
        "_internal": "x",
        "commit": "0123456789abcdef0123456789abcdef01234567",  # a Git SHA: not a secret key
        "url": "https://grafana.example.com/d/flux",
        "domain": "apps.example.com",
    }
    cluster, problems = checked({"runtimeInfo": info})
    assert problems == [], problems
    assert cluster.spec.flux.runtime_info == info


# --- the plan ------------------------------------------------------------------------------------


def test_the_example_plan_has_no_runtime_info(root: Path) -> None:
    plan = plan_stack(root, PROD)
    assert [r for r in of_type(plan, CONFIGMAP) if RUNTIME_INFO_NAME in r.name] == []
    assert EVERY not in one(plan, INSTANCE).inputs["metadata"]["annotations"]


def test_the_plan_writes_the_facts_before_the_instance(project: Path) -> None:
    flux = {"runtimeInfo": {"team": "payments"}, "readyTimeout": "20m", "reconcileEvery": "15m"}
    edit_flux(project, flux)
    plan = plan_stack(project, PROD)
    (configmap,) = [r for r in of_type(plan, CONFIGMAP) if r.name.endswith("-runtime-info")]
    inputs = configmap.inputs
    assert core_problems({"apiVersion": "v1", "kind": "ConfigMap", **inputs}) == []
    assert inputs["metadata"]["name"] == RUNTIME_INFO_NAME
    assert inputs["metadata"]["namespace"] == "flux-system"
    assert inputs["metadata"]["labels"]["reconcile.fluxcd.io/watch"] == "Enabled"
    data = inputs["data"]
    assert data["cluster_name"] == PROD
    assert data["cluster_environment"] == "production"
    assert data["aws_account_id"] == "123456789012"
    assert data["aws_region"] == "eu-west-1"
    assert data["aws_partition"] == "aws"
    assert data["eks_cluster_name"] == "production-eks"
    assert data["eks_oidc_issuer"].startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")
    assert data["ecr_registries"] == "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    assert data["team"] == "payments"
    assert all(not k.endswith("_role_arn") for k in data)  # no controller role here
    # the instance substitutes from it, waits longer, and depends on it
    instance = one(plan, INSTANCE)
    assert flux_valid(instance.inputs)["metadata"]["annotations"][EVERY] == "15m"
    assert instance.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "1200"
    assert sync_patches(instance.inputs["spec"]) == [
        [{"op": "add", "path": "/spec/postBuild", "value": SUBSTITUTE}]
    ]
    assert configmap.urn in instance.dependencies
    assert one(plan, RELEASE).inputs["timeout"] == 600  # the operator's release keeps its wait
    # the documented app manifest uses only variables the ConfigMap defines
    (recipe,) = re.findall(r"<!-- runtime-info-recipe -->\n```yaml\n(.*?)```", GUIDE, re.S)
    used = set(re.findall(r"\$\{([^}]+)\}", recipe))
    assert len(used) >= 6 and used <= set(data), used - set(data)
    for obj in yamlio.load_all(string.Template(recipe).substitute(data)):
        assert core_problems(obj) == [], obj


def test_the_controllers_roles_are_facts_too(project: Path) -> None:
    edit_flux(project, {"runtimeInfo": {}, "componentsExtra": ["image-reflector-controller"]})
    data = next(
        r.inputs["data"]
        for r in of_type(plan_stack(project, PROD), CONFIGMAP)
        if r.name.endswith("-runtime-info")
    )
    arn = data["flux_image_reflector_controller_role_arn"]
    assert arn.startswith("arn:aws:iam::123456789012:role/")


# --- the Kustomizations in Git -------------------------------------------------------------------


def test_the_scaffolded_kustomizations_substitute_too(project: Path) -> None:
    edit_flux(project, {"runtimeInfo": {}})
    cluster = load_fleet(project).clusters[PROD]
    apps = flux_valid(yamlio.load(cluster_files(cluster_folder_options(cluster))["apps.yaml"]))
    assert apps["spec"]["postBuild"] == SUBSTITUTE
    _, kustomization = app_source(app_source_options(cluster, cluster.spec.apps[0]))
    assert flux_valid(kustomization)["spec"]["postBuild"] == SUBSTITUTE


def test_new_cluster_and_new_app_write_it_and_validate_accepts_it(project: Path) -> None:
    defaults = project / "k8s-clusters/_defaults.yaml"
    defaults.write_text(
        defaults.read_text().replace("  flux:\n", "  flux:\n    runtimeInfo: {team: platform}\n", 1)
    )
    written = new_staging_cluster(project, "fresh")
    assert flux_valid(written)["spec"]["postBuild"] == SUBSTITUTE
    code, _, err = run_cli(project, "new-app", "fresh", "web", "--repository", "web")
    assert code == 0, err
    docs = yamlio.load_all((project / "flux/clusters/fresh/web.yaml").read_text())
    (kustomization,) = [d for d in docs if d["kind"] == "Kustomization"]
    assert flux_valid(kustomization)["spec"]["postBuild"] == SUBSTITUTE
    code, _, err = run_cli(project, "validate")
    assert code == 0, err


def test_the_cli_reports_a_secret_looking_value_in_one_line_exit_2(project: Path) -> None:
    token = "xoxb-123-456-abcdef"
    edit_flux(project, {"runtimeInfo": {"slack": token}, "reconcileTimeout": "2h"})
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    lines = assert_problem_lines(err)
    assert lines == [
        f"k8s-clusters/{PROD}.yaml: spec.flux.reconcileTimeout: expected a duration from 30s "
        "to 1h, got 2h",
        f"k8s-clusters/{PROD}.yaml: spec.flux.runtimeInfo.slack: looks like a Slack token: "
        "runtimeInfo is a plain ConfigMap, expected a non-secret value (a secret belongs in a "
        "Secret the Kustomization substitutes from)",
    ]
    assert token not in err
