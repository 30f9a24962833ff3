"""spec.git.ref and spec.apps[].ref: a branch, a tag, a semver range or a commit (#23 part 1)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import kubectltool
import pytest
from crdcheck import validate
from planutil import BARE, edit, one, run_cli

from components import yamlio
from components.builders.flux import flux_instance
from components.builders.gitops import app_git_repository
from components.builders.options import app_source_options, flux_options
from components.definition.cluster import Cluster
from components.definition.git_ref import semver_range_problem
from components.loading.fleet import validate_cluster_doc
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
PROD_FILE = f"k8s-clusters/{PROD}.yaml"
DEFAULTS = "k8s-clusters/_defaults.yaml"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
SHA = "0123456789abcdef0123456789abcdef01234567"
DISPLAY = "k8s-clusters/bare.yaml"

# ref -> (the FluxInstance's sync.ref, the sync GitRepository's spec.ref once the operator
# rendered it and applied the instance's patches)
REFS: dict[str, tuple[dict[str, str], str, dict[str, str]]] = {
    "branch": ({"branch": "release"}, "refs/heads/release", {"name": "refs/heads/release"}),
    "tag": ({"tag": "v1.4.2"}, "refs/tags/v1.4.2", {"name": "refs/tags/v1.4.2"}),
    "semver": (
        {"semver": ">=1.0.0 <2.0.0"},
        "refs/flux-fleet/semver-set-by-patch",
        {"semver": ">=1.0.0 <2.0.0"},
    ),
    "commit": ({"commit": SHA}, "refs/flux-fleet/commit-set-by-patch", {"commit": SHA}),
    # a SHA of digits only: YAML would read it as a number were it written unquoted
    "digits": ({"commit": "1" * 40}, "refs/flux-fleet/commit-set-by-patch", {"commit": "1" * 40}),
}


def cluster_with(git: dict[str, Any], apps: list[dict[str, Any]] | None = None) -> Cluster:
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"].update(git)
    if apps is not None:
        doc["spec"]["apps"] = apps
    return Cluster.model_validate(doc)


def problems_of(doc_spec: dict[str, Any], defaults: dict[str, Any] | None = None) -> list[str]:
    doc = copy.deepcopy(BARE)
    for key, value in doc_spec.items():
        doc["spec"].setdefault(key, {})
        if isinstance(value, dict):
            doc["spec"][key].update(value)
        else:
            doc["spec"][key] = value
    _, problems = validate_cluster_doc(doc, DISPLAY, "bare", defaults or {})
    return [str(p) for p in problems]


def operator_sync_source(sync: dict[str, Any]) -> str:
    """The sync GitRepository as flux-operator renders it from spec.sync: its text template
    (internal/builder/templates.go, syncTmpl), the values written in unquoted, before the
    instance's kustomize patches."""
    return (
        "---\n"
        "apiVersion: source.toolkit.fluxcd.io/v1\n"
        "kind: GitRepository\n"
        "metadata:\n"
        "  name: flux-system\n"
        "  namespace: flux-system\n"
        "spec:\n"
        f"  interval: {sync['interval']}\n"
        "  ref:\n"
        f"    name: {sync['ref']}\n"
        "  secretRef:\n"
        f"    name: {sync['pullSecret']}\n"
        f"  url: {sync['url']}\n"
    )


def patched(instance: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The sync GitRepository after kustomize applied every patch of the instance, as the
    operator does."""
    (folder / "sync.yaml").write_text(operator_sync_source(instance["spec"]["sync"]))
    patches = instance["spec"].get("kustomize", {}).get("patches", [])
    kustomization = {"resources": ["sync.yaml"], "patches": patches}
    (folder / "kustomization.yaml").write_text(yamlio.dump_yaml([kustomization]))
    done = subprocess.run(
        [kubectltool.kubectl(), "kustomize", str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return yamlio.load(done.stdout)


# --- the FluxInstance -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REFS))
def test_each_ref_reaches_the_sync_source_the_operator_renders(kind: str, tmp_path: Path) -> None:
    ref, sync_ref, source_ref = REFS[kind]
    instance = flux_instance(flux_options(cluster_with({"ref": ref})))
    assert instance["spec"]["sync"]["ref"] == sync_ref
    assert validate(instance) == []  # the FluxInstance CRD and its CEL rules
    source = patched(instance, tmp_path)
    assert source["spec"]["ref"] == source_ref
    assert validate(source) == []  # the GitRepository CRD


def test_branch_alone_renders_as_before_with_no_patch() -> None:
    instance = flux_instance(flux_options(cluster_with({"branch": "main"})))
    assert instance["spec"]["sync"]["ref"] == "refs/heads/main"
    assert "kustomize" not in instance["spec"]
    assert instance == flux_instance(flux_options(cluster_with({"ref": {"branch": "main"}})))


def test_the_ref_patch_comes_before_the_users_patches() -> None:
    user = {"patch": "- op: add\n  path: /spec/timeout\n  value: 2m\n"}
    user["target"] = {"kind": "GitRepository"}  # type: ignore[assignment]
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"]["ref"] = {"semver": "~1.4"}
    doc["spec"]["flux"] = {"patches": [user]}
    patches = flux_instance(flux_options(Cluster.model_validate(doc)))["spec"]["kustomize"][
        "patches"
    ]
    assert [p["target"] for p in patches] == [
        {"kind": "GitRepository", "name": "flux-system"},
        {"kind": "GitRepository"},
    ]
    assert json.loads(patches[0]["patch"]) == [
        {"op": "replace", "path": "/spec/ref", "value": {"semver": "~1.4"}}
    ]


def test_the_plan_syncs_a_semver_range(project: Path) -> None:
    edit(project, DEFAULTS, "    branch: main\n", '    ref:\n      semver: ">=2.0.0-0"\n')
    instance = one(plan_stack(project, PROD), INSTANCE).inputs
    assert instance["spec"]["sync"]["ref"] == "refs/flux-fleet/semver-set-by-patch"
    assert validate(instance) == []
    patch = instance["spec"]["kustomize"]["patches"][-1]
    assert patch["target"] == {"kind": "GitRepository", "name": "flux-system"}


# --- application repositories ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REFS))
def test_an_apps_ref_is_its_git_repositorys_ref(kind: str) -> None:
    ref = REFS[kind][0]
    app = {"name": "team", "repository": "team-apps", "path": "deploy", "ref": ref}
    cluster = cluster_with({}, [app])
    repository = app_git_repository(app_source_options(cluster, cluster.spec.apps[0]))
    assert repository["spec"]["ref"] == ref
    assert validate(repository) == []


def test_an_apps_branch_stays_its_branch() -> None:
    app = {"name": "team", "repository": "team-apps", "path": "deploy", "branch": "dev"}
    cluster = cluster_with({}, [app])
    assert app_git_repository(app_source_options(cluster, cluster.spec.apps[0]))["spec"]["ref"] == {
        "branch": "dev"
    }


def test_validate_reports_a_committed_app_ref_that_differs(project: Path) -> None:
    old = "      secretName: apps-deploykey\n"
    edit(project, PROD_FILE, old, f"{old}      ref: {{tag: v2.0.0}}\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f"flux/clusters/{PROD}/my-apps.yaml: GitRepository my-apps: spec.ref: expected "
        f'{{"tag": "v2.0.0"}} (spec.apps[0].ref in {PROD_FILE}), got {{"branch": "main"}}'
    ]


# --- fleet defaults -------------------------------------------------------------------------------


def test_a_clusters_ref_replaces_the_fleets_branch() -> None:
    defaults = {"git": {"branch": "main"}}
    assert problems_of({"git": {"ref": {"tag": "v1"}}}, defaults) == []
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"]["ref"] = {"tag": "v1"}
    cluster, _ = validate_cluster_doc(doc, DISPLAY, "bare", defaults)
    assert cluster is not None and cluster.spec.git.checkout.kind == "tag"


def test_a_clusters_branch_replaces_the_fleets_ref_and_a_ref_is_taken_whole() -> None:
    defaults = {"git": {"ref": {"semver": "1.x"}}}
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"]["branch"] = "hotfix"
    cluster, problems = validate_cluster_doc(doc, DISPLAY, "bare", defaults)
    assert problems == [] and cluster is not None
    assert flux_instance(flux_options(cluster))["spec"]["sync"]["ref"] == "refs/heads/hotfix"
    doc = copy.deepcopy(BARE)
    doc["spec"]["git"]["ref"] = {"commit": SHA}  # not merged with the fleet's semver
    cluster, problems = validate_cluster_doc(doc, DISPLAY, "bare", defaults)
    assert problems == [] and cluster is not None
    assert cluster.spec.git.checkout.kind == "commit"


# --- bad input ------------------------------------------------------------------------------------

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "two kinds in ref": (
        {"git": {"ref": {"tag": "v1", "semver": "1.x"}}},
        "spec.git.ref: expected exactly one of branch, tag, semver, commit, got tag and semver",
    ),
    "an empty ref": (
        {"git": {"ref": {}}},
        "spec.git.ref: expected exactly one of branch, tag, semver, commit, got none",
    ),
    "branch and ref in one file": (
        {"git": {"branch": "main", "ref": {"tag": "v1"}}},
        'spec.git.ref: two refs at once: branch "main" and ref.tag, expected one '
        "(ref.branch replaces branch)",
    ),
    "a semver that is not a range": (
        {"git": {"ref": {"semver": "latest"}}},
        "spec.git.ref.semver: expected a semver range as Flux parses it (Masterminds/semver: "
        'such as ">=1.0.0 <2.0.0", "~1.4", "1.x", "^2.1 || ^3"): "latest" is not a constraint',
    ),
    "a short commit": (
        {"git": {"ref": {"commit": "0123abc"}}},
        "spec.git.ref.commit: expected a full commit SHA: 40 lowercase hexadecimal digits, "
        'got "0123abc"',
    ),
    "a full ref as a tag": (
        {"git": {"ref": {"tag": "refs/tags/v1"}}},
        "spec.git.ref.tag: expected a tag name without refs/ (refs/tags/ is added), "
        'got "refs/tags/v1"',
    ),
    "an app's two refs": (
        {"apps": [{"name": "a", "repository": "r", "path": "p", "branch": "x",
                   "ref": {"commit": SHA}}]},
        'spec.apps[0].ref: two refs at once: branch "x" and ref.commit, expected one '
        "(ref.branch replaces branch)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_refs_are_one_line_each(case: str) -> None:
    spec, line = BAD[case]
    assert problems_of(spec) == [f"{DISPLAY}: {line}"]


def test_a_bad_ref_in_the_defaults_stops_validate_and_plan_naming_the_defaults(
    project: Path,
) -> None:
    edit(project, DEFAULTS, "    branch: main\n", "    ref: {semver: '>= 1.0 || '}\n")
    expected = (
        "spec.git.ref.semver: expected a semver range as Flux parses it (Masterminds/semver: "
        'such as ">=1.0.0 <2.0.0", "~1.4", "1.x", "^2.1 || ^3"): " " is not a constraint'
    )
    for command in (["validate"], ["plan", PROD]):
        code, out, err = run_cli(project, *command)
        assert (code, out, err.splitlines()) == (2, "", [f"{DEFAULTS}: {expected}"])


# --- the semver grammar (Masterminds/semver v3, as source-controller parses it) -------------------

VALID_RANGES = [
    ">=1.0.0", ">=1.0.0 <2.0.0", ">=1.0.0, <2.0.0", "~1.4", "~>1.4", "^2.1 || ^3", "1.x", "1.2.X",
    "*", "1.2 - 1.4.5", ">=1.0.0-0", "v1.2.3", "=>1.0", "=<2", "!=1.2.3", "1.2.3-beta.1+build.5",
    "01.2.3",  # leading zeros: NewVersion coerces them (its default)
]  # fmt: skip
INVALID_RANGES = {
    "": '"" is not a constraint',
    ">=": '">=" is not a constraint',
    "latest": '"latest" is not a constraint',
    "1.2.3.4": '"1.2.3.4" is not a constraint',
    ">1 ||": '"" is not a constraint',
    "1|2": '"1|2" is not a version',  # | is literal inside upstream's character class
    "1x": '"1x" is not a version',
    "1.2.3-01": '"1.2.3-01" has a numeric pre-release part with a leading zero',
    "99999999999999999999": '"99999999999999999999" has a number over 2^64-1',
    ">=1.0 <=": '">=1.0 <=" is not a constraint',
}


@pytest.mark.parametrize("text", VALID_RANGES)
def test_ranges_flux_accepts_pass(text: str) -> None:
    assert semver_range_problem(text) is None


@pytest.mark.parametrize("text", sorted(INVALID_RANGES))
def test_ranges_flux_refuses_fail_with_the_reason(text: str) -> None:
    assert semver_range_problem(text) == INVALID_RANGES[text]


def test_new_app_writes_the_ref_into_the_definition_and_the_git_repository(project: Path) -> None:
    code, out, err = run_cli(
        project, "new-app", PROD, "team", "--repository", "team-apps", "--semver", ">=1.0.0"
    )
    assert (code, err) == (0, ""), err
    assert "(semver >=1.0.0)" in out
    entry = yamlio.load((project / PROD_FILE).read_text())["spec"]["apps"][-1]
    assert entry["ref"] == {"semver": ">=1.0.0"} and "branch" not in entry
    written = yamlio.load_all((project / f"flux/clusters/{PROD}/team.yaml").read_text())
    assert written[0]["spec"]["ref"] == {"semver": ">=1.0.0"}
    assert validate(written[0]) == []
    assert run_cli(project, "validate")[0] == 0


def test_new_app_names_the_option_of_a_bad_ref(project: Path) -> None:
    before = (project / PROD_FILE).read_text()
    code, out, err = run_cli(
        project, "new-app", PROD, "team", "--repository", "team-apps", "--commit", "abc123"
    )
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{PROD_FILE}: spec.apps[1].ref.commit: expected a full commit SHA: 40 lowercase "
        'hexadecimal digits, got "abc123" (option --commit)'
    ]
    assert (project / PROD_FILE).read_text() == before  # nothing half-done


def test_branch_and_ref_both_in_the_defaults_are_one_line_naming_the_defaults(
    project: Path,
) -> None:
    edit(project, DEFAULTS, "    branch: main\n", "    branch: main\n    ref: {tag: v1}\n")
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f'{DEFAULTS}: spec.git.ref: two refs at once: branch "main" and ref.tag, expected one '
        "(ref.branch replaces branch)"
    ]


def test_the_inventory_shows_what_a_cluster_follows(project: Path) -> None:
    old = "    roleArn: arn:aws:iam::123456789012:role/fleet-deployer\n"
    edit(project, PROD_FILE, old, f"{old}  git:\n    ref: {{semver: '>=1.0.0'}}\n")
    code, out, err = run_cli(project, "inventory", "--format", "json")
    assert (code, err) == (0, ""), err
    rows = {row["name"]: row for row in json.loads(out)["clusters"]}
    assert rows[PROD]["branch"] == "semver >=1.0.0"
    assert rows["staging-cluster-name"]["branch"] == "main"  # a branch, as before


def documented_lines(section: str) -> list[str]:
    """The problem lines in the tables of a section of docs/how-to/sync-sources.md."""
    text = (Path(__file__).resolve().parents[1] / "docs/how-to/sync-sources.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and "`spec." in line]
    return [row.rsplit("| `", 1)[1].rsplit("` |", 1)[0] for row in rows]


def test_the_docs_show_the_lines_the_checks_print() -> None:
    printed = [line for _, line in BAD.values()]
    documented = documented_lines("Git refs")
    assert len(documented) == 5
    for line in documented:  # "..." and "(...)" leave out a part; the rest is printed as is
        parts = [p for p in line.replace("(...)", "...").split("...") if p.strip()]
        assert any(all(part in out for part in parts) for out in printed), line
