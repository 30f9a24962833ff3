"""A scratch project for property tests: the program, the example _defaults.yaml and
_registries.yaml, and one generated definition at a time (with its stack config), planned and
validated in-process or through the CLI. One per test process (hypothesis runs examples one
after the other; xdist workers are processes)."""

from __future__ import annotations

import atexit
import io
import re
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from components.definition import types as types_model
from components.plan.result import StackPlan
from components.plan.runner import plan_stack
from components.tools import cli

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_STEM = "generated"
# A Slack token in plain stack config: what the program sees once Pulumi decrypted the secret
# (so a leak of it into a plan is caught). validate and plan warn about it, each run: run_cli
# takes those known warnings out of what it returns.
FAKE_SLACK_TOKEN = "xoxb-0000000000-0000000000-FAKEfakeFAKEfake"
# And a GitHub App's, for the definitions that use one (spec.git.auth: githubApp).
FAKE_GITHUB_APP = {
    "flux-fleet:githubAppId": "123456",
    "flux-fleet:githubAppInstallationId": "7654321",
    "flux-fleet:githubAppPrivateKey": "-----BEGIN RSA PRIVATE KEY-----\nFAKE\n"
    "-----END RSA PRIVATE KEY-----\n",
}
PLAINTEXT_WARNING = re.compile(
    r"^stacks/Pulumi\.[^/]+\.yaml: config\.flux-fleet:\w+: warning: a secret in plain "
    r"text \(the value is not shown\).*\n",
    re.M,
)
# One problem, one line: <file>: <path>: <message> or <file>: <message>.
PROBLEM_LINE = re.compile(r"^(?P<file>k8s-clusters(?:/[^:]+)?): (?:(?P<path>[^:]+): )?(?P<msg>.+)$")


@cache
def workspace() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fluxfleet-props-"))
    atexit.register(shutil.rmtree, path, True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, path / name)
    (path / "k8s-clusters").mkdir()
    (path / "stacks").mkdir()
    for name in ("_defaults.yaml", "_registries.yaml"):
        shutil.copy2(ROOT / "k8s-clusters" / name, path / "k8s-clusters" / name)
    shutil.copy2(ROOT / "stacks" / "Pulumi.registries.yaml", path / "stacks")
    return path


def stem_for(doc: Any) -> str:
    """The file (and stack) name: the definition's own name when it can be one."""
    name = doc.get("metadata", {}) if isinstance(doc, dict) else None
    name = name.get("name") if isinstance(name, dict) else None
    if isinstance(name, str) and re.fullmatch(types_model.DNS_LABEL, name):
        return name
    return FALLBACK_STEM


def dump_yaml(doc: Any) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    yaml.dump(doc, out)
    return out.getvalue()


def write(content: Any, stem: str | None = None) -> str:
    """Make `content` (a document, YAML text or raw bytes) the workspace's only definition."""
    root = workspace()
    for old in (root / "k8s-clusters").glob("[!_]*"):
        old.unlink()
    for old in (root / "stacks").glob("*"):
        if old.name != "Pulumi.registries.yaml":
            old.unlink()
    stem = stem or stem_for(content)
    path = root / "k8s-clusters" / f"{stem}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(
            content if isinstance(content, str) else dump_yaml(content), encoding="utf-8"
        )
    (root / "stacks" / f"Pulumi.{stem}.yaml").write_text(
        dump_yaml({"config": {"flux-fleet:slackBotToken": FAKE_SLACK_TOKEN, **FAKE_GITHUB_APP}})
    )
    return stem


def planned(doc: dict[str, Any]) -> StackPlan:
    """The plan of a definition that must be valid."""
    return plan_stack(workspace(), write(doc))


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--project", str(workspace()), *args])
    # the known warnings: one per fake credential of the stack file
    known = 1 + len(FAKE_GITHUB_APP)
    return code, out.getvalue(), PLAINTEXT_WARNING.sub("", err.getvalue(), count=known)


def assert_problem_lines(text: str) -> list[str]:
    """`text` is one or more problems, each on a line of its own in the clean form."""
    assert "Traceback" not in text
    assert text.endswith("\n"), repr(text)
    lines = text[:-1].split("\n")
    for line in lines:
        assert line.isprintable(), repr(line)
        assert PROBLEM_LINE.match(line), line
    return lines
