"""Waves: metadata.wave, the fleet's rollout settings in _defaults.yaml, and `fluxfleet rollout`
(the order Deploy runs; the workflow itself runs in tests/test_deploy_rollout.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from definition_strategies import valid_clusters
from fleetrepo import git_identity
from fleetworkspace import workspace, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planutil import run_cli

from components.definition.rollout import (
    MAX_PARTS,
    MAX_WAVE_SIZE,
    MAX_WAVES,
    EnvironmentRollout,
    Rollout,
    github_environment,
    wave_of,
    wave_problem,
)
from components.loading.fleet import load_fleet
from components.tools.affected import every_stack
from components.tools.rollout import parallelism, rollout_plan
from components.tools.snapshots import AffectedError, AffectedStack, Snapshot

STAGING = "k8s-clusters/staging-cluster-name.yaml"
DEFAULTS = "k8s-clusters/_defaults.yaml"
SNAPSHOT = ROOT / "tests" / "snapshots" / "rollout.txt"


def edit(project: Path, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


# --- the rules --------------------------------------------------------------------------------


def test_builtin_environments_and_fail_closed() -> None:
    builtin = Rollout()
    assert (wave_of(builtin, "staging", None), github_environment(builtin, "staging")) == (
        1,
        "fleet",
    )
    assert (wave_of(builtin, "production", None), github_environment(builtin, "production")) == (
        2,
        "production",
    )
    # Not listed: reviewed, with the last listed wave.
    assert (wave_of(builtin, "dev", None), github_environment(builtin, "dev")) == (2, "production")
    assert wave_of(builtin, "production", 0) == 0  # metadata.wave wins


def test_listed_environments_need_review_unless_they_say_not() -> None:
    rollout = Rollout.model_validate(
        {"environments": {"dev": {"wave": 0, "review": False}, "prod-eu": {"wave": 3}}}
    )
    assert github_environment(rollout, "dev") == "fleet"
    assert github_environment(rollout, "prod-eu") == "production"  # review defaults to true
    assert github_environment(rollout, "staging") == "production"  # the built-in list is replaced
    assert wave_of(rollout, "staging", None) == 3
    assert EnvironmentRollout(wave=1).review is True


def test_more_waves_than_deploy_has_jobs_for() -> None:
    assert wave_problem(range(MAX_WAVES)) is None
    too_many = wave_problem(range(MAX_WAVES + 1))
    assert too_many == (
        "9 distinct waves (0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1 clusters), "
        "expected at most 8: the Deploy workflow runs one job per wave; give more clusters the "
        "same wave"
    )
    # A wave job is a matrix of parts of 256: the size of a wave is no longer a limit (issue 26:
    # 10,000 clusters in 2 waves took 40 jobs of the 8 Deploy had).
    assert wave_problem([1] * 5000 + [2] * 5000) is None
    assert wave_problem([*range(7), *[9] * 20_000]) is None
    assert "9 distinct waves" in (wave_problem([*range(8), *[9] * 300]) or "")
    most = MAX_PARTS * MAX_WAVE_SIZE
    assert wave_problem([1] * most) is None
    assert wave_problem([1] * (most + 1)) == (
        f"wave 1 has {most + 1} clusters, expected at most {most} (256 parts of 256, each a "
        "GitHub Actions matrix): give some of its clusters another wave"
    )
    stacks = [AffectedStack(f"c{i}", ("x",), wave=i) for i in range(MAX_WAVES + 1)]
    with pytest.raises(AffectedError, match="9 distinct waves"):
        rollout_plan(stacks, Rollout())


def test_parts_and_stacks_at_once_never_exceed_max_parallel() -> None:
    """rollout.maxParallel is shared between the parts of a wave running side by side and the
    stacks of each part; the document gives each wave job both."""
    for parts in (1, 2, 3, 5, 40, 256):
        for max_parallel in (1, 2, 3, 4, 7, 32, 256):
            at_once, each = parallelism(parts, max_parallel)
            assert 1 <= at_once <= parts and at_once * each <= max_parallel
            # nothing left idle that another part could use
            assert at_once == min(parts, max_parallel)
    stacks = [AffectedStack(f"c{i:04}", ("x",), wave=1 + i // 3000) for i in range(6000)]
    document = rollout_plan(stacks, Rollout.model_validate({"maxParallel": 32})).document()
    assert [(s["wave"], s["partsAtOnce"], s["stacksAtOnce"]) for s in document["slots"]] == [
        (1, 12, 2),
        (2, 12, 2),
    ]
    assert document["slots"][0]["parts"]["include"][:2] == [
        {"wave": 1, "part": 1, "parts": 12},
        {"wave": 1, "part": 2, "parts": 12},
    ]
    assert sum(len(w["include"]) for w in document["waves"] if w["wave"] == 1) == 3000
    assert max(len(w["include"]) for w in document["waves"]) <= MAX_WAVE_SIZE


def test_a_wave_of_more_than_256_runs_in_even_parts_one_after_the_other() -> None:
    stacks = [AffectedStack(f"c{i:03}", ("x",), wave=1) for i in range(600)]
    plan = rollout_plan(stacks, Rollout())
    assert [(w.number, w.part, w.parts, len(w.stacks)) for w in plan.waves] == [
        (1, 1, 3, 200),
        (1, 2, 3, 200),
        (1, 3, 3, 200),
    ]
    assert [s.stack for w in plan.waves for s in w.stacks] == [s.stack for s in stacks]
    assert [w["part"] for w in plan.document()["waves"]] == [1, 2, 3]
    text = plan.text().splitlines()
    assert text[0].startswith("Rollout of 600 stack(s) in 1 wave(s)")
    assert "wave 1 (part 2/3):" in text


def test_the_plan_groups_by_wave_and_puts_invalid_definitions_last() -> None:
    stacks = [
        AffectedStack("registries", ("r",)),
        AffectedStack("a", ("a changed",), wave=2, github_environment="production"),
        AffectedStack("b", ("b changed",)),  # invalid: no wave
        AffectedStack("c", ("c changed",), wave=0, github_environment="fleet"),
        AffectedStack("d", ("deleted",), removed=True),
    ]
    plan = rollout_plan(stacks, Rollout.model_validate({"maxParallel": 3}))
    doc = plan.document()
    assert doc["maxParallel"] == 3
    assert doc["registries"] == {"stack": "registries"}
    assert [(w["wave"], [e["stack"] for e in w["include"]]) for w in doc["waves"]] == [
        (0, ["c"]),
        (2, ["a", "b"]),
    ]
    assert doc["removed"] == ["d"]
    assert plan.text().splitlines() == [
        "Rollout of 4 stack(s) in 2 wave(s), at most 3 at once; each wave starts when the one "
        "before succeeded.",
        "first  registries: r",
        "wave 0:",
        "  c (no review): c changed",
        "wave 2:",
        "  a (reviewed): a changed",
        "  b (reviewed): b changed",
        "removed d: definition deleted, destroy it by hand",
    ]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "old", "new", "line"),
    [
        (
            STAGING,
            "  environment: staging\n",
            "  environment: staging\n  wave: -1\n",
            f"{STAGING}: metadata.wave: expected an integer >= 0, got the number -1",
        ),
        (
            STAGING,
            "  environment: staging\n",
            '  environment: staging\n  wave: "1"\n',
            f'{STAGING}: metadata.wave: expected an integer, got "1"',
        ),
        (
            STAGING,
            "  environment: staging\n",
            "  environment: staging\n  wave: 100\n",
            f"{STAGING}: metadata.wave: expected an integer <= 99, got the number 100",
        ),
        (
            DEFAULTS,
            "spec:\n",
            "rollout:\n  maxParallel: 0\nspec:\n",
            f"{DEFAULTS}: rollout.maxParallel: expected an integer >= 1, got the number 0",
        ),
        (
            DEFAULTS,
            "spec:\n",
            "rollout:\n  environments:\n    prod: {review: false}\nspec:\n",
            f"{DEFAULTS}: rollout.environments.prod.wave: required field is missing",
        ),
        (
            DEFAULTS,
            "spec:\n",
            "rollout:\n  maxparallel: 2\nspec:\n",
            f"{DEFAULTS}: rollout.maxparallel: unknown field, did you mean maxParallel? "
            "(expected one of maxParallel, environments, healthTimeout)",
        ),
        (
            DEFAULTS,
            "spec:\n",
            "rollout:\n  healthTimeout: 2h\nspec:\n",
            f"{DEFAULTS}: rollout.healthTimeout: expected a duration from 10s to 30m, got 2h",
        ),
    ],
)
def test_bad_rollout_settings_are_one_line_each(
    project: Path, where: str, old: str, new: str, line: str
) -> None:
    edit(project, where, old, new)
    code, _, err = run_cli(project, "validate")
    assert "Traceback" not in err
    assert (code, err.splitlines()[:1]) == (2, [line])


def test_validate_refuses_a_fleet_deploy_could_not_run(project: Path) -> None:
    for wave in range(MAX_WAVES + 1):  # 9 clusters, each its own wave
        text = (project / STAGING).read_text()
        name = f"c{wave}"
        text = text.replace("name: staging-cluster-name", f"name: {name}")
        text = text.replace("  environment: staging\n", f"  environment: staging\n  wave: {wave}\n")
        text = text.replace("eksClusterName: staging-eks", f"eksClusterName: {name}")
        (project / f"k8s-clusters/{name}.yaml").write_text(text)
        stack = (project / "stacks/Pulumi.staging-cluster-name.yaml").read_text()
        (project / f"stacks/Pulumi.{name}.yaml").write_text(stack)
        shutil.copytree(
            project / "flux/clusters/staging-cluster-name", project / f"flux/clusters/{name}"
        )
    code, _, err = run_cli(project, "validate")
    assert code == 2, err
    (line,) = err.splitlines()
    assert line.startswith(
        "k8s-clusters: metadata.wave: 9 distinct waves (0: 1, 1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1, "
        "7: 1, 8: 1 clusters), expected at most 8"
    )


# --- fluxfleet rollout ------------------------------------------------------------------------


@pytest.fixture
def repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project as a git repository of one commit."""
    git_identity(monkeypatch)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fleet"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    return project


def test_rollout_of_the_example_fleet_matches_its_snapshot(repo: Path) -> None:
    """Every stack (no --base). To update: fluxfleet rollout > tests/snapshots/rollout.txt"""
    code, out, err = run_cli(repo, "rollout")
    assert (code, err) == (0, "")
    assert out == SNAPSHOT.read_text()


def test_rollout_of_a_change(repo: Path) -> None:
    edit(repo, STAGING, "  environment: staging\n", "  environment: staging\n  wave: 0\n")
    subprocess.run(["git", "commit", "-qam", "canary"], cwd=repo, check=True)
    code, out, _ = run_cli(repo, "rollout", "--base", "HEAD~1")
    assert code == 0
    assert out.splitlines() == [
        "Rollout of 1 stack(s) in 1 wave(s), at most 4 at once; each wave starts when the one "
        "before succeeded.",
        "wave 0:",
        f"  staging-cluster-name (no review): {STAGING} changed",
    ]
    code, out, err = run_cli(repo, "rollout", "--base", "nope")
    assert code == 2 and out == ""
    assert "--base nope: no such commit in this repository" in err


# --- generated fleets -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    waves=st.lists(st.one_of(st.none(), st.integers(0, 99)), min_size=1, max_size=40),
    max_parallel=st.integers(1, 256),
)
def test_generated_rollouts_keep_every_stack_once_in_wave_order(
    waves: list[int | None], max_parallel: int
) -> None:
    stacks = [
        AffectedStack(f"c{i:02}", ("changed",), wave=w, github_environment="fleet" if w else None)
        for i, w in enumerate(waves)
    ]
    rollout = Rollout.model_validate({"maxParallel": max_parallel})
    try:
        plan = rollout_plan(stacks, rollout)
    except AffectedError as exc:
        last = max([2, *[x for x in waves if x is not None]])
        assert len({w if w is not None else last for w in waves}) > MAX_WAVES
        assert "distinct waves" in str(exc)
        return
    numbers = [w.number for w in plan.waves]
    assert numbers == sorted(set(numbers)) and len(numbers) <= MAX_WAVES
    planned = [s.stack for w in plan.waves for s in w.stacks]
    assert sorted(planned) == [s.stack for s in stacks]
    last = numbers[-1]
    for w in plan.waves:
        for s in w.stacks:
            assert w.number == (s.wave if s.wave is not None else last)
    assert plan.document()["maxParallel"] == max_parallel


def test_the_example_waves(project: Path) -> None:
    fleet = load_fleet(project)
    assert {n: fleet.wave(c) for n, c in fleet.clusters.items()} == {
        "production-cluster-name": 2,
        "staging-cluster-name": 1,
    }


def test_a_change_cannot_lift_its_own_review(repo: Path) -> None:
    """Setting review: false for production, or moving a cluster out of production, is itself
    deployed through the reviewers: the base commit's settings count too."""
    prod = "k8s-clusters/production-cluster-name.yaml"
    edit(
        repo,
        DEFAULTS,
        "spec:\n",
        "rollout:\n  environments:\n    staging: {wave: 1, review: false}\n"
        "    production: {wave: 2, review: false}\nspec:\n",
    )
    edit(repo, prod, "size: large", "size: small")
    subprocess.run(["git", "commit", "-qam", "no more review"], cwd=repo, check=True)
    code, out, _ = run_cli(repo, "rollout", "--base", "HEAD~1")
    assert code == 0
    assert f"  production-cluster-name (reviewed): {prod} changed" in out.splitlines()
    # The next change, from a base that already said no review, goes without.
    edit(repo, prod, "size: small", "size: medium")
    subprocess.run(["git", "commit", "-qam", "resize"], cwd=repo, check=True)
    code, out, _ = run_cli(repo, "rollout", "--base", "HEAD~1")
    assert f"  production-cluster-name (no review): {prod} changed" in out.splitlines()


# --- fluxfleet affected: the example fleet's snapshot, and generated definitions --------------

AFFECTED_SNAPSHOT = ROOT / "tests" / "snapshots" / "affected.json"


def test_affected_of_the_example_fleet_matches_its_snapshot(repo: Path) -> None:
    """Every stack with its wave and GitHub environment. To update:
    fluxfleet affected --all > tests/snapshots/affected.json"""
    code, out, err = run_cli(repo, "affected", "--all")
    assert (code, err) == (0, "")
    assert out == AFFECTED_SNAPSHOT.read_text()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=valid_clusters())
def test_a_generated_definition_carries_its_wave_and_environment_gate(doc: dict) -> None:
    """What `affected` and `rollout` say of a cluster is what the rollout rules say of its
    definition: its wave, and `fleet` only for an environment listed without review."""
    stem = write(doc)
    fleet = load_fleet(workspace())
    snap = Snapshot(fleet, [stem], False)
    (stack,) = every_stack(snap)
    cluster = fleet.clusters.get(stem)
    if cluster is None:  # refused by the fleet's registries: no facts, and the last wave
        assert (stack.wave, stack.github_environment) == (None, None)
        assert "wave" not in stack.matrix_entry()
        assert rollout_plan([stack], fleet.rollout).waves[0].number == 2
        return
    environment = cluster.metadata.environment
    expected_wave = (
        cluster.metadata.wave
        if cluster.metadata.wave is not None
        else (1 if environment == "staging" else 2)
    )
    assert stack.wave == expected_wave
    assert stack.github_environment == ("fleet" if environment == "staging" else "production")
    entry = stack.matrix_entry()
    assert (entry["wave"], entry["githubEnvironment"]) == (expected_wave, stack.github_environment)
    (wave,) = rollout_plan([stack], fleet.rollout).waves
    assert wave.number == expected_wave
