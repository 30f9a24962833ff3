"""`fluxfleet affected`: which stacks a git change touches (components/tools/affected.py).

Each test builds a real git repository holding a small fleet of known shape (tests/fleetrepo.py,
so the rules are checked against definitions whose merge results are known), commits a change
and asks which stacks it touches.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fleetrepo import EVERY_STACK, FLEET, Repo, cluster, entry, git_identity, make_repo

from components.tools import cli
from components.tools.affected import all_stacks, matrix


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    git_identity(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "repo")


# --- a cluster's own files ------------------------------------------------------------------


def test_a_definition_change_touches_that_stack_only(repo: Repo) -> None:
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    repo.commit("beta grows")
    assert repo.stacks() == [entry("beta")]


def test_a_comment_in_a_definition_still_touches_its_stack(repo: Repo) -> None:
    repo.edit("k8s-clusters/alpha.yaml", "kind: Cluster\n", "kind: Cluster\n# owned by team a\n")
    repo.commit("comment")
    assert repo.stacks() == [entry("alpha")]


def test_a_stack_file_change_touches_that_stack(repo: Repo) -> None:
    repo.write("stacks/Pulumi.gamma.yaml", "config:\n  flux-fleet:x: y\n")
    repo.write("stacks/Pulumi.registries.yaml", "config:\n  aws:region: eu-west-1\n")
    repo.commit("stack config")
    assert repo.names() == ["registries", "gamma"]


def test_a_stack_file_without_any_definition_touches_nothing(repo: Repo) -> None:
    repo.write("stacks/Pulumi.nobody.yaml", "config: {}\n")
    repo.commit("stray stack file")
    assert repo.stacks() == []


def test_a_new_cluster_touches_its_stack_and_registries_only_when_it_pulls(
    repo: Repo,
) -> None:
    repo.write("k8s-clusters/delta.yaml", cluster("delta", "dev", "444444444444"))
    repo.write("stacks/Pulumi.delta.yaml", "config: {}\n")
    first = repo.commit("delta")
    assert repo.stacks() == [entry("delta", environment="dev")]

    repo.edit(
        "k8s-clusters/delta.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n  ecr:\n    pull:\n      - registry: shared\n"
        "        repositories: [worker]\n",
    )
    repo.commit("delta pulls")
    assert repo.names(base=first) == ["registries", "delta"]


def test_a_cluster_carries_the_github_repositories_its_deploy_keys_go_to(repo: Repo) -> None:
    apps = (
        "  apps:\n"
        "    - {name: web, repository: web-app, path: deploy}\n"
        "    - {name: api, repository: api, path: deploy, owner: acme}\n"
        "    - {name: ext, repository: outside, path: deploy, owner: partner}\n"
    )
    repo.write("k8s-clusters/beta.yaml", FLEET["k8s-clusters/beta.yaml"] + apps)
    repo.commit("beta runs apps")
    # Sorted, the fleet owner's only: the App token is scoped to one owner's repositories.
    assert repo.stacks() == [entry("beta", githubRepositories="api,gitops,web-app")]


# --- _defaults.yaml: only the clusters whose merged definition changed ------------------------


def test_a_defaults_change_touches_only_the_clusters_it_changes(repo: Repo) -> None:
    # beta sets its own tolerationKeys (a cluster's list wins): only alpha and gamma change.
    repo.edit("k8s-clusters/_defaults.yaml", "[CriticalAddonsOnly]", "[CriticalAddonsOnly, gpu]")
    repo.commit("defaults: tolerate gpu nodes")
    assert repo.stacks() == [entry("alpha"), entry("gamma")]


def test_a_defaults_change_touches_only_clusters_that_do_not_override_it(repo: Repo) -> None:
    repo.edit("k8s-clusters/_defaults.yaml", "size: medium", "size: large")
    repo.commit("defaults: large")
    assert repo.names() == ["alpha", "gamma"]  # beta says size: small itself

    # A comment, and a value every cluster already had (the model's default): no stack.
    repo.edit("k8s-clusters/_defaults.yaml", "interval: 1m", "interval: 1m  # Flux's default")
    repo.edit(
        "k8s-clusters/_defaults.yaml", "    owner: acme\n", "    owner: acme\n    branch: main\n"
    )
    base = repo.git("rev-parse", "HEAD")
    repo.commit("defaults: a comment, and the branch every cluster already has")
    assert repo.stacks(base=base) == []


def test_a_defaults_change_of_every_cluster_touches_all_clusters_not_registries(
    repo: Repo,
) -> None:
    repo.edit("k8s-clusters/_defaults.yaml", "interval: 1m", "interval: 5m")
    repo.commit("defaults: slower sync")
    assert repo.names() == ["alpha", "beta", "gamma"]


def test_a_broken_defaults_file_touches_every_cluster_and_registries(repo: Repo) -> None:
    repo.edit("k8s-clusters/_defaults.yaml", "size: medium", "size: huge")
    repo.commit("typo")
    assert repo.names() == EVERY_STACK  # every preview shows the problem


# --- registries ---------------------------------------------------------------------------


def test_a_registries_file_change_touches_registries(repo: Repo) -> None:
    repo.edit("k8s-clusters/_registries.yaml", "[api, worker]", "[api, worker, batch]")
    repo.commit("a new repository")
    # The clusters are granted the same repository ARNs: only the registries stack changes.
    assert repo.stacks() == [entry("registries")]


def test_a_registry_moving_account_touches_the_clusters_that_pull_from_it(repo: Repo) -> None:
    repo.edit("k8s-clusters/_registries.yaml", "210987654321", "210987654399")
    repo.commit("the registry moved")
    assert repo.names() == ["registries", "alpha", "gamma"]  # beta pulls nothing


def test_a_clusters_ecr_change_touches_registries(repo: Repo) -> None:
    repo.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [api, worker]")
    repo.commit("alpha pulls worker")
    assert repo.names() == ["registries", "alpha"]


def test_a_change_outside_ecr_leaves_registries_alone(repo: Repo) -> None:
    repo.edit(
        "k8s-clusters/gamma.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    eksClusterName: gamma-eks\n",
    )
    repo.commit("gamma's EKS name")
    assert repo.names() == ["gamma"]


def test_a_defaults_change_of_ecr_touches_registries(repo: Repo) -> None:
    repo.edit("k8s-clusters/_defaults.yaml", "  flux:\n", "  ecr:\n    ociSources: true\n  flux:\n")
    repo.commit("every cluster pulls OCI sources")
    assert repo.names() == EVERY_STACK


# --- program code, flux/, the rest -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "components/cluster.py",
        "components/new_module.py",
        "__main__.py",
        "Pulumi.yaml",
        "pyproject.toml",
        "requirements.lock",
    ],
)
def test_a_program_change_touches_every_stack(repo: Repo, path: str) -> None:
    repo.write(
        path,
        ((repo.project / path).read_text() if (repo.project / path).exists() else "")
        + "# changed\n",
    )
    repo.commit(f"change {path}")
    assert repo.names() == EVERY_STACK


def test_flux_only_touches_no_stack(repo: Repo) -> None:
    repo.write("flux/clusters/alpha/kustomization.yaml", "resources: [apps.yaml]\n")
    repo.write("flux/apps/production/deployment.yaml", "kind: Deployment\n")
    repo.commit("apps")
    assert repo.stacks() == []


def test_docs_schema_and_tests_touch_no_stack(repo: Repo) -> None:
    repo.write("README.md", "# fleet\n\nmore\n")
    repo.write("k8s-clusters/cluster.schema.json", "{}\n")
    repo.write("tests/test_x.py", "def test(): pass\n")
    repo.write("requirements-dev.lock", "pytest==1.0\n")  # dev tools: never where a stack runs
    repo.write(".github/workflows/x.yml", "on: push\n")
    repo.commit("docs")
    assert repo.stacks() == []


# --- removal --------------------------------------------------------------------------------


def test_a_deleted_definition_is_listed_as_removed(repo: Repo) -> None:
    repo.remove("k8s-clusters/gamma.yaml")
    repo.remove("stacks/Pulumi.gamma.yaml")
    repo.commit("retire gamma")
    # gamma's grants go too: registries is touched.
    assert repo.stacks() == [entry("registries"), entry("gamma", removed=True)]


def test_a_deleted_registries_file_lists_registries_as_removed(repo: Repo) -> None:
    for name in ("alpha", "gamma"):  # nothing pulls any more
        text = (repo.project / f"k8s-clusters/{name}.yaml").read_text()
        repo.write(f"k8s-clusters/{name}.yaml", text.split("  ecr:")[0])
    repo.remove("k8s-clusters/_registries.yaml")
    repo.commit("no more ECR")
    assert repo.stacks() == [entry("registries", removed=True), entry("alpha"), entry("gamma")]


def test_a_program_change_with_a_removal_keeps_it_removed(repo: Repo) -> None:
    repo.remove("k8s-clusters/beta.yaml")
    repo.write("components/cluster.py", "# refactored\n")
    repo.commit("refactor and retire beta")
    assert repo.stacks() == [
        entry("registries"),
        entry("alpha"),
        entry("beta", removed=True),
        entry("gamma"),
    ]


# --- invalid definitions ---------------------------------------------------------------------


def test_an_invalid_definition_is_previewed_and_stops_registries(repo: Repo) -> None:
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: tiny")
    repo.commit("typo")
    # Its preview shows the problem; the registries stack refuses to run with any problem.
    assert repo.stacks() == [entry("registries"), {"stack": "beta"}]


# --- commits --------------------------------------------------------------------------------


def test_the_change_is_taken_from_the_merge_base(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    feature = repo.commit("feature: beta grows")
    repo.git("checkout", "-q", "main")
    repo.edit("k8s-clusters/alpha.yaml", "production", "prod")
    repo.commit("main moves on")
    # The pull request of `feature` into main touches beta only, not what main did since.
    assert repo.names(base="main", head=feature) == ["beta"]
    assert repo.names(base=feature, head="main") == ["alpha"]


def test_a_project_in_a_subfolder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "mono", subfolder="infra/fleet")
    (repo.root / "README.md").write_text("# monorepo\n")
    (repo.root / "components").mkdir()
    (repo.root / "components" / "other.py").write_text("# not the fleet's program\n")
    repo.commit("outside the project")
    assert repo.stacks() == []
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    repo.commit("beta grows")
    assert repo.names() == ["beta"]


def test_all_lists_every_stack_at_head(repo: Repo) -> None:
    assert matrix(all_stacks(repo.project))["include"] == [entry(name) for name in EVERY_STACK]


# --- the command ----------------------------------------------------------------------------


def run(repo: Repo, *args: str) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(["--project", str(repo.project), "affected", *args])
        except SystemExit as exc:  # a usage mistake argparse catches
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_a_one_line_matrix_and_why_on_stderr(repo: Repo) -> None:
    repo.remove("k8s-clusters/beta.yaml")
    repo.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [worker]")
    repo.commit("change")
    code, out, err = run(repo, "--base", repo.base)
    assert code == 0
    assert out.count("\n") == 1  # one line: it goes into $GITHUB_OUTPUT as is
    assert json.loads(out) == {
        "include": [entry("registries"), entry("alpha"), entry("beta", removed=True)]
    }
    assert "alpha (wave 2): k8s-clusters/alpha.yaml changed" in err  # its wave too
    assert "beta (definition removed: destroy it by hand)" in err

    code, out, _ = run(repo, "--base", repo.base, "--format", "list")
    assert (code, out) == (0, "registries\nalpha\n")  # stacks to run: not the removed one


def test_cli_all_and_empty(repo: Repo) -> None:
    code, out, _ = run(repo, "--all", "--format", "list")
    assert (code, out) == (0, "registries\nalpha\nbeta\ngamma\n")
    code, out, _ = run(repo, "--base", "HEAD")
    assert (code, json.loads(out)) == (0, {"include": []})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-branch"], "--base no-such-branch: no such commit"),
        (["--base", "HEAD", "--head", "nope"], "--head nope: no such commit"),
        (["--base", "HEAD", "--all"], "argument --all: not allowed with argument --base"),
        ([], "one of the arguments --base --all is required"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(repo: Repo, args: list[str], message: str) -> None:
    code, out, err = run(repo, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err


def test_cli_outside_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = tmp_path / "plain"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: flux-fleet\n")
    repo = Repo(project, project)
    code, out, err = run(repo, "--base", "HEAD")
    assert (code, out) == (2, "")
    assert (
        err.strip() == f"{project}: not in a git repository (fluxfleet affected compares commits)"
    )


def test_definitions_only_ignores_program_code(repo: Repo) -> None:
    repo.write("components/cluster.py", "# changed\n")
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    repo.commit("program and beta")
    code, out, _ = run(repo, "--base", repo.base, "--format", "list")
    assert (code, out) == (0, "registries\nalpha\nbeta\ngamma\n")
    code, out, _ = run(repo, "--base", repo.base, "--format", "list", "--definitions-only")
    assert (code, out) == (0, "beta\n")


def test_same_aws_as_leaves_out_new_and_moved_stacks(repo: Repo, tmp_path: Path) -> None:
    main = tmp_path / "main"  # the fleet as main has it, before the change
    shutil.copytree(repo.project, main, ignore=shutil.ignore_patterns(".git"))
    repo.edit("k8s-clusters/beta.yaml", '"222222222222"', '"999999999999"')  # another account
    repo.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [worker]")
    text = (repo.project / "k8s-clusters/gamma.yaml").read_text()
    repo.write("k8s-clusters/delta.yaml", text.replace("gamma", "delta"))
    repo.write("stacks/Pulumi.delta.yaml", "config: {}\n")
    repo.commit("move beta, add delta, alpha pulls worker")
    args = ("--base", repo.base, "--format", "list", "--same-aws-as", str(main))
    code, out, err = run(repo, *args)
    assert (code, out) == (0, "registries\nalpha\n")
    assert (
        "beta: left out: it is new, or its AWS account, region, role or EKS cluster differ "
        f"from those of {main}"
    ) in err
    assert "delta: left out" in err
    # A registry reached through another role: registries is left out too.
    repo.edit(
        "k8s-clusters/_registries.yaml",
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    roleArn: arn:aws:iam::210987654321:role/elsewhere\n",
    )
    repo.commit("registries through another role")
    code, out, err = run(repo, *args)
    assert (code, out) == (0, "alpha\n")
    assert "registries: left out" in err
