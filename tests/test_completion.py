"""`fluxfleet completion`: the bash script completes commands, options, choices and stack names,
run by a real bash the way it runs on a tab press."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from planutil import run_cli

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = ["production-cluster-name", "staging-cluster-name"]


def script(shell: str) -> str:
    code, out, err = run_cli(ROOT, "completion", shell)
    assert (code, err) == (0, "")
    return out


def complete(line: str, cwd: Path = ROOT) -> list[str]:
    """What a tab press at the end of `line` offers (a trailing space: a new word)."""
    words = line.split()
    if line.endswith(" "):
        words.append("")
    program = (
        script("bash")
        + f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        + "_fluxfleet\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    bash = shutil.which("bash")
    assert bash, "bash is on every machine this project supports"
    done = subprocess.run(
        [bash, "--norc", "-c", program], cwd=cwd, capture_output=True, text=True, check=True
    )
    return sorted(filter(None, done.stdout.splitlines()))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fluxfleet pl", ["plan"]),
        ("fluxfleet new", ["new-app", "new-cluster"]),
        ("fluxfleet plan ", sorted([*CLUSTERS, "registries"])),
        ("fluxfleet plan st", ["staging-cluster-name"]),
        ("fluxfleet plan --f", ["--format"]),
        ("fluxfleet plan --format ", ["json", "markdown", "text"]),
        ("fluxfleet new-app ", CLUSTERS),  # a cluster, not the registries stack
        ("fluxfleet affected --format ", ["json", "list"]),
        ("fluxfleet completion ", ["bash", "zsh"]),
        ("fluxfleet affected --a", ["--all"]),
    ],
)
def test_bash_completes(line: str, expected: list[str]) -> None:
    assert complete(line) == expected


def test_stack_names_come_from_the_project_named_or_found(tmp_path: Path) -> None:
    assert complete("fluxfleet plan ", cwd=tmp_path) == []  # no project here
    assert complete(f"fluxfleet --project {ROOT} plan p", cwd=tmp_path) == [CLUSTERS[0]]
    assert complete(f"fluxfleet plan --project {ROOT} s", cwd=tmp_path) == [CLUSTERS[1]]
    inside = ROOT / "flux" / "clusters"
    assert complete("fluxfleet plan p", cwd=inside) == [CLUSTERS[0]]  # found walking up


def test_every_command_and_option_is_offered() -> None:
    from components.tools.cli import parser
    from components.tools.completion import _options, _subcommands

    commands = _subcommands(parser())
    assert complete("fluxfleet ") == sorted([*commands, "--help", "--project", "--version"])
    for name, sub in commands.items():
        assert complete(f"fluxfleet {name} --") == _options(sub), name


def test_zsh_runs_the_bash_script_through_bashcompinit() -> None:
    zsh = script("zsh")
    assert "autoload -U +X bashcompinit && bashcompinit\n" in zsh
    assert zsh.endswith(script("bash"))
