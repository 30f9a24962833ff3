"""spec.git.auth githubApp: the fleet's GitHub App instead of deploy keys (#14, part 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from crdcheck import validate
from planutil import of_type, one, run_cli

from components import yamlio
from components.builders.git_access import (
    BASE_URL_KEY,
    INSTALLATION_OWNER_KEY,
    GitAccessOptions,
    github_app_plain_data,
)
from components.builders.gitops import app_source
from components.builders.options import app_source_options
from components.loading.fleet import load_fleet
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack
from components.tools import consistency

PROD = "production-cluster-name"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
SECRET = "kubernetes:core/v1:Secret"
KEY_PAIR = "tls:index/privateKey:PrivateKey"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
GITHUB = "pulumi:providers:github"
APP_CONFIG = {
    "flux-fleet:githubAppId": {"secure": "v1:app-id"},
    "flux-fleet:githubAppInstallationId": {"secure": "v1:installation"},
    "flux-fleet:githubAppPrivateKey": {"secure": "v1:pem"},
}


def use_app(project: Path, config: dict[str, Any] | None = None) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"] = {"auth": "githubApp"}
    path.write_text(yamlio.dump_yaml([doc]))
    stack = project / f"stacks/Pulumi.{PROD}.yaml"
    settings = yamlio.load(stack.read_text())
    settings["config"].update(APP_CONFIG if config is None else config)
    stack.write_text(yamlio.dump_yaml([settings]))


@pytest.fixture
def app_plan(project: Path) -> StackPlan:
    use_app(project)
    return plan_stack(project, PROD)


def test_the_app_replaces_every_key_pair_and_deploy_key(app_plan: StackPlan) -> None:
    assert of_type(app_plan, KEY_PAIR) == []
    assert of_type(app_plan, DEPLOY_KEY) == []
    assert of_type(app_plan, GITHUB) == []  # nothing to register on GitHub: no token needed
    assert "deployKeyPublicKey" not in app_plan.outputs
    assert app_plan.outputs["syncUrl"] == "https://github.com/acme/gitops.git"


def test_the_sync_pulls_over_https_with_the_apps_secret(app_plan: StackPlan) -> None:
    secret = one(app_plan, SECRET, f"{PROD}-github-app")
    assert secret.inputs["metadata"]["name"] == "flux-system-github-app"
    assert isinstance(secret.inputs["stringData"], Secret)  # the credentials stay secret
    instance = one(app_plan, INSTANCE)
    assert instance.inputs["spec"]["sync"] == {
        "kind": "GitRepository",
        "url": "https://github.com/acme/gitops.git",
        "ref": "refs/heads/main",
        "path": f"flux/clusters/{PROD}",
        "pullSecret": "flux-system-github-app",
        "interval": "1m",
        "provider": "github",
    }
    assert validate(instance.inputs) == []  # the CRD, and its CEL rule on provider github
    assert secret.urn in instance.dependencies


def test_the_secret_holds_the_apps_keys_flux_reads(project: Path, monkeypatch: Any) -> None:
    from components.plan import runner

    use_app(project)
    plain = {
        "flux-fleet:githubAppId": "123",
        "flux-fleet:githubAppInstallationId": "456",
        "flux-fleet:githubAppPrivateKey": "PEM",
        "flux-fleet:slackBotToken": "xoxb-1",
    }
    monkeypatch.setattr(runner, "stack_config", lambda *_: (dict(plain), list(plain)))
    plan = plan_stack(project, PROD)
    data = one(plan, SECRET, f"{PROD}-github-app").inputs["stringData"]
    assert data.value == {
        "githubAppID": "123",
        "githubAppInstallationID": "456",
        "githubAppPrivateKey": "PEM",
    }
    app = one(plan, SECRET, f"{PROD}-app-my-apps")  # the app repository's Secret: the same App
    assert app.inputs["metadata"]["name"] == "apps-deploykey"
    assert app.inputs["stringData"].value == data.value


def test_switching_creates_the_new_secret_first_and_deletes_the_keys_last(
    root: Path, app_plan: StackPlan
) -> None:
    before = plan_stack(root, PROD)
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in app_plan.resources}
    created = {new[u].name for u in set(new) - set(old)}
    deleted = {old[u].type for u in set(old) - set(new)}
    assert created == {f"{PROD}-github-app"}
    assert deleted == {
        "flux-fleet:index:DeployKey",  # the fleet key's component, with its pair, key, Secret
        KEY_PAIR,
        DEPLOY_KEY,
        GITHUB,
        SECRET,
    }
    # The FluxInstance (same resource) moves to the new Secret, which it depends on: Pulumi
    # creates that Secret, then updates the instance, and deletes the old key's Secret and the
    # deploy keys only at the end. No moment without a working credential for the fleet repository.
    instance = one(app_plan, INSTANCE)
    assert instance.urn in old
    assert one(app_plan, SECRET, f"{PROD}-github-app").urn in instance.dependencies
    old_secret = one(before, SECRET, f"{PROD}-fleet-key").urn
    assert old_secret not in instance.dependencies
    # The app repository's Secret is the same resource, updated in place.
    assert one(app_plan, SECRET, f"{PROD}-app-my-apps").urn in old


def test_missing_app_credentials_stop_the_plan_and_validate_in_one_line(project: Path) -> None:
    use_app(project, config={"flux-fleet:githubAppId": {"secure": "v1:x"}})
    expected = (
        f"k8s-clusters/{PROD}.yaml: spec.git.auth: githubApp but no githubAppInstallationId, "
        f"githubAppPrivateKey in stack config; run: pulumi config set --secret "
        f"githubAppInstallationId <value> -s {PROD}; pulumi config set --secret "
        f"githubAppPrivateKey < app.pem -s {PROD} (or set spec.git.githubApp: appId, "
        "installationId or installationOwner, privateKeyFrom)"
    )
    with pytest.raises(pulumi.RunError) as caught:
        plan_stack(project, PROD)
    assert str(caught.value) == expected
    code, out, err = run_cli(project, "plan", PROD)
    assert (code, out, err) == (2, "", expected + "\n")


def test_app_repositories_in_git_follow_the_mode(project: Path) -> None:
    use_app(project)
    fleet = load_fleet(project)
    cluster = fleet.clusters[PROD]
    repository = app_source(app_source_options(cluster, cluster.spec.apps[0]))[0]
    assert repository["spec"]["url"] == "https://github.com/acme/my-apps.git"
    assert repository["spec"]["provider"] == "github"
    assert validate(repository) == []
    # the committed GitRepository still pulls over SSH: validate says what to change
    problems = [str(p) for p in consistency.consistency_problems(fleet)]
    folder = f"flux/clusters/{PROD}/my-apps.yaml"
    assert problems == [
        f'{folder}: GitRepository my-apps: spec.provider: expected "github" (spec.git.auth '
        f"githubApp in k8s-clusters/{PROD}.yaml), got nothing",
        f"{folder}: GitRepository my-apps: spec.url: expected "
        f'"https://github.com/acme/my-apps.git" (spec.apps[0] in k8s-clusters/{PROD}.yaml), got '
        '"ssh://git@github.com/acme/my-apps.git"',
    ]


def test_new_app_writes_the_https_repository_with_provider_github(project: Path) -> None:
    use_app(project)
    code, _, err = run_cli(project, "new-app", PROD, "extra", "--repository", "extra-repo")
    assert code == 0, err
    (repository, _) = yamlio.load_all((project / f"flux/clusters/{PROD}/extra.yaml").read_text())
    assert repository["spec"]["provider"] == "github"
    assert repository["spec"]["url"] == "https://github.com/acme/extra-repo.git"


def test_a_takeover_keeps_the_deploy_key(project: Path) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"] = {"auth": "githubApp", "path": "clusters/prod"}
    doc["spec"]["flux"]["adopt"] = True
    path.write_text(yamlio.dump_yaml([doc]))
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err.startswith(
        f"k8s-clusters/{PROD}.yaml: spec.git.auth: githubApp while spec.flux.adopt is true"
    )


def test_an_unknown_auth_is_one_line(project: Path) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"] = {"auth": "ssh"}
    path.write_text(yamlio.dump_yaml([doc]))
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err == (
        f"k8s-clusters/{PROD}.yaml: spec.git.auth: expected one of deployKey or githubApp, "
        'got "ssh"\n'
    )


# --- the App for the whole fleet: spec.git.githubApp in _defaults.yaml ----------------------------

SSM = "aws:ssm/getParameter:getParameter"


def fleet_app(project: Path, app: dict[str, Any]) -> None:
    """The App set once in _defaults.yaml; the production cluster uses it, its stack config holds
    no App key."""
    use_app(project, config={})
    path = project / "k8s-clusters/_defaults.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"]["githubApp"] = app
    path.write_text(yamlio.dump_yaml([doc]))


def test_the_app_from_the_defaults_with_its_key_read_from_ssm(project: Path) -> None:
    fleet_app(
        project,
        {"appId": 123, "installationId": 456, "privateKeyFrom": {"ssmParameter": "/fleet/app"}},
    )
    code, out, err = run_cli(project, "plan", PROD)  # the stack config check passes too
    assert (code, err) == (0, ""), err
    assert "+ kubernetes:core/v1:Secret production-cluster-name-github-app" in out
    plan = plan_stack(project, PROD)
    assert SSM in plan.invokes
    data = one(plan, SECRET, f"{PROD}-github-app").inputs["stringData"]
    assert isinstance(data, Secret)
    assert data.value == {
        "githubAppID": "123",
        "githubAppInstallationID": "456",
        "githubAppPrivateKey": "placeholder value of SSM parameter /fleet/app",
    }
    app = one(plan, SECRET, f"{PROD}-app-my-apps")
    assert app.inputs["stringData"].value == data.value  # read once, the same App
    # The staging cluster keeps its deploy key: githubApp in the defaults is only the App's
    # settings, auth says who uses it.
    assert of_type(plan_stack(project, "staging-cluster-name"), DEPLOY_KEY)


def test_stack_config_wins_key_by_key(project: Path, monkeypatch: Any) -> None:
    from components.plan import runner

    fleet_app(
        project,
        {"appId": 123, "installationId": 456, "privateKeyFrom": {"ssmParameter": "/fleet/app"}},
    )
    plain = {"flux-fleet:githubAppPrivateKey": "PEM", "flux-fleet:slackBotToken": "xoxb-1"}
    monkeypatch.setattr(runner, "stack_config", lambda *_: (dict(plain), list(plain)))
    plan = plan_stack(project, PROD)
    assert SSM not in plan.invokes
    data = one(plan, SECRET, f"{PROD}-github-app").inputs["stringData"]
    assert data.value == {
        "githubAppID": "123",
        "githubAppInstallationID": "456",
        "githubAppPrivateKey": "PEM",
    }


def test_what_neither_gives_is_named(project: Path) -> None:
    fleet_app(project, {"appId": 123})
    code, _, err = run_cli(project, "plan", PROD)
    assert code == 2
    assert err.splitlines() == [
        f"k8s-clusters/{PROD}.yaml: spec.git.auth: githubApp but no githubAppInstallationId, "
        f"githubAppPrivateKey in stack config; run: pulumi config set --secret "
        f"githubAppInstallationId <value> -s {PROD}; pulumi config set --secret "
        f"githubAppPrivateKey < app.pem -s {PROD} (or set spec.git.githubApp: appId, "
        "installationId or installationOwner, privateKeyFrom)"
    ]


def test_a_bad_app_setting_is_one_line(project: Path) -> None:
    fleet_app(project, {"appId": "123", "privateKeyFrom": {}})
    code, _, err = run_cli(project, "validate")
    assert code == 2 and "Traceback" not in err
    assert err.splitlines() == [
        'k8s-clusters/_defaults.yaml: spec.git.githubApp.appId: expected an integer, got "123"',
        "k8s-clusters/_defaults.yaml: spec.git.githubApp.privateKeyFrom: expected exactly one of "
        "ssmParameter and secretsManager",
    ]


def test_the_app_secret_plain_keys_come_from_the_git_access_options() -> None:
    """github_app_plain_data reads GitAccessOptions alone (issue #22): the installation's owner
    and a GitHub Enterprise Server's API, as the Secret keys Flux reads; nothing on github.com
    with an installation ID."""
    access = GitAccessOptions(
        github_app=True, installation_owner="acme", api_url="https://git.example.com/api/v3"
    )
    assert github_app_plain_data(access) == {
        INSTALLATION_OWNER_KEY: "acme",
        BASE_URL_KEY: "https://git.example.com/api/v3",
    }
    assert github_app_plain_data(GitAccessOptions(github_app=True)) == {}
