"""spec.flux beyond the version and components: patches (and the recipes of
docs/how-to/tune-flux.md, applied by kustomize), multi-tenancy, cluster domain, an image registry
mirror (ECR: a pull like any other), the operator chart's mirror, storage and common metadata."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import kubectltool
import pytest
from conftest import ROOT
from crdcheck import validate
from fleetworkspace import assert_problem_lines
from planutil import BARE, of_type, one, run_cli

from components import yamlio
from components.builders.ecr_cluster import node_pull_policy
from components.builders.flux import FLUX_REGISTRY, OPERATOR_CHART, flux_instance
from components.builders.options import cluster_pulls, flux_options
from components.definition.cluster import Cluster
from components.loading.fleet import load_fleet, validate_cluster_doc
from components.plan.result import StackPlan
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
RELEASE = "kubernetes:helm.sh/v3:Release"
DISPLAY = "k8s-clusters/bare.yaml"
CONTROLLERS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
CONCURRENCY = {
    "target": {"kind": "Deployment", "name": "(kustomize|helm)-controller"},
    "patch": "- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
    "  value: --concurrent=20\n",
}


def checked(flux: dict[str, Any], defaults: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    doc = copy.deepcopy(BARE)
    doc["spec"]["flux"] = flux
    cluster, problems = validate_cluster_doc(doc, DISPLAY, "bare", defaults or {})
    return cluster, [str(p) for p in problems]


def bare(flux: dict[str, Any]) -> Cluster:
    cluster, problems = checked(flux)
    assert cluster is not None, problems
    return cluster


def spec_of(flux: dict[str, Any]) -> dict[str, Any]:
    instance = flux_instance(flux_options(bare(flux)))
    assert validate(instance) == [], instance  # the FluxInstance CRD's schema
    return instance["spec"]


# --- the builder ------------------------------------------------------------------------------


def test_left_out_every_field_keeps_the_instance_as_it_was() -> None:
    spec = spec_of({})
    assert spec["distribution"] == {"version": "2.9.x", "registry": FLUX_REGISTRY}
    assert spec["cluster"] == {"type": "aws", "size": "medium", "networkPolicy": True}
    assert {"storage", "commonMetadata", "kustomize"}.isdisjoint(spec)


def test_each_field_maps_to_its_place_in_the_instance() -> None:
    spec = spec_of(
        {
            "multitenant": True,
            "clusterDomain": "fleet.internal",
            "registry": {
                "url": "registry.example.com/fluxcd",
                "pullSecret": "flux-registry",
                "credentialFrom": {"ssmParameter": "/fleet/registry", "username": "flux"},
            },
            "storage": {"class": "gp3", "size": "10Gi"},
            "commonMetadata": {"labels": {"team": "platform"}, "annotations": {"a.io/b": "c d"}},
            "patches": [CONCURRENCY],
        }
    )
    assert spec["cluster"] == {
        "type": "aws",
        "size": "medium",
        "networkPolicy": True,
        "multitenant": True,
        "tenantDefaultServiceAccount": "default",
        "domain": "fleet.internal",
    }
    assert spec["distribution"] == {
        "version": "2.9.x",
        "registry": "registry.example.com/fluxcd",
        "variant": "upstream-alpine",  # a mirror: the operator cannot tell
        "imagePullSecret": "flux-registry",
    }
    assert spec["storage"] == {"class": "gp3", "size": "10Gi"}
    assert spec["commonMetadata"] == {
        "labels": {"team": "platform"},
        "annotations": {"a.io/b": "c d"},
    }
    assert spec["kustomize"]["patches"] == [CONCURRENCY]


def test_a_definitions_patches_come_after_flux_fleets_own() -> None:
    spec = spec_of({"tolerationKeys": ["CriticalAddonsOnly"], "patches": [CONCURRENCY]})
    patches = spec["kustomize"]["patches"]
    assert patches[0]["target"] == {"kind": "Deployment"}  # the tolerations
    assert patches[-1] == CONCURRENCY
    named = spec_of({"tenantDefaultServiceAccount": "tenant", "multitenant": True})
    assert named["cluster"]["tenantDefaultServiceAccount"] == "tenant"


def test_a_patch_reaches_the_sync_objects_too() -> None:
    decryption = {
        "target": {"kind": "Kustomization", "name": "flux-system"},
        "patch": "- op: add\n  path: /spec/decryption\n  value: {provider: sops}\n",
    }
    assert spec_of({"patches": [decryption]})["kustomize"]["patches"] == [decryption]


def test_fleet_patches_and_the_clusters_add_up_in_that_order() -> None:
    log = {
        **CONCURRENCY,
        "patch": CONCURRENCY["patch"].replace("--concurrent=20", "--log-level=debug"),
    }
    defaults = {"flux": {"patches": [log], "size": "large"}}
    cluster, problems = checked({"patches": [CONCURRENCY], "size": "small"}, defaults)
    assert cluster is not None, problems
    assert [p.patch for p in cluster.spec.flux.patches] == [log["patch"], CONCURRENCY["patch"]]
    assert cluster.spec.flux.size == "small"  # every other value: the cluster's wins
    inherited, _ = checked({}, defaults)
    assert inherited is not None and len(inherited.spec.flux.patches) == 1


# --- bad input ---------------------------------------------------------------------------------


def patched(text: str, target: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"patches": [{"patch": text, **({"target": target} if target else {})}]}


ADD = "- op: add\n  path: /x\n  value: 1\n"
DEPLOYMENT = {"kind": "Deployment"}
BAD_VALUES = [
    # (spec.flux, the field path under spec.flux, what the line says)
    (patched("op: [unclosed"), "patches[0].patch", "invalid YAML"),
    (patched("- op: jump\n  path: /x\n"), "patches[0].patch", "op: one of add"),
    (patched("- op: add\n  path: x\n  value: 1\n"), "patches[0].patch", "expected a path"),
    (patched("- op: add\n  path: /x\n"), "patches[0].patch", "expected a value"),
    (patched("spec: {replicas: 2}\n"), "patches[0].patch", "naming its object"),
    (patched("- op: remove\n  path: /x\n"), "patches[0].target", "required for a JSON6902"),
    (patched(ADD, {"kind": "Pod"}), "patches[0].target.kind", "CustomResourceDefinition"),
    (patched(ADD, {**DEPLOYMENT, "name": "image-.*"}), "patches[0].target.name", "matches no"),
    (patched(ADD, {**DEPLOYMENT, "name": "(x"}), "patches[0].target.name", "a Go regular expr"),
    # kustomize matches names with Go's regexp: RE2 decides (Python's re accepts these)
    (patched(ADD, {**DEPLOYMENT, "name": "(?>x)"}), "patches[0].target.name", "RE2: invalid"),
    (patched(ADD, {**DEPLOYMENT, "name": "(" * 600 + ")" * 600}), "patches[0].target.name", "1024"),
    (patched(ADD, {"kind": "Kustomization", "name": "apps"}), "patches[0].target.name", "flux-sys"),
    ({"tenantDefaultServiceAccount": "t"}, "tenantDefaultServiceAccount", "only with multi"),
    ({"registry": {"url": "https://ghcr.io/fluxcd"}}, "registry.url", "without scheme or tag"),
    ({"registry": {"url": "ghcr.io/fluxcd:v1"}}, "registry.url", "without scheme or tag"),
    ({"operatorChart": "ghcr.io/charts/flux-operator"}, "operatorChart", "an OCI chart"),
    ({"storage": {"class": "gp3", "size": "ten gigs"}}, "storage.size", "a Kubernetes quantity"),
    ({"storage": {"size": "10Gi"}}, "storage.class", "required field is missing"),
    ({"commonMetadata": {"labels": {"t": "a b"}}}, "commonMetadata.labels.t", "label value"),
    ({"clusterDomain": "Cluster_Local"}, "clusterDomain", "RFC 1123 subdomain"),
]


def one_problem(flux: dict[str, Any], path: str, expected: str) -> str:
    """The one problem of spec.flux `flux`: at spec.flux.<path>, saying `expected`."""
    _, problems = checked(flux)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{DISPLAY}: spec.flux.{path}: "), problems
    assert expected in problems[0]
    return problems[0]


@pytest.mark.parametrize(("flux", "path", "expected"), BAD_VALUES)
def test_bad_values_are_one_line_naming_the_field(
    flux: dict[str, Any], path: str, expected: str
) -> None:
    one_problem(flux, path, expected)


def test_the_cli_reports_a_bad_patch_in_one_line_exit_2(project: Path) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    path.write_text(
        path.read_text().replace(
            "    size: large\n", "    size: large\n    patches:\n      - patch: 'spec: ['\n"
        )
    )
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert assert_problem_lines(err) == [
        f"k8s-clusters/{PROD}.yaml: spec.flux.patches[0].patch: expected a YAML patch, got "
        "invalid YAML (while parsing a flow node)"
    ]


# --- the recipes of docs/how-to/tune-flux.md, applied by kustomize ---------------------------


def readme_recipes() -> dict[str, list[dict[str, Any]]]:
    text = (ROOT / "docs" / "how-to" / "tune-flux.md").read_text()
    found = re.findall(r"<!-- recipe: ([a-z-]+) -->\n```yaml\n(.*?)```", text, re.S)
    return {name: yamlio.load(body)["patches"] for name, body in found}


def flux_deployments() -> list[dict[str, Any]]:
    """The four core controllers' Deployments, shaped like Flux's install manifests."""
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "manager",
                                "image": f"ghcr.io/fluxcd/{name}",
                                "args": ["--log-level=info", "--watch-all-namespaces=true"],
                                "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}},
                            }
                        ]
                    }
                }
            },
        }
        for name in CONTROLLERS
    ]


def kustomized(patches: list[dict[str, Any]], folder: Path) -> dict[str, dict[str, Any]]:
    """The Deployments after kustomize applied `patches`, as the operator applies them."""
    (folder / "flux.yaml").write_text(yamlio.dump_yaml(flux_deployments()))
    kustomization = {"resources": ["flux.yaml"], "patches": patches}
    (folder / "kustomization.yaml").write_text(yamlio.dump_yaml([kustomization]))
    done = subprocess.run(
        [kubectltool.kubectl(), "kustomize", str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return {doc["metadata"]["name"]: doc for doc in yamlio.load_all(done.stdout)}


KUSTOMIZE_AND_HELM = ("kustomize-controller", "helm-controller")
# recipe -> {controller: what its container has after the patch}; the others stay as they were
RECIPES = {
    "concurrency": dict.fromkeys(KUSTOMIZE_AND_HELM, "--concurrent=20"),
    "memory": {"source-controller": "2Gi"},
    "requeue": dict.fromkeys(KUSTOMIZE_AND_HELM, "--requeue-dependency=5s"),
    "feature-gate": {"helm-controller": "--feature-gates=OOMWatch=true"},
    "log-level": dict.fromkeys(CONTROLLERS, "--log-level=debug"),
}


def test_the_readme_has_the_recipes_the_tests_apply() -> None:
    assert sorted(readme_recipes()) == sorted(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_readme_recipe_validates_reaches_the_instance_and_does_what_it_says(
    name: str, tmp_path: Path
) -> None:
    patches = readme_recipes()[name]
    spec = spec_of({"patches": patches})
    assert spec["kustomize"]["patches"] == patches
    after = kustomized(spec["kustomize"]["patches"], tmp_path)
    before = {d["metadata"]["name"]: d for d in flux_deployments()}
    for controller, document in after.items():
        container = document["spec"]["template"]["spec"]["containers"][0]
        expected = RECIPES[name].get(controller)
        if expected is None:
            assert document == before[controller], f"{name} touched {controller}"
        else:
            shown = [*container["args"], container["resources"]["limits"]["memory"]]
            assert expected in shown, (controller, container)


# --- the plan ------------------------------------------------------------------------------------


def edit_flux(project: Path, flux: dict[str, Any], *, node_roles: bool = True) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["flux"].update(flux)
    if not node_roles:
        doc["spec"]["ecr"].pop("nodeRoleNames")
    path.write_text(yamlio.dump_yaml([doc]))


def test_the_plan_installs_from_the_mirrors(project: Path) -> None:
    edit_flux(
        project,
        {
            "operatorChart": "oci://registry.example.com/charts/flux-operator",
            "registry": {
                "url": "registry.example.com/fluxcd",
                "pullSecret": "mirror",
                "credentialFrom": {"ssmParameter": "/fleet/registry", "username": "flux"},
            },
            "storage": {"class": "gp3", "size": "20Gi"},
        },
    )
    plan = plan_stack(project, PROD)
    assert one(plan, RELEASE).inputs["chart"] == "oci://registry.example.com/charts/flux-operator"
    spec = one(plan, INSTANCE).inputs["spec"]
    assert spec["distribution"]["registry"] == "registry.example.com/fluxcd"
    assert spec["storage"] == {"class": "gp3", "size": "20Gi"}
    assert validate(one(plan, INSTANCE).inputs) == []


def test_the_example_plan_keeps_the_upstream_chart(root: Path) -> None:
    assert one(plan_stack(root, PROD), RELEASE).inputs["chart"] == OPERATOR_CHART


ECR_MIRROR = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/ghcr/fluxcd"


def add_mirror_repositories(project: Path) -> None:
    path = project / "k8s-clusters/_registries.yaml"
    path.write_text(
        path.read_text().replace(
            "repositories: [api, worker]",
            "repositories: [api, worker, ghcr/fluxcd/source-controller, "
            "ghcr/fluxcd/kustomize-controller]",
        )
    )


def test_an_ecr_mirror_is_pulled_like_any_other_ecr_repository(project: Path) -> None:
    add_mirror_repositories(project)
    edit_flux(project, {"registry": {"url": ECR_MIRROR}})
    fleet = load_fleet(project)
    assert fleet.all_problems == []
    cluster = fleet.clusters[PROD]
    pulled = node_pull_policy(cluster_pulls(cluster, fleet.registries))["Statement"][1]["Resource"]
    assert "arn:aws:ecr:eu-west-1:210987654321:repository/ghcr/fluxcd/*" in pulled
    # the registry side: each listed repository under the path grants the cluster's account
    registries = plan_stack(project, "registries")
    policies = {r.name for r in of_type(registries, "aws:ecr/repositoryPolicy:RepositoryPolicy")}
    assert {
        "registries-shared/ghcr/fluxcd/source-controller",
        "registries-shared/ghcr/fluxcd/kustomize-controller",
    } <= policies
    # and the cluster side reaches the node role
    plan = plan_stack(project, PROD)
    (policy,) = of_type(plan, "aws:iam/policy:Policy")
    assert "ghcr/fluxcd/*" in policy.inputs["policy"]


def test_an_ecr_mirror_of_no_registry_or_no_repository_is_refused(project: Path) -> None:
    edit_flux(project, {"registry": {"url": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/x"}})
    problems = [str(p) for p in load_fleet(project).all_problems]
    assert problems == [
        f"k8s-clusters/{PROD}.yaml: spec.flux.registry.url: an ECR registry of "
        "111111111111/eu-west-1, expected the account and region of a registry of "
        "k8s-clusters/_registries.yaml (shared (210987654321/eu-west-1))"
    ]
    edit_flux(project, {"registry": {"url": ECR_MIRROR}})
    (problem,) = [str(p) for p in load_fleet(project).all_problems]
    assert problem.startswith(f"k8s-clusters/{PROD}.yaml: spec.flux.registry.url: expected a ")
    assert '"ghcr/fluxcd/*"' in problem


def test_a_plan_of_a_cluster_with_everything_set_is_valid_against_the_crds(
    project: Path,
) -> None:
    edit_flux(
        project,
        {
            "multitenant": True,
            "clusterDomain": "fleet.internal",
            "commonMetadata": {"labels": {"team": "platform"}},
            "patches": [p for patches in readme_recipes().values() for p in patches],
        },
    )
    plan: StackPlan = plan_stack(project, PROD)
    instance = one(plan, INSTANCE).inputs
    assert validate(instance) == []
    assert len(instance["spec"]["kustomize"]["patches"]) == 1 + sum(
        len(p) for p in readme_recipes().values()
    )  # the tolerations, then the recipes
