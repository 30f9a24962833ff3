"""`fluxfleet plan --markdown`: the offline plan as a pull-request comment (markdown.markdown).

The example fleet's comment is a snapshot, tests/snapshots/plan-markdown.md. When a change to
the program changes the plan on purpose, regenerate it and review the diff:

    FLUXFLEET_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_markdown.py
    # or: fluxfleet plan --markdown > tests/snapshots/plan-markdown.md
"""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest
from conftest import ROOT

from components.plan import markdown, render
from components.plan.result import Registration, Secret, StackPlan, unknown
from components.plan.runner import plan_stack
from components.tools import cli

SNAPSHOT = ROOT / "tests" / "snapshots" / "plan-markdown.md"
EXAMPLE_STACKS = ["production-cluster-name", "staging-cluster-name", "registries"]


def fluxfleet(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(["--project", str(ROOT), *args])
        except SystemExit as exc:  # a usage mistake argparse catches
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def plans() -> list[StackPlan]:
    return [plan_stack(ROOT, stack) for stack in EXAMPLE_STACKS]


def test_the_example_fleets_comment_matches_the_snapshot() -> None:
    code, out, err = fluxfleet("plan", "--markdown")
    assert (code, err) == (0, "")
    if os.environ.get("FLUXFLEET_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(out, encoding="utf-8")
    assert out == SNAPSHOT.read_text(encoding="utf-8"), (
        "the plan changed: review it, then regenerate the snapshot "
        "(FLUXFLEET_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_markdown.py)"
    )


def test_markdown_is_the_default_stacks_in_order(plans: list[StackPlan]) -> None:
    code, out, _ = fluxfleet("plan", "--markdown", *EXAMPLE_STACKS)
    assert code == 0
    assert out == markdown.markdown(plans)
    headings = re.findall(r"^### `([^`]+)`: (\d+) resources to create$", out, flags=re.M)
    assert headings == [(p.stack, str(len(p.resources) + 1)) for p in plans]


def test_each_stack_has_a_summary_table_and_its_text_plan_folded(plans: list[StackPlan]) -> None:
    out = markdown.markdown(plans)
    overview = [
        (name, int(count)) for name, count in re.findall(r"^\| `([^`]+)` \| (\d+) \|$", out, re.M)
    ]
    assert overview[:3] == [(p.stack, len(p.resources) + 1) for p in plans]
    for plan in plans:
        section = out.split(f"### `{plan.stack}`:")[1].split("\n### ")[0]
        rows = re.findall(r"^\| `([^`]+)` \| (\d+) \|$", section, flags=re.M)
        counts = {kind: int(n) for kind, n in rows}
        assert counts == markdown.type_counts(plan)
        assert counts["pulumi:pulumi:Stack"] == 1
        assert sum(counts.values()) == len(plan.resources) + 1
        for reg in plan.resources:
            assert reg.type in counts
        assert list(counts) == sorted(counts)
        details = section.split("<details>", 1)[1]
        assert details.startswith(
            f"<summary>Resources and inputs of <code>{plan.stack}</code></summary>\n\n```text\n"
        )
        assert render.text(plan).rstrip("\n") + "\n```\n\n</details>" in details


def test_secrets_and_unknowns_never_reach_the_comment() -> None:
    reg = Registration(
        urn="urn:pulumi:s::flux-fleet::kubernetes:core/v1:Secret::s-key",
        type="kubernetes:core/v1:Secret",
        name="s-key",
        custom=True,
        parent="",
        provider="",
        inputs={
            "stringData": Secret({"identity": "-----BEGIN OPENSSH PRIVATE KEY-----hunter2"}),
            "metadata": {"name": "flux-system", "uid": unknown("s-key", "uid")},
            "note": Secret("xoxb-not-for-your-eyes"),
        },
        dependencies=[],
        protect=False,
        retain_on_delete=False,
        deleted_with="",
        delete_before_replace=False,
        aliases=[],
        ignore_changes=[],
        additional_secret_outputs=[],
    )
    plan = StackPlan("s", [reg], {"token": Secret("xoxb-output"), "uid": unknown("s-key", "uid")})
    out = markdown.markdown([plan])
    for leaked in ("hunter2", "PRIVATE KEY", "xoxb-", "[unknown s-key"):
        assert leaked not in out
    assert "stringData: [secret]" in out and "uid: [unknown]" in out


def test_the_example_comment_shows_no_secret(plans: list[StackPlan]) -> None:
    out = markdown.markdown(plans)
    assert "[secret]" in out
    assert "BEGIN" not in out and "xoxb-" not in out and "placeholder-not-a-real" not in out


def test_a_comment_stays_under_the_limit_by_leaving_details_out(plans: list[StackPlan]) -> None:
    full = markdown.markdown(plans)
    limit = len(full) - 100  # room for all but the last stack's details
    out = markdown.markdown(plans, limit=limit)
    assert len(out) <= limit
    assert out.count("<details>") == len(plans) - 1
    assert out.rstrip().endswith(
        "Details of 1 stack(s) left out to keep this comment under GitHub's size limit: "
        "`fluxfleet plan registries` shows them."
    )
    # Every stack keeps its table.
    for plan in plans:
        assert f"### `{plan.stack}`: {len(plan.resources) + 1} resources to create" in out
    tables_only = markdown.markdown(plans, limit=1)
    assert "<details>" not in tables_only
    assert f"`fluxfleet plan {' '.join(EXAMPLE_STACKS)}` shows them" in tables_only
    assert len(full) < markdown.MAX_MARKDOWN  # the example fits whole


def test_backticks_in_a_value_get_a_longer_fence() -> None:
    plan = StackPlan("s", [], {"note": "use ``` or ```` here"})
    out = markdown.markdown([plan])
    assert "\n`````text\n" in out and out.count("`````") == 2


def test_json_and_markdown_together_is_bad_input() -> None:
    code, out, err = fluxfleet("plan", "registries", "--json", "--markdown")
    message = "fluxfleet plan: argument --markdown: not allowed with argument --json\n"
    assert (code, out, err) == (2, "", message)
