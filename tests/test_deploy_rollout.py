"""The Deploy workflow as a whole: registries first, then wave by wave, a failure stops the
rollout, and the report says what was done, failed and not started.

The workflow runs in tests/actions_sim.py (GitHub's job order, `if:` and matrix rules, bash for
every `run:` step) on a real git repository of the fleet, with the real `fluxfleet` and a fake
`pulumi` on PATH that logs each `up` and fails for the stacks it is told to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from actions_sim import EntryRun, JobRun, Runner, condition, evaluate
from conftest import ROOT
from fleetrepo import Repo
from kubeserver import World, client_environment, make_tls, serve
from test_workflows import checkout, run_step, step, workflow

from components.definition.rollout import MAX_WAVES, Rollout
from components.loading.fleet import load_fleet
from components.tools.rollout import rollout_plan
from components.tools.snapshots import AffectedStack

VARS = {
    "PULUMI_BACKEND_URL": "s3://fleet-state",
    "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::123456789012:role/deploy",
    "AWS_REGION": "eu-west-1",
    "FLEET_APP_CLIENT_ID": "Iv1.fleet",
}
SECRETS = {"FLEET_APP_PRIVATE_KEY": "app-key", "PULUMI_CONFIG_PASSPHRASE": "passphrase"}
WAVE_JOBS = [f"wave-{k}" for k in range(1, MAX_WAVES + 1)]

FAKE_PULUMI = """#!/bin/bash
# pulumi login URL | pulumi up ... --stack NAME: logs NAME to $SIM_LOG; fails when listed in
# $SIM_FAIL (one name per line).
case "$1" in
  login) exit 0 ;;
  up)
    while [ "$#" -gt 0 ]; do [ "$1" = --stack ] && stack="$2"; shift; done
    echo "$stack" >> "$SIM_LOG"
    echo "$stack $(git rev-parse HEAD)" >> "$SIM_LOG_AT"
    if grep -qx "$stack" "$SIM_FAIL"; then echo "error: update of $stack failed" >&2; exit 255; fi
    ;;
  *) echo "unexpected: pulumi $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    return checkout(tmp_path, monkeypatch)


# The clusters' EKS and API servers for the health gate (`fluxfleet status --wait` after each
# `pulumi up`): tests/kubeserver.py, every cluster healthy unless a test says otherwise.
ACCOUNTS = {"alpha": "111111111111", "beta": "222222222222", "gamma": "333333333333"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> object:
    return make_tls(tmp_path_factory.mktemp("tls"))


CLUSTERS: list[tuple[World, dict[str, str]]] = []  # the running test's (deploy's default)


@pytest.fixture(autouse=True)
def clusters(tls: object) -> Iterator[tuple[World, dict[str, str]]]:
    """The server (World: each cluster's scenario) and the variables that point AWS at it."""
    world = World({name: (account, "healthy") for name, account in ACCOUNTS.items()})
    server = serve(world, tls)  # type: ignore[arg-type]
    CLUSTERS.append((world, client_environment(server.server_address[1], tls)))  # type: ignore[arg-type]
    yield CLUSTERS[-1]
    CLUSTERS.pop()
    server.shutdown()
    server.server_close()


FAKE_GH = r"""#!PYTHON
# gh api PATH [--paginate] --jq EXPR, for the Deploy workflow: the runs of deploy.yml and the jobs
# of a run ($SIM_RUNS: Runner.record() of each earlier run, newest first) and main's head
# ($SIM_MAIN). Prints the jq of the answer, as gh does.
import json, os, re, subprocess, sys

args = sys.argv[1:]
path = next(a for a in args[1:] if not a.startswith("-"))
jq = args[args.index("--jq") + 1]
runs = json.loads(open(os.environ["SIM_RUNS"]).read())
repo = "repos/acme/gitops/"
if path.startswith(repo + "actions/workflows/deploy.yml/runs?"):
    query = dict(q.split("=", 1) for q in path.split("?", 1)[1].split("&"))
    assert query["branch"] == "main", query
    listed = [r for r in runs if query.get("status") in (None, r["conclusion"])]
    body = {"workflow_runs": [{k: r[k] for k in ("id", "head_sha", "conclusion")} for r in listed]}
elif match := re.fullmatch(re.escape(repo) + r"actions/runs/(\d+)/jobs(\?.*)?", path):
    body = {"jobs": next(r["jobs"] for r in runs if r["id"] == int(match[1]))}
elif path == repo + "commits/main":
    body = {"sha": os.environ["SIM_MAIN"]}
else:
    sys.exit(f"unexpected: gh {' '.join(args)}")
sys.exit(subprocess.run(["jq", "-r", jq], input=json.dumps(body), text=True).returncode)
"""


def completed_run(commit: str, run_id: int = 1) -> dict[str, object]:
    """An earlier run of `commit` whose rollout completed (its report succeeded)."""
    jobs = [{"name": "Rollout report", "conclusion": "success"}]
    return {"id": run_id, "head_sha": commit, "conclusion": "success", "jobs": jobs}


def deploy(
    repo: Repo,
    tmp_path: Path,
    fail: tuple[str, ...] = (),
    last_success: str = "",
    runs: list[dict[str, object]] | None = None,
    variables: dict[str, str] | None = None,
    clusters: tuple[World, dict[str, str]] | None = None,
) -> Runner:
    """Deploy.yml on `repo`'s HEAD, each job checking out that commit (github.sha). The earlier
    runs: `runs` (Runner.record(), newest first), or one that deployed `last_success`. The
    health gate reads `clusters` (the fixture), which apply HEAD."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, script in (
        ("pulumi", FAKE_PULUMI),
        ("gh", FAKE_GH.replace("PYTHON", sys.executable)),
    ):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    log, failing = tmp_path / "pulumi.log", tmp_path / "fail"
    log.write_text("")
    (tmp_path / "pulumi-at.log").write_text("")
    failing.write_text("".join(f"{name}\n" for name in fail))
    if runs is None:
        runs = [completed_run(last_success)] if last_success else []
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    sha = repo.git("rev-parse", "HEAD")
    world, health = clusters or CLUSTERS[-1]
    world.revision = sha
    for cluster in load_fleet(repo.project).clusters.values():  # every cluster healthy by default
        world.clusters.setdefault(
            cluster.eks_cluster_name, (cluster.spec.aws.account_id, "healthy")
        )

    def checkout(with_: dict[str, object], env: dict[str, str], cwd: Path) -> tuple[bool, dict]:
        subprocess.run(["git", "checkout", "-q", sha], cwd=cwd, check=True)
        return True, {}

    runner = Runner(
        ROOT,
        "deploy.yml",
        repo.project,
        next(tmp_path / f"sim-{n}" for n in range(100) if not (tmp_path / f"sim-{n}").exists()),
        github={"repository": "acme/gitops", "token": "ghs_run", "sha": sha},
        variables=VARS if variables is None else variables,
        secrets=SECRETS,
        path=f"{bin_dir}:{os.environ['PATH']}",
        actions={
            ".github/actions/setup-fleet": lambda w, e, cwd: (True, {}),
            "actions/checkout": checkout,
        },
        extra_env={
            "SIM_LOG": str(log),
            "SIM_LOG_AT": str(tmp_path / "pulumi-at.log"),
            "SIM_FAIL": str(failing),
            "SIM_RUNS": str(tmp_path / "runs.json"),
            "SIM_MAIN": sha,
            **health,
        },
        reviewers=frozenset({"production"}),
    )
    runner.run()
    return runner


def deployed(tmp_path: Path) -> list[str]:
    return (tmp_path / "pulumi.log").read_text().split()


def stack_entries(job: JobRun) -> list[EntryRun]:
    """The deploy jobs of a wave job: those of each of its parts (calls of deploy-part.yml)."""
    return [d for part in job.entries for d in part.jobs["deploy"].entries]


def stacks_at_once(job: JobRun) -> object:
    """The max-parallel of the stacks of a wave's first part."""
    return job.entries[0].jobs["deploy"].max_parallel


def ran(job: JobRun) -> list[str]:
    return [e.matrix.get("stack", "") for e in stack_entries(job)]


def rollout_plan_of(runner: Runner) -> dict:
    """The rollout-plan artifact of the run (the parts and the report read it)."""
    return json.loads((runner.artifacts / "rollout-plan" / "rollout.json").read_text())


def report(runner: Runner) -> str:
    (entry,) = runner.jobs["report"].entries
    return entry.summary


def test_every_stack_in_order_registries_then_each_wave(fleet: Repo, tmp_path: Path) -> None:
    runner = deploy(fleet, tmp_path)
    jobs = runner.jobs
    assert deployed(tmp_path) == ["registries", "beta", "gamma", "alpha"]
    assert jobs["affected"].result == "success"
    assert ran(jobs["wave-1"]) == ["beta", "gamma"]  # staging: wave 1
    assert ran(jobs["wave-2"]) == ["alpha"]  # production: wave 2
    assert all(jobs[j].result == "skipped" for j in WAVE_JOBS[2:])
    assert stacks_at_once(jobs["wave-1"]) == 4  # the default rollout.maxParallel
    environments = {
        e.matrix["stack"]: e.environment for j in WAVE_JOBS[:2] for e in stack_entries(jobs[j])
    }
    # Every stack deploys through "fleet"; a wave with a reviewed stack is reviewed once, before
    # it starts, by its gate job in "production" (as is registries).
    assert environments == {"beta": "fleet", "gamma": "fleet", "alpha": "fleet"}
    assert jobs["registries"].entries[0].environment == "production"
    assert (jobs["gate-1"].result, jobs["gate-2"].result) == ("skipped", "success")
    assert jobs["gate-2"].entries[0].environment == "production"
    assert [job for job, _ in runner.approvals] == ["registries", "gate-2"]
    assert jobs["removed"].result == "skipped"
    assert jobs["report"].result == "success"
    summary = report(runner)
    assert "| first | registries | success |" in summary
    assert "| 2 | alpha | success |" in summary
    assert "Done (4): registries beta gamma alpha." in summary
    assert "Failed (0): none." in summary and "Not started (0): none." in summary


def test_a_failing_stack_in_wave_1_means_no_wave_2_stack_runs(fleet: Repo, tmp_path: Path) -> None:
    runner = deploy(fleet, tmp_path, fail=("gamma",))
    jobs = runner.jobs
    # beta and gamma both ran (fail-fast is off within a wave); alpha never did.
    assert deployed(tmp_path) == ["registries", "beta", "gamma"]
    assert jobs["wave-1"].result == "failure"
    assert [e.result for e in stack_entries(jobs["wave-1"])] == ["success", "failure"]
    assert all(jobs[j].result == "skipped" for j in WAVE_JOBS[1:])
    assert jobs["report"].result == "failure"
    summary = report(runner)
    assert "| 1 | gamma | failed (failure) |" in summary
    assert "| 2 | alpha | not started |" in summary
    assert "Done (2): registries beta." in summary
    assert "Failed (1): gamma." in summary
    assert "Not started (1): alpha." in summary


def test_a_failing_registries_stack_starts_no_wave(fleet: Repo, tmp_path: Path) -> None:
    runner = deploy(fleet, tmp_path, fail=("registries",))
    assert deployed(tmp_path) == ["registries"]
    assert all(runner.jobs[j].result == "skipped" for j in WAVE_JOBS)
    assert "Not started (3): beta gamma alpha." in report(runner)


def test_canary_wave_and_fleet_settings(fleet: Repo, tmp_path: Path) -> None:
    """A canary (metadata.wave: 0), the fleet's own environments and maxParallel; waves are packed
    into the first slots (wave 0, 1, 5 run as wave-1, wave-2, wave-3)."""
    fleet.edit(
        "k8s-clusters/_defaults.yaml",
        "spec:\n",
        "rollout:\n  maxParallel: 2\n  environments:\n    staging: {wave: 1, review: false}\n"
        "    production: {wave: 5}\nspec:\n",
    )
    fleet.edit(
        "k8s-clusters/gamma.yaml", "  environment: staging\n", "  environment: staging\n  wave: 0\n"
    )
    deployed_commit = fleet.git("rev-parse", "HEAD")
    fleet.commit("gamma is the canary")
    runner = deploy(fleet, tmp_path, fail=("beta",), last_success=deployed_commit)
    jobs = runner.jobs
    # The change touched gamma's definition only (rollout settings change no stack).
    assert deployed(tmp_path) == ["gamma"]
    assert ran(jobs["wave-1"]) == ["gamma"]
    assert jobs["registries"].result == "skipped"

    runner = deploy(fleet, tmp_path, fail=("beta",))  # every stack
    jobs = runner.jobs
    assert deployed(tmp_path) == ["registries", "gamma", "beta"]
    assert [ran(jobs[j]) for j in WAVE_JOBS[:3]] == [["gamma"], ["beta"], []]
    assert jobs["wave-3"].result == "skipped"
    assert stacks_at_once(jobs["wave-1"]) == 2
    plan = rollout_plan_of(runner)
    assert [w["wave"] for w in plan["waves"]] == [0, 1, 5]
    assert "| 5 | alpha | not started |" in report(runner)


def test_an_invalid_definition_deploys_last_through_production(fleet: Repo, tmp_path: Path) -> None:
    fleet.edit("k8s-clusters/beta.yaml", "  environment: staging\n", "  environment: Staging!\n")
    fleet.commit("typo")
    runner = deploy(fleet, tmp_path, fail=("beta",))
    jobs = runner.jobs
    assert ran(jobs["wave-1"]) == ["gamma"]
    assert ran(jobs["wave-2"]) == ["alpha", "beta"]  # the last wave, after the valid ones
    assert jobs["gate-2"].result == "success"  # fail closed: reviewers
    (last,) = [w for w in rollout_plan_of(runner)["waves"] if w["wave"] == 2]
    assert last["include"][1]["stack"] == "beta"


def test_a_removed_definition_warns_with_the_steps_and_deploys_the_rest(
    fleet: Repo, tmp_path: Path
) -> None:
    deployed_commit = fleet.git("rev-parse", "HEAD")
    fleet.remove("k8s-clusters/beta.yaml")
    fleet.commit("retire beta")
    runner = deploy(fleet, tmp_path, last_success=deployed_commit)
    # A warning: a failed run would make every later push deploy this change again.
    assert runner.jobs["removed"].result == "success"
    (entry,) = runner.jobs["removed"].entries
    assert "::warning title=Definition of beta deleted::" in entry.steps[0].log
    assert "### Definition of beta deleted" in entry.summary
    assert "beta" not in deployed(tmp_path)


def test_the_next_push_deploys_what_a_failed_run_left(fleet: Repo, tmp_path: Path) -> None:
    """The base is the last commit fully deployed, not the commit before the push: a push after
    a failed (or cancelled, or replaced) run deploys that run's changes too."""
    deployed_commit = fleet.git("rev-parse", "HEAD")
    fleet.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    fleet.commit("grow beta")  # its run failed on beta
    fleet.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [worker]")
    fleet.commit("alpha pulls worker")
    runner = deploy(fleet, tmp_path, last_success=deployed_commit)
    assert deployed(tmp_path) == ["registries", "beta", "alpha"]
    assert runner.jobs["report"].result == "success"


def test_re_running_a_failed_wave_records_the_new_attempt(fleet: Repo, tmp_path: Path) -> None:
    """The result artifact of a stack is overwritten by a re-run (GitHub refuses a second upload
    of a name otherwise, failing the re-run that succeeded)."""
    runner = deploy(fleet, tmp_path, fail=("gamma",))
    (tmp_path / "fail").write_text("")  # fixed: "Re-run failed jobs"
    jobs = runner.rerun_failed()
    (gamma,) = [e for e in stack_entries(jobs["wave-1"]) if e.matrix["stack"] == "gamma"]
    assert gamma.result == "success"
    assert gamma.step("Keep the result for the report").outcome == "success"
    result = runner.artifacts / "rollout-result-gamma" / "gamma.json"
    assert json.loads(result.read_text()) == {"stack": "gamma", "status": "success"}


def test_no_cloud_settings_no_deploy(fleet: Repo, tmp_path: Path) -> None:
    VARS_BACKUP = dict(VARS)
    try:
        VARS["AWS_DEPLOY_ROLE_ARN"] = ""
        runner = deploy(fleet, tmp_path)
    finally:
        VARS.update(VARS_BACKUP)
    assert deployed(tmp_path) == []
    assert runner.jobs["registries"].result == "skipped"
    assert all(runner.jobs[j].result == "skipped" for j in WAVE_JOBS)
    assert runner.jobs["report"].result == "skipped"


def test_the_wave_jobs_are_one_job_repeated() -> None:
    """wave-k needs wave-(k-1), calls deploy-part.yml for each part of its own slot with the same
    permissions, secrets and name; the report waits for every one of them."""
    doc = workflow("deploy.yml")
    jobs = doc["jobs"]
    assert [j for j in jobs if j.startswith("wave-")] == WAVE_JOBS
    first = jobs["wave-1"]
    assert first["needs"] == ["affected", "registries", "gate-1"]
    for k in range(1, MAX_WAVES + 1):
        gate, wave = jobs[f"gate-{k}"], jobs[f"wave-{k}"]
        assert gate["needs"] == wave["needs"][:-1] and wave["needs"][-1] == f"gate-{k}"
        assert (gate["environment"], gate["permissions"]) == ("production", {})
        assert f"needs.affected.outputs.review-{k} == 'true'" in gate["if"]
        # no review asked for: the gate is skipped; one asked for: it must have been approved
        assert (
            f"(needs.gate-{k}.result == 'success' || (needs.gate-{k}.result == 'skipped' "
            f"&& needs.affected.outputs.review-{k} != 'true'))"
        ) in wave["if"]
        assert gate["if"].split("&& needs.affected.outputs.review")[0] in wave["if"]
        slot = f"fromJSON(needs.affected.outputs.wave-{k})"
        assert wave["uses"] == "$/.github/workflows/deploy-part.yml"
        assert wave["strategy"] == {
            "fail-fast": False,
            "max-parallel": f"${{{{ {slot}.partsAtOnce }}}}",
            "matrix": f"${{{{ {slot}.parts }}}}",
        }
        assert wave["with"] == {
            "wave": "${{ matrix.wave }}",
            "part": "${{ matrix.part }}",
            "max-parallel": f"${{{{ {slot}.stacksAtOnce }}}}",
        }
        for key in ("permissions", "secrets", "name"):
            assert wave[key] == first[key], (k, key)
        assert "environment" not in wave and "steps" not in wave
    for k, name in enumerate(WAVE_JOBS[1:], start=2):
        job = jobs[name]
        assert job["needs"] == ["affected", f"wave-{k - 1}", f"gate-{k}"]
        assert f"needs.wave-{k - 1}.result == 'success'" in job["if"]
        assert f"fromJSON(needs.affected.outputs.waves) >= {k}" in job["if"]
    assert set(jobs["report"]["needs"]) == {"affected", "registries", *WAVE_JOBS}
    outputs = jobs["affected"]["outputs"]
    assert {f"wave-{k}" for k in range(1, MAX_WAVES + 1)} <= set(outputs)
    assert {f"review-{k}" for k in range(1, MAX_WAVES + 1)} <= set(outputs)
    assert "plan" not in outputs  # 1 MB at most: the plan is the rollout-plan artifact
    env = next(s for s in jobs["affected"]["steps"] if s.get("id") == "rollout")["env"]
    assert env["SLOTS"] == str(MAX_WAVES)
    part = workflow("deploy-part.yml")["jobs"]["deploy"]
    assert part["environment"] == "fleet"
    assert part["strategy"] == {
        "fail-fast": False,
        "max-parallel": "${{ inputs.max-parallel }}",
        "matrix": "${{ fromJSON(needs.stacks.outputs.matrix) }}",
    }


@pytest.mark.parametrize(
    ("github_environment", "review"),
    [
        ("fleet", "false"),
        ("production", "true"),
        (None, "true"),
        ("", "true"),
        ("Fleet ", "true"),
        (False, "true"),
        (0, "true"),
    ],
)
def test_the_review_fails_closed(tmp_path: Path, github_environment: object, review: str) -> None:
    """Only an explicit "fleet" skips the wave's review; each wave is reviewed once, before its
    first part (a wave of more than 256 stacks runs in parts)."""
    plan = {
        "maxParallel": 4,
        "registries": None,
        "removed": [],
        "waves": [
            {"wave": 1, "part": 1, "include": [{"stack": "a", "githubEnvironment": "fleet"}]},
            {
                "wave": 1,
                "part": 2,
                "include": [{"stack": "b", "githubEnvironment": github_environment}],
            },
            {"wave": 2, "part": 1, "include": [{"stack": "c", "githubEnvironment": "fleet"}]},
        ],
        "slots": [{"wave": 1}, {"wave": 2}],
    }
    work = tmp_path / "w"
    (work / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    fake = work / ".venv" / "bin" / "fluxfleet"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *json*) cat "{tmp_path}/plan.json" ;; esac\n')
    fake.chmod(0o755)
    the_step = step(workflow("deploy.yml"), "affected", "fluxfleet rollout")
    code, out, _, log = run_step(the_step, work, {"BASE": "", "SLOTS": "4"})
    assert code == 0, log
    assert [out[f"review-{k}"] for k in range(1, 5)] == [review, "false", "false", "false"]


def test_a_production_wave_is_reviewed_once(fleet: Repo, tmp_path: Path) -> None:
    """Five production clusters, at most two at once: the matrix runs in three batches, and a
    matrix job in "production" would ask for a review per batch. The gate asks once."""
    fleet.edit("k8s-clusters/_defaults.yaml", "spec:\n", "rollout:\n  maxParallel: 2\nspec:\n")
    text = (fleet.project / "k8s-clusters" / "alpha.yaml").read_text()
    for name in ("alpha2", "alpha3", "alpha4", "alpha5"):
        fleet.write(f"k8s-clusters/{name}.yaml", text.replace("alpha", name))
        fleet.write(f"stacks/Pulumi.{name}.yaml", "config: {}\n")
    fleet.commit("four more production clusters")
    runner = deploy(fleet, tmp_path)
    assert ran(runner.jobs["wave-2"]) == ["alpha", "alpha2", "alpha3", "alpha4", "alpha5"]
    assert stacks_at_once(runner.jobs["wave-2"]) == 2
    assert [job for job, _ in runner.approvals] == ["registries", "gate-2"]
    assert runner.jobs["report"].result == "success"


# --- the simulator's expression rules, against GitHub's documented behaviour -------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("null == false", True),  # both coerce to 0
        ("'' == 0", True),
        ("'abc' == 'ABC'", True),  # case-insensitive
        ("'3' >= 2", True),
        ("1 && 'x' || 'y'", "x"),
        ("0 && 'x' || 'y'", "y"),
        ("!null", True),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
        ("needs.w.outputs.n >= 2", True),
        ("needs.missing.result == 'success'", False),
    ],
)
def test_simulated_expressions(expression: str, value: object) -> None:
    context = {"needs": {"w": {"outputs": {"n": "2"}, "result": "success"}}}
    assert evaluate(expression, context)[0] == value


def test_an_if_without_a_status_function_implies_success() -> None:
    failed = {"success": False, "failure": True, "always": True, "cancelled": False}
    assert not condition("true", {}, failed.__getitem__)
    assert condition("${{ always() && true }}", {}, failed.__getitem__)
    assert condition("!cancelled()", {}, failed.__getitem__)


def test_a_run_that_deployed_nothing_is_not_the_base(fleet: Repo, tmp_path: Path) -> None:
    """Without a repository variable every Pulumi job (and the report) is skipped, and a run of
    skipped jobs is a success on GitHub: it must not become the last commit fully deployed."""
    first = deploy(fleet, tmp_path, variables={**VARS, "AWS_DEPLOY_ROLE_ARN": ""})
    assert deployed(tmp_path) == []
    assert first.conclusion == "success"  # as the runs API lists it
    assert first.jobs["report"].result == "skipped"
    fleet.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    fleet.commit("grow beta, once the variables are set")
    second = deploy(fleet, tmp_path, runs=[first.record(1)])
    (entry,) = second.jobs["affected"].entries
    assert (
        "no successful deploy to compare with: every stack" in entry.step("fluxfleet rollout").log
    )
    assert deployed(tmp_path) == ["registries", "beta", "gamma", "alpha"]  # the whole fleet
    # That run completed: it is the base of the next one.
    fleet.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [worker]")
    fleet.commit("alpha pulls worker")
    deploy(fleet, tmp_path, runs=[second.record(2), first.record(1)])
    assert deployed(tmp_path) == ["registries", "alpha"]


def test_re_running_an_older_run_cannot_roll_stacks_back(fleet: Repo, tmp_path: Path) -> None:
    """ "Re-run failed jobs" keeps the run's commit and re-runs the failed jobs and every job after
    them. Once main has moved on, the older run refuses instead of deploying its older commit."""
    first = deploy(fleet, tmp_path, fail=("gamma",))  # commit A: gamma failed, alpha not started
    assert first.conclusion == "failure"
    fleet.edit("k8s-clusters/gamma.yaml", "repositories: [api, worker]", "repositories: [api]")
    newer = fleet.commit("gamma pulls api only")
    second = deploy(fleet, tmp_path, runs=[first.record(1)])  # commit B deploys everything
    assert second.conclusion == "success"
    at_log = tmp_path / "pulumi-at.log"
    assert at_log.read_text().split("\n")[:-1] == [
        f"{s} {newer}" for s in ("registries", "beta", "gamma", "alpha")
    ]

    (tmp_path / "fail").write_text("")  # whatever failed is fixed
    at_log.write_text("")
    first.extra_env["SIM_MAIN"] = newer
    jobs = first.rerun_failed()
    assert at_log.read_text() == ""  # nothing of commit A deployed again
    (gamma,) = [e for e in stack_entries(jobs["wave-1"]) if e.matrix["stack"] == "gamma"]
    refused = gamma.step("Only main's newest commit deploys")
    assert refused.outcome == "failure"
    assert "::error title=Not deployed: main has moved on::" in refused.log
    assert f"main is at {newer}. The Deploy run of {newer} deploys this change too" in refused.log
    assert first.conclusion == "failure" and jobs["wave-2"].result == "skipped"


def test_re_running_the_newest_run_deploys_what_failed(fleet: Repo, tmp_path: Path) -> None:
    first = deploy(fleet, tmp_path, fail=("gamma",))
    (tmp_path / "fail").write_text("")
    jobs = first.rerun_failed()
    assert deployed(tmp_path) == ["registries", "beta", "gamma", "gamma", "alpha"]
    assert [e.result for e in stack_entries(jobs["wave-1"])] == ["success", "success"]
    assert jobs["report"].result == "success" and first.conclusion == "success"
    assert first.record(1)["jobs"][-1] == {"name": "Rollout report", "conclusion": "success"}


def test_an_unhealthy_canary_stops_the_next_wave(
    fleet: Repo, tmp_path: Path, clusters: tuple[World, dict[str, str]]
) -> None:
    """The health gate (issue 25): gamma's `pulumi up` succeeds, but its Flux does not get
    healthy on the deployed commit within rollout.healthTimeout: wave 1 fails, wave 2 never
    starts, and the report says why."""
    fleet.edit("k8s-clusters/_defaults.yaml", "spec:\n", "rollout:\n  healthTimeout: 10s\nspec:\n")
    fleet.edit(
        "k8s-clusters/gamma.yaml", "  environment: staging\n", "  environment: staging\n  wave: 0\n"
    )
    fleet.commit("gamma is the canary")
    world, _ = clusters
    world.clusters["gamma"] = ("333333333333", "degraded")
    runner = deploy(fleet, tmp_path)
    jobs = runner.jobs
    assert deployed(tmp_path) == ["registries", "gamma"]  # its pulumi up ran, and succeeded
    (gamma,) = stack_entries(jobs["wave-1"])
    assert gamma.step("pulumi up").outcome == "success"
    assert gamma.step("Flux healthy on this commit").outcome == "failure"
    assert "gamma: not healthy: components not ready: helm-controller" in (
        gamma.step("Flux healthy on this commit").log
    )
    assert "## Fleet status: 1 cluster(s): 0 healthy, 1 not" in gamma.summary
    assert all(jobs[j].result == "skipped" for j in WAVE_JOBS[1:])
    assert jobs["report"].result == "failure"
    summary = report(runner)
    assert (
        "| 0 | gamma | failed (failure, Flux not healthy: components not ready: helm-controller; "
        "2 failing: Kustomization/flux-system/apps, HelmRelease/payments/podinfo) |"
    ) in summary
    assert "Not started (2): beta alpha." in summary


def test_the_health_gate_waits_for_the_deployed_commit(
    fleet: Repo, tmp_path: Path, clusters: tuple[World, dict[str, str]]
) -> None:
    """Every cluster healthy and on the commit deployed: each stack's gate passes at once, with
    the deploy's own commit; a cluster still on an older commit fails its wave."""
    runner = deploy(fleet, tmp_path)
    assert runner.jobs["report"].result == "success"
    (alpha,) = stack_entries(runner.jobs["wave-2"])
    assert alpha.step("Flux healthy on this commit").outcome == "success"
    fleet.edit("k8s-clusters/_defaults.yaml", "spec:\n", "rollout:\n  healthTimeout: 10s\nspec:\n")
    fleet.commit("a shorter wait")
    world, _ = clusters
    world.clusters["beta"] = ("222222222222", "stale")
    runner = deploy(fleet, tmp_path)
    assert runner.jobs["wave-1"].result == "failure"
    assert "| 1 | beta | failed (failure, Flux not healthy: sync at 0123456789ab, not yet " in (
        report(runner)
    )


def test_a_rollout_of_10000_clusters_in_3_waves_stops_after_a_failure_in_wave_2(
    tmp_path: Path,
) -> None:
    """Issue 26: 10,000 clusters (100 canaries in wave 0, then staging and production), every
    stack in the plan. No matrix holds more than 256 jobs, no job output more than 1 MB (the
    simulator fails either, as GitHub does); a failure in the second wave lets its other stacks
    finish and starts no later wave; at most rollout.maxParallel stacks at once; the report's
    summary stays under the 1 MiB GitHub keeps.

    The plan is `fluxfleet rollout`'s own (rollout_plan), served by a stand-in fluxfleet (the real
    one at 10,000 is timed in benchmarks/bench.py); the per-stack steps that would each start a
    process are Python stand-ins (step_fakes), the job graph, matrices, calls, gates, artifacts and
    the report's bash are the workflow's own."""
    stacks = [
        AffectedStack(
            f"c{i:05d}",
            ("k8s-clusters/_defaults.yaml changed",),
            environment="production" if i % 2 else "staging",
            wave=0 if i % 100 == 1 else (2 if i % 2 else 1),
            github_environment="production" if i % 2 else "fleet",
            github_owner="acme",
            github_repositories=("gitops",),
        )
        for i in range(1, 10_001)
    ]
    plan = rollout_plan(stacks, Rollout.model_validate({"maxParallel": 32}))
    assert [len(w.stacks) for w in plan.waves if w.number == 0] == [100]
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "plan.json").write_text(json.dumps(plan.document()))
    fake = checkout / ".venv" / "bin" / "fluxfleet"
    fake.write_text(
        f'#!/bin/sh\ncase "$*" in *json*) cat "{tmp_path}/plan.json" ;; *) echo plan ;; esac\n'
    )
    fake.chmod(0o755)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH.replace("PYTHON", sys.executable))
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / "runs.json").write_text("[]")
    failing = "c00602"  # staging: wave 1, the second wave
    deployed: list[str] = []

    def newest(env: dict[str, str], cwd: Path) -> tuple[bool, dict[str, str]]:
        return True, {}

    def up(env: dict[str, str], cwd: Path) -> tuple[bool, dict[str, str]]:
        deployed.append(env["STACK"])
        return env["STACK"] != failing, {}

    def record(env: dict[str, str], cwd: Path) -> tuple[bool, dict[str, str]]:
        (cwd / "rollout-result").mkdir()
        result = {"stack": env["STACK"], "status": env["STATUS"]}
        (cwd / "rollout-result" / f"{env['STACK']}.json").write_text(json.dumps(result))
        return True, {}

    runner = Runner(
        ROOT,
        "deploy.yml",
        checkout,
        tmp_path / "sim",
        github={"repository": "acme/gitops", "token": "ghs_run", "sha": "a" * 40},
        variables=VARS,
        secrets=SECRETS,
        path=f"{bin_dir}:{os.environ['PATH']}",
        actions={".github/actions/setup-fleet": lambda w, e, cwd: (True, {})},
        extra_env={"SIM_RUNS": str(tmp_path / "runs.json"), "SIM_MAIN": "a" * 40},
        reviewers=frozenset({"production"}),
        step_fakes={
            "Only main's newest commit deploys": newest,
            "pulumi up": up,
            "Record the result": record,
        },
    )
    jobs = runner.run()
    assert jobs["affected"].result == "success", jobs["affected"].error
    assert max(len(v) for v in jobs["affected"].outputs.values()) < 10_000  # no plan in outputs
    # wave 0: 100 canaries in one part; wave 1: 5,000 stacks in 20 parts of at most 256.
    assert [len(p.jobs["deploy"].entries) for p in jobs["wave-1"].entries] == [100]
    parts = jobs["wave-2"].entries
    assert [p.matrix["part"] for p in parts] == list(range(1, 21))
    assert all(len(p.jobs["deploy"].entries) <= 256 for p in parts)
    assert {e.matrix["wave"] for e in stack_entries(jobs["wave-2"])} == {1}
    assert len(stack_entries(jobs["wave-2"])) == 5000  # a failure lets the wave finish
    assert jobs["wave-1"].result == "success" and jobs["wave-2"].result == "failure"
    # at most maxParallel at once: parts side by side times stacks of each
    assert jobs["wave-2"].max_parallel * parts[0].jobs["deploy"].max_parallel <= 32
    # no later wave: neither its review nor any of its stacks
    assert jobs["gate-3"].result == "skipped" and jobs["wave-3"].result == "skipped"
    assert len(deployed) == 100 + 5000 and not any(int(s[1:]) % 2 for s in deployed[100:])
    # the canaries (production) were reviewed once; staging needs none; wave 2 never asked
    assert [job for job, _ in runner.approvals] == ["gate-1"]
    assert jobs["report"].result == "failure"
    summary = report(runner)
    assert len(summary.encode()) < 1024 * 1024
    assert "10000 stacks: the table lists the first 1000 not done." in summary
    assert "| 1 | c00602 | failed (failure) |" in summary
    assert "Done (5099): c00001 " in summary and " and 4899 more." in summary
    assert "Failed (1): c00602." in summary
    assert "Not started (4900): c00003 c00005 " in summary
