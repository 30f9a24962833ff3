"""The `fluxfleet` commands: each a thin layer over the functions the Pulumi program uses.

A command returns its exit code, or raises BadInput (one line per problem, exit 2). Pulumi is
imported only by `plan`, which runs the program.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from components.loading.fleet import Fleet, load_fleet, no_definition
from components.names import (
    CLUSTERS_DIR,
    CONFIG_NAMESPACE,
    NAME_RULE,
    REGISTRIES_STACK,
    SCHEMA_FILE,
    STACKS_DIR,
    is_name,
)
from components.names import definition_file as definition_display
from components.problems import DefinitionError, Problem, one_line, show

if TYPE_CHECKING:
    from components.plan.result import StackPlan
    from components.tools.snapshots import AffectedStack

T = TypeVar("T")
EXIT_OK, EXIT_BAD_INPUT = 0, 2  # anything else that fails: 1 (Python's own)


class BadInput(Exception):
    """Problems to report one per line, exit 2."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def _project_or_fail(project: Path) -> Path:
    if not (project / "Pulumi.yaml").exists():
        raise BadInput([f"{project}: not a flux-fleet project (no Pulumi.yaml); use --project DIR"])
    return project


def _fleet_or_fail(project: Path) -> Fleet:
    fleet = load_fleet(_project_or_fail(project))
    if fleet.all_problems:
        raise BadInput([str(p) for p in fleet.all_problems])
    return fleet


def _fleet_folder_or_fail(fleet: Fleet) -> Fleet:
    """`fleet`, unless k8s-clusters/ itself cannot be read (missing, or resolving outside the
    project): then that one problem, not a consequence of it for every stack file."""
    if CLUSTERS_DIR in fleet.problems:
        raise BadInput([str(p) for p in fleet.problems[CLUSTERS_DIR]])
    return fleet


def _warn(warnings: Sequence[Problem]) -> None:
    for warning in warnings:
        print(warning, file=sys.stderr)


def _stack_file_problems(fleet: Fleet, stacks: Sequence[str]) -> list[Problem]:
    """What is wrong with the stack files of `stacks` (warnings printed), and for each valid
    cluster: its credentials in the stack config (the program's check)."""
    from components.definition.credentials import check_credentials
    from components.loading.stack_files import read_stack_file, require_stack_file

    problems: list[Problem] = []
    for stack in stacks:
        # a missing file matters once the definition is valid (fix that first)
        valid = stack in fleet.clusters or (stack == REGISTRIES_STACK and fleet.registries)
        read = require_stack_file if valid else read_stack_file
        config, found = read(fleet.project_dir, stack)
        problems += found
        if config is None:
            continue
        _warn(config.warnings)
        cluster = fleet.clusters.get(stack)
        if cluster is None:
            continue
        present = {
            key.split(":", 1)[1]
            for key in config.values
            if key.split(":", 1)[0] == CONFIG_NAMESPACE
        }
        problems += check_credentials(cluster, present).problems
    return problems


def _defined_stacks(fleet: Fleet) -> list[str]:
    """Every stack with a definition file, valid or not (registries when it has its file)."""
    registries = (fleet.project_dir / fleet.registries_file).exists()
    return sorted(fleet.files) + ([REGISTRIES_STACK] if registries else [])


# --- commands -------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from components.definition.rollout import wave_problem
    from components.loading.stack_files import orphan_stack_files

    fleet = _fleet_folder_or_fail(load_fleet(_project_or_fail(args.project)))
    problems = list(fleet.all_problems)
    stacks = _defined_stacks(fleet)
    problems += _stack_file_problems(fleet, stacks)
    problems += orphan_stack_files(fleet.project_dir, set(stacks), fleet.strays)
    if problems:
        raise BadInput([str(p) for p in sorted(set(problems))])
    from components.tools.artifacts import tag_wave_problems
    from components.tools.consistency import consistency_problems

    mismatches = consistency_problems(fleet) + tag_wave_problems(fleet)
    if mismatches:
        raise BadInput([str(p) for p in mismatches])
    waves = wave_problem(fleet.wave(c) for c in fleet.clusters.values())
    if waves is not None:  # a change to every stack (a Flux upgrade) could not deploy
        raise BadInput([str(Problem(CLUSTERS_DIR, "metadata.wave", waves))])
    # a count (a fleet of thousands is no line to read); -v: the names, one per line
    print(f"{len(fleet.clusters)} cluster definition(s) valid")
    if args.verbose:
        sys.stdout.writelines(f"  {name}\n" for name in fleet.clusters)
    if fleet.registries:
        print(f"{len(fleet.registries)} registry definition(s) valid")
        if args.verbose:
            sys.stdout.writelines(f"  {one_line(name)}\n" for name in fleet.registries)
    return EXIT_OK


def _from_args(options: type[T], args: argparse.Namespace) -> T:
    """A command's options dataclass, filled from the parsed arguments of the same names."""
    names = [field.name for field in dataclasses.fields(options)]  # type: ignore[arg-type]
    return options(**{name: getattr(args, name) for name in names})


def require_names(names: Sequence[str], what: str) -> None:
    """BadInput, one line per argument that is not a cluster or stack name, before any path is
    built from it (`../../x` would read outside the project)."""
    bad = [name for name in names if not is_name(name)]
    if bad:
        raise BadInput([f"{what}: expected a name ({NAME_RULE}), got {show(name)}" for name in bad])


def require_repository_name(repository: str | None) -> None:
    """--repository takes the repository's name alone; given a URL or owner/name, say to pass
    the owner with --owner (and which)."""
    if repository is None or ("/" not in repository and ":" not in repository):
        return
    path = repository.rstrip("/").removesuffix(".git").replace(":", "/")
    owner, _, name = path.rpartition("/")
    owner = owner.rpartition("/")[2]
    hint = f"--repository {name} --owner {owner}" if owner and name else "--owner OWNER"
    raise BadInput(
        [
            f"--repository: expected the repository's name alone, got {show(repository)}; pass "
            f"the owner with --owner: {hint}"
        ]
    )


def cmd_new_cluster(args: argparse.Namespace) -> int:
    from components.tools.scaffold import NewCluster, new_cluster

    require_repository_name(args.repository)
    written = new_cluster(_project_or_fail(args.project), _from_args(NewCluster, args))
    sys.stdout.write(written.report())
    return EXIT_OK


def cmd_new_app(args: argparse.Namespace) -> int:
    from components.tools.new_app import NewApp, new_app

    require_names([args.cluster], "CLUSTER")
    require_repository_name(args.repository)
    written = new_app(_project_or_fail(args.project), _from_args(NewApp, args))
    sys.stdout.write(written.report())
    return EXIT_OK


def stack_name(arg: str) -> str:
    """A stack named on the command line: its name, or a path tab completion gives
    (k8s-clusters/NAME.yaml, stacks/Pulumi.NAME.yaml)."""
    path = Path(arg)
    if path.suffix not in (".yaml", ".yml"):
        return arg
    return path.stem.removeprefix("Pulumi.") if path.stem.startswith("Pulumi.") else path.stem


def _stacks(fleet: Fleet, requested: list[str]) -> list[str]:
    if not requested:
        return list(fleet.clusters) + ([REGISTRIES_STACK] if fleet.registries else [])
    known = [*fleet.files, REGISTRIES_STACK]
    missing = [s for s in requested if s not in fleet.files and s != REGISTRIES_STACK]
    if missing:
        lines = []
        for stack in missing:
            close = (
                difflib.get_close_matches(stack, known, n=1)
                or [k for k in sorted(known) if k.startswith(stack)][:1]
            )
            hint = f"; did you mean {close[0]}?" if close else ""
            display = fleet.files.get(stack, definition_display(stack))
            lines.append(str(no_definition(display, stack, hint)))
        raise BadInput(lines)
    return list(dict.fromkeys(requested))


def _check_definition(fleet: Fleet, stack: str) -> None:
    """DefinitionError with what stops `stack`'s definition (the registries stack: any)."""
    if stack == REGISTRIES_STACK:
        fleet.registries_stack()
    else:
        fleet.cluster(stack)


def cmd_plan(args: argparse.Namespace) -> int:
    project: Path = _project_or_fail(args.project)
    args.stacks = [stack_name(s) for s in args.stacks]
    require_names(args.stacks, "STACK")
    # named stacks: what they need, not the whole fleet (the program reuses it)
    fleet = _fleet_folder_or_fail(load_fleet(project, only=args.stacks or None))
    if args.stacks:  # only the requested stacks' own problems stop the plan
        stacks = _stacks(fleet, args.stacks)  # unknown names first, with a suggestion
        for stack in stacks:
            try:
                _check_definition(fleet, stack)
            except DefinitionError as exc:
                raise BadInput([str(p) for p in exc.problems]) from None
        stack_problems = _stack_file_problems(fleet, stacks)
        if stack_problems:
            raise BadInput([str(p) for p in sorted(set(stack_problems))])
        not_planned: dict[str, list[Problem]] = {}
    else:  # every valid stack is planned; the others are listed first, and the exit code is 2
        stacks, not_planned = _plannable(fleet)

    from components.plan import markdown, render
    from components.plan.parallel import iter_plans, plan_stacks
    from components.plan.runner import RunError, config_from_environment

    ignored = config_from_environment(os.environ)
    if ignored:  # the names only: a value may be a secret
        print(
            f"note: {', '.join(ignored)} ignored: the offline plan takes config from "
            f"{STACKS_DIR}/Pulumi.<stack>.yaml only",
            file=sys.stderr,
        )
    progress = _progress_line if sys.stderr.isatty() and len(stacks) > 1 else None
    skipped = {stack: [str(p) for p in found] for stack, found in not_planned.items()}
    try:  # worker processes plan the stacks; the output does not depend on --jobs
        if args.save is None and args.format in (None, "text", "json"):
            # each stack written as it is done: a fleet's plans are never held at once
            one_by_one = iter_plans(project, stacks, args.jobs, progress=progress, fleet=fleet)
            _write_plans(args.format or "text", one_by_one, len(stacks), skipped)
            plans = []
        else:
            plans = plan_stacks(project, stacks, args.jobs, progress=progress, fleet=fleet)
    except RunError as exc:
        raise BadInput(str(exc).splitlines()) from None
    finally:
        if progress is not None:
            print("\r\033[K", end="", file=sys.stderr, flush=True)  # the line goes away
    documents = {
        "json": lambda: render.dumps(_preview_document(plans, skipped)),
        "markdown": lambda: markdown.markdown(plans, not_planned=skipped),
        "text": lambda: markdown.not_planned_text(skipped) + render.texts(plans),
    }
    if plans or args.save is not None or args.format == "markdown":
        sys.stdout.write(documents[args.format or "text"]())
    if args.save is not None:
        _save(args.save, plans, skipped)
    if not_planned:
        lines = sorted({str(p) for found in not_planned.values() for p in found})
        raise BadInput([*lines, f"{len(not_planned)} stack(s) not planned (listed first above)"])
    return EXIT_OK


def _write_plans(
    format_: str, plans: Iterator[StackPlan], count: int, skipped: Mapping[str, list[str]]
) -> None:
    """The text or JSON plan on stdout, each stack as it comes: the same bytes as
    render.texts / _preview_document, never every plan held."""
    from components.plan import markdown, render

    write = sys.stdout.write
    if format_ == "text":
        write(markdown.not_planned_text(skipped))
        render.write_texts(write, plans)
    elif count == 1 and not skipped:
        write(render.dumps(render.preview_json(next(plans))))
    else:
        fields = {"notPlanned": [{"stack": s, "problems": p} for s, p in skipped.items()]}
        items = ({"stack": p.stack, **render.preview_json(p)} for p in plans)
        render.dumps_streamed(write, fields if skipped else {}, "stacks", items)


def _plannable(fleet: Fleet) -> tuple[list[str], dict[str, list[Problem]]]:
    """Every stack of `fleet` (see _defined_stacks): those that can be planned, and those that
    cannot with why. The registries stack needs every definition valid (a half-read fleet would
    revoke the grants of the rest)."""
    stacks = _defined_stacks(fleet)
    not_planned: dict[str, list[Problem]] = {}
    for stack in stacks:
        try:
            _check_definition(fleet, stack)
        except DefinitionError as exc:
            not_planned[stack] = list(exc.problems)
    registries = not_planned.get(REGISTRIES_STACK, [])
    others = [p for p in registries if p.file != fleet.registries_file]
    if others:  # listed under their own stacks; here why they stop this one too
        why = "not planned while any definition is invalid: it grants what every cluster pulls"
        own = [p for p in registries if p.file == fleet.registries_file]
        not_planned[REGISTRIES_STACK] = [*own, Problem(fleet.registries_file, "", why)]
    for stack in stacks:  # its stack file, and the credentials its definition needs there
        found = _stack_file_problems(fleet, [stack])
        if found:
            not_planned.setdefault(stack, []).extend(found)
    for display in fleet.strays:
        not_planned[display] = fleet.problems[display]  # by its path: never a stack's name
    return [s for s in stacks if s not in not_planned], dict(sorted(not_planned.items()))


def _progress_line(done: int, total: int) -> None:
    print(f"\rplanned {done}/{total} stacks", end="", file=sys.stderr, flush=True)


def _preview_document(
    plans: list[StackPlan], not_planned: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    from components.plan import render

    docs = [render.preview_json(p) for p in plans]
    if len(docs) == 1 and not not_planned:
        return docs[0]
    out: dict[str, Any] = {}
    if not_planned:
        out["notPlanned"] = [{"stack": s, "problems": p} for s, p in not_planned.items()]
    out["stacks"] = [{"stack": p.stack, **d} for p, d in zip(plans, docs, strict=True)]
    return out


def _save(
    folder: Path, plans: list[StackPlan], not_planned: Mapping[str, list[str]] | None = None
) -> None:
    """The whole plan, for CI's artifact and job summary: plan.txt, plan.json and summary.md
    (the markdown within the 1 MiB a job summary holds)."""
    from components.plan import markdown, render

    skipped = not_planned or {}
    files = {
        "plan.txt": markdown.not_planned_text(skipped) + render.texts(plans),
        "plan.json": render.dumps(_preview_document(plans, skipped)),
        "summary.md": markdown.markdown(plans, limit=markdown.MAX_SUMMARY, not_planned=skipped),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_text(content, encoding="utf-8")
    except OSError as exc:
        raise BadInput([f"{folder}: cannot write the plan: {exc.strerror or exc}"]) from None


def cmd_schema(args: argparse.Namespace) -> int:
    """Write k8s-clusters/cluster.schema.json from the model (what editors check files with)."""
    from components.definition.schema import json_schema

    path = _project_or_fail(args.project) / CLUSTERS_DIR / SCHEMA_FILE
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            [f"{CLUSTERS_DIR}/{SCHEMA_FILE}: cannot write: {exc.strerror or exc}"]
        ) from None
    print(f"{CLUSTERS_DIR}/{SCHEMA_FILE}")
    return EXIT_OK


def cmd_dashboards(args: argparse.Namespace) -> int:
    """The Grafana dashboards as JSON files, to import into any Grafana by hand."""
    from components.builders.monitoring import write_dashboards

    out: Path = args.out
    try:
        paths = write_dashboards(out)
    except OSError as exc:
        raise BadInput([f"{out}: cannot write the dashboards: {exc.strerror or exc}"]) from None
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_affected(args: argparse.Namespace) -> int:
    """The stacks a git change touches, as a GitHub Actions matrix (why, on stderr)."""
    from components.tools.affected import changes, matrix
    from components.tools.snapshots import AffectedError

    project = _project_or_fail(args.project)
    reference = None
    if args.same_aws_as is not None:
        reference = _fleet_or_fail(args.same_aws_as)
    try:
        stacks, _, left_out, artifacts = changes(
            project,
            None if args.all else args.base,
            args.head,
            program_changes=not args.definitions_only,
            same_aws_as=reference,
        )
    except AffectedError as exc:
        raise BadInput(exc.lines) from None
    _explain([] if args.all else stacks, left_out, args.same_aws_as)
    for tag in [] if args.all else artifacts:
        line = (
            f"{', '.join(tag.clusters)} (wave {tag.wave}): through the artifact, not a stack: "
            f"{tag.repository}:{tag.tag} moves ({'; '.join(tag.reasons)})"
        )
        print(one_line(line), file=sys.stderr)
    if args.format == "list":
        sys.stdout.writelines(f"{one_line(s.stack)}\n" for s in stacks if not s.removed)
    else:
        print(json.dumps(matrix(stacks)))
    return EXIT_OK


def cmd_previews(args: argparse.Namespace) -> int:
    """The real previews of a pull request (tools/previews.py), as JSON for the Preview
    workflow: the affected stacks (definitions only: Preview runs main's code) grouped into
    classes by their offline plans."""
    from components.plan.parallel import class_keys
    from components.plan.runner import RunError
    from components.tools.affected import changes
    from components.tools.previews import DEFAULT_MAX_PREVIEWS, select
    from components.tools.snapshots import AffectedError

    project = _project_or_fail(args.project)
    reference = None if args.same_aws_as is None else _fleet_or_fail(args.same_aws_as)
    try:
        stacks, _, left_out, _artifacts = changes(
            _project_or_fail(args.repository) if args.repository else project,
            args.base,
            args.head,
            program_changes=False,
            same_aws_as=reference,
        )
    except AffectedError as exc:
        raise BadInput(exc.lines) from None
    _explain(stacks, left_out, args.same_aws_as)
    stacks = [s for s in stacks if not s.removed]
    fleet = load_fleet(project, only=[s.stack for s in stacks] or None)
    not_planned: dict[str, list[Problem]] = {}
    for stack in stacks:  # what stops its plan, as for `plan`: its definition, its stack file
        try:
            _check_definition(fleet, stack.stack)
        except DefinitionError as exc:
            not_planned[stack.stack] = list(exc.problems)
            continue
        found = _stack_file_problems(fleet, [stack.stack])
        if found:
            not_planned[stack.stack] = found
    wanted = [s.stack for s in stacks if s.stack not in not_planned]
    try:  # what the program prints is no part of the JSON on stdout
        with contextlib.redirect_stdout(sys.stderr):
            keys = class_keys(project, wanted, args.jobs, fleet=fleet) if wanted else []
    except RunError as exc:
        raise BadInput(str(exc).splitlines()) from None
    why = {stack: str(found[0]) for stack, found in not_planned.items() if found}
    selection = select(
        stacks,
        dict(zip(wanted, keys, strict=True)),
        args.max_previews or DEFAULT_MAX_PREVIEWS,
        why,
    )
    print(json.dumps(selection.document()))
    return EXIT_OK


def cmd_preview_comment(args: argparse.Namespace) -> int:
    """The pull request's one preview comment (markdown, bounded), from `previews`' JSON and
    each real preview's output and outcome."""
    from components.tools.previews import comment

    try:
        document = json.loads(args.selection.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput([f"{args.selection}: cannot read the selection: {exc}"]) from None
    previews: dict[str, tuple[str, str]] = {}
    for item in document.get("previewed", []):
        stack = item["stack"]
        output, outcome = args.results / f"{stack}.txt", args.results / f"{stack}.result"
        result = outcome.read_text().strip() if outcome.is_file() else "not run"
        previews[stack] = (result, output.read_text(errors="replace") if output.is_file() else "")
    sys.stdout.write(comment(document, previews))
    return EXIT_OK


def _explain(
    stacks: Sequence[AffectedStack], left_out: Sequence[AffectedStack], same_aws_as: Path | None
) -> None:
    """Why each stack is affected, and which were left out, on stderr (one line each)."""
    for stack in left_out:
        print(
            f"{one_line(stack.stack)}: left out: it is new, or its AWS account, region, role or "
            f"EKS cluster differ from those of {same_aws_as}",
            file=sys.stderr,
        )
    for stack in stacks:
        state = " (definition removed: destroy it by hand)" if stack.removed else ""
        wave = f" (wave {stack.wave})" if stack.wave is not None and not stack.removed else ""
        line = f"{stack.stack}{wave}{state}: {'; '.join(stack.reasons)}"
        print(one_line(line), file=sys.stderr)  # names from git: no line break, no escape


def cmd_rollout(args: argparse.Namespace) -> int:
    """The plan of waves a change deploys in (every stack without --base); JSON for Deploy."""
    from components.tools.affected import changes
    from components.tools.artifacts import ArtifactPlan
    from components.tools.rollout import RolloutPlan, rollout_plan
    from components.tools.snapshots import AffectedError

    project = _project_or_fail(args.project)
    plan: RolloutPlan | ArtifactPlan
    try:
        # --artifacts: strict, a tag followed by clusters of two waves stops the producer
        stacks, rollout, _, artifacts = changes(
            project, args.base, args.head, strict_artifacts=args.artifacts
        )
        plan = ArtifactPlan(tuple(artifacts)) if args.artifacts else rollout_plan(stacks, rollout)
    except AffectedError as exc:
        raise BadInput(exc.lines) from None
    if args.format == "json":
        print(json.dumps(plan.document()))
    else:
        sys.stdout.write(plan.text())
    return EXIT_OK


def cmd_inventory(args: argparse.Namespace) -> int:
    """One row per cluster: what each definition asks for; an invalid one with its problem."""
    from components.tools.inventory import (
        COLUMNS,
        DEFAULT_COLUMNS,
        FORMATS,
        columns_from,
        inventory,
    )

    columns = COLUMNS if args.wide else DEFAULT_COLUMNS[args.format]
    if args.columns is not None:
        try:
            columns = columns_from(args.columns)
        except ValueError as exc:
            raise BadInput([f"--columns: {exc}"]) from None
    fleet = _fleet_folder_or_fail(load_fleet(_project_or_fail(args.project)))
    sys.stdout.write(FORMATS[args.format](inventory(fleet), columns))
    return EXIT_OK


def _status_targets(fleet: Fleet, args: argparse.Namespace) -> tuple[list[Any], list[Problem]]:
    """The clusters `status` reads (named, else every one; then --environment, --wave), and the
    problems of the definitions it cannot read (every invalid one when none is named)."""
    from components.tools.status import target

    if REGISTRIES_STACK in args.stacks:
        raise BadInput([f"{REGISTRIES_STACK}: not a cluster (status reads clusters)"])
    names = _stacks(fleet, args.stacks) if args.stacks else sorted(fleet.files)
    problems: list[Problem] = []
    clusters = []
    for name in names:
        try:
            clusters.append(fleet.cluster(name))
        except DefinitionError as exc:
            if args.stacks:
                raise BadInput([str(p) for p in exc.problems]) from None
            problems += exc.problems
    chosen = [
        target(fleet, c)
        for c in clusters
        if args.environment in (None, c.metadata.environment) and args.wave in (None, fleet.wave(c))
    ]
    return chosen, sorted(set(problems))


def cmd_status(args: argparse.Namespace) -> int:
    """One row per cluster from its FluxReport; --wait: until each is healthy (exit 1 if not)."""
    from components.definition.types import GO_DURATION, duration_seconds
    from components.tools.cluster_reader import reader
    from components.tools.status import FORMATS, Waiting, as_json, as_markdown, collect

    args.stacks = [stack_name(s) for s in args.stacks]
    require_names(args.stacks, "STACK")
    if args.revision is not None and not re.fullmatch(r"[0-9a-fA-F]{7,40}", args.revision):
        raise BadInput(
            [f"--revision: expected a commit sha (7 to 40 hex digits), got {show(args.revision)}"]
        )
    if args.wait_timeout is not None and not re.fullmatch(GO_DURATION, args.wait_timeout):
        raise BadInput(
            [f"--wait-timeout: expected a Go duration such as 10m, got {show(args.wait_timeout)}"]
        )
    fleet = _fleet_folder_or_fail(load_fleet(_project_or_fail(args.project)))
    targets, problems = _status_targets(fleet, args)
    if not targets and not problems:
        raise BadInput(["no cluster matches the stacks, --environment and --wave given"])
    read = reader(float(args.timeout), args.revision)
    progress = _status_progress if sys.stderr.isatty() and len(targets) > 1 else None
    try:
        if args.wait:
            wait = args.wait_timeout or fleet.rollout.health_timeout
            rows = Waiting(targets, read, duration_seconds(wait), concurrency=args.concurrency).run(
                progress
            )
        else:
            rows = collect(targets, read, args.concurrency, progress)
    finally:
        if progress is not None:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    sys.stdout.write(FORMATS[args.format](rows))
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / "status.json").write_text(as_json(rows), encoding="utf-8")
            (args.save / "summary.md").write_text(as_markdown(rows), encoding="utf-8")
        except OSError as exc:
            raise BadInput(
                [f"{args.save}: cannot write the status: {exc.strerror or exc}"]
            ) from None
    if problems:
        raise BadInput(
            [
                *(str(p) for p in problems),
                f"{len(problems)} problem(s): those clusters were not read",
            ]
        )
    unhealthy = [r for r in rows if not r.healthy]
    if args.wait and unhealthy:
        for row in unhealthy:
            print(
                one_line(f"{row.cluster}: not healthy: {'; '.join(row.reasons)}"), file=sys.stderr
            )
        return 1
    return EXIT_OK


def _status_progress(done: int, total: int) -> None:
    print(f"\rread {done}/{total} clusters", end="", file=sys.stderr, flush=True)
