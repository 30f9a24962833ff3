"""Fleet-scale benchmark: `fluxfleet validate` and `fluxfleet plan --json` of N generated clusters.

    python benchmarks/bench.py [--sizes 1,10,100,500] [--validate-sizes 1000] [--out DIR]

For each N it generates N realistic clusters (benchmarks/fleetgen.py) in a temporary copy of the
project and runs each command as a whole process, the way a person or CI does, measuring its
wall time and its peak memory (the resident memory of the process and all its children, summed,
sampled every 20 ms). The floor is a bare Python importing Pulumi and the provider modules the
program uses (components.plan.workers.PROVIDER_MODULES): what no plan can avoid. It prints a
table, checks the targets of issue 8, and writes results.json, results.md and time-vs-n.png
into --out.

Linux only (it reads /proc); needs matplotlib for the plot (a dev tool, not a dependency).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import fleetgen  # noqa: E402

# Issue 8's targets, on a 2-core machine.
VALIDATE_EXAMPLE_S = 0.5
VALIDATE_1000_S = 2.0
INVENTORY_1000_S = 2.0  # issue 15: `fluxfleet inventory` of 1,000 clusters, like validate
PLAN_ONE_VS_FLOOR = 1.5
# Issue 21: one stack's plan in the largest fleet measured, against the same stack's in the
# smallest (a stack reads only what it needs, not the whole fleet).
PLAN_ONE_SCALE = 1.15
PLAN_S = {100: 10.0, 500: 40.0}
PEAK_MB = 1024.0
LINEAR_SLACK = 1.25  # the cost of one more stack may grow this much from one size to the next


@dataclass
class Run:
    what: str
    n: int  # clusters in the fleet (0: the example fleet or the floor)
    stacks: int
    resources: int
    seconds: float
    peak_mb: float
    runs: list[float] = field(default_factory=list)
    # CPU seconds (user + system) of the process and its workers, the least of the runs: on a
    # shared machine, less dependent on the others' load than the wall time
    cpu_seconds: float = 0.0

    @property
    def ms_per_stack(self) -> float | None:
        return self.seconds * 1000 / self.stacks if self.stacks else None


# --- measuring a whole process ----------------------------------------------------------------


PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc/PID/task/TID/children (cheap: the sampling must
    not take CPU from what it measures)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as children:
                    todo += [int(child) for child in children.read().split()]
    return found


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/statm") as statm:
            total += int(statm.read().split()[1]) * PAGE
    return total


def measure(cmd: list[str], *, cwd: Path, stdout: Path | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak MB of the process tree's summed RSS, CPU seconds of the tree) of one
    run of `cmd`, the tree sampled every 20 ms."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdout or os.devnull, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.PIPE, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _rss(_tree(proc.pid)))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the process is reaped: counted
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, peak / 2**20, cpu


def best_of(cmd: list[str], repeat: int, *, cwd: Path, stdout: Path | None = None) -> Run:
    """The fastest of `repeat` runs (others' load only ever slows a run down); the peak memory
    is the largest seen."""
    times, peaks, cpus = [], [], []
    for _ in range(repeat):
        seconds, peak, cpu = measure(cmd, cwd=cwd, stdout=stdout)
        times.append(seconds)
        peaks.append(peak)
        cpus.append(cpu)
        if seconds > 30:
            break  # long runs are stable enough once
    return Run("", 0, 0, 0, min(times), max(peaks), [round(t, 3) for t in times], min(cpus))


def fluxfleet() -> list[str]:
    script = Path(sys.executable).with_name("fluxfleet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "components"]


def count_resources(plan_json: Path) -> tuple[int, int]:
    """(stacks, resources) of a `plan --json` document (stacks themselves not counted)."""
    doc = json.loads(plan_json.read_text())
    stacks = doc.get("stacks", [doc])
    resources = sum(
        1
        for s in stacks
        for step in s["steps"]
        if step["newState"]["type"] != "pulumi:pulumi:Stack"
    )
    return len(stacks), resources


# --- the runs -----------------------------------------------------------------------------------


def floor_command() -> list[str]:
    """Python importing Pulumi and the providers, and loading the provider submodules a plan
    loads (they are lazy: `import pulumi_aws.eks` alone leaves a placeholder, an attribute read
    loads it)."""
    from components.plan.workers import PROVIDER_MODULES

    submodules = sorted(
        {".".join(m.split(".")[:i]) for m in PROVIDER_MODULES for i in range(2, m.count(".") + 2)}
    )
    code = (
        "import importlib, pulumi, pulumi_tls, pulumi_github, pulumi_kubernetes, pulumi_aws\n"
        f"for name in {submodules!r}:\n"
        "    getattr(importlib.import_module(name), '__all__', None)\n"
    )
    return [sys.executable, "-c", code]


EXAMPLE_STACK = "production-cluster-name"  # a stack of the example fleet (k8s-clusters/)


def run_all(args: argparse.Namespace, work: Path) -> list[Run]:
    runs: list[Run] = []
    cli = fluxfleet()
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []

    def note(run: Run) -> None:
        runs.append(run)
        per = f"{run.ms_per_stack:.0f} ms/stack" if run.ms_per_stack else ""
        print(
            f"  {run.what:<30} N={run.n:<5} {run.seconds:7.2f} s {per:>14} "
            f"{run.peak_mb:6.0f} MB  cpu {run.cpu_seconds:6.2f} s"
        )

    print("floor and example fleet")
    floor = best_of(floor_command(), args.repeat, cwd=ROOT)
    floor.what = "floor (imports)"
    note(floor)
    run = best_of([*cli, "--project", str(ROOT), "validate"], args.repeat, cwd=ROOT)
    run.what, run.stacks = "validate (example)", 0
    note(run)
    out = work / "plan-one-example.json"
    cmd = [*cli, "--project", str(ROOT), "plan", "--json", EXAMPLE_STACK]
    run = best_of(cmd, args.repeat, cwd=ROOT, stdout=out)
    run.what = "plan --json (1 stack, example)"
    run.stacks, run.resources = count_resources(out)
    note(run)

    sizes = sorted(set(args.sizes) | set(args.validate_sizes))
    one_stack_at = {min(sizes), max(sizes)} if sizes else set()
    for n in sizes:
        print(f"N={n}: generating")
        project = fleetgen.generate(ROOT, work / f"fleet-{n}", n)
        clusters = n
        run = best_of([*cli, "--project", str(project), "validate"], args.repeat, cwd=ROOT)
        run.what, run.n, run.stacks = "validate", n, clusters
        note(run)
        cmd = [*cli, "--project", str(project), "inventory", "--format", "json"]
        run = best_of(cmd, args.repeat, cwd=ROOT, stdout=work / "inventory.json")
        run.what, run.n, run.stacks = "inventory", n, clusters
        note(run)
        if n in one_stack_at:  # the same stack (the same plan) at the smallest and largest N
            out = work / f"plan-one-{n}.json"
            cmd = [*cli, "--project", str(project), "plan", "--json", fleetgen.cluster_name(1)]
            run = best_of(cmd, args.repeat, cwd=ROOT, stdout=out)
            run.what, run.n = "plan --json (1 stack)", n
            run.stacks, run.resources = count_resources(out)
            note(run)
            if out.read_bytes() != (work / f"plan-one-{min(sizes)}.json").read_bytes():
                raise SystemExit(f"{fleetgen.cluster_name(1)} plans differently at N={n}")
        if n not in args.sizes:
            if not args.keep:
                shutil.rmtree(project)
            continue
        out = work / f"plan-{n}.json"
        cmd = [*cli, "--project", str(project), "plan", "--json", *jobs]
        run = best_of(cmd, args.repeat, cwd=ROOT, stdout=out)
        run.what, run.n = "plan --json (all)", n
        run.stacks, run.resources = count_resources(out)
        note(run)
        out.unlink()
        if not args.keep:
            shutil.rmtree(project)
    return runs


# --- report -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for name in ("pulumi", "pydantic", "PyYAML", "ruamel.yaml", "matplotlib"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "?"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def checks(runs: list[Run]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target issue 8 sets."""
    found: dict[tuple[str, int], Run] = {(r.what, r.n): r for r in runs}
    floor = found[("floor (imports)", 0)]
    out = []
    example = found[("validate (example)", 0)]
    out.append(
        (
            f"validate, example fleet < {VALIDATE_EXAMPLE_S} s",
            f"{example.seconds:.2f} s",
            example.seconds < VALIDATE_EXAMPLE_S,
        )
    )
    if ("validate", 1000) in found:
        r = found[("validate", 1000)]
        out.append(
            (
                f"validate, 1000 definitions < {VALIDATE_1000_S} s",
                f"{r.seconds:.2f} s",
                r.seconds < VALIDATE_1000_S,
            )
        )
    if ("inventory", 1000) in found:
        r = found[("inventory", 1000)]
        out.append(
            (
                f"inventory, 1000 definitions < {INVENTORY_1000_S} s",
                f"{r.seconds:.2f} s",
                r.seconds < INVENTORY_1000_S,
            )
        )
    one = sorted((r for r in runs if r.what == "plan --json (1 stack)"), key=lambda r: r.n)
    if one:
        ratio = one[0].seconds / floor.seconds
        out.append(
            (
                f"plan, one stack <= {PLAN_ONE_VS_FLOOR} x floor",
                f"{one[0].seconds:.2f} s = {ratio:.2f} x {floor.seconds:.2f} s",
                ratio <= PLAN_ONE_VS_FLOOR,
            )
        )
    if len(one) > 1:
        small, big = one[0], one[-1]
        ratio = big.seconds / small.seconds
        out.append(
            (
                f"plan, one stack of {big.n} clusters <= {PLAN_ONE_SCALE} x the same stack of "
                f"{small.n}",
                f"{big.seconds:.2f} s = {ratio:.2f} x {small.seconds:.2f} s; CPU "
                f"{big.cpu_seconds / small.cpu_seconds:.2f} x",
                ratio <= PLAN_ONE_SCALE,
            )
        )
        example = found.get(("plan --json (1 stack, example)", 0))
        if example is not None:
            ratio = big.seconds / example.seconds
            out.append(
                (
                    f"plan, one stack of {big.n} clusters <= {PLAN_ONE_SCALE} x one of the "
                    f"example fleet ({EXAMPLE_STACK}, {example.resources} resources against "
                    f"{big.resources})",
                    f"{big.seconds:.2f} s = {ratio:.2f} x {example.seconds:.2f} s; CPU "
                    f"{big.cpu_seconds / example.cpu_seconds:.2f} x",
                    ratio <= PLAN_ONE_SCALE,
                )
            )
    plans = sorted((r for r in runs if r.what == "plan --json (all)"), key=lambda r: r.n)
    for n, limit in PLAN_S.items():
        if ("plan --json (all)", n) in found:
            r = found[("plan --json (all)", n)]
            out.append(
                (f"plan, {n} clusters < {limit:.0f} s", f"{r.seconds:.1f} s", r.seconds < limit)
            )
    if plans:
        peak = max(r.peak_mb for r in plans)
        out.append((f"plan, peak memory < {PEAK_MB:.0f} MB", f"{peak:.0f} MB", peak < PEAK_MB))
    big = [r for r in plans if r.n >= 10]
    for a, b in itertools.pairwise(big):
        # the cost of one more stack between sizes: constant when time is linear in N
        prev = a.seconds / a.stacks
        slope = (b.seconds - a.seconds) / (b.stacks - a.stacks)
        out.append(
            (
                f"plan, linear: a stack more from {a.n} to {b.n} costs <= {LINEAR_SLACK} x "
                f"the mean at {a.n}",
                f"{slope * 1000:.0f} ms vs {prev * 1000:.0f} ms",
                slope <= LINEAR_SLACK * prev,
            )
        )
    return out


def table(runs: list[Run], floor: float) -> str:
    lines = [
        "| what | N | stacks | resources | seconds | ms per stack | peak memory | x floor "
        "| CPU seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        per = f"{r.ms_per_stack:.0f}" if r.ms_per_stack else ""
        lines.append(
            f"| {r.what} | {r.n or ''} | {r.stacks or ''} | {r.resources or ''} | "
            f"{r.seconds:.2f} | {per} | {r.peak_mb:.0f} MB | {r.seconds / floor:.2f} | "
            f"{r.cpu_seconds:.2f} |"
        )
    return "\n".join(lines)


def plot(runs: list[Run], floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, per) = plt.subplots(1, 2, figsize=(12, 5))
    for what, style in (("validate", "o-"), ("plan --json (all)", "s-")):
        found = sorted((r for r in runs if r.what == what), key=lambda r: r.n)
        if found:
            label = f"fluxfleet {what.split(' (')[0]}"
            ax.plot([r.n for r in found], [r.seconds for r in found], style, label=label)
            per.plot([r.n for r in found], [r.seconds * 1000 / r.n for r in found], style)
    ax.axhline(floor, color="grey", linestyle="--", label=f"floor: imports ({floor:.2f} s)")
    ax.plot(list(PLAN_S), list(PLAN_S.values()), "rx", markersize=10, label="plan targets")
    ax.plot([1000], [VALIDATE_1000_S], "r+", markersize=12, label="validate target")
    ax.set_xlabel("clusters in the fleet (N)")
    ax.set_ylabel("seconds (wall, whole process)")
    ax.set_title("time against fleet size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    per.set_xscale("log")
    per.set_yscale("log")
    per.set_xlabel("clusters in the fleet (N, log)")
    per.set_ylabel("ms per cluster (log)")
    per.set_title("cost per cluster: start-up amortised, then flat")
    per.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# --- fleet scale (issue 26): the offline tools at thousands of clusters, each run once ---------

SCALE_TARGETS = {  # seconds, on 2 cores
    "validate": 10,
    "inventory": 10,
    "affected --all": 10,
    "rollout": 10,
    "plan --json (all)": 600,
}
SCALE_MEMORY_MB = 2048  # the plan of every stack, every process summed


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


def run_scale(n: int, work: Path, fleet: Path | None, jobs: list[str]) -> dict[str, Any]:
    """validate, inventory, affected --all, rollout and the plan of every stack (streamed to
    /dev/null: each stack written as it is done) of a fleet of `n` clusters, each run once, with
    the load average before each run (the machine is shared: the figures are honest, not best)."""
    cli = fluxfleet()
    if fleet is None:
        print(f"N={n}: generating")
        fleet = fleetgen.generate(ROOT, work / f"fleet-{n}", n)
    if not (fleet / ".git").exists():  # affected and rollout compare commits
        _git(fleet, "init", "-q")
        _git(fleet, "add", "-A")
        _git(fleet, "commit", "-qm", "fleet")
    commands = {
        "validate": ["validate"],
        "inventory": ["inventory", "--format", "json"],
        "affected --all": ["affected", "--all"],
        "rollout": ["rollout", "--format", "json"],
        "plan --json (all)": ["plan", "--json", *jobs],
    }
    rows = []
    for what, args in commands.items():
        load = os.getloadavg()[0]
        seconds, peak, cpu = measure([*cli, "--project", str(fleet), *args], cwd=ROOT)
        row = {
            "what": what,
            "n": n,
            "seconds": round(seconds, 2),
            "peak_mb": round(peak),
            "cpu_seconds": round(cpu, 2),
            "load_average_before": round(load, 2),
            "target_seconds": SCALE_TARGETS[what],
            "met": seconds <= SCALE_TARGETS[what]
            and (what != "plan --json (all)" or peak < SCALE_MEMORY_MB),
        }
        rows.append(row)
        print(
            f"  {what:<20} N={n:<6} {seconds:8.2f} s {peak:6.0f} MB  cpu {cpu:8.2f} s  "
            f"load {load:.1f}  {'met' if row['met'] else 'NOT met'}"
        )
    return {"machine": machine(), "uptime_after": _uptime(), "runs": rows}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def scale_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="the offline tools at fleet scale (issue 26)")
    parser.add_argument("--clusters", type=int, required=True)
    parser.add_argument("--fleet", type=Path, help="a fleet fleetgen wrote (else one is made)")
    parser.add_argument("--jobs", type=int, help="fluxfleet plan --jobs (default: its own)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    print(f"{_uptime()}")
    work = Path(tempfile.mkdtemp(prefix="fluxfleet-scale-"))
    try:
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        result = run_scale(args.clusters, work, args.fleet, jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scale-{args.clusters}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['uptime_after']}\nwrote {path}")


def main() -> None:
    if sys.argv[1:2] == ["scale"]:  # python benchmarks/bench.py scale --clusters 10000
        scale_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    parser.add_argument("--sizes", type=sizes, default=[1, 10, 100, 500], help="plan and validate")
    parser.add_argument("--validate-sizes", type=sizes, default=[1000], help="validate only")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--jobs", type=int, help="fluxfleet plan --jobs (default: its own)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the best kept")
    parser.add_argument("--keep", action="store_true", help="keep the generated fleets")
    args = parser.parse_args()

    info = machine()
    print(f"{info['cores']} cores, {info['cpu']}, {info['ram_gib']} GiB, Python {info['python']}")
    work = Path(tempfile.mkdtemp(prefix="fluxfleet-bench-"))
    try:
        runs = run_all(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    floor = next(r.seconds for r in runs if r.what == "floor (imports)")
    results = checks(runs)

    text = table(runs, floor)
    verdicts = "\n".join(
        f"- {'met' if ok else 'NOT met'}: {target} (measured {got})" for target, got, ok in results
    )
    print(f"\n{text}\n\n{verdicts}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "machine": info,
                "runs": [asdict(r) | {"ms_per_stack": r.ms_per_stack} for r in runs],
                "targets": [{"target": t, "measured": g, "met": ok} for t, g, ok in results],
                "floor_command": floor_command()[2],
            },
            indent=2,
        )
        + "\n"
    )
    (args.out / "results.md").write_text(f"{text}\n\n{verdicts}\n")
    plot(runs, floor, args.out / "time-vs-n.png")
    print(f"\nwrote {args.out}/results.json, results.md, time-vs-n.png")


if __name__ == "__main__":
    main()
