"""Plan one stack: run the real program (__main__.py) under Pulumi's mock runtime.

No Pulumi CLI, no provider plugins, no cloud credentials. Each stack runs in a fresh
contextvars context with its own event loop, so one process can plan many stacks. Its config is
the stack file's only: Pulumi's SDK would also take keys missing there from the environment
(PULUMI_CONFIG, PULUMI_CONFIG_<KEY>), which `pulumi up` sets for the program; the offline plan
ignores them, so it shows what the committed files say, the same on any machine.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import runpy
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.stack import run_pulumi_func

from components.loading.fleet import Fleet
from components.loading.stack_files import StackConfig, read_stack_file
from components.names import PROJECT
from components.plan.mocks import PlanMocks, RecordingMonitor
from components.plan.result import UNKNOWN, Registration, Secret, StackPlan, provider_urn
from components.stack import program

# What plan_stack raises when the program refuses a stack (its message: one line per problem).
RunError = pulumi.RunError


def stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Config of stacks/Pulumi.<stack>.yaml (none when there is no file); encrypted values
    become placeholders, kept secret. A broken file is the program's error, one line each."""
    config, problems = read_stack_file(project_dir, stack)
    if problems:
        raise pulumi.RunError("\n".join(str(p) for p in problems))
    config = config or StackConfig()
    return config.values, config.secret_keys


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in sorted(outputs.items()):
        out = pulumi.Output.from_input(value)
        known = await out.is_known()
        plain = await out.future(with_unknowns=True) if known else UNKNOWN
        resolved[key] = Secret(plain) if await out.is_secret() else plain
    return resolved


# Environment variables that are not config, though named like it.
_NOT_CONFIG = frozenset({"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"})


def config_from_environment(environ: Mapping[str, str]) -> list[str]:
    """The variables Pulumi's SDK reads config from (PULUMI_CONFIG, PULUMI_CONFIG_<KEY>,
    PULUMI_CONFIG_SECRET_KEYS)."""
    return sorted(
        name
        for name in environ
        if (name == "PULUMI_CONFIG" or name.startswith("PULUMI_CONFIG_"))
        and name not in _NOT_CONFIG
    )


@contextmanager
def _without_config_from_environment() -> Iterator[None]:
    hidden = {name: os.environ.pop(name) for name in config_from_environment(os.environ)}
    try:
        yield
    finally:
        os.environ.update(hidden)


def _run(project_dir: Path, stack: str, main: Path, fleet: Fleet | None) -> StackPlan:
    # In this stack's own context (plan_stack): the fleet handed over ends with it.
    program.HANDED_FLEET.set(fleet)
    with _without_config_from_environment(), without_source_positions():
        return _run_stack(project_dir, stack, main)


def _run_stack(project_dir: Path, stack: str, main: Path) -> StackPlan:
    # Before any runtime state: a refused stack file must leave none behind for the next stack.
    config, secret_keys = stack_config(project_dir, stack)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Pulumi's mocks answer in the loop's executor threads, each wanting an event loop of its
    # own: give them ones this stack closes, not loops left for the garbage collector to tear
    # down in any order (or at exit: "Exception ignored in BaseEventLoop.__del__").
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def thread_loop() -> None:
        thread_loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(thread_loops[-1])

    loop.set_default_executor(ThreadPoolExecutor(initializer=thread_loop))
    try:
        mocks = PlanMocks()
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks,
            project=PROJECT,
            stack=stack,
            preview=False,
            monitor=monitor,
            logger=logging.getLogger("fluxfleet.plan"),
        )
        pulumi.runtime.set_all_config(config, secret_keys)

        def program() -> None:
            runpy.run_path(str(main), run_name="__main__")

        loop.run_until_complete(run_pulumi_func(program))
        root = pulumi.runtime.settings.get_root_resource()
        raw_outputs = dict(getattr(root, "outputs", {}) or {})
        outputs = loop.run_until_complete(_resolve_outputs(raw_outputs))
        return StackPlan(stack, order(monitor.registrations), outputs, sorted(set(monitor.invokes)))
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        for done in thread_loops:
            done.close()
        loop.close()
        asyncio.set_event_loop(None)


def plan_stack(project_dir: Path, stack: str, fleet: Fleet | None = None) -> StackPlan:
    """Run __main__.py of `project_dir` as stack `stack` under the mock runtime. `fleet`: the
    definitions read already (load_fleet), which the program then takes instead of reading them
    (when they answer for the stack).

    Raises pulumi.RunError for invalid definitions (the program's own message).
    """
    main = project_dir / "__main__.py"
    return contextvars.Context().run(_run, project_dir.resolve(), stack, main, fleet)


def order(registrations: list[Registration]) -> list[Registration]:
    """Deterministic order: parents and dependencies first, ties by URN (executor threads
    may register siblings in any order)."""
    by_urn = {r.urn: r for r in registrations}
    done: set[str] = set()
    out: list[Registration] = []

    def visit(urn: str, trail: frozenset[str]) -> None:
        if urn in done or urn not in by_urn or urn in trail:
            return
        reg = by_urn[urn]
        for before in sorted({reg.parent, provider_urn(reg.provider), *reg.dependencies}):
            visit(before, trail | {urn})
        done.add(urn)
        out.append(reg)

    for urn in sorted(by_urn):
        visit(urn, frozenset())
    return out


@contextmanager
def without_source_positions() -> Iterator[None]:
    """Pulumi walks the Python stack of every resource registration to tell the engine where
    in the program it was made (about a tenth of a plan's time). The recording monitor never
    reads it: while a plan runs, the walk is replaced by an empty trace, and Pulumi's own
    function is put back after it (also when the plan fails), so nothing else in the process
    sees the change. Inside another plan's block (already replaced) it leaves it alone."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    saved = getattr(resource, "_get_stack_trace", None)  # private: skip if it ever goes
    if saved is None or saved is source_pb2.StackTrace:
        yield
        return
    resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        resource._get_stack_trace = saved
