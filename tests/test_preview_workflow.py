"""The Preview workflow as a whole (tests/actions_sim.py): main's code previews the stacks a
same-repository pull request touches, with the pull request's definitions copied in as data;
a fork gets no preview; a symlink among the definitions stops it before any code runs."""

from __future__ import annotations

import subprocess
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


def pull_request(repo: Repo, change: Any) -> str:
    """A branch off main with `change` applied; main stays checked out. Its head commit."""
    repo.git("checkout", "-q", "-b", "pr")
    change(repo)
    head = repo.commit("the pull request")
    repo.git("checkout", "-q", "main")
    return head


def preview(
    repo: Repo, tmp_path: Path, head: str, fork: bool = False
) -> tuple[Runner, list[dict[str, Any]]]:
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

    def fake_pulumi(with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        clusters = cwd / "k8s-clusters"
        previews.append(
            {
                "stack": with_["stack-name"],
                "command": with_["command"],
                "definitions": {p.name: p.read_text() for p in sorted(clusters.iterdir())},
                "program": (cwd / "__main__.py").read_text(),
                "pull-request left": (cwd / "pull-request").exists(),
                "passphrase": env.get("PULUMI_CONFIG_PASSPHRASE"),
            }
        )
        return True, {}

    runner = Runner(
        ROOT,
        "preview.yml",
        repo.project,
        tmp_path / "sim",
        github={
            "repository": "acme/gitops",
            "event": {
                "pull_request": {
                    "number": 7,
                    "base": {"sha": repo.base},
                    "head": {
                        "sha": head,
                        "repo": {"full_name": "someone/gitops" if fork else "acme/gitops"},
                    },
                }
            },
        },
        variables=VARS,
        secrets=SECRETS,
        actions={
            ".github/actions/setup-fleet": lambda w, e, cwd: (True, {}),
            "actions/checkout": fake_checkout,
            "pulumi/actions": fake_pulumi,
        },
    )
    runner.run()
    return runner, previews


def change_beta_and_the_program(repo: Repo) -> None:
    repo.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    repo.write("__main__.py", "print('the pull request's own program')\n")


def test_mains_code_previews_the_pull_requests_definitions(fleet: Repo, tmp_path: Path) -> None:
    head = pull_request(fleet, change_beta_and_the_program)
    runner, previews = preview(fleet, tmp_path, head)
    # __main__.py changed: program code, so every stack is previewed, each with main's program.
    assert [p["stack"] for p in previews] == ["registries", "alpha", "beta", "gamma"]
    for p in previews:
        assert p["command"] == "preview"
        assert p["program"] == "print('the program')\n"  # main's, not the pull request's
        assert "size: large" in p["definitions"]["beta.yaml"]  # the pull request's definitions
        assert p["pull-request left"] is False
        assert p["passphrase"] == "passphrase"
    assert {e.environment for e in runner.jobs["preview"].entries} == {"preview"}


def test_only_the_touched_stacks(fleet: Repo, tmp_path: Path) -> None:
    head = pull_request(
        fleet, lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    )
    _, previews = preview(fleet, tmp_path, head)
    assert [p["stack"] for p in previews] == ["beta"]


def test_a_fork_gets_no_preview(fleet: Repo, tmp_path: Path) -> None:
    head = pull_request(
        fleet, lambda r: r.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    )
    runner, previews = preview(fleet, tmp_path, head, fork=True)
    assert previews == []
    assert runner.jobs["affected"].result == runner.jobs["preview"].result == "skipped"


def test_a_symlink_among_the_definitions_stops_it_before_any_code(
    fleet: Repo, tmp_path: Path
) -> None:
    def link(repo: Repo) -> None:
        (repo.project / "stacks" / "Pulumi.beta.yaml").unlink()
        (repo.project / "stacks" / "Pulumi.beta.yaml").symlink_to("/proc/self/environ")

    head = pull_request(fleet, link)
    runner, previews = preview(fleet, tmp_path, head)
    assert previews == []
    (entry,) = runner.jobs["preview"].entries
    step = entry.step("The pull request's definitions over main's code")
    assert step.outcome == "failure"
    assert "pull-request/stacks holds a symlink" in step.log
    assert [s.name for s in entry.steps if s.outcome == "success"] == [
        "main's code",
        "The pull request, as data",
    ]
