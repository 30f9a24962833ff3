"""Build every folder of the GitOps tree under flux/ and validate what the clusters would apply."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
for _path in (str(ROOT), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import kubectltool  # noqa: E402
from crdcheck import is_flux_kind, served, validate  # noqa: E402

from components.builders.gitops import apps_kustomization, cluster_files, cluster_kustomization  # noqa: E402
from components.builders.options import cluster_folder_options  # noqa: E402
from components.definition.cluster import Cluster  # noqa: E402
from components.loading.fleet import load_fleet  # noqa: E402
from components.yamlio import dump_yaml  # noqa: E402

FLUX = ROOT / "flux"
CLUSTER_DIRS = sorted(p for p in (FLUX / "clusters").glob("*") if p.is_dir())
APP_DIRS = sorted(p for p in (FLUX / "apps").glob("*") if p.is_dir())
ENVIRONMENTS = ("production", "staging")

# Built-in group versions a current Kubernetes (1.29+) API server serves, by kind.
BUILTIN_SERVED = {
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _kubectl() -> str:
    return kubectltool.kubectl()


@functools.cache
def _build(directory: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`kubectl kustomize {_rel(directory)}` failed ({result.returncode}):\n{result.stderr}",
            pytrace=False,
        )
    docs = [doc for doc in YAML(typ="safe").load_all(result.stdout) if doc is not None]
    return tuple(docs)


def build(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` renders for `directory`, as fresh copies."""
    return copy.deepcopy(list(_build(directory)))


def _ident(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return (
        f"{obj.get('apiVersion')} {obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}"
    )


def _apps_kustomization(cluster: Path) -> dict[str, Any]:
    found = [
        o
        for o in build(cluster)
        if o.get("apiVersion", "").startswith("kustomize.toolkit.fluxcd.io/")
        and o.get("kind") == "Kustomization"
        and o["metadata"].get("name") == "apps"
        and o["metadata"].get("namespace") == "flux-system"
    ]
    assert len(found) == 1, f"{_rel(cluster)}: expected one Kustomization flux-system/apps"
    return found[0]


def _environment(cluster: Path) -> str:
    path = _apps_kustomization(cluster)["spec"]["path"]
    return path.removeprefix("./flux/apps/")


def _deployment(directory: Path) -> dict[str, Any]:
    deployments = [o for o in build(directory) if o["kind"] == "Deployment"]
    assert len(deployments) == 1, f"{_rel(directory)}: expected one Deployment"
    return deployments[0]


def test_kubectl_is_installed() -> None:
    _kubectl()


def test_tree_has_the_expected_folders() -> None:
    assert {p.name for p in CLUSTER_DIRS} >= {"production-cluster-name", "staging-cluster-name"}
    assert {p.name for p in APP_DIRS} >= {"base", *ENVIRONMENTS}
    assert not (FLUX / "clusters" / "production-cluster-name" / "flux-system").exists(), (
        "the FluxInstance creates the flux-system sync objects; no flux-system/ folder"
    )


@pytest.mark.parametrize("directory", CLUSTER_DIRS + APP_DIRS, ids=_rel)
def test_build_succeeds(directory: Path) -> None:
    docs = build(directory)
    assert docs, f"{_rel(directory)} builds to nothing"
    for obj in docs:
        assert isinstance(obj, dict), f"{_rel(directory)}: a document is not a mapping"
        assert obj.get("apiVersion") and obj.get("kind"), f"{_rel(directory)}: {obj!r}"
        assert obj.get("metadata", {}).get("name"), f"{_rel(directory)}: unnamed {_ident(obj)}"


@pytest.mark.parametrize("directory", CLUSTER_DIRS + APP_DIRS, ids=_rel)
def test_flux_objects_validate_against_crds(directory: Path) -> None:
    flux_objects = [obj for obj in build(directory) if is_flux_kind(obj)]
    problems = [f"{_ident(obj)}: {line}" for obj in flux_objects for line in validate(obj)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("directory", CLUSTER_DIRS + APP_DIRS, ids=_rel)
def test_every_api_version_is_served(directory: Path) -> None:
    unserved = []
    for obj in build(directory):
        key = (obj["apiVersion"], obj["kind"])
        ok = served(*key) if is_flux_kind(obj) else key in BUILTIN_SERVED
        if not ok:
            unserved.append(_ident(obj))
    assert unserved == [], f"{_rel(directory)}: API versions not served: {unserved}"


@pytest.mark.parametrize("cluster", CLUSTER_DIRS, ids=_rel)
def test_cluster_folder_holds_only_flux_objects(cluster: Path) -> None:
    others = [_ident(o) for o in build(cluster) if not is_flux_kind(o)]
    assert others == [], f"{_rel(cluster)}: clusters/ holds only Flux objects, found {others}"


def test_crdcheck_reports_an_unserved_api_version() -> None:
    doctored = apps_kustomization("production")
    doctored["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1beta1"
    assert not served(doctored["apiVersion"], doctored["kind"])
    problems = validate(doctored)
    assert problems and "no served CRD version" in problems[0]


def test_crdcheck_reports_an_unknown_field() -> None:
    doctored = apps_kustomization("production")
    doctored["spec"]["prunne"] = doctored["spec"].pop("prune")
    assert any("prunne" in line for line in validate(doctored)), validate(doctored)
    assert validate(apps_kustomization("production")) == []


@pytest.mark.parametrize("cluster", CLUSTER_DIRS, ids=_rel)
def test_apps_path_points_to_an_existing_overlay(cluster: Path) -> None:
    ks = _apps_kustomization(cluster)
    path = ks["spec"]["path"]
    assert path.startswith("./flux/apps/"), f"{_rel(cluster)}: path {path!r}"
    assert (ROOT / path).is_dir(), f"{_rel(cluster)}: {path} does not exist"
    assert (ROOT / path / "kustomization.yaml").is_file()
    env = _environment(cluster)
    assert env in ENVIRONMENTS, f"{_rel(cluster)}: unknown environment {env!r}"
    assert cluster.name.startswith(f"{env}-"), f"{_rel(cluster)} syncs the {env} overlay"
    assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}


def _definition(cluster: Path) -> Cluster:
    fleet = load_fleet(ROOT)
    found = [c for c in fleet.clusters.values() if c.git_path == _rel(cluster)]
    assert len(found) == 1, f"{_rel(cluster)}: expected one definition syncing it"
    return found[0]


@pytest.mark.parametrize("cluster", CLUSTER_DIRS, ids=_rel)
def test_committed_cluster_files_match_the_builders(cluster: Path) -> None:
    env = _environment(cluster)
    assert (cluster / "apps.yaml").read_text() == dump_yaml([apps_kustomization(env)])
    generated = cluster_files(cluster_folder_options(_definition(cluster)))
    listed = YAML(typ="safe").load((cluster / "kustomization.yaml").read_text())["resources"]
    for name, text in generated.items():
        assert (cluster / name).read_text() == text, f"{_rel(cluster)}/{name}"
        assert name == "kustomization.yaml" or name in listed, f"{name} not in kustomization"
    if set(listed) == set(generated) - {"kustomization.yaml"}:
        assert generated["kustomization.yaml"] == dump_yaml([cluster_kustomization(listed)])


@pytest.mark.parametrize("cluster", CLUSTER_DIRS, ids=_rel)
def test_every_app_repository_is_in_the_build(cluster: Path) -> None:
    definition = _definition(cluster)
    built = {(o["kind"], o["metadata"]["name"]): o for o in build(cluster)}
    for app in definition.spec.apps:
        repo = built[("GitRepository", app.name)]
        assert repo["apiVersion"] == "source.toolkit.fluxcd.io/v1"
        assert repo["metadata"]["namespace"] == "flux-system"
        assert repo["spec"]["secretRef"] == {"name": app.pull_secret}
        owner = app.owner_or(definition.spec.git.owner)
        assert repo["spec"]["url"] == f"ssh://git@github.com/{owner}/{app.repository}.git"
        ks = built[("Kustomization", app.name)]
        assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": app.name}
        assert ks["spec"]["path"] == f"./{app.path}"
        assert ks["spec"]["prune"] is True


def test_the_production_example_has_an_app_repository() -> None:
    prod = _definition(FLUX / "clusters" / "production-cluster-name")
    assert [(a.name, a.repository, a.path, a.pull_secret) for a in prod.spec.apps] == [
        ("my-apps", "my-apps", "flux/app/production", "apps-deploykey")
    ]
    assert (FLUX / "clusters" / "production-cluster-name" / "my-apps.yaml").is_file()


def test_every_environment_is_synced_by_a_cluster() -> None:
    assert {_environment(c) for c in CLUSTER_DIRS} == set(ENVIRONMENTS)


def test_production_overlay_differs_from_staging() -> None:
    prod = _deployment(FLUX / "apps" / "production")
    staging = _deployment(FLUX / "apps" / "staging")
    assert prod["spec"]["replicas"] == 3
    assert staging["spec"]["replicas"] == 1
    for env, dep in (("production", prod), ("staging", staging)):
        assert dep["metadata"]["labels"]["app.kubernetes.io/environment"] == env
        template_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert template_labels["app.kubernetes.io/environment"] == env
        # Selectors are immutable: the environment label must stay out of them.
        assert "app.kubernetes.io/environment" not in dep["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("directory", APP_DIRS, ids=_rel)
def test_workload_is_hardened(directory: Path) -> None:
    pod = _deployment(directory)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9898}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9898}
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]


def test_dump_yaml_is_multi_document_and_keeps_key_order() -> None:
    docs = [apps_kustomization("staging"), cluster_kustomization(["apps.yaml"])]
    text = dump_yaml(docs)
    assert text.startswith("---\n") and text.count("---\n") == 2
    loaded = list(YAML(typ="safe").load_all(text))
    assert loaded == docs
    assert [list(d) for d in loaded] == [list(d) for d in docs]
    assert dump_yaml([]) == ""


def test_dump_yaml_quotes_yaml11_booleans() -> None:
    assert dump_yaml([{"value": "on", "other": "yes"}]) == "---\nvalue: 'on'\nother: 'yes'\n"


def test_apps_kustomization_rejects_a_bad_environment() -> None:
    with pytest.raises(ValueError, match="environment"):
        apps_kustomization("../etc")
