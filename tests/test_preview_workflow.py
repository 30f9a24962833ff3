"""The Preview workflow as a whole (tests/actions_sim.py): main's code previews the stacks whose
definitions a same-repository pull request changes, with its k8s-clusters/ (merged with main)
copied in as data and main's stack files; only stacks main defines with the same AWS accounts,
roles and cluster; a fork gets no preview; a symlink among the definitions stops it before any
code runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from actions_sim import Runner
from conftest import ROOT
from fleetrepo import Repo
from test_workflows import checkout

VARS = {
    "PULUMI_BACKEND_URL": "s3://fleet-state",
    "AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview",
    "AWS_REGION": "eu-west-1",
    "FLEET_APP_CLIENT_ID": "Iv1.fleet",
}
SECRETS = {"FLEET_APP_PRIVATE_KEY": "app-key", "PULUMI_CONFIG_PASSPHRASE": "passphrase"}


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    return checkout(tmp_path, monkeypatch)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def pull_request(repo: Repo, change: Any, main_moves_on: Any = None) -> tuple[str, str]:
    """A branch off main with `change` applied (and main changed by `main_moves_on` after it
    branched); main stays checked out. Its head commit and its merge with main (GitHub's
    merge_commit_sha)."""
    repo.git("checkout", "-q", "-b", "pr")
    change(repo)
    head = repo.commit("the pull request")
    repo.git("checkout", "-q", "main")
    if main_moves_on is not None:
        main_moves_on(repo)
        repo.commit("main moves on")
    repo.git("checkout", "-q", "-b", "merge", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge", "pr")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "main")
    return head, merge


def preview(
    repo: Repo,
    tmp_path: Path,
    commits: tuple[str, str | None],
    fork: bool = False,
) -> tuple[Runner, list[dict[str, Any]]]:
    """Preview.yml for the pull request at `commits` (its head, and the event's merge_commit_sha,
    which GitHub may not have recomputed yet: an older merge, or None)."""
    head, merge = commits
    previews: list[dict[str, Any]] = []

    def fake_checkout(with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        if "path" in with_:  # the pull request, beside main's checkout
            target = cwd / with_["path"]
            git(cwd, "clone", "-q", str(cwd), str(target))
            git(target, "checkout", "-q", with_["ref"])
        else:  # pull_request_target checks out the base branch
            assert "ref" not in with_
            git(cwd, "checkout", "-q", "main")
        return True, {}

    comments: list[dict[str, Any]] = []

    def sticky(with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        comments.append({**with_, "body": Path(with_["path"]).read_text()})
        return True, {}

    log = tmp_path / "pulumi.log"
    fake_pulumi = tmp_path / "bin" / "pulumi"  # pulumi login | pulumi preview ... --stack NAME
    fake_pulumi.parent.mkdir(parents=True, exist_ok=True)
    fake_pulumi.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}".replace("LOG", repr(str(log))))
    fake_pulumi.chmod(0o755)
    fake_gh = tmp_path / "bin" / "gh"  # logs `gh api ...` (the commit status) as one JSON line
    fake_gh.parent.mkdir(parents=True, exist_ok=True)
    fake_gh.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(tmp_path / 'gh.log')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake_gh.chmod(0o755)
    runner = Runner(
        ROOT,
        "preview.yml",
        repo.project,
        tmp_path / "sim",
        github={
            "repository": "acme/gitops",
            "sha": repo.git("rev-parse", "main"),  # pull_request_target: main's newest commit
            "event": {
                "pull_request": {
                    "number": 7,
                    "base": {"sha": repo.git("rev-parse", "main")},
                    "merge_commit_sha": merge,
                    "head": {
                        "sha": head,
                        "repo": {"full_name": "someone/gitops" if fork else "acme/gitops"},
                    },
                }
            },
        },
        variables=VARS,
        secrets=SECRETS,
        path=f"{fake_gh.parent}:{os.environ['PATH']}",
        actions={
            ".github/actions/setup-fleet": lambda w, e, cwd: (True, {}),
            "actions/checkout": fake_checkout,
            "marocchino/sticky-pull-request-comment": sticky,
        },
    )
    runner.run()
    if log.exists():
        previews.extend(json.loads(line) for line in log.read_text().splitlines())
    runner.comments = comments  # type: ignore[attr-defined]
    return runner, previews


FAKE_PULUMI = """import json, os, sys
from pathlib import Path
if sys.argv[1] == "login":
    sys.exit(0)
assert sys.argv[1] == "preview", sys.argv
stack = sys.argv[sys.argv.index("--stack") + 1]
cwd = Path.cwd()
clusters = cwd / "k8s-clusters"
record = {
    "stack": stack,
    "command": sys.argv[1],
    "definitions": {p.name: p.read_text() for p in sorted(clusters.iterdir())},
    "stack file": (cwd / "stacks" / "Pulumi.beta.yaml").read_text(),
    "program": (cwd / "__main__.py").read_text(),
    "pull-request left": (cwd / "pull-request").exists(),
    "passphrase": os.environ.get("PULUMI_CONFIG_PASSPHRASE"),
}
open(LOG, "a").write(json.dumps(record) + "\\n")
print(f"Previewing update ({stack}):\\n  ~ 1 to update")
sys.exit(3 if stack in os.environ.get("SIM_PREVIEW_FAIL", "").split() else 0)
"""


def change_beta_the_program_and_its_stack_file(repo: Repo) -> None:
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    repo.write("__main__.py", "print('the pull request's own program')\n")
    repo.write("stacks/Pulumi.beta.yaml", "config: {aws:region: us-east-1}\n")


def test_mains_code_previews_the_pull_requests_definitions(fleet: Repo, tmp_path: Path) -> None:
    commits = pull_request(fleet, change_beta_the_program_and_its_stack_file)
    runner, previews = preview(fleet, tmp_path, commits)
    # Only beta: its definition changed; a program change is not previewed with main's program.
    (p,) = previews
    assert (p["stack"], p["command"]) == ("beta", "preview")
    assert p["program"] == "print('the program')\n"  # main's, not the pull request's
    assert p["stack file"] == "config: {}\n"  # main's stack file, not the pull request's
    assert "size: large" in p["definitions"]["beta.yaml"]  # the pull request's definition
    assert p["pull-request left"] is False
    assert p["passphrase"] == "passphrase"
    assert {e.environment for e in runner.jobs["preview"].entries} == {"preview"}
    # One comment for the pull request, updated in place (a sticky comment of a fixed header):
    # the classes, beta's real preview and its output
    (posted,) = runner.comments  # type: ignore[attr-defined]
    assert (posted["header"], posted["number"]) == ("fluxfleet-preview", 7)
    body = posted["body"]
    assert body.startswith("<!-- fluxfleet-preview -->\n## Preview\n")
    assert "1 stack(s) affected, in 1 class(es)" in body
    assert "<code>beta</code> (class 1 (1 stack(s))): success" in body
    assert "Previewing update (beta):" in body
    assert "comment-on-pr" not in (ROOT / ".github/workflows/preview.yml").read_text()


def test_the_merge_with_main_is_previewed_not_a_stale_branch(fleet: Repo, tmp_path: Path) -> None:
    def main_moves_on(repo: Repo) -> None:
        repo.edit("k8s-clusters/beta.yaml", "region: eu-west-1", "region: eu-west-1\n    # newer")

    commits = pull_request(
        fleet,
        lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large"),
        main_moves_on,
    )
    _, previews = preview(fleet, tmp_path, commits)
    (p,) = previews
    assert "size: large" in p["definitions"]["beta.yaml"]
    assert "# newer" in p["definitions"]["beta.yaml"]  # main's later change is kept


def test_a_stack_that_would_reach_another_account_or_is_new_is_not_previewed(
    fleet: Repo, tmp_path: Path
) -> None:
    def move_beta_add_delta(repo: Repo) -> None:
        repo.edit("k8s-clusters/beta.yaml", '"222222222222"', '"999999999999"')
        text = (repo.project / "k8s-clusters/gamma.yaml").read_text()
        repo.write("k8s-clusters/delta.yaml", text.replace("gamma", "delta"))
        repo.write("stacks/Pulumi.delta.yaml", "config: {}\n")
        repo.edit("k8s-clusters/gamma.yaml", "repositories: [api, worker]", "repositories: [api]")

    commits = pull_request(fleet, move_beta_add_delta)
    runner, previews = preview(fleet, tmp_path, commits)
    assert [p["stack"] for p in previews] == ["registries", "gamma"]
    log = (
        runner.jobs["affected"]
        .entries[0]
        .step("fluxfleet previews (main's code, the pull request's definitions)")
        .log
    )
    assert "beta: left out: it is new, or its AWS account, region, role or EKS cluster" in log
    assert "delta: left out" in log


def test_a_fork_gets_no_preview(fleet: Repo, tmp_path: Path) -> None:
    commits = pull_request(
        fleet, lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    )
    runner, previews = preview(fleet, tmp_path, commits, fork=True)
    assert previews == []
    assert runner.jobs["affected"].result == runner.jobs["preview"].result == "skipped"


def test_a_symlink_among_the_definitions_stops_it_before_any_code(
    fleet: Repo, tmp_path: Path
) -> None:
    def link(repo: Repo) -> None:
        repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
        (repo.project / "k8s-clusters" / "notes.txt").symlink_to("/proc/self/environ")

    commits = pull_request(fleet, link)
    runner, previews = preview(fleet, tmp_path, commits)
    assert previews == []
    assert runner.jobs["preview"].result == "skipped"
    (entry,) = runner.jobs["affected"].entries  # it stops the listing already
    step = entry.step("The pull request's definitions over main's code")
    assert step.outcome == "failure"
    assert "pull-request/k8s-clusters holds a symlink" in step.log
    assert [s.name for s in entry.steps if s.outcome == "success"] == [
        "main's code",
        "The pull request, as data",
        "Merged with main",
    ]


def test_the_preview_is_of_the_newest_push_merged_with_main_now(
    fleet: Repo, tmp_path: Path
) -> None:
    """The event's merge_commit_sha is GitHub's test merge, recomputed after the event: often the
    previous push's merge, or missing (null) when the head alone would put its older
    _defaults.yaml over main's. The preview merges the event's head with main itself."""

    def main_moves_on(repo: Repo) -> None:
        repo.edit("k8s-clusters/_defaults.yaml", "spec:\n", "# main's newer defaults\nspec:\n")

    head, stale_merge = pull_request(
        fleet,
        lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large"),
        main_moves_on,
    )
    fleet.git("checkout", "-q", "pr")
    fleet.edit("k8s-clusters/beta.yaml", "size: large", "size: medium")
    newest = fleet.commit("the second push")
    fleet.git("checkout", "-q", "main")
    for merge in (stale_merge, None):
        _, previews = preview(fleet, tmp_path / str(merge), (newest, merge))
        (p,) = previews
        assert "size: medium" in p["definitions"]["beta.yaml"], merge  # the newest push
        assert "# main's newer defaults" in p["definitions"]["_defaults.yaml"], merge  # main now
    assert head != newest


def test_a_pull_request_that_conflicts_with_main_is_not_previewed(
    fleet: Repo, tmp_path: Path
) -> None:
    def main_moves_on(repo: Repo) -> None:
        repo.edit("k8s-clusters/beta.yaml", "size: small", "size: medium")

    head, _ = pull_request(
        fleet, lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    )
    main_moves_on(fleet)
    fleet.commit("main changes the same line")
    runner, previews = preview(fleet, tmp_path, (head, None))
    assert previews == []
    (entry,) = runner.jobs["affected"].entries
    merged = entry.step("Merged with main")
    assert merged.outcome == "failure"
    assert "::error title=Not previewed::the pull request conflicts with main" in merged.log
    assert runner.jobs["preview"].result == "skipped"


def status(tmp_path: Path) -> dict[str, str]:
    """The one commit status the run set: {sha, state, context, description}."""
    (call,) = [json.loads(line) for line in (tmp_path / "gh.log").read_text().splitlines()]
    fields = dict(call[i + 1].split("=", 1) for i, a in enumerate(call) if a == "-f")
    return {"sha": call[2].rsplit("/", 1)[1], **fields}


@pytest.mark.parametrize(
    ("case", "state", "description"),
    [
        ("previewed", "success", "1 stack(s) previewed"),
        ("fork", "success", "Not previewed: a pull request from a fork"),
        ("symlink", "failure", "Not previewed: a conflict with main, or the stacks could not"),
        ("conflict", "failure", "Not previewed: a conflict with main"),
        ("nothing", "success", "No stack to preview"),
    ],
)
def test_one_preview_status_of_a_fixed_name_on_the_head(
    fleet: Repo, tmp_path: Path, case: str, state: str, description: str
) -> None:
    def change(repo: Repo) -> None:
        if case == "nothing":
            repo.write("README.md", "docs\n")
            return
        repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
        if case == "symlink":
            (repo.project / "k8s-clusters" / "notes.txt").symlink_to("/proc/self/environ")

    head, merge = pull_request(fleet, change)
    if case == "conflict":
        fleet.edit("k8s-clusters/beta.yaml", "size: small", "size: medium")
        fleet.commit("main changes the same line")
    preview(fleet, tmp_path, (head, merge), fork=case == "fork")
    got = status(tmp_path)
    assert (got["sha"], got["state"], got["context"]) == (head, state, "Preview")
    assert got["description"].startswith(description)
    assert got["target_url"].endswith("/acme/gitops/actions/runs/")  # + the run's id
