"""Benchmark of `fluxfleet status` (issue 25): N generated clusters (benchmarks/fleetgen.py)
read through the local test server (tests/kubeserver.py, in its own process) that answers EKS,
STS and every cluster's API server with a latency on each request.

    python benchmarks/status_bench.py [--clusters 1000] [--latency 0.2] [--concurrency 64]

It runs `fluxfleet status --format json` as a whole process, as a person or CI does, and
measures its wall time, CPU time and peak memory (the process's resident memory, sampled from
/proc: bench.py's measure). The target: 1,000 clusters within 30 s on 2 cores at 200 ms a request,
under 500 MB. Writes status.json into --out (default benchmarks/results/). Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]

import bench  # noqa: E402
import fleetgen  # noqa: E402
from kubeserver import Tls, client_environment  # noqa: E402

TARGET_S = 30.0
TARGET_MB = 500.0
# The scenarios spread over the fleet (the rest healthy): what a fleet of 1,000 has on a bad day.
SCENARIOS = {50: "degraded", 100: "forbidden", 250: "no-report"}


def scenario(i: int) -> str:
    return next((name for every, name in sorted(SCENARIOS.items()) if i % every == 0), "healthy")


def world(n: int, latency: float) -> dict[str, object]:
    clusters = {}
    for i in range(1, n + 1):
        doc = fleetgen.cluster_document(i)
        aws = doc["spec"]["aws"]
        clusters[aws["eksClusterName"]] = [aws["accountId"], scenario(i)]
    return {"clusters": clusters, "latency": latency}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a running process (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=None, help="default: fluxfleet's")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="status-bench-") as tmp:
        work = Path(tmp)
        project = fleetgen.generate(ROOT, work / "fleet", args.clusters)
        spec = work / "world.json"
        spec.write_text(json.dumps(world(args.clusters, args.latency)))
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "kubeserver.py"), str(spec)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port, ca = server.stdout.readline().split()
            os.environ.update(client_environment(int(port), Tls(Path(ca), Path(), Path())))
            cmd = [*bench.fluxfleet(), "--project", str(project), "status", "--format", "json"]
            if args.concurrency:
                cmd += ["--concurrency", str(args.concurrency)]
            started = time.monotonic()
            wall, peak, cpu = bench.measure(cmd, cwd=ROOT, stdout=work / "status.json")
            doc = json.loads((work / "status.json").read_text())
            server_cpu = _cpu_seconds(server.pid)
        finally:
            server.terminate()
            server.wait()
    expected_healthy = sum(scenario(i) == "healthy" for i in range(1, args.clusters + 1))
    result = {
        "clusters": args.clusters,
        "latency_s": args.latency,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_mb": round(peak, 1),
        "server_cpu_s": round(server_cpu, 2),  # the test server's own process, on the same cores
        "load_average": os.getloadavg()[0],  # others' work on the machine, when it ended
        "rows": doc["total"],
        "healthy": doc["healthy"],
        "cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.monotonic() - started, 2),
    }
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "status.json").write_text(json.dumps(result, indent=2) + "\n")
    checks = [
        (f"{args.clusters} rows", doc["total"] == args.clusters),
        (
            f"{expected_healthy} healthy (the others with their reason)",
            doc["healthy"] == expected_healthy,
        ),
        (f"within {TARGET_S:g} s", wall <= TARGET_S),
        (f"under {TARGET_MB:g} MB", peak <= TARGET_MB),
    ]
    for what, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
