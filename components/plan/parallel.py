"""Plan many stacks in worker processes, each of which imports the program's modules once.

The result does not depend on the number of workers: the plans come back in the order asked.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import cast

import pulumi

from components.forkmap import can_fork, chunks, cores
from components.loading.fleet import Fleet, load_fleet
from components.names import REGISTRIES_STACK
from components.plan import workers
from components.plan.result import StackPlan
from components.plan.runner import plan_stack

# The fork server's preload: importing it loads the modules (by name: importing it here would).
PRELOAD = "components.plan.preload"
# Stacks a worker is sent at a time: small chunks keep both workers busy to the end, each chunk
# costs a round trip.
MAX_CHUNK = 8
# Workers forked from this process cost nothing to start: by default there is one per core.
# Started from a fork server (see _worker_context), each costs an interpreter: by default there
# is one for this many stacks at most.
STACKS_PER_SERVER_WORKER = 8


def _worker_context() -> multiprocessing.context.BaseContext:
    """How workers start, each with the modules of plan/workers.py loaded once and for all:

    - forked from this process, once it has loaded them, when it runs a single thread (the CLI:
      the offline plan never opens a gRPC channel, and each stack joins its threads), which
      saves starting another interpreter;
    - otherwise (a test runner's threads, say) forked from a fresh server process that loaded
      them (its preload, plan/preload.py): `fork` of a process with threads running is not
      safe, with gRPC's least of all.
    """
    if can_fork():
        workers.load()
        sys.stdout.flush()  # or each worker would write what is buffered again
        sys.stderr.flush()
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    return context


# A worker process's fleet: set once by its initializer, handed to each stack it plans.
_worker_fleet: Fleet | None = None


def _start_worker(project_dir: Path, stacks: list[str], fleet: Fleet | None) -> None:
    """`fleet`: the parent's, when the worker is forked from it (inherited, not copied); else
    the worker reads the definitions once for all the stacks it plans."""
    global _worker_fleet
    workers.load()  # loaded already, by the process it was forked from
    _worker_fleet = fleet if fleet is not None else load_fleet(project_dir, stacks)


def _plan_chunk(project_dir: Path, stacks: list[str]) -> list[StackPlan | pulumi.RunError]:
    """Plans of `stacks`, in order; a stack the program refuses gives its RunError (raised by
    the parent in stack order, as planning them one after the other would)."""
    out: list[StackPlan | pulumi.RunError] = []
    for stack in stacks:
        try:
            out.append(plan_stack(project_dir, stack, _worker_fleet))
        except pulumi.RunError as exc:
            out.append(exc)
    return out


def plan_stacks(
    project_dir: Path,
    stacks: Sequence[str],
    jobs: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    fleet: Fleet | None = None,
) -> list[StackPlan]:
    """The plans of `stacks`, in that order, computed by `jobs` worker processes (default: one
    per core; 1: in this process). The result does not depend on `jobs`. (A process running
    threads cannot fork itself: by default it starts a worker for 8 stacks at most.)

    Raises pulumi.RunError of the first stack (in order) that the program refuses.
    `progress(done, total)` is called as stacks are planned. `fleet`: the definitions, read
    already (load_fleet, for these stacks at least), which the program then does not read again.
    """
    report = progress or (lambda done, total: None)
    project_dir = project_dir.resolve()
    if jobs is None:
        jobs = cores() if can_fork() else len(stacks) // STACKS_PER_SERVER_WORKER
        jobs = min(jobs, cores())
    jobs = min(jobs, len(stacks))
    if jobs <= 1:
        fleet = fleet or load_fleet(project_dir, stacks)  # read once for them all
        serial: list[StackPlan] = []
        for stack in stacks:
            serial.append(plan_stack(project_dir, stack, fleet))
            report(len(serial), len(stacks))
        return serial
    # The registries stack grows with the fleet (a second or more for hundreds of clusters):
    # it goes first, so that no worker is left with it at the end while the others wait.
    queue = sorted(range(len(stacks)), key=lambda i: stacks[i] != REGISTRIES_STACK)
    parts = [[queue[i] for i in part] for part in chunks(len(queue), jobs, MAX_CHUNK)]
    results: list[StackPlan | pulumi.RunError | None] = [None] * len(stacks)
    context = _worker_context()
    # Forked workers inherit the parent's fleet; a fork server's would each receive a copy.
    handed = fleet if context.get_start_method() == "fork" else None
    with ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(project_dir, list(stacks), handed),
    ) as pool:
        names = [[stacks[i] for i in part] for part in parts]
        done = pool.map(_plan_chunk, repeat(project_dir), names)
        planned = 0
        for part, plans in zip(parts, done, strict=True):
            for i, plan in zip(part, plans, strict=True):
                results[i] = plan
            planned += len(part)
            report(planned, len(stacks))
    for stack_result in results:
        if isinstance(stack_result, pulumi.RunError):
            raise stack_result
    return cast("list[StackPlan]", results)
