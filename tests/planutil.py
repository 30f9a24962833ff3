"""Shared by the plan tests: lookups over a StackPlan's registrations, the CLI in-process."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from components import yamlio
from components.plan.result import Registration, StackPlan
from components.tools import cli

# A definition without fleet defaults: the fields a cluster must have, nothing else.
BARE: dict[str, Any] = {
    "apiVersion": "flux-fleet/v1",
    "kind": "Cluster",
    "metadata": {"name": "bare", "environment": "dev"},
    "spec": {
        "aws": {"accountId": "345678901234", "region": "us-east-1"},
        "git": {"owner": "acme", "repository": "gitops"},
    },
}


def of_type(plan: StackPlan, type_: str) -> list[Registration]:
    return [r for r in plan.resources if r.type == type_]


def one(plan: StackPlan, type_: str, name: str | None = None) -> Registration:
    """The single registration of `type_` (named `name` when given); fails on 0 or several."""
    found = [r for r in of_type(plan, type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def run_cli(project: Path, *args: str) -> tuple[int, str, str]:
    """`fluxfleet --project PROJECT ARGS` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--project", str(project), *args])
    return code, out.getvalue(), err.getvalue()


def edit(project: Path, rel: str, old: str, new: str) -> None:
    """Replace the first `old` in the project's file `rel` (which must contain it) by `new`."""
    path = project / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def new_staging_cluster(project: Path, name: str) -> Any:
    """`fluxfleet new-cluster NAME` (a staging cluster in a new account), which must succeed;
    the apps.yaml it writes, read back."""
    code, _, err = run_cli(
        project, "new-cluster", name, "--account-id", "111122223333",
        "--region", "eu-west-1", "--environment", "staging",
    )  # fmt: skip
    assert code == 0, err
    return yamlio.load((project / f"flux/clusters/{name}/apps.yaml").read_text())
