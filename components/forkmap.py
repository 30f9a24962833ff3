"""A map over forked worker processes, for the CPU-bound file reading of `fluxfleet validate`.

Forked workers share this process's memory: the function and what it works on (a loaded fleet)
are never pickled, only the indices sent and the results returned. Only a single-threaded process
forks (forking while threads run is not safe); otherwise, for a small job, or where there is no
fork, the map runs in this process. The results are in the order of the items, either way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_JOBS = 8
_WORK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None  # what the forked workers map


def cores() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def single_threaded() -> bool:
    """Whether this process runs one thread, counting the ones Python does not know about
    (gRPC's, for one): only such a process can be forked safely."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def can_fork() -> bool:
    """Whether this process may fork workers: on Linux, while it runs a single thread."""
    return sys.platform == "linux" and single_threaded()


def chunks(count: int, jobs: int, most: int | None = None) -> list[range]:
    """`range(count)` cut for `jobs` workers: about four parts each, so that they all stay busy to
    the end (each part costs a round trip), of at most `most` items."""
    size = -(-count // (jobs * 4))
    size = max(1, min(size, most) if most is not None else size)
    return [range(i, min(i + size, count)) for i in range(0, count, size)]


def _mapped(part: range) -> list[Any]:
    assert _WORK is not None, "a worker forked by fork_map"
    fn, items = _WORK
    return [fn(items[i]) for i in part]


def fork_map(fn: Callable[[T], R], items: Sequence[T], *, min_items: int) -> list[R]:
    """[fn(item) for item in items], by forked workers (one per core) from `min_items` items."""
    global _WORK
    jobs = min(cores(), MAX_JOBS)
    if len(items) < min_items or jobs < 2 or not can_fork():
        return [fn(item) for item in items]
    import multiprocessing  # only a large fleet needs them
    from concurrent.futures import ProcessPoolExecutor

    parts = chunks(len(items), jobs)
    _WORK = (fn, items)
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            return [result for done in pool.map(_mapped, parts) for result in done]
    finally:
        _WORK = None
