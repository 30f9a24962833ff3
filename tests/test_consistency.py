"""`fluxfleet validate` checks the definitions against the GitOps tree of this repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.loading.fleet import load_fleet
from components.tools.cli import main
from components.tools.consistency import consistency_problems, folder_objects, local_clusters

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
PROD_FILE = f"k8s-clusters/{PROD}.yaml"
STAGING_FILE = f"k8s-clusters/{STAGING}.yaml"
APP_FILE = f"flux/clusters/{PROD}/my-apps.yaml"


def problems(project: Path) -> list[str]:
    fleet = load_fleet(project)
    assert fleet.all_problems == []
    return [str(p) for p in consistency_problems(fleet)]


def edit(project: Path, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def test_the_repository_is_consistent(root: Path) -> None:
    fleet = load_fleet(root)
    assert {c.name for c in local_clusters(fleet)} == {PROD, STAGING}
    assert consistency_problems(fleet) == []


def test_validate_runs_the_checks(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "validate"]) == 0
    edit(project, APP_FILE, "name: apps-deploykey", "name: other-secret")
    shutil.rmtree(project / "flux" / "clusters" / STAGING)
    capsys.readouterr()
    assert main(["--project", str(project), "validate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f'{APP_FILE}: GitRepository my-apps: spec.secretRef.name: expected "apps-deploykey" '
        f'(spec.apps[0].secretName in {PROD_FILE}), got "other-secret"',
        f'{STAGING_FILE}: spec.git.path: expected a folder of this repository, "flux/clusters/'
        f'{STAGING}" does not exist (`fluxfleet new-cluster` writes it)',
    ]


def test_a_missing_overlay(project: Path) -> None:
    edit(project, STAGING_FILE, "environment: staging", "environment: qa")
    assert problems(project) == [
        f"{STAGING_FILE}: metadata.environment: expected an environment with an overlay in "
        'flux/apps/, "flux/apps/qa" does not exist (existing: production, staging)'
    ]


def test_an_app_without_its_git_repository(project: Path) -> None:
    (project / APP_FILE).unlink()
    edit(project, f"flux/clusters/{PROD}/kustomization.yaml", "  - my-apps.yaml\n", "")
    assert problems(project) == [
        f"{PROD_FILE}: spec.apps[0]: expected a GitRepository flux-system/my-apps in "
        f"flux/clusters/{PROD}/ (such as flux/clusters/{PROD}/my-apps.yaml, `fluxfleet new-app` "
        "writes it), found none"
    ]


def test_a_file_the_kustomization_does_not_list_is_not_applied(project: Path) -> None:
    edit(project, f"flux/clusters/{PROD}/kustomization.yaml", "  - my-apps.yaml\n", "")
    assert [p.split(": ")[1] for p in problems(project)] == ["spec.apps[0]"]


def test_a_listed_file_that_does_not_exist(project: Path) -> None:
    (project / APP_FILE).unlink()
    assert problems(project) == [
        f"flux/clusters/{PROD}/kustomization.yaml: resources[1]: expected an existing file or "
        'folder, "my-apps.yaml" does not exist',
        f"{PROD_FILE}: spec.apps[0]: expected a GitRepository flux-system/my-apps in "
        f"flux/clusters/{PROD}/ (such as flux/clusters/{PROD}/my-apps.yaml, `fluxfleet new-app` "
        "writes it), found none",
    ]


def test_a_different_repository_url_and_namespace(project: Path) -> None:
    edit(project, APP_FILE, "acme/my-apps.git", "acme/other-apps.git")
    edit(project, APP_FILE, "namespace: flux-system", "namespace: apps")
    assert problems(project) == [
        f'{APP_FILE}: GitRepository my-apps: metadata.namespace: expected "flux-system" '
        '(where its Secret is), got "apps"',
        f'{APP_FILE}: GitRepository my-apps: spec.url: expected "ssh://git@github.com/acme/'
        f'my-apps.git" (spec.apps[0] in {PROD_FILE}), got "ssh://git@github.com/acme/other-apps.git"',
    ]


def test_an_app_owner_change_needs_the_url_to_follow(project: Path) -> None:
    edit(project, PROD_FILE, "    - name: my-apps\n", "    - name: my-apps\n      owner: team-x\n")
    assert problems(project) == [
        f'{APP_FILE}: GitRepository my-apps: spec.url: expected "ssh://git@github.com/team-x/'
        f'my-apps.git" (spec.apps[0] in {PROD_FILE}), got "ssh://git@github.com/acme/my-apps.git"'
    ]


def test_an_old_api_version_and_a_missing_secret_ref(project: Path) -> None:
    edit(project, APP_FILE, "source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2")
    edit(project, APP_FILE, "  secretRef:\n    name: apps-deploykey\n", "")
    assert problems(project) == [
        f'{APP_FILE}: GitRepository my-apps: apiVersion: expected "source.toolkit.fluxcd.io/v1" '
        '(the API Flux 2.9 serves), got "source.toolkit.fluxcd.io/v1beta2"',
        f'{APP_FILE}: GitRepository my-apps: spec.secretRef.name: expected "apps-deploykey" '
        f"(spec.apps[0].secretName in {PROD_FILE}), got nothing",
    ]


def test_a_folder_without_a_definition(project: Path) -> None:
    shutil.copytree(project / "flux/clusters" / STAGING, project / "flux/clusters/old-cluster")
    assert problems(project) == [
        "flux/clusters/old-cluster: no definition syncs this folder, expected "
        "k8s-clusters/old-cluster.yaml (or a spec.git.path leading here), or remove the folder"
    ]


def test_a_folder_without_kustomization_yaml_applies_every_file(project: Path) -> None:
    folder = project / "flux/clusters" / PROD
    (folder / "kustomization.yaml").unlink()
    (folder / "sub").mkdir()
    (folder / "my-apps.yaml").rename(folder / "sub" / "my-apps.yaml")
    assert problems(project) == []
    found, read_problems = folder_objects(project, folder)
    assert read_problems == []
    assert {(o["kind"], o["metadata"]["name"]) for _, o in found} == {
        ("Kustomization", "apps"),
        ("GitRepository", "my-apps"),
        ("Kustomization", "my-apps"),
    }


def test_a_custom_git_path(project: Path) -> None:
    (project / "flux/clusters" / STAGING).rename(project / "flux/clusters/staging")
    edit(project, STAGING_FILE, "spec:\n", "spec:\n  git:\n    path: flux/clusters/staging\n")
    assert problems(project) == []


def test_unreadable_yaml_in_the_folder(project: Path) -> None:
    (project / APP_FILE).write_text("apiVersion: [unclosed\n")
    found = problems(project)
    # the one error style of every file the project reads (loading/files.py)
    assert found[0].startswith(f"{APP_FILE}: line 2, column 1: invalid YAML: ")
    assert found[1].startswith(f"{PROD_FILE}: spec.apps[0]: expected a GitRepository")


def test_no_checks_when_the_fleet_repository_is_elsewhere(project: Path) -> None:
    shutil.rmtree(project / "flux")
    fleet = load_fleet(project)
    assert local_clusters(fleet) == []
    assert consistency_problems(fleet) == []


@pytest.mark.parametrize("path", [".", "./"])
def test_the_repository_root_as_sync_path_says_nothing_about_where_it_is(
    project: Path, path: str
) -> None:
    """ "." is a folder everywhere: it is no sign that this project is the fleet repository (a
    generated definition with path "." once failed validate in a project without flux/)."""
    shutil.rmtree(project / "flux")
    edit(project, STAGING_FILE, "spec:\n", f"spec:\n  git:\n    path: {path!r}\n")
    fleet = load_fleet(project)
    assert fleet.clusters[STAGING].git_path in (".", "./")
    assert local_clusters(fleet) == []
    assert consistency_problems(fleet) == []


def test_only_clusters_of_the_repository_here_are_checked(project: Path) -> None:
    # Staging syncs another repository whose layout is not here: its folder is not checked,
    # but the folder it used to have here is now without a definition.
    edit(
        project,
        STAGING_FILE,
        "spec:\n",
        "spec:\n  git:\n    repository: staging-fleet\n    path: clusters/staging\n",
    )
    assert {c.name for c in local_clusters(load_fleet(project))} == {PROD}
    assert problems(project) == [
        f"flux/clusters/{STAGING}: no definition syncs this folder, expected "
        f"k8s-clusters/{STAGING}.yaml (or a spec.git.path leading here), or remove the folder"
    ]


def test_every_mismatch_is_reported_at_once(project: Path) -> None:
    edit(project, STAGING_FILE, "environment: staging", "environment: qa")
    edit(project, APP_FILE, "name: apps-deploykey", "name: x")
    (project / "flux/clusters/orphan").mkdir()
    assert len(problems(project)) == 3
