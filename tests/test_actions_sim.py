"""The GitHub rules tests/actions_sim.py models, on small workflows: a skipped job counts as a
success, a matrix holds at most 256 jobs, each batch of a matrix asks for its own review of an
environment with required reviewers, and "Re-run failed jobs" keeps the commit and the outputs of
the jobs it does not run again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from actions_sim import MATRIX_LIMIT, Runner


def runner(tmp_path: Path, text: str, **kwargs: Any) -> Runner:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (root / ".github" / "workflows" / "w.yml").write_text(text)
    (tmp_path / "checkout").mkdir(exist_ok=True)
    return Runner(root, "w.yml", tmp_path / "checkout", tmp_path / "sim", **kwargs)


def test_a_run_whose_jobs_were_all_skipped_is_a_success(tmp_path: Path) -> None:
    sim = runner(
        tmp_path,
        "on: push\njobs:\n"
        "  a: {if: \"vars.X != ''\", runs-on: u, steps: [{run: 'true'}]}\n"
        "  b: {needs: a, runs-on: u, steps: [{run: 'true'}]}\n",
    )
    jobs = sim.run()
    assert [j.result for j in jobs.values()] == ["skipped", "skipped"]
    assert sim.conclusion == "success"
    assert sim.record(1)["jobs"] == [
        {"name": "a", "conclusion": "skipped"},
        {"name": "b", "conclusion": "skipped"},
    ]


@pytest.mark.parametrize(("size", "result"), [(MATRIX_LIMIT, "success"), (257, "failure")])
def test_a_matrix_holds_at_most_256_jobs(tmp_path: Path, size: int, result: str) -> None:
    sim = runner(
        tmp_path,
        "on: push\njobs:\n  m:\n    runs-on: u\n"
        "    strategy: {matrix: '${{ fromJSON(vars.M) }}'}\n"
        "    steps: [{run: 'true'}]\n",
        variables={"M": '{"include": [' + ",".join(f'{{"n": {i}}}' for i in range(size)) + "]}"},
    )
    run = sim.run()["m"]
    assert run.result == result
    assert len(run.entries) == (size if result == "success" else 0)


def test_each_batch_of_a_matrix_asks_for_its_own_review(tmp_path: Path) -> None:
    rejected = []

    def approve(job: str, matrices: list[dict[str, Any]]) -> bool:
        rejected.extend(m["n"] for m in matrices if m["n"] >= 8)
        return all(m["n"] < 8 for m in matrices)

    sim = runner(
        tmp_path,
        "on: push\njobs:\n  m:\n    runs-on: u\n    environment: production\n"
        "    strategy: {max-parallel: 4, matrix: '${{ fromJSON(vars.M) }}'}\n"
        "    steps: [{run: 'true'}]\n",
        variables={"M": '{"include": [' + ",".join(f'{{"n": {i}}}' for i in range(10)) + "]}"},
        reviewers=frozenset({"production"}),
        approve=approve,
    )
    run = sim.run()["m"]
    assert [[m["n"] for m in batch] for _, batch in sim.approvals] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert [e.result for e in run.entries] == ["success"] * 8 + ["failure"] * 2
    assert rejected == [8, 9] and run.result == "failure"


def test_re_run_failed_jobs_keeps_the_commit_and_the_outputs(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("")
    sim = runner(
        tmp_path,
        "on: push\njobs:\n"
        "  first:\n    runs-on: u\n    outputs: {at: '${{ steps.s.outputs.at }}'}\n"
        '    steps: [{id: s, run: \'echo "at=$(date +%s%N)" >> "$GITHUB_OUTPUT"\'}]\n'
        "  m:\n    needs: first\n    runs-on: u\n"
        "    strategy: {matrix: {include: [{n: 1}, {n: 2}]}}\n"
        "    steps: [{run: '[ \"$N\" != 2 ] || [ ! -f \"$FLAG\" ]', env: {N: '${{ matrix.n }}'}}]\n"
        "  last:\n    needs: m\n    runs-on: u\n    steps: [{run: 'true'}]\n",
        github={"sha": "abc"},
        extra_env={"FLAG": str(flag)},
    )
    jobs = sim.run()
    at = jobs["first"].outputs["at"]
    first_entry = jobs["m"].entries[0]
    assert (jobs["m"].result, jobs["last"].result, sim.conclusion) == (
        "failure",
        "skipped",
        "failure",
    )
    flag.unlink()
    jobs = sim.rerun_failed()
    assert sim.github == {"sha": "abc", "run_attempt": "2"}
    assert jobs["first"].outputs["at"] == at  # not run again: its outputs are reused
    assert jobs["m"].entries[0] is first_entry  # the entry that succeeded is not run again
    assert [e.result for e in jobs["m"].entries] == ["success", "success"]
    assert jobs["last"].result == "success" and sim.conclusion == "success"
