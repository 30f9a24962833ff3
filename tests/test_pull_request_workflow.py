"""The Pull request workflow as a whole (tests/actions_sim.py): when `fluxfleet affected` fails,
the step fails (not "touches no stack"), and the plan comment says that this commit's plan is
unavailable and why, instead of leaving the previous push's plan standing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from actions_sim import Runner
from conftest import ROOT
from fleetrepo import Repo
from test_workflows import ACTIONS, WORKFLOWS, checkout, load, steps_of


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    return checkout(tmp_path, monkeypatch)


def run_pull_request(repo: Repo, tmp_path: Path, base: str) -> Runner:
    head = repo.git("rev-parse", "HEAD")
    runner = Runner(
        ROOT,
        "pull-request.yml",
        repo.project,
        tmp_path / "sim",
        github={
            "repository": "acme/gitops",
            "sha": head,
            "event": {"pull_request": {"number": 7, "base": {"sha": base}, "head": {"sha": head}}},
        },
        actions={".github/actions/setup-fleet": lambda w, e, cwd: (True, {})},
    )
    runner.run()
    return runner


def test_a_failing_affected_fails_its_step(fleet: Repo, tmp_path: Path) -> None:
    runner = run_pull_request(fleet, tmp_path, base="f" * 40)  # a base commit the clone lacks
    affected = runner.jobs["affected"]
    assert affected.result == "failure"  # not a green "touches no stack"
    assert "no such commit" in affected.entries[0].step("fluxfleet affected").log
    comment = runner.artifacts / "plan-comment" / "plan.md"
    assert not comment.exists() or "touches no stack" not in comment.read_text()


def test_then_the_comment_says_this_commits_plan_is_unavailable(
    fleet: Repo, tmp_path: Path
) -> None:
    head = fleet.git("rev-parse", "HEAD")
    runner = run_pull_request(fleet, tmp_path, base="f" * 40)
    plan = runner.jobs["plan"]
    assert plan.result == "failure"
    comment = (runner.artifacts / "plan-comment" / "plan.md").read_text()
    assert f"**The plan of {head} is unavailable**" in comment
    assert 'the job "Affected stacks" ended in failure' in comment
    assert (runner.artifacts / "plan-comment" / "pr-number").read_text() == "7\n"


ASSIGNED = re.compile(r"^\s*(?:local\s+)?[A-Za-z_][A-Za-z0-9_]*=\"\$\(")


def substitution_problems(script: str) -> list[str]:
    """Lines where a failing command would not fail the step under `bash -eo pipefail`: a command
    substitution that is not a whole assignment (inside an argument: errexit ignores it) and a
    process substitution (its status is lost)."""
    problems = []
    for line in script.splitlines():
        code = line.split(" #", 1)[0]
        if "<(" in code:
            problems.append(line.strip())
            continue
        subs = len(re.findall(r"\$\((?!\()", code))
        if subs and not (subs == 1 and ASSIGNED.match(code)):
            problems.append(line.strip())
    return problems


def test_no_step_hides_a_failing_command_in_a_substitution() -> None:
    found = {
        (path.name, line)
        for path in [*WORKFLOWS, *ACTIONS]
        for s in steps_of(load(path))
        for line in substitution_problems(s.get("run", ""))
    }
    assert found == set()


def test_the_substitution_check_catches_the_pattern() -> None:
    script = (
        'echo "matrix=$(fluxfleet affected)" >> "$GITHUB_OUTPUT"\n'
        'mapfile -t stacks < <(jq -r .include <<<"$M")\n'
        'for slot in $(seq 1 "$N"); do :; done\n'
        'matrix="$(fluxfleet affected)"\n'
        'x="$(a \\\n  b)"\n'
        'echo "$((1 + 2))"\n'
    )
    assert substitution_problems(script) == [
        'echo "matrix=$(fluxfleet affected)" >> "$GITHUB_OUTPUT"',
        'mapfile -t stacks < <(jq -r .include <<<"$M")',
        'for slot in $(seq 1 "$N"); do :; done',
    ]
