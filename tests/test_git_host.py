"""spec.git.host: a GitHub Enterprise Server instead of github.com (#23 part 2)."""

from __future__ import annotations

import base64
import copy
import struct
from pathlib import Path
from typing import Any

import pytest
from crdcheck import validate
from planutil import BARE, of_type, one, run_cli

from components import yamlio
from components.builders.git_access import github_known_hosts
from components.builders.gitops import app_git_repository
from components.builders.options import app_source_options
from components.definition.cluster import Cluster
from components.definition.git_host import ssh_key_problem
from components.loading.certificates import pem_certificates_problem
from components.loading.fleet import validate_cluster_doc
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
PROD_FILE = f"k8s-clusters/{PROD}.yaml"
DEFAULTS = "k8s-clusters/_defaults.yaml"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
SECRET = "kubernetes:core/v1:Secret"
GITHUB = "pulumi:providers:github"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
HOST = "ghe.acme.example"
# Public keys made for these tests with ssh-keygen (a host's keys are public).
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ9xuI+CG+HA2Ti30h+aZVO9wjtQ/2+rxgTX6tD92kBK"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLpQWV+bMK09uTgFk6"
    "LheFra88ozfWu9AE0s+Os3kAZu5Nm2rTqkj2hgDK2Yg/SeBf1L9ispr8TwodI9InDloWo="
)
GHE = {"hostname": HOST, "knownHosts": [f"{ED25519} ghe host key", ECDSA]}
# A PEM certificate as the loader checks it: base64 of a DER SEQUENCE
CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    + base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    + "\n-----END CERTIFICATE-----\n"
)
APP_CONFIG = {
    "flux-fleet:githubAppId": "123",
    "flux-fleet:githubAppPrivateKey": "PEM",
    "flux-fleet:slackBotToken": "xoxb-1",
}


def use_host(project: Path, host: dict[str, Any], git: dict[str, Any] | None = None) -> None:
    """The fleet on `host` (in _defaults.yaml), with `git` merged into the defaults' git too."""
    path = project / DEFAULTS
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"]["host"] = host
    doc["spec"]["git"].update(git or {})
    path.write_text(yamlio.dump_yaml([doc]))


def problems_of(git: dict[str, Any]) -> list[str]:
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"].update(git)
    _, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    return [str(p) for p in problems]


@pytest.fixture
def ghe_plan(project: Path) -> StackPlan:
    use_host(project, GHE)
    return plan_stack(project, PROD)


# --- deploy keys over SSH -----------------------------------------------------------------------


def test_the_sync_and_the_apps_pull_from_the_host(ghe_plan: StackPlan) -> None:
    instance = one(ghe_plan, INSTANCE).inputs
    assert instance["spec"]["sync"]["url"] == f"ssh://git@{HOST}/acme/gitops.git"
    assert validate(instance) == []
    assert ghe_plan.outputs["syncUrl"] == f"ssh://git@{HOST}/acme/gitops.git"


def test_the_secrets_hold_the_hosts_keys_not_githubs(ghe_plan: StackPlan) -> None:
    expected = f"{HOST} {ED25519}\n{HOST} {ECDSA}\n"  # the comment is not part of the line
    for name in (f"{PROD}-fleet-key", f"{PROD}-app-my-apps"):
        data = one(ghe_plan, SECRET, name).inputs["stringData"]
        assert isinstance(data, Secret)
        assert data.value["known_hosts"] == expected
        assert "github.com" not in data.value["known_hosts"]


def test_the_deploy_keys_go_to_the_hosts_api(ghe_plan: StackPlan) -> None:
    providers = of_type(ghe_plan, GITHUB)
    assert providers and {p.inputs.get("baseUrl") for p in providers} == {f"https://{HOST}/api/v3/"}
    assert len(of_type(ghe_plan, DEPLOY_KEY)) == 2


def test_github_com_keeps_its_pinned_keys_and_default_api(root: Path) -> None:
    plan = plan_stack(root, PROD)
    data = one(plan, SECRET, f"{PROD}-fleet-key").inputs["stringData"]
    assert data.value["known_hosts"] == github_known_hosts()
    # the SDK's default, as before
    assert {p.inputs["baseUrl"] for p in of_type(plan, GITHUB)} == {"https://api.github.com/"}


def test_an_explicit_api_url_is_the_providers(project: Path) -> None:
    use_host(project, {**GHE, "apiUrl": "https://api.ghe.acme.example/"})
    providers = of_type(plan_stack(project, PROD), GITHUB)
    assert {p.inputs["baseUrl"] for p in providers} == {"https://api.ghe.acme.example/"}


def test_a_committed_app_repository_on_github_com_is_reported(project: Path) -> None:
    use_host(project, GHE)
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f"flux/clusters/{PROD}/my-apps.yaml: GitRepository my-apps: spec.url: expected "
        f'"ssh://git@{HOST}/acme/my-apps.git" (spec.apps[0] in {PROD_FILE}), '
        'got "ssh://git@github.com/acme/my-apps.git"',
    ]


def test_the_generated_app_repository_is_on_the_host() -> None:
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"].update({"host": GHE, "auth": "githubApp"})
    doc["spec"]["apps"] = [{"name": "team", "repository": "team-apps", "path": "deploy"}]
    cluster = Cluster.model_validate(doc)
    repository = app_git_repository(app_source_options(cluster, cluster.spec.apps[0]))
    assert repository["spec"]["url"] == f"https://{HOST}/acme/team-apps.git"
    assert repository["spec"]["provider"] == "github"
    assert validate(repository) == []


# --- the GitHub App over HTTPS ------------------------------------------------------------------


def app_plan(project: Path, monkeypatch: Any, host: dict[str, Any]) -> StackPlan:
    from components.plan import runner

    use_host(project, host, {"githubApp": {"installationOwner": "acme"}})
    path = project / PROD_FILE
    doc = yamlio.load(path.read_text())
    doc["spec"]["git"] = {"auth": "githubApp"}
    path.write_text(yamlio.dump_yaml([doc]))
    monkeypatch.setattr(runner, "stack_config", lambda *_: (dict(APP_CONFIG), list(APP_CONFIG)))
    return plan_stack(project, PROD)


def test_the_apps_secret_has_the_base_url_owner_and_ca_from_a_file(
    project: Path, monkeypatch: Any
) -> None:
    (project / "k8s-clusters/ghe-ca.pem").write_text(CA_PEM)
    host = {**GHE, "caFrom": {"file": "k8s-clusters/ghe-ca.pem"}}
    plan = app_plan(project, monkeypatch, host)
    data = one(plan, SECRET, f"{PROD}-github-app").inputs["stringData"]
    assert isinstance(data, Secret)
    assert data.value == {
        "ca.crt": CA_PEM,
        "githubAppBaseURL": f"https://{HOST}/api/v3/",
        "githubAppID": "123",
        "githubAppInstallationOwner": "acme",  # and no githubAppInstallationID: Flux wants one
        "githubAppPrivateKey": "PEM",
    }
    assert one(plan, SECRET, f"{PROD}-app-my-apps").inputs["stringData"].value == data.value
    sync = one(plan, INSTANCE).inputs["spec"]["sync"]
    assert (sync["url"], sync["provider"]) == (f"https://{HOST}/acme/gitops.git", "github")
    assert of_type(plan, GITHUB) == []  # no deploy key: no GitHub API call from the stack


def test_the_ca_from_secrets_manager_is_read_at_apply_time(project: Path, monkeypatch: Any) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ghe-ca-AbCdEf"
    plan = app_plan(project, monkeypatch, {**GHE, "caFrom": {"secretsManager": arn}})
    assert "aws:secretsmanager/getSecretVersion:getSecretVersion" in plan.invokes
    data = one(plan, SECRET, f"{PROD}-github-app").inputs["stringData"]
    assert data.value["ca.crt"] == f"placeholder value of secret {arn}"


def test_owner_in_the_definition_and_id_in_stack_config_is_one_line(
    project: Path, monkeypatch: Any
) -> None:
    app_plan(project, monkeypatch, GHE)
    stack = project / f"stacks/Pulumi.{PROD}.yaml"
    settings = yamlio.load(stack.read_text())
    settings["config"].update(
        {f"flux-fleet:{key}": {"secure": "v1:x"} for key in ("githubAppId", "githubAppPrivateKey",
                                                              "githubAppInstallationId")}
    )  # fmt: skip
    stack.write_text(yamlio.dump_yaml([settings]))
    code, out, err = run_cli(project, "plan", PROD)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{PROD_FILE}: spec.git.auth: githubApp with spec.git.githubApp.installationOwner while "
        "stack config has githubAppInstallationId: expected one of them (Flux refuses a Secret "
        f"with both); run: pulumi config rm githubAppInstallationId -s {PROD}"
    ]


# --- bad input ----------------------------------------------------------------------------------


def blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


BAD_KEYS = {
    "ssh-ed25519":
        "expected <key type> <base64 key> (such as a line of ssh-keyscan without the host)",
    "ssh-dss AAAA": 'key type "ssh-dss", expected one of ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, '
    "ecdsa-sha2-nistp521, ssh-ed25519, ssh-rsa",
    "ssh-ed25519 not*base64": "the key is not valid base64",
    f"ssh-rsa {ED25519.split()[1]}": 'the key decodes to a "ssh-ed25519" key, expected ssh-rsa',
    f"ssh-ed25519 {blob(b'ssh-ed25519', b'short')}": "the ed25519 key is 5 bytes, expected 32",
    f"ssh-ed25519 {ED25519.split()[1][:-8]}":
        "the key is not an SSH key blob (a truncated field)",
    f"ecdsa-sha2-nistp256 {blob(b'ecdsa-sha2-nistp256', b'nistp384', b'point')}":
        'the key\'s curve is "nistp384", expected nistp256',
    f"ssh-rsa {blob(b'ssh-rsa', b'e')}": "the key's blob has 1 fields, expected 2 for ssh-rsa",
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(BAD_KEYS))
def test_a_malformed_host_key_says_why(key: str) -> None:
    assert ssh_key_problem(key) == BAD_KEYS[key]


@pytest.mark.parametrize("line", [ED25519, ECDSA, *github_known_hosts().splitlines()])
def test_real_keys_pass(line: str) -> None:
    parts = line.split()
    key = " ".join(parts[1:] if parts[0] == "github.com" else parts)
    assert ssh_key_problem(key) is None


BAD_HOSTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no host keys": (
        {"hostname": HOST},
        [f"spec.git.host.knownHosts: required for {HOST}: expected its SSH host keys, each "
         "<type> <base64> (from its administrator, or ssh-keyscan checked against the "
         "fingerprints they publish); flux-fleet never scans keys at apply time"],
    ),
    "a malformed key": (
        {**GHE, "knownHosts": [ED25519, f"ssh-rsa {ED25519.split()[1]}"]},
        ['spec.git.host.knownHosts[1]: not an SSH public key: the key decodes to a '
         '"ssh-ed25519" key, expected ssh-rsa'],
    ),
    "a plain http API": (
        {**GHE, "apiUrl": f"http://{HOST}/api/v3/"},
        [f'spec.git.host.apiUrl: expected an https:// URL such as '
         f'https://github.example.com/api/v3/, got "http://{HOST}/api/v3/"'],
    ),
    "keys for github.com": (
        {"hostname": "github.com", "knownHosts": [ED25519]},
        ["spec.git.host.knownHosts: set for github.com, whose host keys are pinned by "
         "flux-fleet and whose API and certificate are public: expected none"],
    ),
    "a URL as the host name": (
        {**GHE, "hostname": f"https://{HOST}"},
        [f'spec.git.host.hostname: expected a DNS host name such as github.example.com, '
         f'got "https://{HOST}"'],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_HOSTS))
def test_bad_hosts_are_one_line_each(case: str) -> None:
    host, lines = BAD_HOSTS[case]
    assert problems_of({"host": host}) == [f"k8s-clusters/bare.yaml: {line}" for line in lines]


def test_a_host_without_keys_stops_validate_and_plan_with_exit_2(project: Path) -> None:
    use_host(project, {"hostname": HOST})
    for command in (["validate"], ["plan", PROD]):
        code, out, err = run_cli(project, *command)
        assert (code, out) == (2, "") and "Traceback" not in err
        assert err.startswith(f"{DEFAULTS}: spec.git.host.knownHosts: required for {HOST}: ")
        assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "k8s-clusters/ghe-ca.pem: cannot be read: No such file or directory"),
        ("not a cert", "k8s-clusters/ghe-ca.pem: expected a PEM certificate "
         "(-----BEGIN CERTIFICATE-----), found none"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
         "k8s-clusters/ghe-ca.pem: certificate 1 is not DER (an ASN.1 SEQUENCE)"),
    ],
)  # fmt: skip
def test_a_bad_ca_file_is_one_line(project: Path, content: str | None, why: str) -> None:
    if content is not None:
        (project / "k8s-clusters/ghe-ca.pem").write_text(content)
    use_host(project, {**GHE, "caFrom": {"file": "k8s-clusters/ghe-ca.pem"}})
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert f"{PROD_FILE}: spec.git.host.caFrom.file: {why}" in err.splitlines()


def test_the_pem_check_accepts_a_chain() -> None:
    assert pem_certificates_problem(CA_PEM + CA_PEM) is None


def test_installation_owner_and_id_together_are_one_line() -> None:
    app = {"installationId": 1, "installationOwner": "acme"}
    assert problems_of({"githubApp": app}) == [
        "k8s-clusters/bare.yaml: spec.git.githubApp.installationOwner: set with installationId: "
        "expected one of them (Flux refuses both)"
    ]


def test_the_docs_show_the_lines_the_checks_print() -> None:
    from test_git_refs import documented_lines

    printed = [line for _, lines in BAD_HOSTS.values() for line in lines] + [
        "spec.git.host.caFrom.file: k8s-clusters/ghe-ca.pem: expected a PEM certificate "
        "(-----BEGIN CERTIFICATE-----), found none",  # test_a_bad_ca_file_is_one_line
        "spec.git.githubApp.installationOwner: set with installationId: expected one of them "
        "(Flux refuses both)",  # test_installation_owner_and_id_together_are_one_line
    ]
    documented = documented_lines("GitHub Enterprise Server")
    assert len(documented) == 7
    for line in documented:
        parts = [p for p in line.replace("(...)", "...").split("...") if p.strip()]
        assert any(all(part in out for part in parts) for out in printed), line


def test_a_clusters_host_replaces_the_fleets_whole() -> None:
    """A cluster back on github.com under a fleet default on a server: the server's keys and
    CA are not merged into its host (github.com refuses them)."""
    defaults = {"git": {"host": {**GHE, "caFrom": {"ssmParameter": "/ghe/ca"}}}}
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"]["host"] = {"hostname": "github.com"}
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", defaults)
    assert problems == [] and cluster is not None
    assert cluster.spec.git.enterprise_host is None
    doc["spec"]["git"].pop("host")  # and without its own, the fleet's server
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", defaults)
    assert problems == [] and cluster is not None
    assert cluster.spec.git.hostname == HOST
