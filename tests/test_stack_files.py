"""stacks/Pulumi.<stack>.yaml checked like the definitions (validate and plan, one reader), and
the command line's conveniences: paths as stack names, suggestions, --project anywhere, the
project found from a subfolder, --version."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from planutil import run_cli

from components.tools import cli

STAGING = "staging-cluster-name"
STACK_FILE = f"stacks/Pulumi.{STAGING}.yaml"
TOKEN = "xoxb-1234567890-0987654321-NotARealTokenButLooksLikeOne"
SECURE = "flux-fleet:slackBotToken:\n    secure: v1:placeholder-not-a-real-ciphertext\n"


def stack_file(project: Path, text: str, stack: str = STAGING) -> None:
    (project / f"stacks/Pulumi.{stack}.yaml").write_text(text)


def both(project: Path) -> list[tuple[int, str, str]]:
    """validate, and plan of the staging stack."""
    return [run_cli(project, "validate"), run_cli(project, "plan", STAGING)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("config: [\n", f"{STACK_FILE}: line 2, column 1: invalid YAML:"),
        ("config:\n\tx: 1\n", f"{STACK_FILE}: line 2, column 1: invalid YAML:"),
        (
            "config: [1, 2]\n",
            f"{STACK_FILE}: config: expected a mapping of config keys, got a list",
        ),
        (
            "just some text\n",
            f"{STACK_FILE}: expected a mapping (config, encryptedkey, encryptionsalt, "
            "environment, secretsprovider), got a value",
        ),
        (
            f"config:\n  {SECURE}  flux-fleet:slackBotToken: {TOKEN}\n",
            f"{STACK_FILE}: line 4, column 3: invalid YAML: while constructing a mapping found "
            'duplicate key "flux-fleet:slackBotToken"',
        ),
    ],
)
def test_a_malformed_stack_file_is_one_line_in_validate_and_plan(
    project: Path, text: str, line: str
) -> None:
    stack_file(project, text)
    for code, out, err in both(project):
        assert code == 2 and "Traceback" not in err
        assert len(err.splitlines()) == 1, err
        assert err.startswith(line), err
        assert TOKEN not in out + err


@pytest.mark.parametrize("key", ["flux-fleet:slackToken", "slackToken"])
def test_an_unknown_key_of_the_project_gets_a_suggestion(project: Path, key: str) -> None:
    stack_file(project, f"config:\n  {key}: {{secure: v1:x}}\n  aws:region: eu-west-1\n")
    for code, _, err in both(project):
        assert (code, err) == (
            2,
            f"{STACK_FILE}: config.{key}: unknown key, did you mean slackBotToken? "
            "(expected one of slackBotToken, slackWebhookUrl, githubAppId, "
            "githubAppInstallationId, githubAppPrivateKey, alert-<provider>)\n",
        )


def test_an_unknown_setting_gets_a_suggestion(project: Path) -> None:
    stack_file(project, f"configs:\n  {SECURE}")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.startswith(f"{STACK_FILE}: configs: unknown key, did you mean config? ")


def test_a_secret_in_plain_text_is_a_warning_that_never_shows_it(project: Path) -> None:
    stack_file(project, f"config:\n  flux-fleet:slackBotToken: {TOKEN}\n")
    warning = (
        f"{STACK_FILE}: config.flux-fleet:slackBotToken: warning: a secret in plain text (the "
        f"value is not shown); encrypt it: pulumi config set --secret slackBotToken -s {STAGING} "
        "(it asks for the value)\n"
    )
    code, out, err = run_cli(project, "validate")
    assert (code, err) == (0, warning)
    code, out, err = run_cli(project, "plan", STAGING)
    assert (code, err) == (0, warning)
    assert TOKEN not in out


def test_a_secret_that_is_not_a_string_is_refused_unshown(project: Path) -> None:
    stack_file(project, f"config:\n  flux-fleet:slackBotToken: [{TOKEN}]\n")
    code, out, err = run_cli(project, "validate")
    assert code == 2 and TOKEN not in out + err
    assert err == (
        f"{STACK_FILE}: config.flux-fleet:slackBotToken: expected an encrypted value (secure: "
        f"...), got a list; run: pulumi config set --secret slackBotToken -s {STAGING}\n"
    )


def test_a_stack_file_without_a_definition_is_an_error(project: Path) -> None:
    stack_file(project, "config: {}\n", stack="ghost")
    (project / "k8s-clusters/_registries.yaml").unlink()
    (project / "k8s-clusters/staging-cluster-name.yaml").write_text(
        (project / "k8s-clusters/staging-cluster-name.yaml").read_text().split("  ecr:")[0]
        + "  alerts: {slack: {severity: info}}\n"
    )
    (project / "k8s-clusters/production-cluster-name.yaml").write_text(
        (project / "k8s-clusters/production-cluster-name.yaml")
        .read_text()
        .replace("  ecr:\n    pull:", "  ecr:\n    x-pull:")
    )
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert (
        "stacks/Pulumi.ghost.yaml: no definition for stack ghost (expected "
        "k8s-clusters/ghost.yaml); if the stack is gone, delete this file"
    ) in err.splitlines()
    assert (
        "stacks/Pulumi.registries.yaml: no definition for stack registries (expected "
        "k8s-clusters/_registries.yaml); if the stack is gone, delete this file"
    ) in err.splitlines()


def test_a_missing_stack_file_is_an_error_with_the_command(project: Path) -> None:
    (project / STACK_FILE).unlink()
    line = (
        f"{STACK_FILE}: missing: expected the settings of stack {STAGING} (`pulumi stack init "
        f"{STAGING}` from the project, then `pulumi config set --secret ...`; `fluxfleet "
        "new-cluster` writes one)\n"
    )
    for code, out, err in both(project):
        assert (code, out, err) == (2, "", line)


def test_validate_says_when_slack_alerts_have_no_credential(project: Path) -> None:
    stack_file(project, "config: {}\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.startswith(
        f"k8s-clusters/{STAGING}.yaml: spec.alerts.slack: enabled but no Slack credential"
    )


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arg", [f"k8s-clusters/{STAGING}.yaml", f"./stacks/Pulumi.{STAGING}.yaml", STAGING]
)
def test_plan_takes_the_path_tab_completion_gives(project: Path, arg: str) -> None:
    code, out, err = run_cli(project, "plan", arg)
    assert (code, err) == (0, "")
    assert out.startswith(f"Stack {STAGING}:")


def test_an_unknown_stack_gets_a_suggestion(project: Path) -> None:
    code, out, err = run_cli(project, "plan", "stagin-cluster-name", "productio", "zzz")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        'k8s-clusters/stagin-cluster-name.yaml: no definition for stack "stagin-cluster-name" '
        "(expected this file); did you mean staging-cluster-name?",
        'k8s-clusters/productio.yaml: no definition for stack "productio" (expected this '
        "file); did you mean production-cluster-name?",
        'k8s-clusters/zzz.yaml: no definition for stack "zzz" (expected this file)',
    ]


def test_project_after_the_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "--project", str(project)]) == 0
    assert "2 cluster definition(s) valid" in capsys.readouterr().out


def test_the_project_is_found_from_a_subfolder(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "k8s-clusters/staging-cluster-name.yaml").unlink()  # to tell it from the repo's
    (project / STACK_FILE).unlink()
    monkeypatch.chdir(project / "flux" / "apps")
    assert cli.main(["validate"]) == 2  # the copy's flux/clusters/staging-... has no definition
    err = capsys.readouterr().err
    assert "flux/clusters/staging-cluster-name" in err


def test_outside_any_project_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err == f"{tmp_path}: not a flux-fleet project (no Pulumi.yaml); use --project DIR\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == "fluxfleet 0.1.0\n"


def test_a_config_with_every_key_commented_out_is_no_config(project: Path) -> None:
    text = "config:\n  # flux-fleet:slackBotToken:\n  #   secure: v1:x\n"
    (project / "stacks/Pulumi.registries.yaml").write_text(text)
    code, _, err = run_cli(project, "validate")
    assert (code, err) == (0, "")
    (project / "stacks/Pulumi.registries.yaml").write_text("config: []\n")
    code, _, err = run_cli(project, "validate")
    assert (code, err) == (
        2,
        "stacks/Pulumi.registries.yaml: config: expected a mapping of config keys, got a list\n",
    )
    (project / "stacks/Pulumi.registries.yaml").write_text("config: {aws:region: }\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2 and "config.aws:region: expected a value, got null" in err


def test_a_stack_file_as_yaml_and_yml_is_refused_naming_both(project: Path) -> None:
    """Only Pulumi.<stack>.yaml was read; a .yml beside it was silently left out."""
    (project / f"stacks/Pulumi.{STAGING}.yml").write_text(f"config:\n  {SECURE}")
    twins = (
        f"both {STACK_FILE} and stacks/Pulumi.{STAGING}.yml exist, expected one (delete or "
        "merge one)"
    )
    for code, _, err in both(project):
        assert (code, err.splitlines()) == (2, [f"{STACK_FILE}: {twins}"])


def test_the_plan_ignores_config_from_the_environment_and_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pulumi's SDK takes a key the stack file lacks from PULUMI_CONFIG or PULUMI_CONFIG_<KEY>:
    the offline plan would then differ from machine to machine (here: refused, two Slack
    credentials)."""
    code, expected, err = run_cli(project, "plan", STAGING)
    assert (code, err) == (0, "")
    webhook = "https://hooks.slack.com/services/T0/B0/NotARealWebhook"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"flux-fleet:slackWebhookUrl": webhook}))
    monkeypatch.setenv("PULUMI_CONFIG_FLUX_FLEET_SLACKWEBHOOKURL", webhook)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not config")
    code, out, err = run_cli(project, "plan", STAGING)
    assert (code, out) == (0, expected)
    assert err == (
        "note: PULUMI_CONFIG, PULUMI_CONFIG_FLUX_FLEET_SLACKWEBHOOKURL ignored: the offline plan "
        "takes config from stacks/Pulumi.<stack>.yaml only\n"
    )
    assert webhook not in out + err
    assert os.environ["PULUMI_CONFIG_FLUX_FLEET_SLACKWEBHOOKURL"] == webhook  # put back


def test_at_most_50_problems_of_a_stack_file_are_listed(project: Path) -> None:
    stack_file(project, "config:\n" + "".join(f"  flux-fleet:k{i}: x\n" for i in range(5_000)))
    for code, _, err in both(project):
        lines = err.splitlines()
        assert code == 2 and len(lines) == 51
        assert lines[0] == f"{STACK_FILE}: 4,950 more problems not shown (the first 50 are)"
