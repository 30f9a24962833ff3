"""Previews by equivalence class (issue 26): stacks whose offline plans are the same once each
cluster's identity is set aside form a class; a pull request previews one stack per class for
real, and each stack whose own file changed, up to a bound; one comment, bounded in size."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from planutil import edit, run_cli

from components.plan.classes import Identity
from components.plan.parallel import class_keys
from components.tools.previews import (
    DEFAULT_MAX_PREVIEWS,
    MARKER,
    MAX_COMMENT,
    comment,
    own_file_changed,
    select,
)
from components.tools.snapshots import AffectedStack

STAGING = "staging-cluster-name"


def twin(project: Path, name: str, account: str, region: str, *edits: tuple[str, str]) -> None:
    """A copy of the staging cluster with another identity (name, account, region, EKS
    cluster), its stack file and folder, and `edits` to its definition."""
    text = (project / f"k8s-clusters/{STAGING}.yaml").read_text()
    for old, new in [
        (f"name: {STAGING}", f"name: {name}"),
        ('accountId: "234567890123"', f'accountId: "{account}"'),
        ("region: eu-west-1", f"region: {region}"),
        ("eksClusterName: staging-eks", f"eksClusterName: eks-{name}"),
        *edits,
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    (project / f"k8s-clusters/{name}.yaml").write_text(text)
    shutil.copy(project / f"stacks/Pulumi.{STAGING}.yaml", project / f"stacks/Pulumi.{name}.yaml")
    shutil.copytree(project / f"flux/clusters/{STAGING}", project / f"flux/clusters/{name}")


def test_identity_only_differences_share_a_class_a_field_difference_does_not(
    project: Path,
) -> None:
    twin(project, "twin-eu", "345678901234", "eu-west-1")
    twin(project, "twin-us", "456789012345", "us-east-1")
    twin(project, "bigger", "567890123456", "eu-west-1", ("size: small", "size: medium"))
    twin(project, "quieter", "678901234567", "eu-west-1", ("severity: info", "severity: error"))
    stacks = [STAGING, "twin-eu", "twin-us", "bigger", "quieter", "production-cluster-name"]
    keys = dict(zip(stacks, class_keys(project, stacks, jobs=1), strict=True))
    assert keys[STAGING] == keys["twin-eu"] == keys["twin-us"]
    assert len({keys[s] for s in stacks[2:]}) == 4  # each difference is a class of its own
    assert keys[STAGING].startswith("cluster:")


def test_setting_identity_aside_keeps_what_is_not_the_clusters() -> None:
    identity = Identity.of("a", None)
    assert (
        identity.set_aside("flux/clusters/a ab a-nodes") == "flux/clusters/<stack> ab <stack>-nodes"
    )
    full = Identity(
        (
            ("<stack>", "a"),
            ("<eks-cluster>", "a-eks"),
            ("<name>", "a"),
            ("<account>", "111111111111"),
            ("<region>", "eu-west-1"),
        )
    )
    text = (
        "arn:aws:eks:eu-west-1:111111111111:cluster/a-eks "
        "arn:aws:ecr:eu-west-1:222222222222:repository/api "
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com region: eu-west-1"
    )
    assert full.set_aside(text) == (
        "arn:aws:eks:<region>:<account>:cluster/<eks-cluster> "
        "arn:aws:ecr:eu-west-1:222222222222:repository/api "  # a registry's region stays
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com region: <region>"
    )


def stack(name: str, *reasons: str) -> AffectedStack:
    return AffectedStack(name, reasons or ("its definition as the program reads it changed",))


def test_the_bound_one_per_class_largest_first_then_own_changes() -> None:
    # 40 classes: class k holds 40 - k stacks... and c-0-1's own file changed.
    stacks, keys = [], {}
    for k in range(40):
        for i in range(40 - k):
            name = f"c-{k}-{i}"
            own = (f"k8s-clusters/{name}.yaml changed",) if (k, i) in ((0, 1), (0, 2)) else ()
            stacks.append(stack(name, *own))
            keys[name] = f"cluster:{k}"
    assert own_file_changed(stacks[1]) and not own_file_changed(stacks[0])
    chosen = select(stacks, keys, 24)
    previewed = [(s.stack, why) for s, why in chosen.previewed]
    assert len(previewed) == 24 == DEFAULT_MAX_PREVIEWS
    # the largest class first, represented by a stack whose own file changed
    assert previewed[0] == ("c-0-1", "class 1 (40 stack(s))")
    assert [name for name, _ in previewed[1:]] == [f"c-{k}-0" for k in range(1, 24)]
    why = dict(chosen.not_previewed)
    assert why["c-0-0"] == "class 1: covered by the preview of c-0-1"
    assert why["c-0-2"] == "class 1: covered by the preview of c-0-1; its own file changed"
    assert why["c-30-0"] == "over the bound of 24 real previews (class 31)"
    assert len(chosen.previewed) + len(chosen.not_previewed) == len(stacks)
    # a larger bound: every class, then the other own change
    wide = [s.stack for s, _ in select(stacks, keys, 256).previewed]
    assert len(wide) == 41 and wide[-1] == "c-0-2"
    document = select(stacks, keys, 24).document()
    assert [e["stack"] for e in document["include"]] == [name for name, _ in previewed]
    assert document["classes"][0]["count"] == 40 and document["classes"][0]["previewed"]


def test_a_stack_without_a_plan_is_listed_with_why() -> None:
    chosen = select([stack("a"), stack("b")], {"a": "cluster:1"}, 5, {"b": "its problem"})
    assert [s.stack for s, _ in chosen.previewed] == ["a"]
    assert chosen.not_previewed == (("b", "not planned: its problem"),)
    assert chosen.document()["notPreviewed"][0]["kind"].startswith("not planned offline")


@pytest.mark.parametrize(("clusters", "classes"), [(3, 2), (10_000, 3_000)])
def test_one_comment_bounded_at_any_fleet_size(clusters: int, classes: int) -> None:
    stacks = [stack(f"cluster-{i:05d}") for i in range(clusters)]
    keys = {s.stack: f"cluster:{i % classes}" for i, s in enumerate(stacks)}
    document = json.loads(json.dumps(select(stacks, keys, 256).document()))
    long = "~ aws:iam/role:Role x\n" * 20_000  # 440 kB of preview each
    previews = {s["stack"]: ("success", long) for s in document["previewed"]}
    text = comment(document, previews)
    assert text.startswith(MARKER + "\n## Preview\n")
    assert len(text.encode()) <= MAX_COMMENT < 65_536
    assert f"{clusters} stack(s) affected, in {classes} class(es)" in text
    assert "### Not previewed for real" in text
    if clusters == 3:
        assert text.count("<details>") == 2 and "(440,000 bytes in all" not in text[:100]
        short = comment(
            document, {s["stack"]: ("success", "+ 3 to create") for s in document["previewed"]}
        )
        assert "+ 3 to create" in short and "bytes in all" not in short
    else:
        # 3,000 classes of 3 or 4 stacks, 256 previewed: 768 stacks covered by them, the others
        # by the offline plan only
        assert "- covered by the real preview of its class: 768: `cluster-03000`" in text
        assert "- over the bound of real previews: covered by the offline plan only: 8976" in text
        assert "more classes, not listed" in text


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_previews_command_on_a_pull_request(project: Path) -> None:
    """A default every cluster reads: the twins of staging are one class, previewed once;
    the cluster whose own file changed is previewed too."""
    twin(project, "twin-eu", "345678901234", "eu-west-1")
    twin(project, "twin-us", "456789012345", "us-east-1")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "fleet")
    edit(project, "k8s-clusters/_defaults.yaml", "    interval: 1m\n", "    interval: 2m\n")
    edit(
        project, "k8s-clusters/twin-us.yaml", "size: small", "size: small\n    networkPolicy: true"
    )
    git(project, "commit", "-qam", "a default and twin-us")
    code, out, err = run_cli(project, "previews", "--base", "HEAD~1", "--jobs", "1")
    assert code == 0, err
    # why each stack is affected, on stderr as `affected` says it
    assert "twin-us (wave 1): k8s-clusters/twin-us.yaml changed\n" in err
    assert "twin-eu (wave 1): its definition as the program reads it changed" in err
    document = json.loads(out)
    previewed = [(p["stack"], p["why"]) for p in document["previewed"]]
    classes = {c["representative"]: c["count"] for c in document["classes"]}
    assert classes == {"twin-us": 3, "production-cluster-name": 1}
    assert previewed == [
        ("twin-us", "class 1 (3 stack(s))"),
        ("production-cluster-name", "class 2 (1 stack(s))"),
    ]
    assert {p["stack"]: p["why"] for p in document["notPreviewed"]} == {
        STAGING: "class 1: covered by the preview of twin-us",
        "twin-eu": "class 1: covered by the preview of twin-us",
    }
    assert [e["stack"] for e in document["include"]] == ["twin-us", "production-cluster-name"]
