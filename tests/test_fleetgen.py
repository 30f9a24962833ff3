"""The benchmark's fleet generator (benchmarks/fleetgen.py) writes a fleet `validate` accepts:
a benchmark of a broken fleet measures nothing (the #12 refactor once broke its stack files)."""

from __future__ import annotations

import sys
from pathlib import Path

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
