"""The documentation (issue #24): the generated reference is current, the README's links resolve,
the site builds in strict mode and fails on a broken link or a stale generated page, the stack
outputs the reference lists are the ones the program exports, and the permissions page's policies
and versions hold."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from components.plan.result import StackPlan
from components.plan.runner import plan_stack
from components.tools import docs

ROOT = Path(__file__).resolve().parents[1]
STAGING = "staging-cluster-name"


def site_copy(dest: Path) -> Path:
    """What the site is built from (mkdocs.yml, docs/, the README the hook checks), in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copy2(ROOT / "README.md", dest / "README.md")
    shutil.copytree(ROOT / "docs", dest / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def check(project: Path) -> tuple[int, str]:
    """`python -m components.tools.docs --check` of `project`: (exit code, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "components.tools.docs", "--project", str(project), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.stdout == ""
    return done.returncode, done.stderr


def strict_build(project: Path) -> tuple[int, str]:
    """`mkdocs build --strict` of `project` into a folder beside it, as .ci/run runs it."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(project / "mkdocs.yml")),
            *("--site-dir", str(project.parent / "site")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # no end-of-life banner
    )
    return done.returncode, done.stdout + done.stderr


# --- the generated reference ---------------------------------------------------------------------


def test_committed_reference_is_current() -> None:
    assert docs.stale_pages(ROOT) == [], (
        f"docs/reference/ is stale: regenerate it with `{docs.REGENERATE}`"
    )


def test_generating_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first = docs.pages()
    assert docs.write(tmp_path) == list(first)
    assert docs.write(tmp_path) == []  # nothing changed: nothing written
    assert docs.pages() == first


def test_the_reference_lists_every_field_command_option_and_config_key() -> None:
    fields = (ROOT / "docs" / "reference" / "fields.md").read_text()
    for path in (
        "spec.flux.deployKey.rotation",
        "spec.apps[].imageAutomation",
        "rollout.maxParallel",
    ):
        assert f"**`{path}`**" in fields, path
    # a default taken from the model, and a rule from the JSON schema
    assert '- **`spec.flux.version`** (string; default: `"2.9.x"`): a Flux 2.9+ version' in fields
    assert "- **`metadata.wave`** (integer; default: not set)" in fields
    cli = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for command, option in (
        ("plan", "--jobs"),
        ("new-cluster", "--account-id"),
        ("inventory", "--wide"),
    ):
        section = cli.split(f"## `fluxfleet {command}`", 1)[1].split("\n## ", 1)[0]
        assert f"`{option}`" in section, (command, option)
    stack = (ROOT / "docs" / "reference" / "stack.md").read_text()
    for key in docs.CONFIG_KEYS:
        assert f"**`{key}`**" in stack


def test_a_stale_reference_fails_the_check(tmp_path: Path) -> None:
    project = site_copy(tmp_path / "p")
    assert check(project) == (0, "")
    page = project / "docs" / "reference" / "cli.md"
    page.write_text(page.read_text().replace("--jobs", "--workers"))
    assert check(project) == (
        2,
        "docs/reference/cli.md: stale: regenerate it with `python -m components.tools.docs`\n",
    )


def test_an_undocumented_config_key_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        docs, "CONFIG_KEYS", {k: v for k, v in docs.CONFIG_KEYS.items() if k != "slackBotToken"}
    )
    with pytest.raises(ValueError, match="describe each key the program reads"):
        docs.stack_page()


# --- README links --------------------------------------------------------------------------------


def test_every_readme_link_resolves() -> None:
    assert docs.link_problems(ROOT, "README.md") == []


def test_a_broken_readme_link_fails_the_check(tmp_path: Path) -> None:
    project = site_copy(tmp_path / "p")
    readme = project / "README.md"
    readme.write_text(
        readme.read_text()
        + "\n[gone](docs/how-to/gone.md), [no heading](docs/getting-started.md#nowhere), "
        "[fine](docs/getting-started.md#run-it-for-real), `[code](not-a-link.md)`, "
        "[away](https://example.com/x.md)\n"
    )
    code, err = check(project)
    lines = len(readme.read_text().splitlines())
    assert (code, err) == (
        2,
        f"README.md: line {lines}: link to docs/how-to/gone.md: no such file\n"
        f"README.md: line {lines}: link to docs/getting-started.md#nowhere: no such heading\n",
    )


def test_github_anchors_follow_githubs_rules() -> None:
    text = (
        "# A `code` Title!\n```\n# not a heading\n```\n## Repeat\n## Repeat\n### Run it: for real\n"
    )
    assert docs.github_anchors(text) == {"a-code-title", "repeat", "repeat-1", "run-it-for-real"}


# --- the strict build ----------------------------------------------------------------------------


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    code, out = strict_build(site_copy(tmp_path / "p"))
    assert code == 0, out
    assert (tmp_path / "site" / "reference" / "fields" / "index.html").is_file()


def test_a_broken_link_in_a_page_fails_the_strict_build(tmp_path: Path) -> None:
    project = site_copy(tmp_path / "p")
    page = project / "docs" / "how-to" / "rotate-a-key.md"
    page.write_text(page.read_text() + "\nSee [nothing](no-such-page.md).\n")
    code, out = strict_build(project)
    assert code != 0
    assert "no-such-page.md" in out and "Aborted with 1 warnings in strict mode" in out


def test_a_stale_reference_fails_the_strict_build(tmp_path: Path) -> None:
    project = site_copy(tmp_path / "p")
    page = project / "docs" / "reference" / "fields.md"
    page.write_text(page.read_text().replace("spec.flux.version", "spec.flux.release"))
    code, out = strict_build(project)
    assert code != 0
    assert "docs/reference/fields.md: stale: regenerate it with" in out


# --- the outputs the reference lists --------------------------------------------------------------


def _variant(project: Path) -> None:
    """The example fleet plus a cluster in the registry's account that pulls from it (a same
    account pull), decrypts with a KMS key of another account and reads its Slack credential
    from SSM, and the production cluster pulling through the registry's pull-through cache:
    every output the program can export, among the plans of the project."""
    registries = project / "k8s-clusters" / "_registries.yaml"
    text = registries.read_text()
    registries.write_text(text + "    pullThroughCache: [ghcr]\n")
    production = project / "k8s-clusters" / "production-cluster-name.yaml"
    text = production.read_text()
    assert "repositories: [api, worker]" in text
    production.write_text(
        text.replace(
            "repositories: [api, worker]", 'repositories: [api, worker, "ghcr/fluxcd/*"]', 1
        )
    )
    name = "tools-cluster"
    (project / "k8s-clusters" / f"{name}.yaml").write_text(
        "apiVersion: flux-fleet/v1\nkind: Cluster\n"
        f"metadata: {{name: {name}, environment: staging}}\n"
        "spec:\n  aws: {accountId: '210987654321', region: eu-west-1}\n"
        "  ecr: {pull: [{registry: shared, repositories: [api]}]}\n"
        "  sops: {kmsKeyArns: ['arn:aws:kms:eu-west-1:999988887777:key/"
        "1234abcd-12ab-34cd-56ef-1234567890ab']}\n"
        "  alerts: {slack: {credentialFrom: {ssmParameter: /fleet/slack}}}\n"
    )
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")


def test_the_documented_outputs_are_the_ones_the_program_exports(project: Path) -> None:
    _variant(project)
    plans: list[StackPlan] = [
        plan_stack(project, stack)
        for stack in ("production-cluster-name", STAGING, "tools-cluster", "registries")
    ]
    exported = {
        key: ("registries" if plan.stack == "registries" else "cluster")
        for plan in plans
        for key in plan.outputs
    }
    documented = {key: where for key, (where, _, _) in docs.OUTPUTS.items()}
    assert exported == documented


# --- the permissions page -------------------------------------------------------------------------


def _policies() -> dict[str, str]:
    text = (ROOT / "docs" / "permissions.md").read_text()
    return dict(re.findall(r"<!-- ([a-z-]+-policy) -->\n```json\n(.*?)```", text, re.S))


def test_the_permission_policies_are_valid_and_parliament_clean() -> None:
    policies = _policies()
    assert set(policies) == {
        "deployer-policy",
        "deployer-chart-policy",
        "registries-policy",
        "registries-cache-policy",
    }
    for name, text in policies.items():
        document = json.loads(text)
        assert document["Version"] == "2012-10-17"
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            if statement["Resource"] == "*":
                # Only actions AWS authorizes on no resource (parliament's data says so below).
                assert _actions(statement) <= ACTIONS_ON_NO_RESOURCE, (name, statement["Sid"])
        found = analyze_policy_string(text).findings
        assert [(f.issue, f.detail) for f in found] == [], name


# The actions the pages grant on "*": none of them takes a resource ARN.
ACTIONS_ON_NO_RESOURCE = {
    "ecr:GetAuthorizationToken",
    "ecr:PutRegistryPolicy",
    "ecr:GetRegistryPolicy",
    "ecr:DeleteRegistryPolicy",
    "ecr:CreateRepositoryCreationTemplate",
    "ecr:DescribeRepositoryCreationTemplates",
    "ecr:UpdateRepositoryCreationTemplate",
    "ecr:DeleteRepositoryCreationTemplate",
}


def _actions(statement: dict[str, object]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", sorted(ACTIONS_ON_NO_RESOURCE))
def test_an_action_granted_on_any_resource_takes_no_resource_arn(action: str) -> None:
    """parliament refuses each of them on a repository ARN: "*" is the narrowest AWS allows."""
    on_a_repository = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": action,
                "Resource": "arn:aws:ecr:eu-west-1:210987654321:repository/ghcr/*",
            }
        ],
    }
    found = analyze_policy_string(json.dumps(on_a_repository)).findings
    assert [f.issue for f in found] == ["RESOURCE_MISMATCH"]


def test_the_deployer_policy_allows_every_action_the_guides_name() -> None:
    allowed = set()
    for statement in json.loads(_policies()["deployer-policy"])["Statement"]:
        actions = statement["Action"]
        allowed |= {actions} if isinstance(actions, str) else set(actions)
    guides = "\n".join(p.read_text() for p in (ROOT / "docs" / "how-to").glob("*.md"))
    guides += (ROOT / "docs" / "getting-started.md").read_text()
    named = set(re.findall(r"`((?:eks|iam|ssm|secretsmanager):[A-Za-z]+)`", guides))
    assert named, "the guides name the deployer's actions"
    assert named <= allowed, sorted(named - allowed)


def test_the_documented_plugin_versions_are_the_pinned_sdks() -> None:
    pins = dict(re.findall(r'"pulumi-([a-z]+)==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()))
    assert set(pins) == {"aws", "github", "kubernetes", "tls"}
    text = (ROOT / "docs" / "permissions.md").read_text()
    (row,) = re.findall(r"<!-- plugins --> (.*?) \|", text)
    assert row == ", ".join(f"`{name}` {version}" for name, version in sorted(pins.items()))
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == (
        ">=3.11"
    )
