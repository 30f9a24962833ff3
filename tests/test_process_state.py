"""Nothing on the plan path changes the process for good (issue #22, "Seams"): Pulumi's private
function is replaced only while a plan runs, the fleet reaches the program as an argument of
the plan (not through a process-wide cache), and declaring a pattern fills no global table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pulumi.runtime import resource
from pulumi.runtime.proto import source_pb2

from components.definition.cluster import Cluster
from components.definition.types import Model, describe_pattern, pattern
from components.loading.fleet import load_fleet
from components.plan.runner import plan_stack, without_source_positions
from components.stack import program

PROD = "production-cluster-name"


def test_the_stack_walk_is_replaced_inside_the_block_only() -> None:
    original = resource._get_stack_trace
    assert original is not source_pb2.StackTrace
    with without_source_positions():
        assert resource._get_stack_trace is source_pb2.StackTrace
        with without_source_positions():  # a block inside another leaves it to the outer one
            assert resource._get_stack_trace is source_pb2.StackTrace
        assert resource._get_stack_trace is source_pb2.StackTrace
    assert resource._get_stack_trace is original


def test_the_stack_walk_is_put_back_when_the_block_fails() -> None:
    original = resource._get_stack_trace
    with pytest.raises(RuntimeError), without_source_positions():
        raise RuntimeError("a plan that fails")
    assert resource._get_stack_trace is original


def test_a_plan_hands_its_fleet_to_the_program_and_keeps_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a fleet, the program reads no definition; afterwards no fleet is left anywhere for
    the next plan, which reads the definitions itself."""
    original = resource._get_stack_trace
    fleet = load_fleet(root, [PROD])
    reads: list[object] = []

    def counting_load(project_dir: Path, stacks: object = None) -> object:
        reads.append(stacks)
        return load_fleet(project_dir, stacks)  # type: ignore[arg-type]

    monkeypatch.setattr(program, "load_fleet", counting_load)
    handed = plan_stack(root, PROD, fleet)
    assert reads == []
    assert program.HANDED_FLEET.get() is None
    assert resource._get_stack_trace is original  # the plan put Pulumi's function back
    again = plan_stack(root, PROD)
    assert reads == [[PROD]]
    assert [r.urn for r in again.resources] == [r.urn for r in handed.resources]


def test_declaring_a_pattern_fills_no_global_table() -> None:
    """A pattern's hint is found from the model that declares it, and from no other model."""
    regex = r"^zz[0-9]$"

    class Probe(Model):
        code: Annotated[str, pattern(regex, "zz and a digit")]
        codes: list[Annotated[str, pattern(regex + "?", "zz, maybe a digit")]]

    assert describe_pattern(regex, Probe) == "zz and a digit"
    assert describe_pattern(regex + "?", Probe) == "zz, maybe a digit"
    assert describe_pattern(regex, Cluster) == f"a value matching {regex}"
