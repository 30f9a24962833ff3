"""The GitHub Actions workflows in .github/ (docs/how-to/ci.md).

- zizmor (offline) finds nothing, and the GitHub workflow / action JSON schemas accept them;
- every action is pinned to a full commit SHA with its version in a comment, permissions are
  least-privilege per job, no expression is expanded inside a `run:` script;
- the jobs do what the issue asks (preview, deploy order and gates, drift);
- the shell steps that glue `fluxfleet` to the matrix are run here, with bash and jq, against a
  real git repository, and their outputs checked.

zizmor and check-jsonschema are dev dependencies, installed next to the Python running the tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, copy_project
from fleetrepo import Repo, entry, git_identity, make_repo
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent / "upstream"))
import refresh

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def workflow(name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / name)


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(
            f"{name} is not installed next to {sys.executable}: "
            "pip install zizmor==1.32.0 check-jsonschema==0.39.0"
        )
    return str(path)


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "jobs" in doc:
        return [s for job in doc["jobs"].values() for s in job.get("steps", [])]
    return list(doc["runs"].get("steps", []))


def step(doc: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    found = [s for s in doc["jobs"][job]["steps"] if s.get("name") == name]
    assert len(found) == 1, f"{job}: {name}"
    return found[0]


def test_the_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert names == {
        "pull-request.yml",
        "plan-comment.yml",
        "preview.yml",
        "deploy.yml",
        "deploy-part.yml",
        "drift.yml",
        "flux-artifact.yml",
        "drift-part.yml",
    }
    assert {p.parent.name for p in ACTIONS} == {"setup-fleet", "cloud-settings", "newest-commit"}


# --- linters --------------------------------------------------------------------------------


def zizmor(*paths: Path, persona: str = "regular") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", f"--persona={persona}", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    ("persona", "ignored"),
    [("regular", "(2 ignored)"), ("auditor", "(2 ignored)")],
)
def test_zizmor_finds_nothing(persona: str, ignored: str) -> None:
    """The auditor persona too: every audit, every confidence (secrets outside an environment,
    concurrency limits...); what it ignores is listed below, each with its reason."""
    done = zizmor(GITHUB, persona=persona)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout
    assert ignored in done.stdout  # the two reasoned ignores below, nothing suppressed


def test_the_auditor_would_catch_a_secret_outside_an_environment(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\n"
        "permissions: {}\n"
        "concurrency: {group: x, cancel-in-progress: false}\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-24.04\n"
        "    permissions: {}\n"
        "    steps:\n"
        "      - run: ./deploy\n"
        "        env: {PASSPHRASE: '${{ secrets.PULUMI_CONFIG_PASSPHRASE }}'}\n"
    )
    done = zizmor(bad, persona="auditor")
    assert done.returncode != 0
    assert "[secrets-outside-env]" in done.stdout


def test_every_secret_is_read_in_a_job_with_an_environment() -> None:
    """Repository secrets reach any branch's workflow; environment secrets only the jobs of the
    environment's deployment branches (main)."""
    found = 0
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            text = json.dumps(job)
            if "secrets." not in text:
                continue
            found += 1
            if "uses" in job:  # a call passes the secrets by name to jobs of an environment
                called = load(ROOT / job["uses"][2:])
                assert set(job["secrets"]) == set(called["on"]["workflow_call"]["secrets"])
                readers = [j for j in called["jobs"].values() if "secrets." in json.dumps(j)]
                assert readers and all(j.get("environment") for j in readers), name
                continue
            assert job.get("environment"), f"{path.name}: {name} reads a secret outside one"
    # registries, the 8 wave jobs (calls), deploy-part's deploy, preview, drift (a call), and
    # drift-part's drift
    assert found == 1 + 8 + 1 + 1 + 1 + 1
    assert "secrets." not in (GITHUB / "workflows" / "pull-request.yml").read_text()


def test_zizmor_runs_offline_and_would_catch_an_injection(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "permissions: write-all\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with: {ref: '${{ github.event.pull_request.head.sha }}'}\n"
        "      - run: echo '${{ github.event.pull_request.title }}'\n"
    )
    done = zizmor(bad)
    assert done.returncode != 0
    for audit in ("template-injection", "dangerous-triggers", "unpinned-uses"):
        assert f"[{audit}]" in done.stdout, audit


def test_the_only_zizmor_suppressions_are_these_two_each_with_its_reason() -> None:
    ignores = sorted(
        (path.name, line.strip())
        for path in [*WORKFLOWS, *ACTIONS]
        for line in path.read_text().splitlines()
        if "zizmor:" in line
    )
    assert ignores == [
        (
            "plan-comment.yml",
            "# zizmor: ignore[dangerous-triggers] the safe split: no checkout, the artifact is "
            "data (above)",
        ),
        (
            "preview.yml",
            "# zizmor: ignore[dangerous-triggers] main's code only; the pull request's definitions "
            "are data",
        ),
    ]
    assert not (ROOT / "zizmor.yml").exists() and not (GITHUB / "zizmor.yml").exists()


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path: Path) -> None:
    done = check_jsonschema("vendor.github-workflows", path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_matches_the_github_action_schema(path: Path) -> None:
    done = check_jsonschema("vendor.github-actions", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-onn: ubuntu-24.04\n    steps: []\n")
    assert check_jsonschema("vendor.github-workflows", bad).returncode != 0


# --- pins, permissions, scripts -------------------------------------------------------------


def uses_lines() -> list[tuple[str, str]]:
    """(file, the text after `uses:`) for every step of every workflow and action."""
    found = []
    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+)$", line)
            if match:
                found.append((path.name, match.group(1)))
    return found


def test_every_action_is_pinned_to_a_full_sha_with_its_version() -> None:
    pins: dict[str, set[str]] = {}
    lines = uses_lines()
    assert len(lines) > 20
    for file, text in lines:
        ref, _, comment = text.partition("#")
        ref = ref.strip()
        if ref.startswith("$/"):  # this repository, at the commit that runs
            local = GITHUB.parent / ref[2:]
            assert (local / "action.yml").exists() or (local.suffix == ".yml" and local.exists())
            continue
        match = SHA_PIN.match(ref)
        assert match, f"{file}: {ref} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.search("#" + comment), f"{file}: {ref} has no # vX.Y.Z"
        pins.setdefault(match["action"], set()).add(f"{match['sha']} {comment.strip()}")
    # One version of each action everywhere.
    assert {action: len(shas) for action, shas in pins.items()} == dict.fromkeys(pins, 1)
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
        "actions/download-artifact",
        "actions/create-github-app-token",
        "aws-actions/configure-aws-credentials",
        "pulumi/actions",
        "marocchino/sticky-pull-request-comment",
        "fluxcd/flux2/action",
        "sigstore/cosign-installer",
    }


def test_every_pin_is_the_verified_commit_of_the_tag_in_its_comment() -> None:
    """tests/upstream/action-pins.txt holds the commit each tag points at, as read from the action's
    own repository (tests/upstream/SOURCES); a pin moved without its comment, or a comment naming a
    tag that was never verified, fails here."""
    table = refresh.parse_pins((ROOT / "tests" / "upstream" / "action-pins.txt").read_text())
    pins = refresh.pins_in([*WORKFLOWS, *ACTIONS])
    assert len(pins) == len([t for _, t in uses_lines() if not t.startswith("$/")])
    assert refresh.pin_problems(pins, table) == []
    assert {p.action for p in pins} == {action for action, _ in table}


def test_a_pin_that_is_not_its_tag_is_caught(tmp_path: Path) -> None:
    table = refresh.parse_pins((ROOT / "tests" / "upstream" / "action-pins.txt").read_text())
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "    steps:\n"
        # the SHA of another tag, and a tag nobody verified
        "      - uses: actions/checkout@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.1\n"
        "      - uses: actions/create-github-app-token@bcd2ba49218906704ab6c1aa796996da409d3eb1"
        " # v3.2.0\n"
        "      - uses: $/.github/actions/setup-fleet\n"
    )
    assert refresh.pin_problems(refresh.pins_in([bad]), table) == [
        "bad.yml: actions/checkout@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.1: the tag "
        "v7.0.1 is commit 3d3c42e5aac5ba805825da76410c181273ba90b1",
        "bad.yml: actions/create-github-app-token@bcd2ba49218906704ab6c1aa796996da409d3eb1 # "
        "v3.2.0: v3.2.0 is not in action-pins.txt",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege_per_job(path: Path) -> None:
    doc = load(path)
    assert doc["permissions"] == {}, "the workflow grants nothing; each job asks for its own"
    for name, job in doc["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{name}: no permissions: block"
        steps = job.get("steps", [])
        if "uses" in job:  # a call: what its jobs ask for, no more (they get at most this)
            steps = [s for j in load(ROOT / job["uses"][2:])["jobs"].values() for s in j["steps"]]
        uses = " ".join(str(s.get("uses", "")) for s in steps)
        assert granted.get("contents") in (None, "read"), name
        assert ("id-token" in granted) == ("configure-aws-credentials" in uses), name
        comments = "sticky-pull-request-comment" in uses
        assert (granted.get("pull-requests") == "write") == comments, name
        assert set(granted.values()) <= {"read", "write"}
        for checkout in [
            s for s in job.get("steps", []) if "actions/checkout" in s.get("uses", "")
        ]:
            assert checkout["with"]["persist-credentials"] is False, name


def test_no_expression_is_expanded_inside_a_run_script() -> None:
    scripts = [
        (p.name, s["run"]) for p in [*WORKFLOWS, *ACTIONS] for s in steps_of(load(p)) if "run" in s
    ]
    assert len(scripts) >= 8
    for name, run in scripts:
        assert "${{" not in run, f"{name}: pass values through env:, not into the script"


def test_pull_request_target_only_for_the_preview_and_the_comment_job_runs_no_pr_code() -> None:
    for path in WORKFLOWS:
        assert ("pull_request_target" in load(path)["on"]) == (path.name == "preview.yml")
    doc = workflow("plan-comment.yml")
    assert doc["on"] == {"workflow_run": {"workflows": ["Pull request"], "types": ["completed"]}}
    assert workflow("pull-request.yml")["name"] == "Pull request"
    (job,) = doc["jobs"].values()
    uses = [s.get("uses", "") for s in job["steps"]]
    assert not any("checkout" in u or u.startswith("$/") for u in uses)
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    check = step(doc, "comment", "Check the pull request it belongs to")
    assert check["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert '"$head" != "$HEAD_SHA"' in check["run"]
    post = step(doc, "comment", "Post or update the comment")
    assert post["with"]["number"] == "${{ steps.pr.outputs.number }}"


def test_the_pulumi_cli_is_the_release_of_the_locked_sdk() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    (sdk,) = re.findall(r"^pulumi==([\d.]+)", lock, flags=re.M)
    for name in ("pull-request.yml", "deploy.yml", "drift.yml"):
        doc = workflow(name)
        assert doc["env"]["PULUMI_VERSION"] == sdk, name
        for s in steps_of(doc):
            if "pulumi/actions" in s.get("uses", ""):
                assert s["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
                if "command" in s["with"]:  # else it only installs the CLI, for a run: step
                    assert s["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
            if 'pulumi login "$BACKEND_URL"' in s.get("run", ""):
                assert s["env"]["BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"


# --- what each workflow does ------------------------------------------------------------------


def pulumi_step(doc: dict[str, Any], job: str) -> dict[str, Any]:
    (found,) = [s for s in doc["jobs"][job]["steps"] if "pulumi/actions" in s.get("uses", "")]
    return found


def test_pull_requests_run_their_code_with_nothing_to_steal() -> None:
    doc = workflow("pull-request.yml")
    assert set(doc["on"]) == {"pull_request"}
    assert set(doc["jobs"]) == {"checks", "affected", "plan"}
    checks = " ".join(s.get("run", "") for s in doc["jobs"]["checks"]["steps"])
    assert "bash .ci/run" in checks and "fluxfleet validate" in checks
    for name, job in doc["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, name  # no id-token, no write
        assert "environment" not in job, name
    upload = [s for s in doc["jobs"]["plan"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload[0]["with"]["name"] == "plan-comment"


def test_the_preview_runs_mains_code_in_the_preview_environment() -> None:
    doc = workflow("preview.yml")
    assert doc["on"] == {
        "pull_request_target": {
            "branches": ["main"],
            "types": ["opened", "synchronize", "reopened"],
        }
    }
    assert doc["jobs"]["affected"]["if"] == (
        "github.event.pull_request.head.repo.full_name == github.repository"
    )
    preview = doc["jobs"]["preview"]
    assert preview["environment"] == "preview"
    assert preview["strategy"]["matrix"] == "${{ fromJSON(needs.affected.outputs.preview) }}"
    for job in ("affected", "preview"):
        checkouts = [s for s in doc["jobs"][job]["steps"] if "checkout" in s.get("uses", "")]
        # main's code at the top (the default ref of pull_request_target), the PR beside it
        assert "ref" not in checkouts[0].get("with", {})
        # the event's head, merged with main's commit of this run by the next step
        assert checkouts[1]["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
        names = [s.get("name") for s in doc["jobs"][job]["steps"]]
        assert names.index("Merged with main") == names.index("The pull request, as data") + 1
        assert checkouts[1]["with"]["path"] == "pull-request"
    affected = step(
        doc, "affected", "fluxfleet previews (main's code, the pull request's definitions)"
    )
    assert "--repository pull-request" in affected["run"]
    assert "--same-aws-as main-fleet" in affected["run"]
    assert affected["env"]["MAX_PREVIEWS"] == "${{ vars.FLUXFLEET_MAX_PREVIEWS || '24' }}"
    for job in ("affected", "preview"):
        names = [s.get("name", s.get("uses")) for s in doc["jobs"][job]["steps"]]
        # the PR's files are over main's (as data) before any of main's code is installed or run
        assert names.index("The pull request's definitions over main's code") < names.index(
            "$/.github/actions/setup-fleet"
        )
    # the CLI only: its output goes to the one comment, no comment per stack
    assert pulumi_step(doc, "preview")["with"] == {"pulumi-version": "${{ env.PULUMI_VERSION }}"}
    run = step(doc, "preview", "pulumi preview")
    assert 'pulumi preview --diff --non-interactive --stack "$STACK"' in run["run"]
    assert "pull-requests" not in preview["permissions"]
    comment = doc["jobs"]["comment"]
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "environment" not in comment and "secrets." not in json.dumps(comment)
    aws = [s for s in preview["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert aws[0]["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    app = next(s for s in preview["steps"] if "create-github-app-token" in s.get("uses", ""))
    assert app["with"]["permission-administration"] == "read"


def test_deploy_runs_registries_first_and_gates_production() -> None:
    """The job graph itself runs in tests/test_deploy_rollout.py; here, what each job holds."""
    doc = workflow("deploy.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    jobs = doc["jobs"]
    assert jobs["registries"]["environment"] == "production"
    assert jobs["registries"]["concurrency"]["group"] == "fluxfleet-stack-registries"
    up = step(doc, "registries", "pulumi up")
    assert up["env"]["STACK"] == "registries"
    assert 'pulumi up --yes --diff --non-interactive --stack "$STACK"' in up["run"]
    wave = jobs["wave-1"]
    assert wave["needs"] == ["affected", "registries", "gate-1"]
    assert (
        "needs.registries.result == 'success' || needs.registries.result == 'skipped'" in wave["if"]
    )
    part = workflow("deploy-part.yml")
    deploy = part["jobs"]["deploy"]
    assert deploy["concurrency"] == {
        "group": "fluxfleet-stack-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    assert step(part, "deploy", "pulumi up")["env"]["STACK"] == "${{ matrix.stack }}"
    app = next(s for s in deploy["steps"] if "create-github-app-token" in s.get("uses", ""))
    assert app["with"]["permission-administration"] == "write"
    for job in (jobs["registries"], deploy):
        aws = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert aws[0]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert part["env"] == doc["env"]  # the same Pulumi CLI
    # Nothing destroys.
    text = (GITHUB / "workflows" / "deploy.yml").read_text()
    assert "command: destroy" not in text and "pulumi destroy -s" in text
    assert not re.search(r"^\s*pulumi destroy", text, flags=re.M)


def test_drift_previews_every_stack_expecting_no_changes() -> None:
    doc = workflow("drift.yml")
    assert "schedule" in doc["on"]
    call = doc["jobs"]["drift"]
    assert call["strategy"]["matrix"] == "${{ fromJSON(needs.stacks.outputs.parts) }}"
    assert call["uses"] == "$/.github/workflows/drift-part.yml"
    part = workflow("drift-part.yml")
    drift = part["jobs"]["drift"]
    assert drift["strategy"]["matrix"] == "${{ fromJSON(needs.shards.outputs.matrix) }}"
    assert drift["strategy"]["fail-fast"] is False and drift["environment"] == "preview"
    assert not drift["concurrency"]["group"].startswith("fluxfleet-stack-")
    preview = step(
        part, "drift", "pulumi preview --refresh --expect-no-changes, each stack of the shard"
    )
    assert preview["env"]["STACKS"] == "${{ matrix.stacks }}"
    assert (
        'pulumi preview --refresh --expect-no-changes --diff --non-interactive --stack "$stack"'
        in preview["run"]
    )


# --- the shell steps, run ---------------------------------------------------------------------


def install_fluxfleet(checkout: Path) -> None:
    """.venv/bin/fluxfleet running this repository's components (-P: not the checkout's)."""
    fluxfleet = checkout / ".venv" / "bin" / "fluxfleet"
    fluxfleet.parent.mkdir(parents=True)
    fluxfleet.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -P -m components "$@"\n'
    )
    fluxfleet.chmod(0o755)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A checkout as the jobs see it: the fleet in git and .venv/bin/fluxfleet."""
    return checkout(tmp_path, monkeypatch)


def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The fleet repository (tests/fleetrepo.py) with .venv/bin/fluxfleet, ignored by git."""
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    git_identity(monkeypatch)
    repo = make_repo(tmp_path / "checkout")
    install_fluxfleet(repo.project)
    (repo.project / ".gitignore").write_text(".venv/\n")
    repo.commit("ignore .venv")
    return repo


def run_step(
    the_step: dict[str, Any], cwd: Path, env: dict[str, str]
) -> tuple[int, dict[str, str], str, str]:
    """Run a step's script as GitHub does (bash -eo pipefail); its outputs, summary and stderr."""
    assert set(the_step.get("env", {})) == set(env), "the test sets exactly the step's env"
    output, summary = cwd.parent / "github_output", cwd.parent / "step_summary"
    output.write_text("")
    summary.write_text("")
    script = cwd.parent / "step.sh"
    script.write_text(the_step["run"])
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env={
            **os.environ,
            **env,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done.returncode, outputs, summary.read_text(), done.stdout + done.stderr


def test_pull_request_affected_step(workspace: Repo) -> None:
    workspace.remove("k8s-clusters/gamma.yaml")
    workspace.edit("k8s-clusters/beta.yaml", "size: small", "size: large")
    workspace.commit("retire gamma, grow beta")
    the_step = step(workflow("pull-request.yml"), "affected", "fluxfleet affected")
    assert the_step["env"] == {"BASE_SHA": "${{ github.event.pull_request.base.sha }}"}
    code, out, _, log = run_step(the_step, workspace.project, {"BASE_SHA": workspace.base})
    assert code == 0, log
    assert json.loads(out["matrix"])["include"] == [
        entry("registries"),
        entry("beta"),
        entry("gamma", removed=True),
    ]


def test_deploy_rollout_step(workspace: Repo) -> None:
    the_step = step(workflow("deploy.yml"), "affected", "fluxfleet rollout")
    workspace.remove("k8s-clusters/gamma.yaml")
    workspace.edit("k8s-clusters/alpha.yaml", "repositories: [api]", "repositories: [worker]")
    workspace.commit("retire gamma, alpha pulls worker")
    env = {"BASE": workspace.base, "SLOTS": "3"}
    code, out, _, log = run_step(the_step, workspace.project, env)
    assert code == 0, log
    assert "wave 2:\n  alpha (reviewed): k8s-clusters/alpha.yaml changed" in log  # the text plan
    slots = {k: json.loads(v) for k, v in out.items() if k.startswith("wave-")}
    reviews = {k: v for k, v in out.items() if k.startswith("review-")}
    assert reviews == {"review-1": "true", "review-2": "false", "review-3": "false"}
    empty = {"wave": None, "parts": {"include": []}, "partsAtOnce": 1, "stacksAtOnce": 1}
    assert slots == {
        "wave-1": {
            "wave": 2,
            "parts": {"include": [{"wave": 2, "part": 1, "parts": 1}]},
            "partsAtOnce": 1,
            "stacksAtOnce": 4,
        },
        "wave-2": empty,
        "wave-3": empty,
    }
    plan = json.loads((workspace.project / "rollout-plan" / "rollout.json").read_text())
    assert plan["waves"] == [{"wave": 2, "part": 1, "include": [entry("alpha")]}]
    assert {k: v for k, v in out.items() if k not in slots | reviews} == {
        "registries": "true",
        "removed": '["gamma"]',
        "waves": "1",
    }

    # A push with no earlier commit (a new branch, or an unknown one): every stack.
    code, out, _, log = run_step(the_step, workspace.project, env | {"BASE": ""})
    assert code == 0, log
    assert "no successful deploy to compare with: every stack" in log
    plan = json.loads((workspace.project / "rollout-plan" / "rollout.json").read_text())
    assert [[e["stack"] for e in w["include"]] for w in plan["waves"]] == [["beta"], ["alpha"]]
    assert [json.loads(out[f"wave-{k}"])["wave"] for k in (1, 2, 3)] == [1, 2, None]
    assert (out["registries"], out["removed"], out["waves"]) == ("true", "[]", "2")

    # Nothing touched: no cluster, no registries.
    workspace.write("README.md", "# docs only\n")
    head = workspace.commit("docs")
    code, out, _, log = run_step(the_step, workspace.project, env | {"BASE": f"{head}~1"})
    assert code == 0, log
    assert (out["registries"], out["removed"], out["waves"]) == ("false", "[]", "0")


def test_drift_lists_every_stack(workspace: Repo) -> None:
    the_step = step(workflow("drift.yml"), "stacks", "fluxfleet affected --all")

    def shards() -> list[dict[str, Any]]:
        text = (workspace.project / "drift-shards" / "shards.json").read_text()
        return list(json.loads(text)["include"])

    code, out, _, log = run_step(the_step, workspace.project, {"LIMIT": "256", "MOST": "8"})
    assert code == 0, log
    # One shard per stack while they fit, grouped by GitHub owner (registries has none).
    assert shards() == [
        {
            "stacks": "registries",
            "githubOwner": "",
            "githubRepositories": "",
            "shard": 1,
            "shards": 4,
            "part": 1,
        },
        *(
            {
                "stacks": s,
                "githubOwner": "acme",
                "githubRepositories": r,
                "shard": n,
                "shards": 4,
                "part": 1,
            }
            for n, (s, r) in enumerate(
                [("alpha", "gitops"), ("beta", "gitops"), ("gamma", "gitops")], 2
            )
        ),
    ]
    assert json.loads(out["parts"]) == {"include": [{"part": 1, "parts": 1}]}
    assert out["count"] == "4"
    # More stacks than a part holds: several stacks each (at most MOST), one owner (one App
    # token) per shard, parts of at most LIMIT shards.
    code, out, _, log = run_step(the_step, workspace.project, {"LIMIT": "2", "MOST": "2"})
    assert code == 0, log
    assert [(e["stacks"], e["githubRepositories"], e["part"]) for e in shards()] == [
        ("registries", "", 1),
        ("alpha beta", "gitops", 1),
        ("gamma", "gitops", 2),
    ]
    assert json.loads(out["parts"])["include"] == [
        {"part": 1, "parts": 2},
        {"part": 2, "parts": 2},
    ]


def test_deploy_warns_of_a_removed_definition_with_the_steps(tmp_path: Path) -> None:
    the_step = step(workflow("deploy.yml"), "removed", "The steps to destroy by hand")
    assert the_step["env"]["BASE"] == "${{ needs.affected.outputs.base }}"
    tmp_path.joinpath("w").mkdir()
    code, _, summary, log = run_step(
        the_step, tmp_path / "w", {"REMOVED": '["gamma","delta"]', "BASE": "abc123"}
    )
    assert code == 0  # a failed run would be deployed again by every later push
    assert "::warning title=Definition of gamma deleted::" in log
    assert "git checkout abc123 -- stacks/Pulumi.gamma.yaml" in log  # the last deployed commit
    assert "pulumi destroy -s delta" in log
    assert "### Definition of delta deleted" in summary


@pytest.fixture
def example_checkout(tmp_path: Path) -> Path:
    """The example fleet with .venv/bin/fluxfleet, for the plan step."""
    checkout = copy_project(tmp_path / "checkout")
    install_fluxfleet(checkout)
    return checkout


def test_pull_request_plan_step_writes_the_comment(example_checkout: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    the_step = step(workflow("pull-request.yml"), "plan", "fluxfleet plan --markdown")
    matrix = {"include": [{"stack": "staging-cluster-name"}, {"stack": "old", "removed": True}]}
    env = {
        "AFFECTED": "success",
        "MATRIX": json.dumps(matrix),
        "PR_NUMBER": "42",
        "HEAD_SHA": "c0ffee",
    }
    code, _, summary, log = run_step(the_step, example_checkout, env)
    assert code == 0, log
    comment = (example_checkout / "plan-comment" / "plan.md").read_text()
    assert (example_checkout / "plan-comment" / "pr-number").read_text() == "42\n"
    assert comment.startswith("## Offline plan\n")
    assert "### `staging-cluster-name`:" in comment
    assert "production-cluster-name" not in comment  # only the stacks the change touches
    assert "**old**: its definition is deleted" in comment
    assert summary == comment  # the example fits whole in the comment too
    full = example_checkout / "plan-full"  # the offline-plan artifact
    assert sorted(p.name for p in full.iterdir()) == ["plan.json", "plan.txt", "summary.md"]
    assert (full / "plan.txt").read_text().startswith("Stack staging-cluster-name: ")

    # A stack that cannot be planned: the comment shows why, and the job fails.
    (example_checkout / "k8s-clusters" / "staging-cluster-name.yaml").write_text(
        "apiVersion: flux-fleet/v1\nkind: Cluster\n"
    )
    code, _, _, log = run_step(the_step, example_checkout, env)
    assert code == 1
    comment = (example_checkout / "plan-comment" / "plan.md").read_text()
    assert "The offline plan of staging-cluster-name failed" in comment
    assert "k8s-clusters/staging-cluster-name.yaml: metadata: required field is missing" in comment

    # Nothing touched.
    env["MATRIX"] = '{"include": []}'
    code, _, _, log = run_step(the_step, example_checkout, env)
    assert code == 0, log
    assert (
        "This change touches no stack." in (example_checkout / "plan-comment/plan.md").read_text()
    )


def test_cloud_settings_say_what_is_missing(tmp_path: Path) -> None:
    (action,) = [a for a in ACTIONS if a.parent.name == "cloud-settings"]
    the_step = load(action)["runs"]["steps"][0]
    full = {
        "RUN": "Pulumi preview",
        "BACKEND_URL": "s3://state",
        "ROLE_ARN": "arn:aws:iam::123456789012:role/preview",
        "ROLE_VARIABLE": "AWS_PREVIEW_ROLE_ARN",
        "REGION": "eu-west-1",
        "APP_CLIENT_ID": "Iv1.abc",
    }
    (tmp_path / "w").mkdir()
    code, out, _, log = run_step(the_step, tmp_path / "w", full)
    assert (code, out) == (0, {"ready": "true"}), log
    code, out, _, log = run_step(
        the_step, tmp_path / "w", full | {"ROLE_ARN": "", "APP_CLIENT_ID": ""}
    )
    assert (code, out) == (0, {"ready": "false"}), log
    assert (
        "::notice title=Pulumi preview skipped::Missing repository settings: variable "
        "AWS_PREVIEW_ROLE_ARN, variable FLEET_APP_CLIENT_ID." in log
    )


@pytest.mark.parametrize(
    ("number", "pr_head", "code", "posted"),
    [
        ("42\n", "c0ffee", 0, "42"),  # the pull request is at the commit the plan was made of
        ("42\n", "bad", 0, None),  # stale, or another pull request's number: not posted
        ("42; rm -rf /\n", "c0ffee", 1, None),  # not a number
        ("", "c0ffee", 1, None),
    ],
)
def test_the_comment_is_posted_only_on_its_own_pull_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    number: str,
    pr_head: str,
    code: int,
    posted: str | None,
) -> None:
    the_step = step(workflow("plan-comment.yml"), "comment", "Check the pull request it belongs to")
    folder = tmp_path / "plan-comment"
    folder.mkdir()
    (folder / "pr-number").write_text(number)
    (folder / "plan.md").write_text("## Offline plan\n")
    fake = tmp_path / "bin" / "gh"  # answers `gh api repos/R/pulls/N --jq .head.sha`
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\n[ "$2" = "repos/acme/gitops/pulls/42" ] && echo {pr_head} || exit 1\n'
    )
    fake.chmod(0o755)
    (tmp_path / "w").mkdir()
    env = {
        "GH_TOKEN": "t",
        "REPOSITORY": "acme/gitops",
        "HEAD_SHA": "c0ffee",
        "FOLDER": str(folder),
    }
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    result, out, _, log = run_step(the_step, tmp_path / "w", env)
    assert result == code, log
    assert out.get("number") == posted
