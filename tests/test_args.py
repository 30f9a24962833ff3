"""Each component's Args sits beside its component and holds data only (issue #22, "Seams"):
stack/args.py only translates a definition into them, and no Args carries a callable through
which a component would call back into the builders."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

import components.stack
from components.builders.flux import FluxOptions
from components.loading.fleet import load_fleet
from components.stack import args as stack_args
from components.stack.args import cluster_args

STACK_MODULES = [
    importlib.import_module(f"components.stack.{info.name}")
    for info in sorted(pkgutil.iter_modules(components.stack.__path__), key=lambda i: i.name)
]


def _components() -> Iterator[tuple[Any, type]]:
    """(module, component class) for each component of stack/ given an args object."""
    for module in STACK_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and issubclass(cls, pulumi.ComponentResource)
                and "args" in inspect.signature(cls.__init__).parameters
            ):
                yield module, cls


def test_the_components_with_args_are_found() -> None:
    assert {cls.__name__ for _, cls in _components()} >= {
        "EksConnection",
        "EcrAccess",
        "SopsAccess",
        "DeployKey",
        "Flux",
        "Observability",
        "FluxCluster",
    }


def test_stack_args_defines_no_args_class() -> None:
    defined = [
        name
        for name, obj in inspect.getmembers(stack_args, inspect.isclass)
        if obj.__module__ == stack_args.__name__
    ]
    assert defined == []


@pytest.mark.parametrize(
    ("module", "component"), list(_components()), ids=lambda v: getattr(v, "__name__", "")
)
def test_each_component_takes_args_defined_beside_it(module: Any, component: type) -> None:
    annotation = (
        inspect.signature(component.__init__).parameters["args"].annotation
    )  # a string: the modules use postponed annotations
    args_class = getattr(module, str(annotation))
    assert dataclasses.is_dataclass(args_class)
    assert args_class.__module__ == module.__name__, (component.__name__, annotation)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def test_the_example_fleets_args_hold_data_only(root: Path) -> None:
    """Every leaf of every cluster's Args is data: the FluxInstance comes from its options,
    the runtime facts from theirs, a role's trust from RoleTrust (none is a callable)."""
    fleet = load_fleet(root)
    seen_instance = False
    for cluster in fleet.clusters.values():
        built = cluster_args(cluster, fleet.registries, None)
        seen_instance |= isinstance(built.flux.instance, FluxOptions)
        called = [path for path, leaf in _leaves(built, cluster.name) if callable(leaf)]
        assert called == []
    assert seen_instance
