"""Scaffolding: `fluxfleet new-cluster` and `fluxfleet new-app` round trips.

new-cluster then validate then plan; refusing to overwrite (exit 2, nothing written);
validating its own arguments with the definition's rules; new-app keeping comments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from components.builders.gitops import app_source, cluster_files, cluster_kustomization
from components.builders.options import app_source_options, cluster_folder_options
from components.loading.fleet import load_fleet
from components.plan.runner import plan_stack
from components.tools.cli import main
from components.yamlio import dump_yaml

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
NEW = "staging-two"
NEW_ARGS = [
    "new-cluster",
    NEW,
    "--account-id",
    "345678901234",
    "--region",
    "eu-central-1",
    "--environment",
    "staging",
]


def run(project: Path, *argv: str) -> int:
    return main(["--project", str(project), *argv])


def snapshot(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def safe_load(path: Path) -> object:
    return YAML(typ="safe").load(path.read_text())


# --- new-cluster ------------------------------------------------------------------------------


def test_new_cluster_writes_the_definition_stack_and_flux_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert run(project, *NEW_ARGS) == 0
    after = snapshot(project)
    added = sorted(set(after) - set(before))
    assert added == [
        f"flux/clusters/{NEW}/apps.yaml",
        f"flux/clusters/{NEW}/kustomization.yaml",
        f"k8s-clusters/{NEW}.yaml",
        f"stacks/Pulumi.{NEW}.yaml",
    ]
    assert all(after[k] == v for k, v in before.items()), "an existing file changed"

    text = (project / "k8s-clusters" / f"{NEW}.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./cluster.schema.json"
    # Only what differs from _defaults.yaml: the owner, repository and branch come from there.
    assert safe_load(project / "k8s-clusters" / f"{NEW}.yaml") == {
        "apiVersion": "flux-fleet/v1",
        "kind": "Cluster",
        "metadata": {"name": NEW, "environment": "staging"},
        "spec": {"aws": {"accountId": "345678901234", "region": "eu-central-1"}},
    }
    cluster = load_fleet(project).cluster(NEW)
    for name, content in cluster_files(cluster_folder_options(cluster)).items():
        assert (project / "flux" / "clusters" / NEW / name).read_text() == content
    assert "./flux/apps/staging" in (project / "flux/clusters" / NEW / "apps.yaml").read_text()

    out = capsys.readouterr().out
    assert f"k8s-clusters/{NEW}.yaml" in out
    assert "Next steps:" in out
    assert f"pulumi stack init {NEW}" in out
    assert "GITHUB_TOKEN" in out
    assert f"pulumi up --stack {NEW}" in out


def test_new_cluster_validates_and_plans_at_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, *NEW_ARGS, "--role-arn", "arn:aws:iam::345678901234:role/deployer") == 0
    capsys.readouterr()
    assert run(project, "validate", "-v") == 0
    assert f"  {NEW}" in capsys.readouterr().out.splitlines()
    plan = plan_stack(project, NEW)
    instance = next(r for r in plan.resources if r.type.endswith(":FluxInstance"))
    assert instance.inputs["spec"]["sync"]["path"] == f"flux/clusters/{NEW}"
    assert instance.inputs["spec"]["sync"]["url"] == "ssh://git@github.com/acme/gitops.git"
    aws = next(r for r in plan.resources if r.type == "pulumi:providers:aws")
    assert aws.inputs["region"] == "eu-central-1"
    assert "345678901234" in str(aws.inputs["allowedAccountIds"])
    assert plan.outputs["clusterName"] == NEW
    assert run(project, "plan", NEW) == 0


def test_new_cluster_writes_only_what_differs_from_the_defaults(project: Path) -> None:
    args = [
        *NEW_ARGS,
        "--owner", "acme",  # same as _defaults.yaml: left out
        "--repository", "other-fleet",
        "--branch", "main",  # same as _defaults.yaml: left out
        "--eks-cluster-name", NEW,  # the default: left out
    ]  # fmt: skip
    assert run(project, *args) == 0
    spec = safe_load(project / "k8s-clusters" / f"{NEW}.yaml")["spec"]  # type: ignore[index]
    assert spec == {
        "aws": {"accountId": "345678901234", "region": "eu-central-1"},
        "git": {"repository": "other-fleet"},
    }
    assert run(project, *[a.replace(NEW, "three") for a in args[:2]], *args[2:8],
               "--eks-cluster-name", "three-eks", "--branch", "release") == 0  # fmt: skip
    spec = safe_load(project / "k8s-clusters" / "three.yaml")["spec"]  # type: ignore[index]
    assert spec["aws"]["eksClusterName"] == "three-eks"
    assert spec["git"] == {"branch": "release"}


@pytest.mark.parametrize(
    "existing",
    [f"k8s-clusters/{NEW}.yaml", f"stacks/Pulumi.{NEW}.yaml", f"flux/clusters/{NEW}/apps.yaml",
     f"flux/clusters/{NEW}/notes.md", f"k8s-clusters/{NEW}.yml"],
)  # fmt: skip
def test_new_cluster_refuses_to_overwrite_anything(
    project: Path, existing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / existing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# mine\n")
    before = snapshot(project)
    assert run(project, *NEW_ARGS) == 2
    assert snapshot(project) == before, "something was written"
    err = capsys.readouterr().err
    assert "never overwrites (nothing written)" in err
    assert "Traceback" not in err


def test_new_cluster_twice_refuses_the_second_time(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, *NEW_ARGS) == 0
    before = snapshot(project)
    capsys.readouterr()
    assert run(project, *NEW_ARGS) == 2
    assert snapshot(project) == before
    err = capsys.readouterr().err.splitlines()
    assert f"k8s-clusters/{NEW}.yaml: already exists; new-cluster never overwrites " in err[1]


def test_new_cluster_validates_its_arguments_like_the_definition(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    code = run(
        project,
        "new-cluster",
        "Bad_Name",
        "--account-id", "1234",
        "--region", "mars-north-1",
        "--environment", "staging",
        "--owner=-nope",
        "--branch", "a..b",
    )  # fmt: skip
    assert code == 2
    assert snapshot(project) == before
    err = capsys.readouterr().err.splitlines()
    file = "k8s-clusters/Bad_Name.yaml"
    assert err == [
        f"{file}: metadata.name: expected an RFC 1123 label (lowercase letters, digits and '-', "
        'at most 63), got "Bad_Name" (option NAME)',
        f'{file}: spec.aws.accountId: expected 12 digits, got "1234" (option --account-id)',
        f"{file}: spec.aws.region: expected an AWS region code such as eu-west-1, "
        'got "mars-north-1"; did you mean eu-north-1? (option --region)',
        f'{file}: spec.git.branch: expected a Git branch name, got "a..b" (option --branch)',
        f"{file}: spec.git.owner: expected a GitHub organisation or user name, "
        'got "-nope" (option --owner)',
    ]


def test_new_cluster_needs_an_existing_overlay(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert run(project, *NEW_ARGS[:-1], "qa") == 2
    assert snapshot(project) == before
    err = capsys.readouterr().err
    assert f"k8s-clusters/{NEW}.yaml: metadata.environment: " in err
    assert '"flux/apps/qa" does not exist (existing: production, staging)' in err


def test_new_cluster_refuses_an_eks_cluster_defined_already(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["new-cluster", "other", "--account-id", "234567890123", "--region", "eu-west-1",
            "--environment", "staging", "--eks-cluster-name", "staging-eks"]  # fmt: skip
    assert run(project, *args) == 2
    assert not (project / "k8s-clusters" / "other.yaml").exists()
    assert (
        "k8s-clusters/other.yaml: spec.aws: the EKS cluster staging-eks in 234567890123/eu-west-1 "
        f"is already defined in k8s-clusters/{STAGING}.yaml"
    ) in capsys.readouterr().err


def test_new_cluster_without_an_owner_anywhere_says_which_option(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = project / "k8s-clusters" / "_defaults.yaml"
    defaults.write_text(defaults.read_text().replace("    owner: acme\n", ""))
    assert run(project, *NEW_ARGS) == 2
    err = capsys.readouterr().err
    assert f"k8s-clusters/{NEW}.yaml: spec.git.owner: required field is missing" in err
    assert "(option --owner)" in err
    assert run(project, *NEW_ARGS, "--owner", "acme") == 0
    spec = safe_load(project / "k8s-clusters" / f"{NEW}.yaml")["spec"]  # type: ignore[index]
    assert spec["git"] == {"owner": "acme"}


def test_new_cluster_outside_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, *NEW_ARGS) == 2
    assert "not a flux-fleet project" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- new-app ------------------------------------------------------------------------------------

COMMENTED = """\
# yaml-language-server: $schema=./cluster.schema.json
# The staging cluster: keep this comment.
apiVersion: flux-fleet/v1
kind: Cluster
metadata:
  name: staging-cluster-name
  environment: staging  # the overlay
spec:
  aws:
    accountId: "234567890123"   # quoted on purpose
    region: eu-west-1
    eksClusterName: staging-eks
  flux:
    size: small
    # ED25519 keys are short
    deployKey:
      algorithm: ED25519
"""


def test_new_app_keeps_comments_order_and_quotes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = project / "k8s-clusters" / f"{STAGING}.yaml"
    definition.write_text(COMMENTED)
    args = ["new-app", STAGING, "team-a", "--repository", "team-a-manifests",
            "--path", "deploy/staging", "--owner", "team-a-org"]  # fmt: skip
    assert run(project, *args) == 0
    text = definition.read_text()
    assert text == COMMENTED + (
        "  apps:\n"
        "    - name: team-a\n"
        "      owner: team-a-org\n"
        "      repository: team-a-manifests\n"
        "      path: deploy/staging\n"
    )
    out = capsys.readouterr().out
    assert f"flux/clusters/{STAGING}/team-a.yaml" in out
    assert "read-only deploy key on team-a-org/team-a-manifests" in out
    assert "flux-system/team-a-deploykey" in out

    cluster = load_fleet(project).cluster(STAGING)
    app = cluster.spec.apps[0]
    folder = project / "flux" / "clusters" / STAGING
    assert (folder / "team-a.yaml").read_text() == dump_yaml(
        app_source(app_source_options(cluster, app))
    )
    assert (folder / "kustomization.yaml").read_text() == dump_yaml(
        [cluster_kustomization(["apps.yaml", "team-a.yaml"])]
    )
    assert (folder / "kustomization.yaml").read_text() == cluster_files(
        cluster_folder_options(cluster)
    )["kustomization.yaml"]
    assert run(project, "validate") == 0
    plan = plan_stack(project, STAGING)
    gh = next(
        r
        for r in plan.resources
        if r.name == f"{STAGING}-app-team-a-r1" and r.type.startswith("github:")
    )
    assert gh.inputs["repository"] == "team-a-manifests"


def test_new_app_appends_to_an_existing_list(project: Path) -> None:
    assert run(project, "new-app", PROD, "second", "--repository", "second-repo") == 0
    prod = project / "k8s-clusters" / f"{PROD}.yaml"
    doc = safe_load(prod)
    assert [a["name"] for a in doc["spec"]["apps"]] == ["my-apps", "second"]  # type: ignore[index]
    # the default path follows the seed's convention: flux/app/<environment>
    assert doc["spec"]["apps"][1] == {  # type: ignore[index]
        "name": "second",
        "repository": "second-repo",
        "path": "flux/app/production",
    }
    listed = safe_load(project / "flux/clusters" / PROD / "kustomization.yaml")["resources"]  # type: ignore[index]
    assert listed == ["apps.yaml", "my-apps.yaml", "second.yaml"]
    assert run(project, "validate") == 0


def test_new_app_into_a_flow_style_empty_list(project: Path) -> None:
    definition = project / "k8s-clusters" / f"{STAGING}.yaml"
    definition.write_text(COMMENTED + "  apps: []\n")
    assert run(project, "new-app", STAGING, "x", "--repository", "x", "--path", "k8s") == 0
    assert definition.read_text().endswith(
        "  apps:\n    - name: x\n      repository: x\n      path: k8s\n"
    )
    assert run(project, "validate") == 0


def test_new_app_keeps_a_hand_written_kustomization(project: Path) -> None:
    kustomization = project / "flux/clusters" / STAGING / "kustomization.yaml"
    kustomization.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "# the apps\n"
        "resources:\n"
        "  - apps.yaml\n"
        "commonAnnotations:\n"
        "  team: platform\n"
    )
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 0
    text = kustomization.read_text()
    assert "# the apps" in text and "team: platform" in text
    assert safe_load(kustomization)["resources"] == ["apps.yaml", "x.yaml"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["x", "--repository", "gitops"],
         "spec.apps[0].repository: acme/gitops is the fleet repository"),
        (["x", "--repository", "r", "--secret-name", "flux-system"],
         "spec.apps[0].secretName: \"flux-system\" is the fleet repository's Secret"),
        (["x", "--repository", "r", "--path", "../escape"],
         "spec.apps[0].path: expected a relative path"),
        (["Bad", "--repository", "r"], "spec.apps[0].name: expected an RFC 1123 label"),
        (["apps", "--repository", "r"], 'spec.apps[0].name: "apps" is used by the cluster folder'),
        (["x", "--repository", "r", "--branch=-b"], "spec.apps[0].branch: expected a Git"),
    ],
)  # fmt: skip
def test_new_app_validates_before_writing_anything(
    project: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert run(project, "new-app", STAGING, *args) == 2
    assert snapshot(project) == before
    err = capsys.readouterr().err
    assert f"k8s-clusters/{STAGING}.yaml: {expected}" in err
    assert "(option " in err


def test_new_app_refuses_a_duplicate_name(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert run(project, "new-app", PROD, "my-apps", "--repository", "other") == 2
    assert snapshot(project) == before
    assert (
        f'k8s-clusters/{PROD}.yaml: spec.apps[1].name: "my-apps" is already the name of '
        "spec.apps[0], expected each name once (option NAME)"
    ) in capsys.readouterr().err


def test_new_app_refuses_to_overwrite_the_app_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "flux/clusters" / STAGING / "x.yaml").write_text("# mine\n")
    before = snapshot(project)
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 2
    assert snapshot(project) == before
    assert f"flux/clusters/{STAGING}/x.yaml: already exists" in capsys.readouterr().err


def test_new_app_for_an_unknown_cluster(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project)
    assert run(project, "new-app", "nope", "x", "--repository", "x") == 2
    assert snapshot(project) == before
    assert 'k8s-clusters/nope.yaml: no definition for cluster "nope"' in capsys.readouterr().err


def test_new_app_needs_the_cluster_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.rmtree(project / "flux/clusters" / STAGING)
    before = snapshot(project)
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 2
    assert snapshot(project) == before
    assert f"flux/clusters/{STAGING}: no such folder" in capsys.readouterr().err


def test_new_app_keeps_apps_inherited_from_the_defaults(project: Path) -> None:
    defaults = project / "k8s-clusters" / "_defaults.yaml"
    defaults.write_text(
        defaults.read_text()
        + "  apps:\n    - name: shared\n      repository: shared-apps\n      path: deploy\n"
    )
    # Without it, a cluster's own list would replace the defaults' list.
    assert run(project, "new-app", STAGING, "own", "--repository", "own") == 0
    cluster = load_fleet(project).cluster(STAGING)
    assert [a.name for a in cluster.spec.apps] == ["shared", "own"]


def test_new_cluster_then_new_app_then_validate_and_plan(project: Path) -> None:
    assert run(project, *NEW_ARGS) == 0
    assert (
        run(project, "new-app", NEW, "web", "--repository", "web", "--secret-name", "web-key") == 0
    )
    assert run(project, "validate") == 0
    plan = plan_stack(project, NEW)
    secret = next(
        r for r in plan.resources if r.name == f"{NEW}-app-web" and r.type.endswith(":Secret")
    )
    assert secret.inputs["metadata"]["name"] == "web-key"


# --- all files or none ----------------------------------------------------------------------------


def test_new_cluster_that_cannot_write_leaves_nothing_and_a_retry_works(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to leave k8s-clusters/NEW.yaml behind (a traceback, exit 1), and a retry then
    refused: 'already exists'."""
    import shutil

    shutil.move(project / "flux/clusters", project / "clusters-aside")
    (project / "flux/clusters").write_text("a file where the folder should be\n")
    before = snapshot(project)
    assert run(project, *NEW_ARGS) == 2
    assert snapshot(project) == before, "something was left behind"
    err = capsys.readouterr().err
    assert err == (
        f"flux/clusters/{NEW}/apps.yaml: cannot be written: Not a directory (nothing written)\n"
    )
    (project / "flux/clusters").unlink()
    shutil.move(project / "clusters-aside", project / "flux/clusters")
    assert run(project, *NEW_ARGS) == 0
    assert (project / f"k8s-clusters/{NEW}.yaml").is_file()


@pytest.mark.parametrize("target", [f"k8s-clusters/{NEW}.yaml", f"stacks/Pulumi.{NEW}.yaml"])
def test_new_cluster_never_writes_through_a_dangling_symlink(
    project: Path, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Path.exists() is False for a dangling symlink: the file was written where it pointed,
    outside the project."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / target).symlink_to(outside / "x.yaml")
    before = snapshot(project)
    assert run(project, *NEW_ARGS) == 2
    assert snapshot(project) == before
    assert list(outside.iterdir()) == []
    assert f"{target}: already exists; new-cluster never overwrites" in capsys.readouterr().err


def test_new_app_that_cannot_write_leaves_the_definition_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to add the entry to spec.apps, then fail on the app file."""
    import errno
    import os

    replace = os.replace

    def full_disk(src: str, dst: Path) -> None:
        if Path(dst).name == "x.yaml":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(src, dst)

    before = snapshot(project)
    monkeypatch.setattr(os, "replace", full_disk)
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 2
    assert snapshot(project) == before, "a file was changed or left behind"
    assert capsys.readouterr().err == (
        f"flux/clusters/{STAGING}/x.yaml: cannot be written: No space left on device "
        "(nothing written)\n"
    )
    monkeypatch.undo()
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 0


def test_new_app_keeps_the_mode_of_the_files_it_edits(project: Path) -> None:
    definition = project / f"k8s-clusters/{STAGING}.yaml"
    definition.chmod(0o640)
    assert run(project, "new-app", STAGING, "x", "--repository", "x") == 0
    assert definition.stat().st_mode & 0o777 == 0o640
    assert (project / f"flux/clusters/{STAGING}/x.yaml").stat().st_mode & 0o077 != 0


def test_new_cluster_writes_nothing_into_a_folder_outside_the_project(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    outside = tmp_path / "outside"
    shutil.move(project / "flux/clusters", outside)
    (project / "flux/clusters").symlink_to(outside)
    before = snapshot(project)
    names = sorted(p.name for p in outside.iterdir())
    assert run(project, *NEW_ARGS) == 2
    assert snapshot(project) == before
    assert sorted(p.name for p in outside.iterdir()) == names
    assert capsys.readouterr().err == (
        f"flux/clusters/{NEW}/apps.yaml: its folder is a symlink to outside the project "
        "(nothing written)\n"
    )
