"""Fleet-scale plans and validation (issue 8).

`fluxfleet plan --jobs N` plans in worker processes: its output is byte-identical to one job's
and the same on every run; a stack the program refuses fails the same way; plans survive the
trip between processes with their secrets and unknowns. `fluxfleet validate` imports no Pulumi,
and the worker preload covers every provider module a plan loads.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
from ruamel.yaml import YAML

from components import forkmap
from components.plan import render
from components.plan.parallel import plan_stacks
from components.plan.result import Secret, Unknown
from components.plan.runner import plan_stack
from components.tools import cli

ROOT = Path(__file__).resolve().parents[1]
PROD = "production-cluster-name"


def plan_json(project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["--project", str(project), "plan", "--json", *args]) == 0
    return capsys.readouterr().out


def add_clusters(project: Path, count: int) -> list[str]:
    """`count` scaffolded clusters with an application repository each (more stacks to share
    out between workers, made the way a person makes them)."""
    names = []
    for i in range(count):
        name = f"extra-{i}"
        args = ["new-cluster", name, "--account-id", f"4{i:011d}", "--region", "eu-west-1"]
        assert cli.main(["--project", str(project), *args, "--environment", "staging"]) == 0
        args = ["new-app", name, "shop", "--repository", f"shop-{i}"]
        assert cli.main(["--project", str(project), *args]) == 0
        names.append(name)
    return names


# --- the same plan with one job or many ---------------------------------------------------------


def fluxfleet(project: Path, *args: str) -> str:
    """`fluxfleet` as a process of its own: single-threaded, it forks its workers itself."""
    done = subprocess.run(
        [sys.executable, "-m", "components", "--project", str(project), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing torn down noisily in the workers either
    return done.stdout


def test_plan_json_is_byte_identical_with_one_job_or_two_and_on_every_run(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_clusters(project, 3)
    capsys.readouterr()
    one = plan_json(project, "--jobs", "1", capsys=capsys)
    forked = fluxfleet(project, "plan", "--json", "--jobs", "2")
    again = fluxfleet(project, "plan", "--json", "--jobs", "2")
    # a process running threads (a test runner's) starts its workers from a fork server
    monkeypatch.setattr(forkmap, "single_threaded", lambda: False)
    from_server = plan_json(project, "--jobs", "2", capsys=capsys)
    stacks = [s["stack"] for s in json.loads(one)["stacks"]]
    assert stacks == ["extra-0", "extra-1", "extra-2", PROD, "staging-cluster-name", "registries"]
    assert forked == one
    assert again == one
    assert from_server == one


def test_plan_stacks_keeps_the_order_it_was_given(project: Path) -> None:
    order = ["staging-cluster-name", "registries", PROD]  # workers start with registries
    plans = plan_stacks(project, order, jobs=2)
    assert [p.stack for p in plans] == order
    # each plan is the stack's own, whichever worker computed it
    in_process = plan_stack(project, "staging-cluster-name")
    assert render.preview_json(plans[0]) == render.preview_json(in_process)


def test_a_refused_stack_fails_the_same_way_with_workers(project: Path) -> None:
    messages = []
    for jobs in (1, 2):
        with pytest.raises(pulumi.RunError) as caught:
            plan_stacks(project, [PROD, "no-such-cluster", "staging-cluster-name"], jobs=jobs)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert 'no definition for stack "no-such-cluster"' in messages[0]


def test_jobs_must_be_a_positive_number(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--project", str(project), "plan", "--jobs", "0"])
    assert exit_.value.code == 2
    assert "expected a positive number of processes" in capsys.readouterr().err


def test_a_plan_survives_the_trip_between_processes(project: Path) -> None:
    prod = plan_stack(project, PROD)
    copy = pickle.loads(pickle.dumps(prod))
    assert render.preview_json(copy) == render.preview_json(prod)
    assert render.text(copy) == render.text(prod)

    def markers(value: object) -> list[str]:
        if isinstance(value, Secret | Unknown):
            return [type(value).__name__]
        if isinstance(value, dict):
            return [m for v in value.values() for m in markers(v)]
        if isinstance(value, list):
            return [m for v in value for m in markers(v)]
        return []

    original = [markers(r.inputs) for r in prod.resources] + [markers(prod.outputs)]
    copied = [markers(r.inputs) for r in copy.resources] + [markers(copy.outputs)]
    assert copied == original
    assert "Secret" in str(original)  # the kubeconfig, the private keys, the Slack token


# --- what each process imports ----------------------------------------------------------------


def python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_validate_imports_no_pulumi() -> None:
    out = python(
        "import contextlib, io, json, sys\n"
        "from components.tools.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['validate']) == 0\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith"
        "(('pulumi', 'grpc', 'google')))))\n"
    )
    assert json.loads(out) == []


def test_the_worker_preload_covers_every_provider_module_a_plan_loads() -> None:
    out = python(
        "import json, sys\n"
        "from pathlib import Path\n"
        "from components.plan import parallel, workers\n"
        "workers.load()\n"
        "def loaded():\n"
        "    return {m for m, v in sys.modules.items() if m.startswith('pulumi_')\n"
        "            and type(v).__name__ != '_LazyModule'}\n"
        "before = loaded()\n"
        f"parallel.plan_stacks(Path('.'), ['{PROD}', 'registries'], jobs=1)\n"
        "print(json.dumps(sorted(loaded() - before)))\n"
    )
    assert json.loads(out) == []


def test_importing_the_workers_module_loads_nothing_and_the_preload_does() -> None:
    """No work at import: plan/workers.py only names the provider submodules (lazy until read);
    the fork server's preload (plan/preload.py, named by parallel.PRELOAD) is what loads them."""
    out = python(
        "import importlib, json, sys\n"
        "from components.plan import parallel, workers\n"
        "def loaded():\n"
        "    return sorted(m for m in workers.PROVIDER_MODULES if '.' in m and m in sys.modules\n"
        "                  and type(sys.modules[m]).__name__ != '_LazyModule')\n"
        "before = loaded()\n"
        "importlib.import_module(parallel.PRELOAD)\n"
        "print(json.dumps([before, loaded(), list(workers.PROVIDER_MODULES)]))\n"
    )
    before, after, modules = json.loads(out)
    assert before == []
    assert after == sorted(m for m in modules if "." in m)


# --- validate at fleet scale ------------------------------------------------------------------


COMPARE_FORKED = """
import json, os, sys
from pathlib import Path
from components import forkmap
from components.loading import fleet
from components.tools import consistency
project = Path(sys.argv[1])
def run():
    loaded = fleet.load_fleet(project)
    problems = consistency.consistency_problems(loaded) if not loaded.all_problems else []
    return [sorted(loaded.clusters), [str(p) for p in loaded.all_problems + problems]]
one = run()
fleet.PARALLEL_FROM = consistency.PARALLEL_FROM = 1
forks = []
real_fork = os.fork
def counting_fork():
    forks.append(1)
    return real_fork()
os.fork = counting_fork
many = run()
print(json.dumps([one, many, len(forks), forkmap.cores()]))
"""


def forked_and_not(project: Path) -> tuple[list[object], list[object]]:
    """What validate reads, in one process and with forked workers (in a process of its own:
    only a single-threaded process forks)."""
    done = subprocess.run(
        [sys.executable, "-c", COMPARE_FORKED, str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    one, many, forks, cores = json.loads(done.stdout)
    assert forks >= 1 or cores < 2
    return one, many


def test_folder_checks_in_worker_processes_find_what_one_process_finds(project: Path) -> None:
    add_clusters(project, 3)
    broken = project / "flux" / "clusters" / "extra-1" / "shop.yaml"
    broken.write_text(broken.read_text().replace("secretRef", "secretReff"))
    (project / "flux" / "clusters" / "extra-2" / "shop.yaml").write_text("a: [\n")
    one, many = forked_and_not(project)
    assert many == one
    assert {line.split(":")[0] for line in one[1]} == {
        "flux/clusters/extra-1/shop.yaml",  # secretRef misspelt
        "flux/clusters/extra-2/shop.yaml",  # not YAML
        "k8s-clusters/extra-2.yaml",  # so its app has no GitRepository
    }


def test_definitions_read_by_worker_processes_are_the_ones_one_process_reads(
    project: Path,
) -> None:
    add_clusters(project, 3)
    (project / "k8s-clusters" / "extra-0.yaml").write_text("apiVersion: [\n")
    extra = project / "k8s-clusters" / "extra-1.yaml"
    extra.write_text(re.sub(r"accountId: .*", "accountId: 400000000001", extra.read_text()))
    one, many = forked_and_not(project)
    assert many == one
    clusters, problems = one
    assert "extra-2" in clusters and "extra-0" not in clusters
    assert [line.split(":")[0] for line in problems] == [
        "k8s-clusters/extra-0.yaml",  # not YAML
        "k8s-clusters/extra-1.yaml",  # accountId: a number
    ]


# --- the pre-commit hook ----------------------------------------------------------------------


def test_pre_commit_runs_validate_when_a_definition_changes() -> None:
    config = YAML(typ="safe").load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]
    (hook,) = [h for h in hooks if h["id"] == "fluxfleet-validate"]
    assert hook["entry"] == "fluxfleet validate"
    assert hook["language"] == "system"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("k8s-clusters/production-cluster-name.yaml")
    assert files.search("k8s-clusters/_defaults.yml")
    assert not files.search("flux/clusters/production-cluster-name/apps.yaml")
