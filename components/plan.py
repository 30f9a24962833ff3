"""The offline plan: run the real program (__main__.py) under Pulumi's mock runtime.

No Pulumi CLI, no provider plugins, no cloud credentials. Each stack runs in a fresh
contextvars context with its own event loop, so one process can plan many stacks.
A recording monitor keeps every RegisterResource request (inputs and options), which the
renderers turn into a tree, a `pulumi preview --json`-shaped document, or markdown.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import importlib
import json
import logging
import multiprocessing
import runpy
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pmocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func

from . import plan_iam
from .forkmap import cores, single_threaded
from .registries_model import REGISTRIES_STACK
from .stack_files import StackConfig, read_stack_file

PROJECT = "flux-fleet"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PLACEHOLDER = "placeholder"


class Secret:
    """A value the program marked secret; rendered as [secret], never printed."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[secret]"


class Unknown:
    """A value known only after apply."""

    def __repr__(self) -> str:
        return "[unknown]"


UNKNOWN = Unknown()


def provider_urn(ref: str) -> str:
    """The URN of a provider reference `<urn>::<id>` (URNs themselves contain '::')."""
    return ref.rsplit("::", 1)[0] if ref else ""


def unknown(resource: str, prop: str) -> str:
    """What the mocks answer for an output the real provider computes at apply time."""
    return f"[unknown {resource}.{prop}]"


def is_unknown_text(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[unknown ") and value.endswith("]")


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    deleted_with: str
    delete_before_replace: bool
    aliases: list[str]
    ignore_changes: list[str]
    additional_secret_outputs: list[str]


@dataclass
class StackPlan:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    invokes: list[str] = field(default_factory=list)


# --- wire values → python (secrets and unknowns kept as markers) ---------------------------------


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        fields = value.struct_value.fields
        sig = fields[SIG_KEY].string_value if SIG_KEY in fields else None
        if sig == SECRET_SIG:
            return Secret(_from_value(fields["value"]))
        if sig == RESOURCE_SIG:
            return fields["urn"].string_value
        return {k: _from_value(v) for k, v in sorted(fields.items())}
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return UNKNOWN if value.string_value == UNKNOWN_SENTINEL else value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _alias(alias: Any) -> str:
    if alias.urn:
        return str(alias.urn)
    spec = json_format.MessageToDict(alias.spec)
    return ",".join(f"{k}={v}" for k, v in sorted(spec.items()))


def _from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {k: _from_value(v) for k, v in sorted(struct.fields.items())}


# --- mocks --------------------------------------------------------------------------------------


def _pem(resource: str, kind: str) -> str:
    return (
        f"-----BEGIN {kind} PRIVATE KEY-----\n{unknown(resource, 'privateKey')}\n"
        f"-----END {kind} PRIVATE KEY-----\n"
    )


class PlanMocks(pmocks.Mocks):
    """Placeholder answers, clearly marked, for what only the cloud knows."""

    def __init__(self) -> None:
        self.monitor: RecordingMonitor | None = None

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outputs.update(
                privateKeyOpenssh=_pem(args.name, "OPENSSH"),
                privateKeyPem=_pem(args.name, "EC"),
                privateKeyPemPkcs8=_pem(args.name, ""),
                publicKeyOpenssh=unknown(args.name, "publicKeyOpenssh"),
                publicKeyPem=unknown(args.name, "publicKeyPem"),
                publicKeyFingerprintSha256=unknown(args.name, "publicKeyFingerprintSha256"),
                publicKeyFingerprintMd5=unknown(args.name, "publicKeyFingerprintMd5"),
            )
        elif args.typ.startswith("aws:iam/role:Role") or args.typ == "aws:iam/policy:Policy":
            outputs.setdefault("arn", unknown(args.name, "arn"))
        return f"{args.name}-id", outputs

    def _provider_inputs(self, ref: str) -> dict[str, Any]:
        urn = provider_urn(ref)
        if self.monitor:
            for reg in self.monitor.registrations:
                if reg.urn == urn:
                    return reg.inputs
        return {}

    def call(self, args: pmocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        provider = self._provider_inputs(args.provider or "")
        region = provider.get("region", "us-east-1")
        accounts = provider.get("allowedAccountIds") or '["000000000000"]'
        account = (json.loads(accounts) if isinstance(accounts, str) else accounts)[0]
        if self.monitor:
            self.monitor.invokes.append(args.token)
        if args.token == "aws:eks/getCluster:getCluster":
            name = args.args["name"]
            return {
                "id": name,
                "name": name,
                "arn": f"arn:aws:eks:{region}:{account}:cluster/{name}",
                "endpoint": f"https://{PLACEHOLDER}-{name}.{region}.eks.amazonaws.com",
                "certificateAuthorities": [
                    {"data": base64.b64encode(f"{PLACEHOLDER} CA of {name}".encode()).decode()}
                ],
                "createdAt": f"{PLACEHOLDER}-created-at",
                "identities": [
                    {
                        "oidcs": [
                            {"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{PLACEHOLDER}"}
                        ]
                    }
                ],
                "version": PLACEHOLDER,
                "status": "ACTIVE",
            }
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/{PLACEHOLDER}",
                "userId": PLACEHOLDER,
                "id": account,
            }
        if args.token == plan_iam.TOKEN:  # computed by the provider: rendered the same way
            return plan_iam.get_policy_document(args.args)
        raise NotImplementedError(f"the offline plan has no placeholder answer for {args.token}")


class RecordingMonitor(pmocks.MockMonitor):
    """MockMonitor that records every registration with its options and, like the engine,
    marks `additional_secret_outputs` secret."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        mocks.monitor = self
        self.registrations: list[Registration] = []
        self.invokes: list[str] = []

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        self.registrations.append(
            Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                inputs=_from_struct(request.object),
                dependencies=sorted(set(request.dependencies)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                deleted_with=request.deletedWith,
                delete_before_replace=bool(request.deleteBeforeReplace),
                aliases=[_alias(a) for a in request.aliases] + list(request.aliasURNs),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
            )
        )
        response = super().RegisterResource(request)
        secret_outputs = set(request.additionalSecretOutputs)
        if secret_outputs:
            for key in secret_outputs & set(response.object.fields):
                inner = struct_pb2.Value()
                inner.CopyFrom(response.object.fields[key])
                wrapped = response.object.fields[key].struct_value
                wrapped.Clear()
                wrapped.fields[SIG_KEY].string_value = SECRET_SIG
                wrapped.fields["value"].CopyFrom(inner)
        return response


# --- stack config ---------------------------------------------------------------------------------


def stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Config of stacks/Pulumi.<stack>.yaml (none when there is no file); encrypted values
    become placeholders, kept secret. A broken file is the program's error, one line each."""
    config, problems = read_stack_file(project_dir, stack)
    if problems:
        raise pulumi.RunError("\n".join(str(p) for p in problems))
    config = config or StackConfig()
    return config.values, config.secret_keys


# --- running a stack ---


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in sorted(outputs.items()):
        out = pulumi.Output.from_input(value)
        known = await out.is_known()
        plain = await out.future(with_unknowns=True) if known else UNKNOWN
        resolved[key] = Secret(plain) if await out.is_secret() else plain
    return resolved


def _run(project_dir: Path, stack: str, main: Path) -> StackPlan:
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


def plan_stack(project_dir: Path, stack: str) -> StackPlan:
    """Run __main__.py of `project_dir` as stack `stack` under the mock runtime.

    Raises pulumi.RunError for invalid definitions (the program's own message).
    """
    main = project_dir / "__main__.py"
    return contextvars.Context().run(_run, project_dir.resolve(), stack, main)


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


# --- many stacks: worker processes that import once ----------------------------------------------

# The provider packages the program's components use (their lazily loaded submodules included):
# what a worker imports before its first stack. A module missing here is only imported later.
PROVIDER_MODULES = (
    "pulumi_aws.ecr",
    "pulumi_aws.eks",
    "pulumi_aws.iam",
    "pulumi_github",
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.meta.v1",
    "pulumi_tls",
)
WORKER_MODULES = (*PROVIDER_MODULES, "components.cluster", "components.registries")
# Stacks a worker is sent at a time: small chunks keep both workers busy to the end, each chunk
# costs a round trip.
MAX_CHUNK = 8
# Workers forked from this process cost nothing to start: by default there is one per core.
# Started from a fork server (see _worker_context), each costs an interpreter: by default there
# is one for this many stacks at most.
STACKS_PER_SERVER_WORKER = 8


def load_worker_modules() -> None:
    """Load WORKER_MODULES. The providers register their submodules lazily (a placeholder in
    sys.modules until an attribute other than __name__, __path__... is read): reading one loads
    it."""
    for name in WORKER_MODULES:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # pulumi_kubernetes.core, then .core.v1
            getattr(importlib.import_module(".".join(parts[:i])), "__all__", None)


def _forks_itself() -> bool:
    return sys.platform == "linux" and single_threaded()


def _worker_context() -> multiprocessing.context.BaseContext:
    """How workers start, each with WORKER_MODULES loaded once and for all:

    - forked from this process, once it has loaded them, when it runs a single thread (the CLI:
      the offline plan never opens a gRPC channel, and each stack joins its threads), which
      saves starting another interpreter;
    - otherwise (a test runner's threads, say) forked from a fresh server process that loaded
      them (plan_preload): `fork` of a process with threads running is not safe, with gRPC's
      least of all.
    """
    if _forks_itself():
        load_worker_modules()
        sys.stdout.flush()  # or each worker would write what is buffered again
        sys.stderr.flush()
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["components.plan_preload"])
    return context


def _start_worker(project_dir: Path) -> None:
    load_worker_modules()  # already done: forked from a process that loaded them
    from . import program

    program.fleet(project_dir)  # the definitions, read and validated once per worker


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


def plan_stacks(
    project_dir: Path,
    stacks: Sequence[str],
    jobs: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[StackPlan]:
    """The plans of `stacks`, in that order, computed by `jobs` worker processes (default: one
    per core; 1: in this process). The result does not depend on `jobs`. (A process running
    threads cannot fork itself: by default it starts a worker for 8 stacks at most.)

    Raises pulumi.RunError of the first stack (in order) that the program refuses.
    `progress(done, total)` is called as stacks are planned.
    """
    report = progress or (lambda done, total: None)
    project_dir = project_dir.resolve()
    if jobs is None:
        jobs = cores() if _forks_itself() else len(stacks) // STACKS_PER_SERVER_WORKER
        jobs = min(jobs, cores())
    jobs = min(jobs, len(stacks))
    if jobs <= 1:
        serial: list[StackPlan] = []
        for stack in stacks:
            serial.append(plan_stack(project_dir, stack))
            report(len(serial), len(stacks))
        return serial
    # The registries stack grows with the fleet (a second or more for hundreds of clusters):
    # it goes first, so that no worker is left with it at the end while the others wait.
    queue = sorted(range(len(stacks)), key=lambda i: stacks[i] != REGISTRIES_STACK)
    size = max(1, min(MAX_CHUNK, len(stacks) // (jobs * 4)))
    chunks = [queue[i : i + size] for i in range(0, len(queue), size)]
    results: list[StackPlan | pulumi.RunError | None] = [None] * len(stacks)
    with ProcessPoolExecutor(
        jobs, mp_context=_worker_context(), initializer=_start_worker, initargs=(project_dir,)
    ) as pool:
        names = [[stacks[i] for i in chunk] for chunk in chunks]
        done = pool.map(_plan_chunk, repeat(project_dir), names)
        planned = 0
        for chunk, plans in zip(chunks, done, strict=True):
            for i, plan in zip(chunk, plans, strict=True):
                results[i] = plan
            planned += len(chunk)
            report(planned, len(stacks))
    for stack_result in results:
        if isinstance(stack_result, pulumi.RunError):
            raise stack_result
    return cast("list[StackPlan]", results)


def _without_source_positions() -> None:
    """Pulumi walks the Python stack of every resource registration to tell the engine where
    in the program it was made (about a tenth of a plan's time). The recording monitor never
    reads it: the offline plan skips the walk. Applies to this process, which imports this
    module only to plan offline; `pulumi up` never imports it."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    if hasattr(resource, "_get_stack_trace"):  # a private function: skip if it ever goes
        resource._get_stack_trace = source_pb2.StackTrace


_without_source_positions()
