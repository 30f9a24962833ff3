"""The producer of the OCI sync source: .github/workflows/flux-artifact.yml pushes the flux/ tree to
ECR tagged with the commit, signs it when a cluster verifies it, and moves the tags the clusters
follow wave by wave; `fluxfleet rollout --artifacts` says which tags a change moves (#23, part 3).

The workflow runs in tests/actions_sim.py on a real git repository of the fleet, with the real
`fluxfleet` and fakes of `flux`, `cosign` and `aws` on PATH that log their arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from actions_sim import Runner
from conftest import ROOT
from fleetrepo import Repo
from planutil import run_cli
from test_workflows import checkout, workflow

from components.loading.fleet import load_fleet
from components.tools.artifacts import artifact_tags, in_artifact_tree
from components.tools.snapshots import AffectedError

ECR = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
ARTIFACT = f"oci://{ECR}/fleet/flux"
DIGEST = "sha256:" + "ab" * 32
VARS = {
    "AWS_ARTIFACT_ROLE_ARN": "arn:aws:iam::210987654321:role/artifact",
    "AWS_REGION": "eu-west-1",
}
PROMOTE_JOBS = [f"wave-{k}" for k in range(1, 9)]
INSTALLED: dict[int, list[str]] = {}  # by id of the Runner: the setup actions it ran

# flux push artifact URL ... --output json | flux tag artifact URL --tag T: logged to $SIM_LOG;
# a tag listed in $SIM_FAIL fails.
FAKE_FLUX = f"""#!/bin/bash
echo "flux $*" >> "$SIM_LOG"
case "$1 $2" in
  "push artifact") echo '{{"url": "x", "repository": "r", "tag": "t", "digest": "{DIGEST}"}}' ;;
  "tag artifact")
    while [ "$#" -gt 0 ]; do [ "$1" = --tag ] && tag="$2"; shift; done
    if grep -qx "$tag" "$SIM_FAIL"; then echo "error: tagging $tag failed" >&2; exit 1; fi ;;
  *) echo "unexpected: flux $*" >&2; exit 2 ;;
esac
"""
# gh api .../flux-artifact.yml/runs?...status=success... --jq ...: the commit of the newest
# successful run ($SIM_BASE, empty: none)
RUNS = "repos/acme/gitops/actions/workflows/flux-artifact.yml/runs?branch=main&status=success"
FAKE_GH = f"""#!/bin/bash
case "$*" in
  "api {RUNS}&per_page=1 --jq "*) echo "$SIM_BASE" ;;
  *) echo "unexpected: gh $*" >&2; exit 2 ;;
esac
"""
# cosign login --password-stdin reads its stdin (else `aws ... | cosign login` may fail on SIGPIPE)
FAKE_LOGGER = (
    '#!/bin/bash\necho "NAME $*" >> "$SIM_LOG"\n'
    '[ "$1" != ecr ] || echo password\n[ "$1" != login ] || cat > /dev/null\n'
)
OCI_SYNC = "  sync:\n    kind: oci\n    registry: shared\n    repository: fleet/flux\n"


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """FLEET with alpha (production, verifying the signature) and beta (staging) syncing the
    artifact; gamma (staging) from Git."""
    repo = checkout(tmp_path, monkeypatch)
    repo.edit("k8s-clusters/_registries.yaml", "[api, worker]", "[api, worker, fleet/flux]")
    with (repo.project / "k8s-clusters/alpha.yaml").open("a") as out:
        out.write(OCI_SYNC + "    verify: true\n")
    with (repo.project / "k8s-clusters/beta.yaml").open("a") as out:
        out.write(OCI_SYNC)
    repo.write("flux/clusters/beta/kustomization.yaml", "resources: []\n")
    repo.base = repo.commit("alpha and beta sync the artifact")
    return repo


def run(
    repo: Repo,
    tmp_path: Path,
    *,
    before: str | None,
    fail: tuple[str, ...] = (),
    event: str = "push",
    approve: bool = True,
    variables: dict[str, str] | None = None,
) -> Runner:
    """flux-artifact.yml on `repo`'s HEAD; `before`: the commit of the newest successful run."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, script in (
        ("flux", FAKE_FLUX),
        ("cosign", FAKE_LOGGER.replace("NAME", "cosign")),
        ("aws", FAKE_LOGGER.replace("NAME", "aws")),
        ("gh", FAKE_GH),
    ):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    log, failing = tmp_path / "sim.log", tmp_path / "fail"
    log.write_text("")
    failing.write_text("".join(f"{tag}\n" for tag in fail))
    sha = repo.git("rev-parse", "HEAD")
    installed: list[str] = []

    def checkout_at(with_: dict[str, object], env: dict[str, str], cwd: Path) -> tuple[bool, dict]:
        subprocess.run(["git", "checkout", "-q", sha], cwd=cwd, check=True)
        return True, {}

    def installer(name: str) -> Callable[..., tuple[bool, dict[str, str]]]:
        def install(with_: dict[str, object], env: dict[str, str], cwd: Path) -> Any:
            installed.append(f"{name} {json.dumps(with_)}")  # what the fake installed
            return True, {}

        return install

    runner = Runner(
        ROOT,
        "flux-artifact.yml",
        repo.project,
        tmp_path / "sim",
        github={
            "repository": "acme/gitops",
            "server_url": "https://github.com",
            "sha": sha,
            "event_name": event,
            "token": "ghs_run",
        },
        variables=VARS if variables is None else variables,
        path=f"{bin_dir}:{os.environ['PATH']}",
        actions={
            ".github/actions/setup-fleet": lambda w, e, cwd: (True, {}),
            "actions/checkout": checkout_at,
            "fluxcd/flux2/action": installer("flux"),
            "sigstore/cosign-installer": installer("cosign"),
        },
        extra_env={"SIM_LOG": str(log), "SIM_FAIL": str(failing), "SIM_BASE": before or ""},
        reviewers=frozenset({"production"}),
        approve=lambda job, matrices: approve,
    )
    runner.run()
    INSTALLED[id(runner)] = installed
    return runner


def logged(tmp_path: Path, prefix: str = "") -> list[str]:
    lines = (tmp_path / "sim.log").read_text().splitlines()
    return [line for line in lines if line.startswith(prefix)]


def test_a_change_of_the_tree_pushes_signs_and_moves_the_tags_wave_by_wave(
    fleet: Repo, tmp_path: Path
) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    sha = fleet.commit("a change of the shared tree")
    runner = run(fleet, tmp_path, before=fleet.base)
    jobs = runner.jobs
    assert logged(tmp_path, "flux push") == [
        f"flux push artifact {ARTIFACT}:{sha} --path=. --ignore-paths=/*,!/flux/ "
        f"--source=https://github.com/acme/gitops --revision=main@sha1:{sha} --reproducible "
        "--provider aws --output json"
    ]
    # alpha verifies: the digest pushed is signed, keyless, after a login to its registry
    assert logged(tmp_path, "cosign") == [
        f"cosign login {ECR} --username AWS --password-stdin",
        f"cosign sign --yes {ECR}/fleet/flux@{DIGEST}",
    ]
    assert logged(tmp_path, "aws") == ["aws ecr get-login-password --region eu-west-1"]
    # staging (beta, wave 1, no review), then production (alpha, wave 2, reviewed once)
    assert logged(tmp_path, "flux tag") == [
        f"flux tag artifact {ARTIFACT}:{sha} --tag staging --provider aws",
        f"flux tag artifact {ARTIFACT}:{sha} --tag production --provider aws",
    ]
    assert [jobs[j].result for j in PROMOTE_JOBS[:3]] == ["success", "success", "skipped"]
    assert (jobs["gate-1"].result, jobs["gate-2"].result) == ("skipped", "success")
    assert [job for job, _ in runner.approvals] == ["gate-2"]
    assert jobs["push"].entries[0].environment == "artifact"
    assert jobs["wave-1"].entries[0].environment == "artifact"
    assert runner.conclusion == "success"
    assert INSTALLED[id(runner)] == [
        'flux {"version": "2.9.4"}',
        "cosign {}",
        'flux {"version": "2.9.4"}',
        'flux {"version": "2.9.4"}',
    ]


def test_a_failed_wave_stops_the_promotion(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change")
    runner = run(fleet, tmp_path, before=fleet.base, fail=("staging",))
    assert [line.split()[-3] for line in logged(tmp_path, "flux tag")] == ["staging"]
    assert runner.jobs["wave-1"].result == "failure"
    assert runner.jobs["gate-2"].result == "skipped" and runner.jobs["wave-2"].result == "skipped"
    assert runner.conclusion == "failure"


def test_a_rejected_review_keeps_production_where_it_is(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change")
    run(fleet, tmp_path, before=fleet.base, approve=False)
    assert [line.split()[-3] for line in logged(tmp_path, "flux tag")] == ["staging"]


def test_a_clusters_own_folder_moves_only_its_tag(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/clusters/beta/kustomization.yaml", "resources: [x.yaml]\n")
    fleet.commit("beta's folder")
    runner = run(fleet, tmp_path, before=fleet.base)
    assert [line.split()[-3] for line in logged(tmp_path, "flux tag")] == ["staging"]
    assert logged(tmp_path, "cosign") == []  # beta does not verify: nothing to sign
    assert INSTALLED[id(runner)] == ['flux {"version": "2.9.4"}'] * 2


def test_no_artifact_cluster_touched_pushes_nothing(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/clusters/gamma/kustomization.yaml", "resources: []\n")  # gamma: Git
    fleet.commit("gamma's folder")
    runner = run(fleet, tmp_path, before=fleet.base)
    assert logged(tmp_path) == []
    assert runner.jobs["push"].result == "skipped" and runner.conclusion == "success"


def test_a_push_after_a_failed_run_moves_what_that_run_did_not(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change whose run failed (or waited behind another and was replaced)")
    fleet.write("flux/clusters/beta/kustomization.yaml", "resources: [x.yaml]\n")
    fleet.commit("beta's folder")
    run(fleet, tmp_path, before=fleet.base)  # the newest successful run: before both
    assert [line.split()[-3] for line in logged(tmp_path, "flux tag")] == ["staging", "production"]


def test_tags_to_move_without_the_role_fail_the_run(fleet: Repo, tmp_path: Path) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change")
    runner = run(fleet, tmp_path, before=fleet.base, variables={"AWS_REGION": "eu-west-1"})
    assert runner.jobs["plan"].result == "failure" and runner.jobs["push"].result == "skipped"
    assert runner.conclusion == "failure"  # so the next run moves these tags again
    assert logged(tmp_path) == []


def test_a_manual_run_moves_every_tag(fleet: Repo, tmp_path: Path) -> None:
    run(fleet, tmp_path, before=None, event="workflow_dispatch")
    assert [line.split()[-3] for line in logged(tmp_path, "flux tag")] == ["staging", "production"]


def test_only_pushes_to_main_and_manual_runs_reach_it() -> None:
    doc = workflow("flux-artifact.yml")
    triggers = doc[True] if True in doc else doc["on"]
    assert set(triggers) == {"push", "workflow_dispatch"}  # no pull_request: no fork's code
    assert triggers["push"] == {"branches": ["main"], "paths": ["flux/**"]}
    assert "secrets." not in json.dumps(doc)  # OIDC only: nothing a job could leak
    for name, job in doc["jobs"].items():
        if "id-token" in job["permissions"]:
            assert job["environment"] == "artifact", name  # the role trusts this environment


# --- which tags a change moves ------------------------------------------------------------------


def test_the_tree_of_a_cluster(fleet: Repo) -> None:
    alpha = load_fleet(fleet.project).clusters["alpha"]
    assert in_artifact_tree(alpha, "flux/apps/production/x.yaml")
    assert in_artifact_tree(alpha, "flux/clusters/alpha/kustomization.yaml")
    assert not in_artifact_tree(alpha, "flux/clusters/beta/kustomization.yaml")
    assert not in_artifact_tree(alpha, "flux/clusters/alphabet/kustomization.yaml")
    assert not in_artifact_tree(alpha, "k8s-clusters/alpha.yaml")
    assert not in_artifact_tree(alpha, "README.md")


def test_rollout_and_affected_say_through_the_artifact(fleet: Repo) -> None:
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change")
    code, out, _ = run_cli(fleet.project, "rollout", "--artifacts", "--base", fleet.base)
    assert code == 0
    assert out.splitlines()[1:] == [
        f"wave 1: {ARTIFACT}:staging (no review) -> beta: flux/apps/production/kustomization.yaml",
        f"wave 2: {ARTIFACT}:production (reviewed, signed) -> alpha: "
        "flux/apps/production/kustomization.yaml",
    ]
    code, out, err = run_cli(fleet.project, "affected", "--base", fleet.base)
    assert (code, json.loads(out)) == (0, {"include": []})  # no stack: Flux syncs the change
    assert f"alpha (wave 2): through the artifact, not a stack: {ARTIFACT}:production moves" in err


def test_one_tag_in_two_waves_is_one_line(fleet: Repo) -> None:
    fleet.edit("k8s-clusters/gamma.yaml", "  ecr:", OCI_SYNC + "    tag: production\n  ecr:")
    fleet.commit("gamma (staging, wave 1) follows production's tag")
    message = (
        f"{ARTIFACT}:production: followed by clusters of waves 1, 2 (alpha (wave 2), gamma "
        "(wave 1)); moving a tag moves every cluster that follows it, expected one wave per "
        "tag (give the others a spec.sync.tag of their own)"
    )
    code, _, err = run_cli(fleet.project, "rollout", "--artifacts")
    assert code == 2
    assert err.strip().splitlines()[-1].endswith(message)
    with pytest.raises(AffectedError, match="followed by clusters of waves"):
        artifact_tags(load_fleet(fleet.project), None)
    code, _, err = run_cli(fleet.project, "validate")  # caught before any workflow runs
    assert code == 2
    assert [line for line in err.splitlines() if "followed by" in line] == [
        f"k8s-clusters/{name}.yaml: spec.sync.tag: {message}" for name in ("alpha", "gamma")
    ]
    fleet.write("flux/apps/production/kustomization.yaml", "resources: [a.yaml]\n")
    fleet.commit("a change")
    code, _, err = run_cli(fleet.project, "affected", "--base", "HEAD~1")
    assert code == 0  # Deploy is not held back by it: it deploys stacks, not tags


def test_the_documented_artifact_role_policy_is_least_privilege() -> None:
    """docs/how-to/sync-sources.md: the artifact role pushes and tags exactly one repository."""
    import re

    from parliament import analyze_policy_string

    text = (ROOT / "docs/how-to/sync-sources.md").read_text()
    (policy,) = re.findall(r'```json\n(\{"Version".*?)```', text, re.S)
    document = json.loads(policy)
    token, push = document["Statement"]
    assert (token["Action"], token["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert push["Resource"].endswith(":repository/fleet/flux")  # one repository, no wildcard
    assert "ecr:PutImage" in push["Action"] and not any("*" in a for a in push["Action"])
    assert [f.issue for f in analyze_policy_string(policy).findings] == []


def test_switching_to_oci_touches_the_registries_stack_and_the_cluster(fleet: Repo) -> None:
    fleet.edit("k8s-clusters/gamma.yaml", "  ecr:", OCI_SYNC + "    tag: staging-gamma\n  ecr:")
    fleet.commit("gamma syncs the artifact")
    assert fleet.names(base="HEAD~1") == ["registries", "gamma"]  # the artifact's grant, its stack
    # this deploy deletes gamma's deploy key on gitops: its GitHub token still reaches it
    assert fleet.stacks(base="HEAD~1")[1]["githubRepositories"] == "gitops"
    fleet.edit("k8s-clusters/gamma.yaml", "staging-gamma", "staging-gamma-2")
    fleet.commit("gamma follows another tag")
    (entry,) = fleet.stacks(base="HEAD~1")
    assert "githubOwner" not in entry  # no key anywhere: the job gets no GitHub token at all
