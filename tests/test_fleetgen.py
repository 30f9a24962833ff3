"""The benchmark's fleet generator (benchmarks/fleetgen.py) writes a fleet `validate` accepts:
a benchmark of a broken fleet measures nothing (the #12 refactor once broke its stack files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from planutil import run_cli

sys.path.insert(0, str(ROOT / "benchmarks"))

import fleetgen


def test_a_generated_fleet_validates_and_inventories(tmp_path: Path) -> None:
    project = fleetgen.generate(ROOT, tmp_path / "fleet", 5)
    code, out, err = run_cli(project, "validate", "-v")
    assert (code, err) == (0, ""), err
    assert out.startswith("5 cluster definition(s) valid\n  bench-0001\n  bench-0002\n")
    code, out, err = run_cli(project, "inventory", "--format", "csv")
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == 6 and ",no," not in out


def test_the_command_line_writes_a_fleet_the_tool_accepts(tmp_path: Path) -> None:
    """`python -m benchmarks.fleetgen` (from the project's root), as the docs say."""
    out = tmp_path / "fleet"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fleetgen", "--clusters", "3", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"wrote 3 cluster(s) and 1 registry(ies) to {out}; try: fluxfleet --project {out} "
        "validate (or plan bench-0001, inventory)\n"
    )
    code, text, err = run_cli(out, "validate", "-v")
    assert (code, err) == (0, ""), err
    assert text.startswith(
        "3 cluster definition(s) valid\n  bench-0001\n  bench-0002\n  bench-0003\n"
    )
    code, text, err = run_cli(out, "plan", "--json", "bench-0002")
    assert (code, err) == (0, ""), err
    assert json.loads(text)["changeSummary"]["create"] > 20


def test_an_empty_folder_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleetgen.main(["--clusters", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "k8s-clusters" / "bench-0001.yaml").is_file()
    assert capsys.readouterr().err == ""


def _bad(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    return {
        "no --clusters": (
            ["--out", "x"],
            "the following arguments are required: --clusters",
        ),
        "zero": (["--clusters", "0", "--out", "x"], "expected a whole number from 1 to 10,000"),
        "negative": (["--clusters", "-2", "--out", "x"], "got '-2'"),
        "not a number": (["--clusters", "many", "--out", "x"], "got 'many'"),
        "too many": (["--clusters", "10001", "--out", "x"], "got '10001'"),
        "a folder with files": (
            ["--clusters", "2", "--out", str(tmp_path / "full")],
            f"--out {tmp_path / 'full'}: is not empty, expected a new or empty folder",
        ),
        "a file": (
            ["--clusters", "2", "--out", str(tmp_path / "file")],
            "exists and is not a folder",
        ),
        "under a file": (
            ["--clusters", "2", "--out", str(tmp_path / "file" / "x")],
            "cannot write: Not a directory",
        ),
        "inside the project's definitions": (
            ["--clusters", "2", "--out", str(ROOT / "k8s-clusters" / "fleet")],
            "is inside k8s-clusters/ of the project it copies",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no --clusters",
        "zero",
        "negative",
        "not a number",
        "too many",
        "a folder with files",
        "a file",
        "under a file",
        "inside the project's definitions",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    argv, expected = _bad(tmp_path)[case]
    with pytest.raises(SystemExit) as exit_:
        fleetgen.main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("python -m benchmarks.fleetgen: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"  # nothing overwritten
    assert not (ROOT / "k8s-clusters" / "fleet").exists()


def test_a_provider_fleet_of_10000_fits_the_model() -> None:
    """Issue 26: a provider's 10,000 clusters grant ECR pulls to the AWS Organization from one
    registry per region (not 100 registries account by account, which the model refuses past 50),
    roll out in three waves (canaries, staging, production) and fit Deploy's limits."""
    from components.definition.registries import Registries
    from components.definition.rollout import Rollout, wave_of, wave_problem

    registries = Registries.model_validate(fleetgen.registries_document(10_000))
    assert len(registries.registries) == 5
    assert {(r.grant_to, r.organization_id) for r in registries.registries} == {
        ("organization", fleetgen.ORGANIZATION_ID)
    }
    rollout = Rollout.model_validate(fleetgen.ROLLOUT)
    docs = [fleetgen.cluster_document(i)["metadata"] for i in range(1, 10_001)]
    waves = [wave_of(rollout, m["environment"], m.get("wave")) for m in docs]
    assert {w: waves.count(w) for w in set(waves)} == {0: 100, 1: 4900, 2: 5000}
    assert wave_problem(waves) is None
    assert rollout.max_parallel == 32
