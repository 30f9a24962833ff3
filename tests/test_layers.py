"""The import rule of components/ (pyproject.toml, [tool.importlinter]) holds, and would catch a
breach: an upward import, Pulumi in a pure layer, a cycle. `.ci/run` runs the same check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = (
    "layers",
    "pulumi-only-in-stack-and-plan",
    "tools-run-pulumi-through-plan",
    "acyclic",
    "definition-independent",
    "builders-independent",
    "builders-take-options",
)
# The modules of definition/ and builders/ that may import the feature modules (aggregates) or
# that the feature modules may import (shared); every other module is a feature module, in the
# package's independence contract.
NOT_FEATURES = {
    # git_ref: the ref type of spec.git and spec.apps[] (shared, like secrets)
    "definition": {
        "__init__",
        "types",
        "secrets",
        "git_ref",
        "cluster",
        "defaults",
        "schema",
        "credentials",
    },
    "builders": {"__init__", "common", "iam", "options"},
}
VERDICT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)( \(\d+ ignored imports?\))?$")


def lint_imports(project: Path) -> dict[str, str]:
    """Each contract's name -> KEPT or BROKEN, for the components/ of `project`."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=project,
        # this copy's components, not ours; wide lines: a verdict is never wrapped
        env={**os.environ, "PYTHONPATH": str(project), "COLUMNS": "500"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    verdicts = {}
    for line in done.stdout.splitlines():
        found = VERDICT.match(line)
        if found:
            verdicts[found["name"]] = found["verdict"]
    assert verdicts, done.stdout + done.stderr
    assert done.returncode == (1 if "BROKEN" in verdicts.values() else 0)
    return verdicts


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contracts, with `line` appended to `module`."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "components", project / "components")
    shutil.copy(ROOT / "pyproject.toml", project)
    path = project / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # planted\n")
    return project


def contract(verdicts: dict[str, str], prefix: str) -> str:
    (name,) = [n for n in verdicts if n.startswith(prefix)]
    return verdicts[name]


def test_the_package_keeps_every_contract() -> None:
    verdicts = lint_imports(ROOT)
    assert len(verdicts) == len(CONTRACTS)
    assert set(verdicts.values()) == {"KEPT"}


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a builder reaching up into the loading layer (which imports builders/: a cycle too)
        (
            "components.builders.flux",
            "from components.loading import fleet",
            ["Layers", "No import"],
        ),
        # Pulumi in a pure layer, directly or through stack/
        ("components.builders.gitops", "import pulumi_kubernetes", ["Pulumi (and"]),
        (
            "components.loading.fleet",
            "from components.stack import outputs",
            ["Layers", "Pulumi (and"],
        ),
        # a command importing Pulumi itself
        ("components.tools.scaffold", "import pulumi", ["tools/"]),
        # two modules of one package importing each other
        (
            "components.builders.ecr",
            "from components.builders import ecr_cluster",
            ["No import cycle"],
        ),
        # a feature builder reading another concern's module (no cycle: only the seam breaks)
        (
            "components.builders.flux",
            "from components.builders import git_access",
            ["builders/: the feature"],
        ),
        # indirectly too: the shared module (which monitoring imports) reaching into a feature
        (
            "components.builders.common",
            "from components.builders import sops",
            ["builders/: the feature"],
        ),
        # a builder taking the whole Cluster again (issue #22): only options.py reads it
        (
            "components.builders.ecr",
            "from components.definition.cluster import Cluster",
            ["builders/: only options.py"],
        ),
        # the same in definition/
        (
            "components.definition.flux",
            "from components.definition import sops",
            ["definition/: the feature"],
        ),
    ],
)
def test_a_breach_is_caught(tmp_path: Path, module: str, line: str, broken: list[str]) -> None:
    verdicts = lint_imports(copy_with(tmp_path, module, line))
    for prefix in broken:
        assert contract(verdicts, prefix) == "BROKEN", verdicts


@pytest.mark.parametrize("package", sorted(NOT_FEATURES))
def test_every_feature_module_is_in_its_independence_contract(package: str) -> None:
    """A new module of definition/ or builders/ is a feature module (then listed in the
    package's independence contract) unless it is named shared or aggregate above."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["id"] == f"{package}-independent"
    ]
    listed = {module.removeprefix(f"components.{package}.") for module in contract["modules"]}
    modules = {path.stem for path in (ROOT / "components" / package).glob("*.py")}
    assert listed == modules - NOT_FEATURES[package]


def test_every_builder_but_options_is_kept_from_the_cluster() -> None:
    """A new module of builders/ takes option objects too: only the aggregate (options.py, which
    fills them) may import the Cluster definition (issue #22, "Seams")."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "builders-take-options"
    ]
    listed = {module.removeprefix("components.builders.") for module in contract["source_modules"]}
    modules = {path.stem for path in (ROOT / "components" / "builders").glob("*.py")}
    assert listed == modules - {"__init__", "options"}
