"""The Drift workflow as a whole (tests/actions_sim.py) on a fleet larger than a GitHub Actions
matrix: the stacks run in shards (several per job, one GitHub owner per shard), never more than
256 jobs, every stack previewed exactly once, and a drifted stack fails its shard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from actions_sim import MATRIX_LIMIT, Runner
from conftest import ROOT

VARS = {
    "PULUMI_BACKEND_URL": "s3://fleet-state",
    "AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview",
    "AWS_REGION": "eu-west-1",
    "FLEET_APP_CLIENT_ID": "Iv1.fleet",
}

FAKE_PULUMI = """#!/bin/bash
# pulumi login URL | pulumi preview ... --stack NAME: logs NAME and the App token; drift in $DRIFTED
case "$1" in
  login) exit 0 ;;
  preview)
    while [ "$#" -gt 0 ]; do [ "$1" = --stack ] && stack="$2"; shift; done
    echo "$stack ${GITHUB_TOKEN:-none}" >> "$SIM_LOG"
    [ "$stack" != "$DRIFTED" ] ;;
  *) exit 2 ;;
esac
"""


def test_a_fleet_of_600_stacks_is_checked_in_at_most_256_jobs(tmp_path: Path) -> None:
    owners = {"acme": "gitops,apps-a", "beta-corp": "gitops", "gamma-inc": "web,api"}
    stacks: list[dict[str, Any]] = [{"stack": "registries"}]
    for n in range(599):
        owner = sorted(owners)[n % 3]
        stacks.append(
            {"stack": f"c{n:03}", "githubOwner": owner, "githubRepositories": owners[owner]}
        )
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "all.json").write_text(json.dumps({"include": stacks}))
    fluxfleet = checkout / ".venv" / "bin" / "fluxfleet"
    fluxfleet.write_text(f'#!/bin/sh\n[ "$*" = "affected --all" ] && cat "{tmp_path}/all.json"\n')
    fluxfleet.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    tokens: list[tuple[str, str]] = []

    def app_token(with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        tokens.append((with_["owner"], with_["repositories"]))
        return True, {"token": f"token-of-{with_['owner']}"}

    log = tmp_path / "previews.log"
    runner = Runner(
        ROOT,
        "drift.yml",
        checkout,
        tmp_path / "sim",
        github={"repository": "acme/gitops"},
        variables=VARS,
        secrets={"FLEET_APP_PRIVATE_KEY": "k", "PULUMI_CONFIG_PASSPHRASE": "p"},
        path=f"{bin_dir}:{os.environ['PATH']}",
        actions={
            ".github/actions/setup-fleet": lambda w, e, cwd: (True, {}),
            "actions/create-github-app-token": app_token,
        },
        extra_env={"SIM_LOG": str(log), "DRIFTED": "c123"},
    )
    jobs = runner.run()
    drift = jobs["drift"]
    assert drift.error == ""  # not refused for its size
    assert 3 < len(drift.entries) <= MATRIX_LIMIT
    previewed = [line.split() for line in log.read_text().splitlines()]
    assert sorted(s for s, _ in previewed) == sorted(s["stack"] for s in stacks)  # each once
    owner_of = {s["stack"]: s.get("githubOwner") for s in stacks}
    for stack, token in previewed:  # each with the token of its own owner's shard
        assert token == (f"token-of-{owner_of[stack]}" if owner_of[stack] else "none"), stack
    # one token per shard, for the union of its stacks' repositories
    assert sorted(set(tokens)) == [
        ("acme", "apps-a,gitops"),
        ("beta-corp", "gitops"),
        ("gamma-inc", "api,web"),
    ]
    failed = [e for e in drift.entries if e.result == "failure"]
    assert len(failed) == 1 and "c123" in failed[0].matrix["stacks"].split()
    assert "Drift: c123." in failed[0].summary
    assert drift.result == "failure"
