"""A small GitHub Actions runner, for testing what the workflows do as a whole.

It runs a workflow's jobs in the order of their `needs`, evaluates every `if:`, `${{ }}`,
`strategy.matrix` and `max-parallel` with GitHub's expression rules (loose equality coercing to
numbers, `&&`/`||` returning an operand, status functions, implicit `success()`), expands the
matrices, runs each `run:` step in bash (`-eo pipefail`, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) and
each local composite action's steps, and hands the other `uses:` steps to small fakes (checkout,
tokens, credentials and the Pulumi CLI installer do nothing; artifacts are copied to and from a
folder). Each job (each matrix entry) runs in its own copy of the checkout, as on GitHub.

It also models the rules of GitHub that decide what a run means:
- a skipped job counts as a success: the run's conclusion (`Runner.conclusion`) is `success` when no
  job failed, even if every job was skipped ("A job that is skipped will report its status as
  Success");
- a matrix expands to at most 256 jobs (MATRIX_LIMIT): a larger one fails the job, as GitHub
  refuses the run; a job output holds at most 1 MB (OUTPUT_LIMIT): a larger one fails the job;
- a job that calls a local reusable workflow (`uses: $/.github/workflows/x.yml`, with `with:`,
  `secrets:` by name or `inherit`, and a matrix of such calls) runs that workflow's jobs in their
  own order with its `inputs`, sharing the run's artifacts; the call fails when one of them
  failed, and its entry (`EntryRun.jobs`) keeps their runs;
- a job in an environment with required reviewers (`reviewers=`) waits for a review: the jobs of a
  matrix start in batches of `max-parallel`, and each batch that enters such an environment asks
  for its own review (`Runner.approvals`); a rejected review fails the job (`approve=`);
- "Re-run failed jobs" (`Runner.rerun_failed()`): the same `github.sha`, a new
  `github.run_attempt`; the failed jobs (of a matrix, its failed entries) and every job that needs
  them run again; the other jobs are not run again and their outputs are reused.

What it does not do: services, containers, outputs of reusable workflows, `continue-on-error`,
timeouts, concurrency (jobs run one after the other; `max-parallel` only forms the review
batches). `step_fakes=` replaces named steps by Python (a 10,000-stack run spawns no process
per stack).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

# --- expressions ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.*])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot parse expression at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.strip() == "":
            return 0.0
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _equal(a: Any, b: Any) -> bool:
    if type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float)):
        if isinstance(a, str):
            return a.lower() == b.lower()
        if isinstance(a, dict | list):
            return a is b
        return bool(a == b)
    return _number(a) == _number(b)


def _order(a: Any, b: Any, op: str) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a.lower()
        y: Any = b.lower()
    else:
        x, y = _number(a), _number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], status: Callable[[str], bool]):
        self.tokens, self.i = _tokens(text), 0
        self.context, self.status = context, status
        self.used_status = False

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ValueError(f"expected {value!r}, got {token!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        token = self.peek()
        if token is not None and token[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.unary()
            if token[1] == "==":
                return _equal(value, right)
            if token[1] == "!=":
                return not _equal(value, right)
            return _order(value, right, token[1])
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                name = self.take()[1]
                value = value.get(name) if isinstance(value, dict) else None
            elif token == ("op", "["):
                self.take()
                key = self.or_()
                self.take("]")
                if isinstance(value, list) and isinstance(key, int | float):
                    value = value[int(key)] if 0 <= int(key) < len(value) else None
                elif isinstance(value, dict):
                    value = value.get(to_string(key))
                else:
                    value = None
            else:
                return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "op" and text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(text, args)
        return self.context.get(text)

    def call(self, name: str, args: list[Any]) -> Any:
        lower = name.lower()
        if lower in ("success", "failure", "always", "cancelled"):
            self.used_status = True
            return self.status(lower)
        if lower == "fromjson":
            return json.loads(args[0])
        if lower == "tojson":
            return json.dumps(args[0], indent=2)
        if lower == "contains":
            if isinstance(args[0], list):
                return any(_equal(x, args[1]) for x in args[0])
            return to_string(args[1]).lower() in to_string(args[0]).lower()
        if lower == "startswith":
            return to_string(args[0]).lower().startswith(to_string(args[1]).lower())
        if lower == "format":
            return re.sub(r"\{(\d+)\}", lambda m: to_string(args[1 + int(m[1])]), args[0])
        raise ValueError(f"function {name} is not simulated")


def evaluate(
    text: str, context: Mapping[str, Any], status: Callable[[str], bool] | None = None
) -> tuple[Any, bool]:
    """The value of expression `text`, and whether it called a status function."""
    parser = _Parser(text, context, status or (lambda name: name != "failure"))
    return parser.parse(), parser.used_status


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, context: Mapping[str, Any]) -> Any:
    """A workflow value with its ${{ }} evaluated: a lone expression keeps its type."""
    if isinstance(value, dict):
        return {k: interpolate(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    lone = _TEMPLATE.fullmatch(value.strip())
    if lone and "${{" not in lone.group(1):  # one expression, not several side by side
        return evaluate(lone.group(1), context)[0]
    return _TEMPLATE.sub(lambda m: to_string(evaluate(m.group(1), context)[0]), value)


def condition(text: Any, context: Mapping[str, Any], status: Callable[[str], bool]) -> bool:
    """An `if:` (with or without ${{ }}): without a status function, success() is implied."""
    if text is None:
        return status("success")
    if isinstance(text, bool):
        return text and status("success")
    body = str(text).strip()
    lone = _TEMPLATE.fullmatch(body)
    if lone:
        body = lone.group(1)
    value, used = evaluate(body, context, status)
    return truthy(value) and (used or status("success"))


MATRIX_LIMIT = 256  # "A matrix will generate a maximum of 256 jobs per workflow run."
OUTPUT_LIMIT = 1024 * 1024  # "Outputs are Unicode strings, and can be a maximum of 1 MB."

# --- running ----------------------------------------------------------------------------------


@dataclass
class StepRun:
    name: str
    outcome: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class EntryRun:
    """One job, or one entry of a matrix job."""

    matrix: dict[str, Any]
    environment: str | None
    result: str
    steps: list[StepRun]
    summary: str = ""
    name: str = ""
    # a call of a reusable workflow: the called workflow's jobs
    jobs: dict[str, JobRun] = field(default_factory=dict)

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found


@dataclass
class JobRun:
    job: str
    result: str  # success, failure, skipped
    outputs: dict[str, Any] = field(default_factory=dict)
    entries: list[EntryRun] = field(default_factory=list)
    max_parallel: Any = None
    error: str = ""


Action = Callable[[dict[str, Any], dict[str, str], Path], tuple[bool, dict[str, str]]]
# A step replaced by Python: (its env, the job's folder) -> (succeeded, its outputs)
StepFake = Callable[[dict[str, str], Path], tuple[bool, dict[str, str]]]


def _read_kv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


class Runner:
    """Runs one workflow of `repo_root` (its .github/) in copies of `checkout`."""

    def __init__(
        self,
        repo_root: Path,
        workflow: str,
        checkout: Path,
        scratch: Path,
        *,
        github: dict[str, Any] | None = None,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        path: str | None = None,
        actions: dict[str, Action] | None = None,
        extra_env: dict[str, str] | None = None,
        reviewers: frozenset[str] = frozenset(),
        approve: Callable[[str, list[dict[str, Any]]], bool] | None = None,
        step_fakes: dict[str, StepFake] | None = None,
    ) -> None:
        self.repo_root, self.checkout, self.scratch = repo_root, checkout, scratch
        self.doc = YAML(typ="safe", pure=True).load(
            (repo_root / ".github" / "workflows" / workflow).read_text()
        )
        self.github = github or {}
        self.vars = variables or {}
        self.secrets = secrets or {}
        self.path = path or os.environ["PATH"]
        self.extra_env = extra_env or {}
        self.artifacts = scratch / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.actions: dict[str, Action] = {
            "actions/checkout": lambda w, e, cwd: (True, {}),
            "actions/setup-python": lambda w, e, cwd: (True, {}),
            "aws-actions/configure-aws-credentials": lambda w, e, cwd: (True, {}),
            "actions/create-github-app-token": lambda w, e, cwd: (True, {"token": "ghs_sim"}),
            "pulumi/actions": self._pulumi_installer,
            "actions/upload-artifact": self._upload,
            "actions/download-artifact": self._download,
            **(actions or {}),
        }
        self.jobs: dict[str, JobRun] = {}
        self._counter = itertools.count(1)  # shared with the runs of called workflows
        self.inputs: dict[str, Any] = {}
        self.step_fakes = step_fakes or {}
        self.reviewers = reviewers
        self.approve = approve or (lambda job, matrices: True)
        # One (job, the matrix entries of the batch) per review asked for.
        self.approvals: list[tuple[str, list[dict[str, Any]]]] = []
        self.github.setdefault("run_attempt", "1")

    # -- fakes of the hosted actions --

    @staticmethod
    def _pulumi_installer(with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        assert "command" not in with_, "only the CLI install is simulated (pulumi runs in bash)"
        return True, {}

    def _upload(self, with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        source = cwd / with_["path"]
        if not source.exists():
            return with_.get("if-no-files-found", "warn") != "error", {}
        dest = self.artifacts / with_["name"]
        if dest.exists():  # GitHub refuses a second upload of a name (409) unless overwrite
            if not with_.get("overwrite"):
                return False, {}
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        shutil.copytree(source, dest) if source.is_dir() else shutil.copy(source, dest)
        return True, {}

    def _download(self, with_: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
        dest = cwd / with_["path"]
        dest.mkdir(parents=True, exist_ok=True)
        if "name" in with_:  # one artifact by name: its files go to `path` itself
            source = self.artifacts / with_["name"]
            if not source.is_dir():
                return False, {}
            shutil.copytree(source, dest, dirs_exist_ok=True)
            return True, {}
        for artifact in sorted(self.artifacts.iterdir()):
            if fnmatch.fnmatch(artifact.name, with_.get("pattern", with_.get("name", "*"))):
                target = dest if with_.get("merge-multiple") else dest / artifact.name
                shutil.copytree(artifact, target, dirs_exist_ok=True)
        return True, {}

    # -- the workflow --

    def run(self) -> dict[str, JobRun]:
        pending = dict(self.doc["jobs"])
        while pending:
            ready = [
                name for name, job in pending.items() if all(n in self.jobs for n in _needs(job))
            ]
            assert ready, f"a cycle in needs: {sorted(pending)}"
            for name in ready:
                self.jobs[name] = self._job(name, pending.pop(name))
        return self.jobs

    @property
    def conclusion(self) -> str:
        """The run's conclusion as the API lists it: a skipped job counts as a success."""
        return "failure" if any(j.result == "failure" for j in self.jobs.values()) else "success"

    def rerun_failed(self) -> dict[str, JobRun]:
        """ "Re-run failed jobs": same github.sha, next run_attempt; the failed jobs (a matrix: its
        failed entries) and every job downstream of them run again, the others keep their result
        and outputs."""
        self.github["run_attempt"] = str(int(self.github["run_attempt"]) + 1)
        return self._rerun_failed_jobs()

    def _rerun_failed_jobs(self) -> dict[str, JobRun]:
        jobs = self.doc["jobs"]
        again = {name for name, run in self.jobs.items() if run.result == "failure"}
        while True:
            more = {n for n, job in jobs.items() if set(_needs(job)) & again} - again
            if not more:
                break
            again |= more
        keep = {name: run for name, run in self.jobs.items() if name not in again}
        failed_entries = {
            name: self.jobs[name].entries
            for name in again
            if self.jobs[name].result == "failure" and self.jobs[name].entries
        }
        self.jobs = dict(keep)
        pending = {name: jobs[name] for name in jobs if name in again}
        while pending:
            ready = [n for n, job in pending.items() if all(x in self.jobs for x in _needs(job))]
            for name in ready:
                self.jobs[name] = self._job(name, pending.pop(name), failed_entries.get(name))
        return self.jobs

    def record(self, run_id: int) -> dict[str, Any]:
        """This run as the REST API lists it (workflow runs, and the jobs of its latest attempt)."""
        return {
            "id": run_id,
            "head_sha": self.github.get("sha", ""),
            "conclusion": self.conclusion,
            "jobs": list(self._api_jobs(self.jobs)),
        }

    def _api_jobs(self, jobs: dict[str, JobRun], prefix: str = "") -> Any:
        """The jobs as the API lists them; a called workflow's as "caller / called"."""
        for run in jobs.values():
            for e in run.entries or [EntryRun({}, None, run.result, [], "", self._name(run))]:
                if e.jobs:
                    yield from self._api_jobs(e.jobs, f"{prefix}{e.name} / ")
                else:
                    yield {"name": prefix + e.name, "conclusion": e.result}

    def _context(self, job: dict[str, Any], matrix: dict[str, Any] | None) -> dict[str, Any]:
        needs = {
            n: {"result": self.jobs[n].result, "outputs": self.jobs[n].outputs} for n in _needs(job)
        }
        return {
            "github": self.github,
            "vars": self.vars,
            "secrets": self.secrets,
            "needs": needs,
            "matrix": matrix or {},
            "env": {},
            "steps": {},
            "job": {"status": "success"},
            "runner": {"temp": str(self.scratch / "runner-temp")},
            "strategy": {},
            "inputs": self.inputs,
        }

    def _job(
        self, name: str, job: dict[str, Any], previous: list[EntryRun] | None = None
    ) -> JobRun:
        """Run job `name`; on a re-run, `previous` are its entries of the attempt before: the
        successful ones are kept, a failed call of a reusable workflow re-runs its failed jobs."""
        needed = [self.jobs[n].result for n in _needs(job)]

        def status(kind: str) -> bool:
            return {
                "success": all(r == "success" for r in needed),
                "failure": any(r == "failure" for r in needed),
                "always": True,
                "cancelled": False,
            }[kind]

        context = self._context(job, None)
        context["env"] = dict(self.doc.get("env") or {})
        if not condition(job.get("if"), context, status):
            return JobRun(name, "skipped")
        run = JobRun(name, "success")
        strategy = job.get("strategy") or {}
        entries: list[dict[str, Any] | None]
        if "matrix" in strategy:
            matrix = interpolate(strategy["matrix"], context)
            entries = list(matrix.get("include") or [])
            assert entries, f"{name}: an empty matrix fails the run on GitHub"
            run.max_parallel = interpolate(strategy.get("max-parallel"), context)
            if len(entries) > MATRIX_LIMIT:
                run.result = "failure"
                run.error = f"Strategy expansion exceeded {MATRIX_LIMIT} results ({len(entries)})"
                return run
        else:
            entries = [None]
        done = {
            json.dumps(e.matrix, sort_keys=True): e for e in previous or [] if e.result == "success"
        }
        calls = {json.dumps(e.matrix, sort_keys=True): e for e in previous or [] if e.jobs}
        batch = int(_number(run.max_parallel)) if run.max_parallel else len(entries)
        for start in range(0, len(entries), max(batch, 1)):
            todo = [
                e
                for e in entries[start : start + batch]
                if json.dumps(e or {}, sort_keys=True) not in done
            ]
            reviewed = [e for e in todo if self._environment(job, e, context) in self.reviewers]
            approved = True
            if reviewed:
                matrices = [e or {} for e in reviewed]
                self.approvals.append((name, matrices))
                approved = self.approve(name, matrices)
            for entry in entries[start : start + batch]:
                key = json.dumps(entry or {}, sort_keys=True)
                if key in done:
                    result = done[key]
                elif entry in reviewed and not approved:
                    result = EntryRun(entry or {}, None, "failure", [], "", name)
                elif "uses" in job:
                    result = self._call(name, job, entry, calls.get(key))
                else:
                    result = self._entry(name, job, entry, run)
                run.entries.append(result)
                if result.result == "failure":
                    run.result = "failure"
        return run

    def _name(self, run: JobRun) -> str:
        return to_string(self.doc["jobs"][run.job].get("name", run.job))

    def _environment(
        self, job: dict[str, Any], matrix: dict[str, Any] | None, context: dict[str, Any]
    ) -> Any:
        environment = interpolate(job.get("environment"), {**context, "matrix": matrix or {}})
        return environment.get("name") if isinstance(environment, dict) else environment

    def _call(
        self,
        name: str,
        job: dict[str, Any],
        matrix: dict[str, Any] | None,
        previous: EntryRun | None = None,
    ) -> EntryRun:
        """A job that calls a local reusable workflow: its jobs run with the call's inputs and
        secrets, in a runner that shares this one's artifacts, fakes and reviews (on a re-run,
        `previous`: only the failed jobs of the call before, and those after them)."""
        context = self._context(job, matrix)
        context["env"] = {}
        label = to_string(interpolate(job.get("name", name), context))
        uses = job["uses"]
        assert uses.startswith(("$/", "./")), f"{name}: only local reusable workflows: {uses}"
        called = copy.copy(self)
        called.doc = YAML(typ="safe", pure=True).load((self.repo_root / uses[2:]).read_text())
        spec = called.doc["on"]["workflow_call"] or {}
        with_ = {k: interpolate(v, context) for k, v in (job.get("with") or {}).items()}
        unknown = set(with_) - set(spec.get("inputs") or {})
        assert not unknown, f"{name}: inputs {unknown} are not declared by {uses}"
        called.inputs = {
            k: with_.get(k, (s or {}).get("default")) for k, s in (spec.get("inputs") or {}).items()
        }
        passed = job.get("secrets") or {}
        called.secrets = (
            dict(self.secrets)
            if passed == "inherit"
            else {k: to_string(interpolate(v, context)) for k, v in passed.items()}
        )
        entry = EntryRun(matrix or {}, None, "success", [], "", label)
        missing = [
            k
            for k, s in (spec.get("secrets") or {}).items()
            if (s or {}).get("required") and k not in called.secrets
        ]
        if missing:  # GitHub refuses the call
            entry.result = "failure"
            return entry
        if previous is not None:
            called.jobs = dict(previous.jobs)
            entry.jobs = called._rerun_failed_jobs()
        else:
            called.jobs = {}
            entry.jobs = called.run()
        if any(j.result == "failure" for j in entry.jobs.values()):
            entry.result = "failure"
        return entry

    def _entry(
        self, name: str, job: dict[str, Any], matrix: dict[str, Any] | None, run: JobRun
    ) -> EntryRun:
        cwd = self.scratch / f"job-{next(self._counter)}"
        shutil.copytree(self.checkout, cwd, symlinks=True)
        (self.scratch / "runner-temp").mkdir(exist_ok=True)
        context = self._context(job, matrix)
        context["env"] = {
            **{k: to_string(v) for k, v in (self.doc.get("env") or {}).items()},
            **{k: to_string(interpolate(v, context)) for k, v in (job.get("env") or {}).items()},
        }
        environment = self._environment(job, matrix, context)
        label = to_string(interpolate(job.get("name", name), context))
        entry = EntryRun(matrix or {}, environment, "success", [], "", label)
        self._steps(job.get("steps") or [], context, cwd, entry)
        entry.result = context["job"]["status"]
        outputs = {
            k: to_string(interpolate(v, context)) for k, v in (job.get("outputs") or {}).items()
        }
        too_big = [k for k, v in outputs.items() if len(v.encode()) > OUTPUT_LIMIT]
        if too_big:  # GitHub fails the job
            entry.result = "failure"
            run.error = f"output {too_big[0]} is larger than {OUTPUT_LIMIT} bytes"
            outputs = {}
        run.outputs.update({k: v for k, v in outputs.items() if v != "" or k not in run.outputs})
        return entry

    def _steps(
        self,
        steps: list[dict[str, Any]],
        context: dict[str, Any],
        cwd: Path,
        entry: EntryRun,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        for index, step in enumerate(steps):
            if inputs is not None:
                context = {**context, "inputs": inputs}
            status = _step_status(context["job"])

            label = step.get("name") or step.get("uses") or f"step {index}"
            if not condition(step.get("if"), context, status):
                self._record(step, context, StepRun(label, "skipped"), entry)
                continue
            env = {
                **context["env"],
                **{
                    k: to_string(interpolate(v, context))
                    for k, v in (step.get("env") or {}).items()
                },
            }
            if label in self.step_fakes:
                ok, outputs = self.step_fakes[label](env, cwd)
                done = StepRun(label, "success" if ok else "failure", outputs)
            elif "run" in step:
                done = self._bash(step["run"], env, cwd, entry)
            else:
                done = self._uses(step, context, env, cwd, entry, label)
            done.name = label
            self._record(step, context, done, entry)
            if done.outcome == "failure":
                context["job"]["status"] = "failure"

    @staticmethod
    def _record(
        step: dict[str, Any], context: dict[str, Any], done: StepRun, entry: EntryRun
    ) -> None:
        entry.steps.append(done)
        if "id" in step:
            context["steps"][step["id"]] = {
                "outputs": done.outputs,
                "outcome": done.outcome,
                "conclusion": done.outcome,
            }

    def _bash(self, script: str, env: dict[str, str], cwd: Path, entry: EntryRun) -> StepRun:
        assert "${{" not in script, "expressions inside run: are not simulated (nor allowed)"
        files = cwd.parent / f"{cwd.name}-files"
        files.mkdir(exist_ok=True)
        output, summary = files / "output", files / "summary"
        output.write_text("")
        summary.write_text("")
        (files / "step.sh").write_text(script)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(files / "step.sh")],
            cwd=cwd,
            env={
                **os.environ,
                **self.extra_env,
                "PATH": self.path,
                **env,
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        entry.summary += summary.read_text()
        outcome = "success" if done.returncode == 0 else "failure"
        return StepRun("", outcome, _read_kv(output), done.stdout + done.stderr)

    def _uses(
        self,
        step: dict[str, Any],
        context: dict[str, Any],
        env: dict[str, str],
        cwd: Path,
        entry: EntryRun,
        label: str,
    ) -> StepRun:
        uses = step["uses"]
        with_ = {k: interpolate(v, context) for k, v in (step.get("with") or {}).items()}
        if uses.startswith(("$/", "./")):
            local = uses.split("/", 1)[1]
            if local in self.actions:
                ok, outputs = self.actions[local](with_, env, cwd)
                return StepRun(label, "success" if ok else "failure", outputs)
            return self._composite(
                self.repo_root / local / "action.yml", with_, context, cwd, entry
            )
        action = uses.split("@", 1)[0]
        ok, outputs = self.actions[action](with_, env, cwd)
        return StepRun(label, "success" if ok else "failure", outputs)

    def _composite(
        self, path: Path, with_: dict[str, Any], context: dict[str, Any], cwd: Path, entry: EntryRun
    ) -> StepRun:
        action = YAML(typ="safe", pure=True).load(path.read_text())
        inputs = {
            k: to_string(with_.get(k, (spec or {}).get("default", "")))
            for k, spec in (action.get("inputs") or {}).items()
        }
        inner = {**context, "steps": {}, "job": {"status": "success"}, "inputs": inputs}
        sub = EntryRun({}, None, "success", [])
        self._steps(action["runs"]["steps"], inner, cwd, sub, inputs)
        entry.summary += sub.summary
        outputs = {
            k: to_string(interpolate(spec["value"], inner))
            for k, spec in (action.get("outputs") or {}).items()
        }
        log = "".join(s.log for s in sub.steps)
        return StepRun("", inner["job"]["status"], outputs, log)


def _step_status(job_status: dict[str, str]) -> Callable[[str], bool]:
    """The status functions of a step's `if:`, given the job's status so far."""

    def status(kind: str) -> bool:
        return {
            "success": job_status["status"] == "success",
            "failure": job_status["status"] == "failure",
            "always": True,
            "cancelled": False,
        }[kind]

    return status


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)
