"""spec.flux.multitenant: the Kustomizations in Git run as a ServiceAccount, since under the
operator's lockdown (flux-operator internal/builder/profiles.go, profileClusterMultitenant)
kustomize-controller impersonates the tenant default of the Kustomization's namespace when
spec.serviceAccountName is empty (kustomize-controller
internal/controller/kustomization_controller.go, runtimeClient.WithServiceAccount)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubectltool
import pytest
from crdcheck import validate as crd_validate
from planutil import run_cli

from components.builders.gitops import cluster_files
from components.builders.options import cluster_folder_options
from components.loading.fleet import load_fleet
from components.tools.consistency import consistency_problems
from components.yamlio import load_all

PROD = "production-cluster-name"
PROD_FILE = f"k8s-clusters/{PROD}.yaml"
FOLDER = f"flux/clusters/{PROD}"


def lock_down(project: Path, extra: str = "") -> None:
    path = project / PROD_FILE
    text = path.read_text()
    old = "  flux:\n    size: large\n"
    assert old in text
    path.write_text(text.replace(old, old + "    multitenant: true\n", 1) + extra)


def prod(project: Path):  # type: ignore[no-untyped-def]
    fleet = load_fleet(project)
    assert fleet.all_problems == []
    return fleet, fleet.clusters[PROD]


def kustomizations(files: dict[str, str]) -> dict[str, dict]:  # type: ignore[type-arg]
    out = {}
    for text in files.values():
        for doc in load_all(text):
            if doc.get("kind") == "Kustomization" and "spec" in doc:
                out[doc["metadata"]["name"]] = doc
    return out


def test_without_the_lockdown_nothing_changes(project: Path) -> None:
    _, cluster = prod(project)
    found = kustomizations(cluster_files(cluster_folder_options(cluster)))
    assert set(found) == {"apps", "my-apps"}
    assert all("serviceAccountName" not in ks["spec"] for ks in found.values())


def test_the_lockdown_gives_every_kustomization_a_service_account(project: Path) -> None:
    lock_down(project)
    _, cluster = prod(project)
    files = cluster_files(cluster_folder_options(cluster))
    found = kustomizations(files)
    assert {name: ks["spec"]["serviceAccountName"] for name, ks in found.items()} == {
        "apps": "kustomize-controller",
        "my-apps": "kustomize-controller",
    }
    for ks in found.values():
        assert crd_validate(ks) == []
    # the folder as kustomize-controller builds it
    folder = project / FOLDER
    for name, text in files.items():
        (folder / name).write_text(text)
    built = subprocess.run(
        [kubectltool.kubectl(), "kustomize", str(folder)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    applied = [d for d in load_all(built.stdout) if d["kind"] == "Kustomization"]
    assert sorted(d["spec"]["serviceAccountName"] for d in applied) == [
        "kustomize-controller",
        "kustomize-controller",
    ]
    assert all(crd_validate(d) == [] for d in applied)


def test_an_app_runs_as_its_own_service_account(project: Path) -> None:
    lock_down(project, "      serviceAccountName: team-a\n")
    _, cluster = prod(project)
    found = kustomizations(cluster_files(cluster_folder_options(cluster)))
    assert found["my-apps"]["spec"]["serviceAccountName"] == "team-a"
    assert found["apps"]["spec"]["serviceAccountName"] == "kustomize-controller"
    assert crd_validate(found["my-apps"]) == []


def test_validate_reports_a_committed_tree_without_them(project: Path) -> None:
    lock_down(project)
    fleet, cluster = prod(project)
    why = (
        f"spec.flux.multitenant in {PROD_FILE}; without it kustomize-controller impersonates "
        '"default" of flux-system'
    )
    expected = '"kustomize-controller"'
    assert [str(p) for p in consistency_problems(fleet)] == [
        f"{FOLDER}/{name}.yaml: Kustomization {name}: spec.serviceAccountName: expected "
        f"{expected} ({why}), got nothing"
        for name in ("apps", "my-apps")
    ]
    for name, text in cluster_files(cluster_folder_options(cluster)).items():
        (project / FOLDER / name).write_text(text)
    assert consistency_problems(load_fleet(project)) == []


def test_validate_names_the_entry_and_the_tenant_default(project: Path) -> None:
    path = project / PROD_FILE
    lock_down(project, "      serviceAccountName: team-a\n")
    lockdown = "    multitenant: true\n"
    text = path.read_text().replace(
        lockdown, lockdown + "    tenantDefaultServiceAccount: nobody\n"
    )
    path.write_text(text)
    fleet, _ = prod(project)
    problems = [str(p) for p in consistency_problems(fleet)]
    assert problems[1] == (
        f"{FOLDER}/my-apps.yaml: Kustomization my-apps: spec.serviceAccountName: expected "
        f'"team-a" (spec.apps[0].serviceAccountName in {PROD_FILE}; without it '
        'kustomize-controller impersonates "nobody" of flux-system), got nothing'
    )


@pytest.mark.parametrize("value", ["Team_A", "", "a" * 64])
def test_a_bad_service_account_name_is_one_line(project: Path, value: str) -> None:
    lock_down(project, f'      serviceAccountName: "{value}"\n')
    fleet = load_fleet(project)
    problems = [str(p) for p in fleet.all_problems]
    assert len(problems) == 1
    assert problems[0].startswith(f"{PROD_FILE}: spec.apps[0].serviceAccountName: ")


def test_new_cluster_writes_them_when_the_fleet_is_locked_down(project: Path) -> None:
    defaults = project / "k8s-clusters/_defaults.yaml"
    text = defaults.read_text()
    assert "    size: medium\n" in text
    defaults.write_text(
        text.replace("    size: medium\n", "    size: medium\n    multitenant: true\n")
    )
    code, _, err = run_cli(
        project, "new-cluster", "fresh", "--account-id", "111122223333",
        "--region", "eu-west-1", "--environment", "staging",
    )  # fmt: skip
    assert code == 0, err
    (apps,) = load_all((project / "flux/clusters/fresh/apps.yaml").read_text())
    assert apps["spec"]["serviceAccountName"] == "kustomize-controller"
    fleet = load_fleet(project)
    assert [str(p) for p in consistency_problems(fleet) if "fresh" in str(p)] == []
