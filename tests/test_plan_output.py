"""What the plan shows: a pull-request comment under GitHub's limit at any fleet size, policies in
full, scalars quoted where YAML would read them otherwise, empty components explained, the
fleet total, a progress line on a terminal only, and the whole plan saved for CI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from components import yamlio
from components.plan import markdown, render
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack
from components.tools import cli

GITHUB_COMMENT_LIMIT = 65_536
EXAMPLE = ["production-cluster-name", "staging-cluster-name", "registries"]


@pytest.fixture(scope="module")
def examples() -> dict[str, StackPlan]:
    return {stack: plan_stack(ROOT, stack) for stack in EXAMPLE}


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, Secret):
        return Secret(_replaced(value.value, old, new))
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    return value


def renamed(plan: StackPlan, stack: str, region: str | None = None) -> StackPlan:
    """`plan` as if it were stack `stack` (and, given `region`, in that region)."""
    swaps = [(plan.stack, stack)] + ([("eu-west-1", region)] if region else [])
    out = plan
    for old, new in swaps:
        out = StackPlan(
            _replaced(out.stack, old, new),
            [
                dataclasses.replace(
                    reg,
                    **{
                        f.name: _replaced(getattr(reg, f.name), old, new)
                        for f in dataclasses.fields(reg)
                    },
                )
                for reg in out.resources
            ],
            _replaced(out.outputs, old, new),
            out.invokes,
        )
    return out


REGIONS = ["us-east-2", "ap-south-1", "sa-east-1", "ca-central-1", "eu-north-1"]


def fleet_of(examples: dict[str, StackPlan], size: int, every: int = 97) -> list[StackPlan]:
    """`size` cluster stacks made from the two example clusters; every `every`th in another
    region (every=1: each one in a region of its own, by its number)."""
    sources = [examples["production-cluster-name"], examples["staging-cluster-name"]]
    return [
        renamed(
            sources[i % 2],
            f"cluster-{i:04d}",
            f"{REGIONS[i % 5]}{'' if every > 1 else f'-{i}'}" if i % every == 5 % every else None,
        )
        for i in range(size)
    ] + [examples["registries"]]


# --- the pull-request comment --------------------------------------------------------------------


def _accounted(out: str) -> int:
    """Stacks the overview table names or counts."""
    overview = out.split("| Stack | Resources to create |\n| --- | ---: |\n")[1].split("\n\n")[0]
    rows = re.findall(r"^\| (.+) \| \d+(?: each)? \|$", overview, flags=re.M)
    singles = sum(1 for row in rows if "stacks)" not in row)
    grouped = sum(int(n) for n in re.findall(r"\((\d+) stacks\) \|", out))
    more = sum(int(n) for n in re.findall(r"^\| \d+ more group\(s\), (\d+) stack\(s\)", out, re.M))
    return singles + grouped + more


@pytest.mark.parametrize("size", [60, 123, 1000])
def test_the_comment_stays_under_githubs_limit_at_any_fleet_size(
    examples: dict[str, StackPlan], size: int
) -> None:
    plans = fleet_of(examples, size)
    out = markdown.markdown(plans)
    assert len(out) <= markdown.MAX_MARKDOWN < GITHUB_COMMENT_LIMIT
    assert f"{size + 1} stack(s)" in out
    assert _accounted(out) == size + 1  # every stack named or counted
    shown = out.count("<details>")
    left = re.search(r"Details of (\d+) stack\(s\) left out", out)
    similar = re.findall(r"Apart from their names, (.+?) plan exactly like", out)
    named_same = sum(len(re.findall(r"`cluster-\d+`", s)) for s in similar)
    more_same = sum(int(n) for s in similar for n in re.findall(r"and (\d+) more", s))
    assert shown + named_same + more_same + (int(left.group(1)) if left else 0) == size + 1


def test_stacks_that_differ_share_a_row_and_show_their_difference(
    examples: dict[str, StackPlan],
) -> None:
    plans = fleet_of(examples, 6)  # cluster-0005 is in us-east-2
    out = markdown.markdown(plans)
    assert "| `cluster-0000`, `cluster-0002`, `cluster-0004` (3 stacks) | 28 each |" in out
    difference = out.split("How <code>cluster-0005</code> differs")[1].split("</details>")[0]
    assert "\n-" + " " * 18 + "region: eu-west-1\n" in difference
    assert "\n+" + " " * 18 + "region: us-east-2\n" in difference
    assert "Apart from their names, `cluster-0002`, `cluster-0004` plan exactly like" in out
    assert "Apart from their names, `cluster-0003` plan exactly like `cluster-0001`" in out


def test_grouping_never_hides_a_difference(examples: dict[str, StackPlan]) -> None:
    staging = examples["staging-cluster-name"]
    first = renamed(staging, "a")
    other = renamed(staging, "b", region="ap-south-1")
    assert "+" + " " * 18 + "region: ap-south-1" in markdown.difference(first, other).splitlines()
    assert markdown.difference(first, renamed(staging, "c")) == ""
    assert markdown.difference(renamed(staging, "dev"), renamed(staging, "devices")) == ""


def test_the_summary_holds_the_whole_plan_where_the_comment_cannot(
    examples: dict[str, StackPlan],
) -> None:
    plans = fleet_of(examples, 200, every=1)  # each stack differs from the others
    summary = markdown.markdown(plans, limit=markdown.MAX_SUMMARY)
    assert len(summary.encode()) <= markdown.MAX_SUMMARY < 1024 * 1024
    assert "left out" not in summary
    assert "left out" in markdown.markdown(plans)


# --- the text plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("#flux-alerts", '"#flux-alerts"'),
        ("*", '"*"'),
        ("1", '"1"'),
        ("123456789012", '"123456789012"'),
        ("true", '"true"'),
        ("null", '"null"'),
        (" padded", '" padded"'),
        ("a: b", '"a: b"'),
        ("a, b", '"a, b"'),
        (">=2.9.0", '">=2.9.0"'),
        ("eu-west-1", "eu-west-1"),
        ("2.9.x", "2.9.x"),
        ("arn:aws:iam::123456789012:role/x", "arn:aws:iam::123456789012:role/x"),
        ("ssh://git@github.com/acme/gitops.git", "ssh://git@github.com/acme/gitops.git"),
        ("[secret]", "[secret]"),
    ],
)
def test_scalars_are_quoted_when_yaml_would_read_them_otherwise(value: str, shown: str) -> None:
    out = render._lines({"key": value, "list": ["x", value]}, "")
    assert out == [f"key: {shown}", "list:", f"  [x, {shown}]"]
    if shown != "[secret]":
        assert yamlio.load("\n".join(out)) == {"key": value, "list": ["x", value]}


def test_policies_are_shown_in_full_and_dashboards_by_size_and_hash(
    examples: dict[str, StackPlan],
) -> None:
    registries = render.text(examples["registries"])
    for reg in examples["registries"].resources:
        if reg.type == "aws:ecr/repositoryPolicy:RepositoryPolicy":
            policy = json.loads(reg.inputs["policy"])
            for line in json.dumps(policy, indent=2).splitlines():
                assert line in registries
    assert "…" not in registries
    staging = examples["staging-cluster-name"]
    text = render.text(staging)
    (stats,) = [
        r for r in staging.resources if r.name.endswith("grafana-dashboard-flux-cluster-stats")
    ]
    blob = stats.inputs["data"]["flux-cluster-stats.json"]
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert f"flux-cluster-stats.json: <JSON, {len(blob):,} characters, sha256 {digest}>" in text


def test_an_empty_component_says_why(examples: dict[str, StackPlan]) -> None:
    text = render.text(examples["staging-cluster-name"])
    assert (
        "+ flux-fleet:index:EcrAccess staging-cluster-name-ecr\n"
        "            (no resources: spec.ecr.nodeRoleNames is empty and no Flux controller pulls "
        "from ECR itself;"
    ) in text
    production = render.text(examples["production-cluster-name"])
    assert "(no resources" not in production  # its EcrAccess has the node-role policy


# --- the command ---------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _plan(*args: str, stderr: io.StringIO) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(stderr):
        code = cli.main(["--project", str(ROOT), "plan", "--jobs", "1", *args])
    return code, out.getvalue()


def test_the_text_plan_of_several_stacks_ends_with_the_total(
    examples: dict[str, StackPlan],
) -> None:
    code, out = _plan(stderr=io.StringIO())
    count = sum(len(p.resources) + 1 for p in examples.values())
    assert code == 0
    assert out.endswith(f"\nTotal: 3 stacks, {count} resources to create\n")
    _, one = _plan("registries", stderr=io.StringIO())
    assert "Total:" not in one


def test_a_progress_line_on_a_terminal_only() -> None:
    terminal = Terminal()
    assert _plan(stderr=terminal)[0] == 0
    assert terminal.getvalue() == (
        "\rplanned 1/3 stacks\rplanned 2/3 stacks\rplanned 3/3 stacks\r\033[K"
    )
    piped = io.StringIO()
    assert _plan(stderr=piped)[0] == 0
    assert piped.getvalue() == ""


def test_save_writes_the_whole_plan_for_ci(tmp_path: Path) -> None:
    code, out = _plan("--markdown", "--save", str(tmp_path / "full"), stderr=io.StringIO())
    assert code == 0
    saved = {p.name: p.read_text() for p in (tmp_path / "full").iterdir()}
    assert set(saved) == {"plan.txt", "plan.json", "summary.md"}
    _, text = _plan(stderr=io.StringIO())
    assert saved["plan.txt"] == text
    assert saved["summary.md"] == out  # the example fits whole in both
    assert [s["stack"] for s in json.loads(saved["plan.json"])["stacks"]] == [
        "production-cluster-name",
        "staging-cluster-name",
        "registries",
    ]


def test_format_names_the_output_and_the_old_flags_are_its_aliases() -> None:
    outputs = {}
    for args in (
        [],
        ["--format", "text"],
        ["--format", "json"],
        ["--json"],
        ["--format", "markdown"],
        ["--markdown"],
    ):
        code, outputs[" ".join(args)] = _plan("registries", *args, stderr=io.StringIO())
        assert code == 0
    assert outputs["--format text"] == outputs[""]
    assert outputs["--format json"] == outputs["--json"]
    assert json.loads(outputs["--json"])["steps"]
    assert outputs["--format markdown"] == outputs["--markdown"]
    assert outputs["--markdown"].startswith("## Offline plan")
    assert len({outputs[""], outputs["--json"], outputs["--markdown"]}) == 3


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "json", "--markdown"],
        ["--json", "--format", "text"],
        ["--format", "yaml"],
    ],
)
def test_conflicting_or_unknown_formats_are_refused_before_any_work(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.tools import commands

    def no_work(*_: Any) -> None:
        raise AssertionError("a usage mistake reached the command")

    monkeypatch.setattr(commands, "cmd_plan", no_work)
    err = io.StringIO()
    with pytest.raises(SystemExit) as done:
        _plan("registries", *args, stderr=err)
    assert done.value.code == 2
    assert err.getvalue().startswith("fluxfleet plan: argument ")
    assert err.getvalue().count("\n") == 1
