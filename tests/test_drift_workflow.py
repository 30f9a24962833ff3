"""The Drift workflow as a whole (tests/actions_sim.py) on a fleet larger than a GitHub Actions
matrix: the stacks run in shards (several per job, one GitHub owner per shard), the shards in parts
of at most 256 (each a call of drift-part.yml), every stack previewed exactly once, and a drifted
stack fails its shard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from actions_sim import MATRIX_LIMIT, EntryRun, Runner
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


def shards_of(job: Any) -> list[EntryRun]:
    """The shard jobs of the drift job: those of each of its parts (calls of drift-part.yml)."""
    return [shard for part in job.entries for shard in part.jobs["drift"].entries]


@pytest.mark.parametrize(("size", "parts"), [(600, 1), (10_000, 5)])
def test_a_fleet_is_checked_in_parts_of_at_most_256_jobs(
    tmp_path: Path, size: int, parts: int
) -> None:
    """600 stacks: shards of 3 in one part; 10,000 (issue 26): shards of 8, 1,252 of them in 5
    parts (at 10,000 the preview step is a Python stand-in: no process per stack)."""
    owners = {"acme": "gitops,apps-a", "beta-corp": "gitops", "gamma-inc": "web,api"}
    stacks: list[dict[str, Any]] = [{"stack": "registries"}]
    for n in range(size - 1):
        owner = sorted(owners)[n % 3]
        stacks.append(
            {"stack": f"c{n:05}", "githubOwner": owner, "githubRepositories": owners[owner]}
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

    def previews(env: dict[str, str], cwd: Path) -> tuple[bool, dict[str, str]]:
        with log.open("a") as out:
            out.writelines(
                f"{s} {env.get('GITHUB_TOKEN') or 'none'}\n" for s in env["STACKS"].split()
            )
        return "c00123" not in env["STACKS"].split(), {}

    fakes = {"pulumi preview --refresh --expect-no-changes, each stack of the shard": previews}
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
        extra_env={"SIM_LOG": str(log), "DRIFTED": "c00123"},
        step_fakes=fakes if size > 1000 else {},
    )
    jobs = runner.run()
    drift = jobs["drift"]
    assert drift.error == ""  # not refused for its size
    assert [p.matrix["part"] for p in drift.entries] == list(range(1, parts + 1))
    assert all(0 < len(p.jobs["drift"].entries) <= MATRIX_LIMIT for p in drift.entries)
    shards = shards_of(drift)
    assert len(shards) == (202 if size == 600 else 1252)
    assert max(len(e.matrix["stacks"].split()) for e in shards) == (3 if size == 600 else 8)
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
    failed = [e for e in shards if e.result == "failure"]
    assert len(failed) == 1 and "c00123" in failed[0].matrix["stacks"].split()
    if size == 600:  # the step's own bash
        assert "Drift: c00123." in failed[0].summary
    assert drift.result == "failure"
