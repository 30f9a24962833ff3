"""Plan many stacks in worker processes, each of which imports the program's modules once.

The result does not depend on the number of workers: the plans come back in the order asked.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import pulumi

from components.forkmap import can_fork, chunks, cores
from components.loading.fleet import Fleet, load_fleet
from components.names import REGISTRIES_STACK
from components.plan import workers
from components.plan.classes import Identity, class_key
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


# What a worker does with a chunk of stacks: (project, stacks, fleet) -> a result per stack, a
# stack the program refuses giving its RunError (raised by the parent in stack order, as planning
# them one after the other would). Module-level functions: workers are handed them by name.
Work = Callable[[Path, list[str], Fleet | None], list[Any]]


def _plan_chunk(
    project_dir: Path, stacks: list[str], fleet: Fleet | None
) -> list[StackPlan | pulumi.RunError]:
    """Plans of `stacks`, in order."""
    out: list[StackPlan | pulumi.RunError] = []
    for stack in stacks:
        try:
            out.append(plan_stack(project_dir, stack, fleet))
        except pulumi.RunError as exc:
            out.append(exc)
    return out


def _class_chunk(
    project_dir: Path, stacks: list[str], fleet: Fleet | None
) -> list[str | pulumi.RunError]:
    """The class key (plan/classes.py) of each of `stacks`, in order: only the key leaves the
    worker, never the plan (10,000 plans held at once would take gigabytes)."""
    fleet = fleet or load_fleet(project_dir, stacks)
    out: list[str | pulumi.RunError] = []
    for stack in stacks:
        try:
            plan = plan_stack(project_dir, stack, fleet)
        except pulumi.RunError as exc:
            out.append(exc)
            continue
        out.append(class_key(plan, Identity.of(stack, fleet.clusters.get(stack))))
    return out


def _in_worker(work: Work, project_dir: Path, stacks: list[str]) -> list[Any]:
    """`work` in a worker process, with the fleet its initializer set."""
    return work(project_dir, stacks, _worker_fleet)


def class_keys(
    project_dir: Path,
    stacks: Sequence[str],
    jobs: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    fleet: Fleet | None = None,
) -> list[str]:
    """The class key of each of `stacks`, in that order, planned as plan_stacks plans them.
    Raises pulumi.RunError of the first stack (in order) that the program refuses."""
    return cast("list[str]", _map(project_dir, stacks, _class_chunk, jobs, progress, fleet))


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
    return cast("list[StackPlan]", _map(project_dir, stacks, _plan_chunk, jobs, progress, fleet))


def iter_plans(
    project_dir: Path,
    stacks: Sequence[str],
    jobs: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    fleet: Fleet | None = None,
) -> Iterator[StackPlan]:
    """The plans of plan_stacks, one by one as they are done (in order): a caller that writes
    each as it comes holds one chunk's plans, not the fleet's (10,000 stacks, gigabytes).
    Raises pulumi.RunError when it reaches a stack the program refuses."""
    for plan in _iter_map(project_dir, stacks, _plan_chunk, jobs, progress, fleet):
        yield cast("StackPlan", plan)


def _map(
    project_dir: Path,
    stacks: Sequence[str],
    work: Work,
    jobs: int | None,
    progress: Callable[[int, int], None] | None,
    fleet: Fleet | None,
) -> list[Any]:
    """`work` over `stacks`, every result at once; a pulumi.RunError among them is raised (the
    first in order) only when all are done, as planning them one after the other would."""
    results = list(_iter_map(project_dir, stacks, work, jobs, progress, fleet, errors=False))
    for result in results:
        if isinstance(result, pulumi.RunError):
            raise result
    return results


def _iter_map(
    project_dir: Path,
    stacks: Sequence[str],
    work: Work,
    jobs: int | None,
    progress: Callable[[int, int], None] | None,
    fleet: Fleet | None,
    *,
    errors: bool = True,
) -> Iterator[Any]:
    """`work` (a module-level function: workers are handed it by name) over `stacks` in chunks,
    by `jobs` workers; its results in the order of `stacks`, each as soon as it and those before
    it are done. `errors`: a pulumi.RunError is raised when reached (else yielded)."""
    report = progress or (lambda done, total: None)
    project_dir = project_dir.resolve()
    if jobs is None:
        jobs = cores() if can_fork() else len(stacks) // STACKS_PER_SERVER_WORKER
        jobs = min(jobs, cores())
    jobs = min(jobs, len(stacks))
    if jobs <= 1:
        fleet = fleet or load_fleet(project_dir, stacks)  # read once for them all
        for count, stack in enumerate(stacks, start=1):
            (result,) = work(project_dir, [stack], fleet)
            if errors and isinstance(result, pulumi.RunError):
                raise result
            report(count, len(stacks))
            yield result
        return
    # The registries stack grows with the fleet (a second or more for hundreds of clusters):
    # it goes first, so that no worker is left with it at the end while the others wait.
    queue = sorted(range(len(stacks)), key=lambda i: stacks[i] != REGISTRIES_STACK)
    parts = [[queue[i] for i in part] for part in chunks(len(queue), jobs, MAX_CHUNK)]
    waiting: dict[int, Any] = {}  # done, by position, until those before them are
    following = 0
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
        done = pool.map(_in_worker, repeat(work), repeat(project_dir), names)
        planned = 0
        for part, results in zip(parts, done, strict=True):
            waiting.update(zip(part, results, strict=True))
            planned += len(part)
            report(planned, len(stacks))
            while following in waiting:
                result = waiting.pop(following)
                following += 1
                if errors and isinstance(result, pulumi.RunError):
                    raise result
                yield result
