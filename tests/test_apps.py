"""Application repositories: the definition (spec.apps), their Flux objects, and per-app keys in
the plan (key pair, read-only deploy key on the app's repository, Secret in flux-system)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from crdcheck import validate as crd_validate
from planutil import of_type

from components.builders.git_access import github_known_hosts
from components.builders.gitops import app_source, cluster_files, cluster_kustomization
from components.builders.options import app_source_options, cluster_folder_options
from components.definition.apps import AppRepository
from components.definition.cluster import Cluster
from components.loading.fleet import validate_cluster_doc
from components.plan.result import Registration, Secret, StackPlan
from components.plan.runner import plan_stack
from components.yamlio import dump_yaml

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SECRET = "kubernetes:core/v1:Secret"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
DEFAULTS = {"git": {"owner": "acme", "repository": "gitops"}}


def cluster_doc(apps: list[dict[str, Any]], **git: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flux-fleet/v1",
        "kind": "Cluster",
        "metadata": {"name": "c1", "environment": "production"},
        "spec": {
            "aws": {"accountId": "123456789012", "region": "eu-west-1"},
            "git": {"owner": "acme", "repository": "gitops", **git},
            "apps": apps,
        },
    }


def check(apps: list[dict[str, Any]], **git: Any) -> tuple[Cluster | None, list[str]]:
    cluster, problems = validate_cluster_doc(
        cluster_doc(apps, **git), "k8s-clusters/c1.yaml", "c1", {}
    )
    return cluster, [str(p) for p in problems]


def valid(apps: list[dict[str, Any]], **git: Any) -> Cluster:
    cluster, problems = check(apps, **git)
    assert problems == []
    assert cluster is not None
    return cluster


APP = {"name": "my-apps", "repository": "my-apps", "path": "flux/app/production"}


# --- the definition -------------------------------------------------------------------------------


def test_defaults_of_an_entry() -> None:
    app = valid([APP]).spec.apps[0]
    assert (app.owner, app.branch, app.interval, app.secret_name) == (None, "main", "1m", None)
    assert app.pull_secret == "my-apps-deploykey"
    assert app.owner_or("acme") == "acme"
    assert valid([{**APP, "owner": "other"}]).spec.apps[0].owner_or("acme") == "other"
    assert valid([{**APP, "secretName": "apps-deploykey"}]).spec.apps[0].pull_secret == (
        "apps-deploykey"
    )


def test_no_apps_by_default() -> None:
    doc = cluster_doc([])
    del doc["spec"]["apps"]
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/c1.yaml", "c1", {})
    assert problems == [] and cluster is not None
    assert cluster.spec.apps == []


def test_the_owner_is_resolved_not_stored() -> None:
    cluster = valid([APP])
    assert cluster.spec.apps[0].owner is None  # the definition is not rewritten
    assert app_source(app_source_options(cluster, cluster.spec.apps[0]))[0]["spec"]["url"] == (
        "ssh://git@github.com/acme/my-apps.git"
    )


@pytest.mark.parametrize(
    ("apps", "expected"),
    [
        (
            [APP, {**APP, "repository": "other"}],
            'spec.apps[1].name: "my-apps" is already the name of spec.apps[0], '
            "expected each name once",
        ),
        (
            [{**APP, "secretName": "s"}, {**APP, "name": "b", "secretName": "s"}],
            'spec.apps[1].secretName: "s" is already the Secret of spec.apps[0], '
            "expected one Secret per application repository",
        ),
        (  # a default Secret name clashing with an explicit one
            [{**APP, "secretName": "b-deploykey"}, {**APP, "name": "b"}],
            'spec.apps[1].secretName: "b-deploykey" (the default <name>-deploykey) is already '
            "the Secret of spec.apps[0]",
        ),
        (
            [{**APP, "secretName": "flux-system"}],
            'spec.apps[0].secretName: "flux-system" is the fleet repository\'s Secret',
        ),
        (
            [APP, {**APP, "name": "b", "repository": "gitops"}],
            "spec.apps[1].repository: acme/gitops is the fleet repository (spec.git)",
        ),
        (  # same owner after defaulting, GitHub names are case-insensitive
            [{**APP, "owner": "ACME", "repository": "GitOps"}],
            "spec.apps[0].repository: ACME/GitOps is the fleet repository",
        ),
        ([{**APP, "path": "../other"}], "spec.apps[0].path: expected a relative path"),
        ([{**APP, "path": "/abs"}], "spec.apps[0].path: expected a relative path"),
        ([{**APP, "name": "My_Apps"}], "spec.apps[0].name: expected an RFC 1123 label"),
        ([{**APP, "name": "apps"}], 'spec.apps[0].name: "apps" is used by the cluster folder'),
        ([{**APP, "name": "flux-system"}], 'spec.apps[0].name: "flux-system" is used'),
        ([{**APP, "secretName": "Bad_Secret"}], "spec.apps[0].secretName: expected an RFC 1123"),
        ([{**APP, "branch": "a..b"}], "spec.apps[0].branch: expected a Git branch name"),
        ([{**APP, "interval": "1 minute"}], "spec.apps[0].interval: expected a Go duration"),
        ([{"name": "x", "path": "p"}], "spec.apps[0].repository: required field is missing"),
        ([{"name": "x", "repository": "r"}], "spec.apps[0].path: required field is missing"),
        ([{**APP, "url": "x"}], "spec.apps[0].url: unknown field"),
    ],
)
def test_invalid_entries_name_the_field(apps: list[dict[str, Any]], expected: str) -> None:
    cluster, problems = check(apps)
    assert cluster is None
    assert any(p.startswith(f"k8s-clusters/c1.yaml: {expected}") for p in problems), problems


def test_the_same_repository_name_of_another_owner_is_not_the_fleet_repository() -> None:
    assert valid([{**APP, "owner": "someone-else", "repository": "gitops"}])


def test_two_entries_may_share_a_repository_with_their_own_keys() -> None:
    cluster = valid([APP, {**APP, "name": "second", "path": "flux/app/other"}])
    assert [a.pull_secret for a in cluster.spec.apps] == ["my-apps-deploykey", "second-deploykey"]


def test_every_problem_is_reported_at_once() -> None:
    _, problems = check([APP, APP, {**APP, "name": "c", "repository": "gitops"}])
    assert len(problems) == 3, problems


def test_defaults_may_hold_apps_and_a_cluster_list_replaces_them(root: Path) -> None:
    defaults = {**copy.deepcopy(DEFAULTS), "apps": [{**APP, "name": "shared"}]}
    doc = cluster_doc([])
    del doc["spec"]["apps"]
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/c1.yaml", "c1", defaults)
    assert problems == [] and cluster is not None
    assert [a.name for a in cluster.spec.apps] == ["shared"]
    own, _ = validate_cluster_doc(cluster_doc([APP]), "k8s-clusters/c1.yaml", "c1", defaults)
    assert own is not None and [a.name for a in own.spec.apps] == ["my-apps"]


def test_the_committed_schema_describes_apps(root: Path) -> None:
    import json

    schema = json.loads((root / "k8s-clusters" / "cluster.schema.json").read_text())
    app = schema["$defs"]["AppRepository"]
    assert app["additionalProperties"] is False
    assert set(app["required"]) == {"name", "repository", "path"}
    assert app["properties"]["secretName"]["not"] == {"const": "flux-system"}


# --- the Flux objects -------------------------------------------------------------------------


def test_app_source_objects() -> None:
    cluster = valid(
        [
            {
                **APP,
                "owner": "Org",
                "branch": "release",
                "interval": "5m",
                "secretName": "apps-deploykey",
            }
        ]
    )
    repo, ks = app_source(app_source_options(cluster, cluster.spec.apps[0]))
    assert repo == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "my-apps", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "url": "ssh://git@github.com/Org/my-apps.git",
            "ref": {"branch": "release"},
            "secretRef": {"name": "apps-deploykey"},
        },
    }
    assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert ks["kind"] == "Kustomization"
    assert ks["metadata"] == {"name": "my-apps", "namespace": "flux-system"}
    assert ks["spec"]["path"] == "./flux/app/production"
    assert ks["spec"]["prune"] is True
    assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "my-apps"}
    for obj in (repo, ks):
        assert crd_validate(obj) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [("deploy", "./deploy"), (".", "./"), ("./deploy/prod/", "./deploy/prod"), ("a/./b", "./a/b")],
)
def test_kustomization_path_is_written_like_flux(path: str, expected: str) -> None:
    cluster = valid([{**APP, "path": path}])
    ks = app_source(app_source_options(cluster, cluster.spec.apps[0]))[1]
    assert ks["spec"]["path"] == expected
    assert crd_validate(ks) == []


def test_cluster_files_list_every_app() -> None:
    cluster = valid([APP, {**APP, "name": "second", "repository": "second"}])
    files = cluster_files(cluster_folder_options(cluster))
    assert list(files) == ["apps.yaml", "my-apps.yaml", "second.yaml", "kustomization.yaml"]
    assert files["kustomization.yaml"] == dump_yaml(
        [cluster_kustomization(["apps.yaml", "my-apps.yaml", "second.yaml"])]
    )
    assert files["second.yaml"] == dump_yaml(
        app_source(app_source_options(cluster, cluster.spec.apps[1]))
    )


def test_app_repository_model_is_frozen() -> None:
    app = AppRepository.model_validate(APP)
    with pytest.raises(Exception, match="frozen"):
        app.name = "other"  # type: ignore[misc]


# --- the plan -----------------------------------------------------------------------------------


def named(plan: StackPlan, type_: str, name: str) -> Registration:
    found = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(found) == 1, [r.name for r in plan.resources if r.type == type_]
    return found[0]


@pytest.fixture(scope="module")
def prod(root: Path) -> StackPlan:
    return plan_stack(root, PROD)


def test_each_app_gets_its_own_key_pair_deploy_key_and_secret(prod: StackPlan) -> None:
    component = named(prod, "flux-fleet:index:DeployKey", f"{PROD}-app-my-apps")
    key = named(prod, PRIVATE_KEY, f"{PROD}-app-my-apps-r1")
    fleet_key = named(prod, PRIVATE_KEY, f"{PROD}-fleet-key-r1")
    assert key.inputs == fleet_key.inputs == {"algorithm": "ECDSA", "ecdsaCurve": "P384"}
    assert key.parent == component.urn

    gh = named(prod, DEPLOY_KEY, f"{PROD}-app-my-apps-r1")
    assert gh.inputs["repository"] == "my-apps"
    assert gh.inputs["readOnly"] is True
    assert gh.inputs["title"] == f"flux-fleet {PROD} my-apps (rotation 1)"
    assert gh.inputs["key"] == f"[unknown {PROD}-app-my-apps-r1.publicKeyOpenssh]"
    fleet_gh = named(prod, DEPLOY_KEY, f"{PROD}-fleet-key-r1")
    assert gh.inputs["key"] != fleet_gh.inputs["key"]  # GitHub refuses a key used twice
    github = named(prod, "pulumi:providers:github", f"{PROD}-github-acme")
    assert github.inputs["owner"] == "acme"
    assert gh.provider.startswith(github.urn)

    secret = named(prod, SECRET, f"{PROD}-app-my-apps")
    assert secret.inputs["metadata"]["name"] == "apps-deploykey"
    assert secret.inputs["metadata"]["namespace"] == "flux-system"
    data = secret.inputs["stringData"]
    assert isinstance(data, Secret)
    assert set(data.value) == {"identity", "identity.pub", "known_hosts"}
    assert data.value["identity"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert f"{PROD}-app-my-apps-r1" in data.value["identity"]
    assert data.value["identity.pub"] == gh.inputs["key"]
    assert data.value["known_hosts"] == github_known_hosts()
    assert gh.urn in secret.dependencies
    namespace = named(prod, "kubernetes:core/v1:Namespace", f"{PROD}-flux-system")
    assert namespace.urn in secret.dependencies


def test_the_flux_instance_waits_for_every_pull_secret(prod: StackPlan) -> None:
    instance = of_type(prod, INSTANCE)[0]
    app_secret = named(prod, SECRET, f"{PROD}-app-my-apps")
    fleet_secret = named(prod, SECRET, f"{PROD}-fleet-key")
    assert {app_secret.urn, fleet_secret.urn} <= set(instance.dependencies)


def test_no_flux_source_objects_are_created_by_pulumi(prod: StackPlan) -> None:
    # The app's GitRepository and Kustomization live in Git (flux/clusters/<cluster>/).
    assert not [r for r in prod.resources if "GitRepository" in r.type]
    assert not [r for r in prod.resources if r.type.endswith(":Kustomization")]


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "k8s-clusters" / f"{name}.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def append(project: Path, name: str, text: str) -> None:
    path = project / "k8s-clusters" / f"{name}.yaml"
    path.write_text(path.read_text() + text)


STAGING_APPS = """  apps:
    - name: team-a
      owner: team-a-org
      repository: manifests
      path: deploy/staging
    - name: team-b
      repository: team-b
      path: .
      secretName: team-b-key
"""


def test_apps_of_another_owner_use_a_github_provider_of_that_owner(project: Path) -> None:
    append(project, STAGING, STAGING_APPS)
    plan = plan_stack(project, STAGING)
    providers = {r.inputs["owner"]: r for r in of_type(plan, "pulumi:providers:github")}
    assert set(providers) == {"acme", "team-a-org"}
    team_a = named(plan, DEPLOY_KEY, f"{STAGING}-app-team-a-r1")
    assert team_a.inputs["repository"] == "manifests"
    assert team_a.provider.startswith(providers["team-a-org"].urn)
    team_b = named(plan, DEPLOY_KEY, f"{STAGING}-app-team-b-r1")
    assert team_b.provider.startswith(providers["acme"].urn)
    secrets = {r.inputs["metadata"]["name"] for r in of_type(plan, SECRET)}
    assert {"flux-system", "team-a-deploykey", "team-b-key"} <= secrets
    # The staging fleet key algorithm applies to the app keys too.
    for name in ("team-a", "team-b"):
        key = named(plan, PRIVATE_KEY, f"{STAGING}-app-{name}-r1")
        assert key.inputs == {"algorithm": "ED25519"}


def test_rotation_renames_every_key_pair_and_deploy_key(project: Path) -> None:
    edit(project, STAGING, "algorithm: ED25519", "algorithm: ED25519\n      rotation: 3")
    append(project, STAGING, STAGING_APPS)
    plan = plan_stack(project, STAGING)
    names = {r.name for r in of_type(plan, DEPLOY_KEY)}
    assert names == {
        f"{STAGING}-fleet-key-r3",
        f"{STAGING}-app-team-a-r3",
        f"{STAGING}-app-team-b-r3",
    }
    # the Secrets keep their names: updated in place
    assert named(plan, SECRET, f"{STAGING}-app-team-a").inputs["metadata"]["name"] == (
        "team-a-deploykey"
    )


def test_app_keys_stay_read_only_with_image_automation(project: Path) -> None:
    edit(
        project,
        STAGING,
        "  flux:\n",
        "  flux:\n    componentsExtra: [image-automation-controller]\n",
    )
    append(project, STAGING, STAGING_APPS)
    plan = plan_stack(project, STAGING)
    assert named(plan, DEPLOY_KEY, f"{STAGING}-fleet-key-r1-rw").inputs["readOnly"] is False
    assert named(plan, DEPLOY_KEY, f"{STAGING}-app-team-a-r1").inputs["readOnly"] is True


def test_a_cluster_without_apps_has_only_the_fleet_key(project: Path) -> None:
    plan = plan_stack(project, STAGING)
    assert [r.name for r in of_type(plan, DEPLOY_KEY)] == [f"{STAGING}-fleet-key-r1"]


def test_an_invalid_app_stops_the_plan_with_the_field_path(project: Path) -> None:
    import pulumi

    bad = STAGING_APPS.replace("secretName: team-b-key", "secretName: flux-system")
    append(project, STAGING, bad)
    with pytest.raises(pulumi.RunError, match=r"spec\.apps\[1\]\.secretName"):
        plan_stack(project, STAGING)
