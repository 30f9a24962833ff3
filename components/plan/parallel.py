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
from components.loading.fleet import Fleet
from components.names import REGISTRIES_STACK
from components.plan.classes import Identity, class_key
from components.plan.result import StackPlan
from components.plan.runner import plan_stack
from components.stack import program

# Stacks a worker is sent at a time: small chunks keep both workers busy to the end, each chunk
# costs a round trip.
MAX_CHUNK = 8
# Workers forked from this process cost nothing to start: by default there is one per core.
# Started from a fork server (see _worker_context), each costs an interpreter: by default there
# is one for this many stacks at most.
STACKS_PER_SERVER_WORKER = 8


def _worker_context() -> multiprocessing.context.BaseContext:
    """How workers start, each with WORKER_MODULES loaded once and for all:

    - forked from this process, once it has loaded them, when it runs a single thread (the CLI:
      the offline plan never opens a gRPC channel, and each stack joins its threads), which
      saves starting another interpreter;
    - otherwise (a test runner's threads, say) forked from a fresh server process that loaded
      them (plan/workers.py): `fork` of a process with threads running is not safe, with gRPC's
      least of all.
    """
    from components.plan import workers  # importing it loads the modules

    if can_fork():
        sys.stdout.flush()  # or each worker would write what is buffered again
        sys.stderr.flush()
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([workers.__name__])
    return context


def _start_worker(project_dir: Path, stacks: list[str]) -> None:
    from components.plan import workers  # loaded already, by the process it was forked from

    workers.load()
    program.fleet(project_dir, stacks)  # the definitions, read once (or inherited) per worker


def _plan_chunk(project_dir: Path, stacks: list[str]) -> list[StackPlan | pulumi.RunError]:
    """Plans of `stacks`, in order; a stack the program refuses gives its RunError (raised by
    the parent in stack order, as planning them one after the other would)."""
    out: list[StackPlan | pulumi.RunError] = []
    for stack in stacks:
        try:
            out.append(plan_stack(project_dir, stack))
        except pulumi.RunError as exc:
            out.append(exc)
    return out


def _class_chunk(project_dir: Path, stacks: list[str]) -> list[str | pulumi.RunError]:
    """The class key (plan/classes.py) of each of `stacks`, in order: only the key leaves the
    worker, never the plan (10,000 plans held at once would take gigabytes)."""
    fleet = program.fleet(project_dir, stacks)
    out: list[str | pulumi.RunError] = []
    for stack in stacks:
        try:
            plan = plan_stack(project_dir, stack)
        except pulumi.RunError as exc:
            out.append(exc)
            continue
        out.append(class_key(plan, Identity.of(stack, fleet.clusters.get(stack))))
    return out


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
    work: Callable[[Path, list[str]], list[Any]],
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
    work: Callable[[Path, list[str]], list[Any]],
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
    if fleet is not None:
        program.fleet.remember(fleet)  # forked workers inherit it too
    if jobs is None:
        jobs = cores() if can_fork() else len(stacks) // STACKS_PER_SERVER_WORKER
        jobs = min(jobs, cores())
    jobs = min(jobs, len(stacks))
    if jobs <= 1:
        program.fleet(project_dir, stacks)  # read once for them all, unless handed over
        for count, stack in enumerate(stacks, start=1):
            (result,) = work(project_dir, [stack])
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
    with ProcessPoolExecutor(
        jobs,
        mp_context=_worker_context(),
        initializer=_start_worker,
        initargs=(project_dir, list(stacks)),
    ) as pool:
        names = [[stacks[i] for i in part] for part in parts]
        done = pool.map(work, repeat(project_dir), names)
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
