"""What __main__.py calls: shared by `pulumi up` and `fluxfleet plan` (one code path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from .definitions import DefinitionError, Fleet, load_fleet
from .model import Cluster
from .registries_model import Registry

_FLEETS: dict[Path, Fleet] = {}


def fleet(project_dir: Path) -> Fleet:
    """The project's definitions, read once per process (a plan of many stacks reuses them)."""
    key = project_dir.resolve()
    if key not in _FLEETS:
        _FLEETS[key] = load_fleet(key)
    return _FLEETS[key]


def forget_fleets() -> None:
    _FLEETS.clear()


def cluster_definition(project_dir: Path, stack: str) -> Cluster:
    """The definition of `stack`; invalid or missing stops the program with the same
    one-line-per-problem messages as `fluxfleet validate` (RunError: printed without a trace)."""
    try:
        return fleet(project_dir).cluster(stack)
    except DefinitionError as exc:
        raise pulumi.RunError(str(exc)) from None


def fleet_registries(project_dir: Path) -> Fleet:
    """The whole fleet for the registries stack, which grants what every cluster pulls: any
    problem in any definition stops it (same messages as `fluxfleet validate`)."""
    try:
        return fleet(project_dir).registries_stack()
    except DefinitionError as exc:
        raise pulumi.RunError(str(exc)) from None


def cluster_registries(project_dir: Path) -> dict[str, Registry]:
    """The registries of _registries.yaml, for a cluster stack's side of its ECR pulls (a cluster
    whose pulls do not check out against them never gets past `cluster_definition`)."""
    return fleet(project_dir).registries


def export_all(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)
