"""Issue 21's rough edges, each as a new user or an attacker meets it: hostile folders, names and
files as real files and symlinks in a temporary project; values that passed validation and broke
at `pulumi up`; messages and output at fleet size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from planutil import run_cli

from components import yamlio
from components.definition.flux import FluxPatch
from components.loading.files import read_text
from components.loading.fleet import load_fleet
from components.tools.cli import parser

STAGING = "k8s-clusters/staging-cluster-name.yaml"
SECRET_LINE = "TOP-SECRET-CONTENT: do not print me"


def _outside(tmp_path: Path) -> Path:
    """A folder outside the project holding files that look like definitions."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x.yaml").write_text(f"{SECRET_LINE}\n")
    (folder / "Pulumi.x.yaml").write_text(f"{SECRET_LINE}\n")
    (folder / "kustomization.yaml").write_text(f"{SECRET_LINE}\n")
    return folder


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert "TOP-SECRET" not in text


def _append(project: Path, path: str, text: str) -> None:
    (project / path).write_text((project / path).read_text() + text)


# --- 1. folders that resolve outside the project ----------------------------------------------


@pytest.mark.parametrize(
    "command", [["validate"], ["inventory"], ["plan"], ["inventory", "--format", "json"]]
)
def test_a_definitions_folder_outside_the_project_is_refused_unread(
    project: Path, tmp_path: Path, command: list[str]
) -> None:
    outside = _outside(tmp_path)
    (project / "k8s-clusters").rename(tmp_path / "k8s-moved")
    (project / "k8s-clusters").symlink_to(outside)
    code, out, err = run_cli(project, *command)
    assert code == 2
    assert err == (
        "k8s-clusters: a folder that resolves outside the project (not read), "
        "expected a folder of the project\n"
    )
    assert out == ""
    _no_secret(out, err)


def test_a_stacks_folder_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (project / "stacks").rename(tmp_path / "stacks-moved")
    (project / "stacks").symlink_to(outside)
    code, out, err = run_cli(project, "validate")
    assert code == 2
    assert (
        "stacks: a folder that resolves outside the project (not read), expected a folder of "
        "the project" in err.splitlines()
    )
    _no_secret(out, err)


def test_a_cluster_folder_of_flux_outside_the_project_is_refused(
    project: Path, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    folder = project / "flux/clusters/staging-cluster-name"
    folder.rename(tmp_path / "flux-moved")
    folder.symlink_to(outside)
    code, out, err = run_cli(project, "validate")
    assert code == 2
    assert err == (
        "flux/clusters/staging-cluster-name: a folder that resolves outside the project "
        "(not read), expected a folder of the project\n"
    )
    _no_secret(out, err)


def test_a_file_in_a_symlinked_subfolder_is_refused(project: Path, tmp_path: Path) -> None:
    """A folder inside the project that is a symlink out: its files are not read either."""
    outside = _outside(tmp_path)
    (project / "flux/clusters/staging-cluster-name/extra").symlink_to(outside)
    path = project / "flux/clusters/staging-cluster-name/extra/x.yaml"
    text, problems = read_text(path, "extra/x.yaml", project)
    assert text is None
    assert [str(p) for p in problems] == [
        "extra/x.yaml: in a folder that resolves outside the project (not read), expected a "
        "regular file"
    ]


# --- 2. names before paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["new-app", "../../../outside/x", "x-app", "--repository", "r"],
        [
            "new-cluster",
            "../outside/x",
            "--account-id",
            "123456789012",
            "--region",
            "eu-west-1",
            "--environment",
            "staging",
        ],
        ["plan", "../../outside/x"],
    ],
)
def test_a_name_that_is_a_path_is_refused_before_any_read(
    project: Path, tmp_path: Path, command: list[str]
) -> None:
    _outside(tmp_path)
    code, out, err = run_cli(project, *command)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "RFC 1123 label" in err
    _no_secret(out, err)


def test_new_app_suggests_the_nearest_cluster(project: Path) -> None:
    code, _, err = run_cli(project, "new-app", "staging-cluster", "web", "--repository", "web")
    assert code == 2
    assert err.rstrip().endswith("did you mean staging-cluster-name?")


# --- 3. names printed: one line, no terminal escape ----------------------------------------------


def test_inventory_escapes_a_hostile_file_name(project: Path) -> None:
    (project / "k8s-clusters/evil\nFAKE-LINE ok\x1b[31m.yaml").write_text("kind: x\n")
    for fmt in ("table", "markdown", "csv"):
        code, out, _ = run_cli(project, "inventory", "--format", fmt)
        assert code == 0
        assert "\x1b" not in out
        assert not any(line.startswith("FAKE-LINE") for line in out.splitlines())
        assert "evil\\nFAKE-LINE ok\\x1b[31m" in out


# --- 4. files read as nothing -------------------------------------------------------------------


def test_files_that_are_no_definition_are_named(project: Path) -> None:
    clusters = project / "k8s-clusters"
    (clusters / "dev-eu-9.YAML").write_text((project / STAGING).read_text())
    (clusters / "dev-eu-8.yaml.bak").write_text("x: 1\n")
    (clusters / "dev-eu-7.json").write_text("{}\n")
    (clusters / "_default.yaml").write_text("x: 1\n")
    (clusters / "more").mkdir()
    (clusters / ".gitkeep").write_text("")  # hidden: fine
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        "k8s-clusters/_default.yaml: not read: the fleet files are _defaults.yaml or "
        "_registries.yaml; did you mean _defaults.yaml?",
        "k8s-clusters/dev-eu-7.json: not read: definitions end in .yaml or .yml (rename it, or "
        "move it out of k8s-clusters/)",
        "k8s-clusters/dev-eu-8.yaml.bak: not read: definitions end in .yaml or .yml (rename it, "
        "or move it out of k8s-clusters/)",
        "k8s-clusters/dev-eu-9.YAML: not read: definitions end in .yaml or .yml (rename it to "
        "dev-eu-9.yaml)",
        "k8s-clusters/more: a folder, not read: definitions are files k8s-clusters/<name>.yaml",
    ]
    code, out, _ = run_cli(project, "inventory", "--format", "json")
    rows = {r["name"]: r for r in json.loads(out)["clusters"]}
    assert rows["dev-eu-9.YAML"]["valid"] is False
    assert "rename it to dev-eu-9.yaml" in rows["dev-eu-9.YAML"]["problem"]


def test_a_stack_file_whose_definition_is_misnamed_says_so(project: Path) -> None:
    (project / "k8s-clusters/dev-eu-9.YAML").write_text((project / STAGING).read_text())
    (project / "stacks/Pulumi.dev-eu-9.yaml").write_text("config: {}\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert (
        "stacks/Pulumi.dev-eu-9.yaml: no definition for stack dev-eu-9 (expected "
        "k8s-clusters/dev-eu-9.yaml); k8s-clusters/dev-eu-9.YAML exists but is not read "
        "(definitions end in .yaml or .yml)" in err.splitlines()
    )


# --- 5, 6. values that broke at pulumi up ---------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        (
            "refs/tags/v1.4.0",
            "expected a branch name without refs/ (refs/heads/ is added), got "
            '"refs/tags/v1.4.0"; a tag is not a branch',
        ),
        (
            "refs/heads/main",
            'expected a branch name without refs/ (refs/heads/ is added), got "refs/heads/main"',
        ),
        ("feature/x.lock/y", 'expected a Git branch name, got "feature/x.lock/y"'),
        ("HEAD", 'expected a Git branch name, got "HEAD"'),
    ],
)
def test_a_branch_is_a_branch_name(project: Path, branch: str, message: str) -> None:
    path = project / STAGING
    path.write_text(
        path.read_text().replace("spec:\n", f"spec:\n  git:\n    branch: {branch}\n", 1)
    )
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [f"{STAGING}: spec.git.branch: {message}"]


TOLERATIONS = "/spec/template/spec/tolerations"


@pytest.mark.parametrize(
    ("patch", "target", "refused"),
    [
        (f"- op: add\n  path: {TOLERATIONS}\n  value: []\n", {"kind": "Deployment"}, True),
        (f"- op: replace\n  path: {TOLERATIONS}\n  value: []\n", {"kind": "Deployment"}, True),
        (f"- op: remove\n  path: {TOLERATIONS}\n", {"kind": "Deployment"}, True),
        (
            f"- op: add\n  path: {TOLERATIONS}/-\n  value: {{key: x}}\n",
            {"kind": "Deployment"},
            False,
        ),
        (f"- op: add\n  path: {TOLERATIONS}\n  value: []\n", {"kind": "Service"}, False),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: helm-controller}\n"
            "spec: {template: {spec: {tolerations: [{key: x}]}}}\n",
            None,
            True,
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: helm-controller}\n"
            "spec: {template: {spec: {nodeSelector: {a: b}}}}\n",
            None,
            False,
        ),
        # a person's non-mapping at any level: no tolerations there (and no traceback)
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: [1]\n", None, False),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: x}\n",
            None,
            False,
        ),
    ],
)
def test_which_patches_replace_the_tolerations(
    patch: str, target: dict[str, str] | None, refused: bool
) -> None:
    assert (
        FluxPatch.model_validate({"patch": patch, "target": target}).replaces_tolerations is refused
    )


def _keys_and_patch(project: Path, path: str, value: str) -> None:
    """The staging cluster with tolerationKeys and a JSON6902 patch adding `value` at `path`."""
    _append(
        project,
        STAGING,
        "    tolerationKeys: [CriticalAddonsOnly]\n"
        "    patches:\n"
        "      - target: {kind: Deployment}\n"
        "        patch: |\n"
        f"          - {{op: add, path: {path}, value: {value}}}\n",
    )


def test_a_patch_that_wipes_the_toleration_keys_is_refused(project: Path) -> None:
    _keys_and_patch(project, TOLERATIONS, "[{key: x, operator: Exists}]")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f"{STAGING}: spec.flux.patches[0].patch: sets {TOLERATIONS}, which would replace the "
        "tolerations of spec.flux.tolerationKeys; expected one of them: add the taint keys to "
        f"tolerationKeys, or append with op add and path {TOLERATIONS}/-"
    ]


def test_tolerations_appended_after_the_toleration_keys_are_fine(project: Path) -> None:
    _keys_and_patch(project, f"{TOLERATIONS}/-", "{key: x, operator: Exists}")
    assert "staging-cluster-name" in load_fleet(project).clusters


# --- 7. a bare plan with one broken definition ------------------------------------------------


def _break_staging(project: Path) -> None:
    path = project / STAGING
    path.write_text(path.read_text().replace("region: eu-west-1", "region: eu-centrl-1"))


REGION = (
    f"{STAGING}: spec.aws.region: expected an AWS region code such as eu-west-1, got "
    '"eu-centrl-1"; did you mean eu-central-1?'
)


def test_a_bare_plan_plans_every_valid_stack_and_lists_the_broken_first(project: Path) -> None:
    _break_staging(project)
    code, out, err = run_cli(project, "plan")
    assert code == 2
    assert out.splitlines()[:4] == [
        "Not planned: 2 stack(s)",
        "  registries: k8s-clusters/_registries.yaml: not planned while any definition is "
        "invalid: it grants what every cluster pulls",
        f"  staging-cluster-name: {REGION}",
        "",
    ]
    assert "Stack production-cluster-name:" in out
    assert "Stack staging-cluster-name:" not in out
    assert REGION in err.splitlines()
    assert err.splitlines()[-1] == "2 stack(s) not planned (listed first above)"


def test_a_bare_markdown_and_json_plan_list_the_broken_first(project: Path) -> None:
    _break_staging(project)
    code, out, _ = run_cli(project, "plan", "--markdown")
    assert code == 2
    head = out.split("| Stack |")[0]
    assert "**Not planned: 2 stack(s)**" in head and REGION in head
    assert "production-cluster-name" in out.split("| Stack |")[1]
    code, out, _ = run_cli(project, "plan", "--json")
    document = json.loads(out)
    assert [s["stack"] for s in document["notPlanned"]] == ["registries", "staging-cluster-name"]
    assert [s["stack"] for s in document["stacks"]] == ["production-cluster-name"]


def test_a_stray_named_like_a_stack_does_not_hide_that_stack(project: Path) -> None:
    (project / "k8s-clusters/staging-cluster-name").mkdir()  # beside staging-cluster-name.yaml
    code, out, _ = run_cli(project, "plan")
    assert code == 2
    assert "Stack staging-cluster-name:" in out
    assert out.splitlines()[:4] == [
        "Not planned: 2 stack(s)",
        "  k8s-clusters/staging-cluster-name: k8s-clusters/staging-cluster-name: a folder, not "
        "read: definitions are files k8s-clusters/<name>.yaml",
        "  registries: k8s-clusters/_registries.yaml: not planned while any definition is "
        "invalid: it grants what every cluster pulls",
        "",
    ]


def test_a_committed_object_that_is_no_mapping_inside_is_one_problem_not_a_crash(
    project: Path,
) -> None:
    folder = project / "flux/clusters/staging-cluster-name"
    (folder / "odd.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: [1]\nspec: [1]\n"
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps, namespace: flux-system}\nspec: [1]\n"
    )
    kustomization = folder / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - odd.yaml\n")
    path = project / STAGING
    path.write_text(path.read_text() + "    multitenant: true\n")
    code, _, err = run_cli(project, "validate")
    assert "Traceback" not in err
    assert code == 2
    assert all(line.startswith(("k8s-clusters/", "flux/")) for line in err.splitlines()), err


def test_a_named_broken_stack_still_stops_its_plan(project: Path) -> None:
    _break_staging(project)
    code, out, err = run_cli(project, "plan", "staging-cluster-name")
    assert (code, out, err) == (2, "", REGION + "\n")


# --- 8, 9, 11: output at fleet size; help -----------------------------------------------------


def test_validate_prints_a_count_and_names_only_with_verbose(project: Path) -> None:
    assert run_cli(project, "validate") == (
        0,
        "2 cluster definition(s) valid\n1 registry definition(s) valid\n",
        "",
    )
    _, out, _ = run_cli(project, "validate", "-v")
    assert out == (
        "2 cluster definition(s) valid\n  production-cluster-name\n  staging-cluster-name\n"
        "1 registry definition(s) valid\n  shared\n"
    )


def test_inventory_fits_a_terminal_unless_asked(project: Path) -> None:
    code, out, _ = run_cli(project, "inventory")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "name",
        "environment",
        "wave",
        "account",
        "region",
        "Flux",
        "git",
        "auth",
        "valid",
        "problem",
    ]
    assert max(len(line) for line in out.splitlines()) <= 120
    _, wide, _ = run_cli(project, "inventory", "--wide")
    assert "ECR registries" in wide.splitlines()[0]
    _, chosen, _ = run_cli(project, "inventory", "--columns", "name,apps")
    assert chosen.splitlines() == [
        "name                     apps",
        "production-cluster-name  acme/my-apps",
        "staging-cluster-name",
    ]
    _, csv_out, _ = run_cli(project, "inventory", "--format", "csv")
    assert "ECR registries" in csv_out.splitlines()[0]  # csv keeps every column
    code, _, err = run_cli(project, "inventory", "--columns", "name,regin")
    assert code == 2
    assert err.startswith('--columns: unknown column "regin"; did you mean region?')


def test_no_command_prints_the_help(project: Path) -> None:
    code, _out, err = run_cli(project)
    assert code == 2
    assert "validate" in err and "inventory" in err and "usage: fluxfleet" in err


@pytest.mark.parametrize("command", ["validate", "schema"])
def test_commands_have_a_description(command: str) -> None:
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(commands.choices[command].description or "") > 80


def test_completion_says_which_shells() -> None:
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "bash or zsh only" in commands.choices["completion"].format_usage() + next(
        c.help for c in commands._choices_actions if c.dest == "completion"
    )


# --- 10. suggestions ----------------------------------------------------------------------------


def test_a_repository_given_as_a_url_says_to_pass_the_owner(project: Path) -> None:
    for given in ("https://github.com/acme/apps.git", "acme/apps", "git@github.com:acme/apps"):
        code, _, err = run_cli(
            project, "new-app", "staging-cluster-name", "apps", "--repository", given
        )
        assert code == 2
        assert err.rstrip().endswith("pass the owner with --owner: --repository apps --owner acme")


def test_a_tab_in_the_indentation_is_named(project: Path) -> None:
    path = project / STAGING
    path.write_text(path.read_text().replace("\n  aws:", "\n\taws:", 1))
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.rstrip().endswith("(a tab: YAML indentation is spaces only)")


def test_an_unquoted_version_is_shown_as_written(project: Path) -> None:
    _append(project, STAGING, "    version: 2.10\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert "got the number 2.10 (quote it)" in err


# --- 13. the documented figures and the CLI it needs ----------------------------------------------


def test_the_documented_total_is_the_example_plan_total(root: Path) -> None:
    code, out, _ = run_cli(root, "plan")
    assert code == 0
    total = out.splitlines()[-1]
    assert total.startswith("Total: ")
    assert f"`{total}`" in (root / "docs" / "reference" / "offline-plan.md").read_text()


def test_the_required_pulumi_cli_is_the_pinned_sdk(root: Path) -> None:
    pinned = next(
        line.split("==")[1].split('"')[0]
        for line in (root / "pyproject.toml").read_text().splitlines()
        if line.strip().startswith('"pulumi==')
    )
    project = yamlio.load((root / "Pulumi.yaml").read_text())
    assert project["requiredPulumiVersion"] == f">={pinned}"
    assert f"Pulumi CLI {pinned} or newer" in (root / "docs" / "permissions.md").read_text()
