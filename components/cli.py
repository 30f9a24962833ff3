"""fluxfleet: validate and plan the fleet offline (also `python -m components`).

A thin layer over the same functions the Pulumi program uses. Exit codes: 0 fine,
2 bad input (one line per problem on stderr, never a traceback), 1 anything else.
Pulumi is imported only by the commands that run the program.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .definitions import CLUSTERS_DIR, DefinitionError, Fleet, Problem, load_fleet
from .registries_model import REGISTRIES_STACK

if TYPE_CHECKING:
    from .plan import StackPlan

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


def _warn(warnings: Sequence[Problem]) -> None:
    for warning in warnings:
        print(warning, file=sys.stderr)


def _stack_file_problems(fleet: Fleet, stacks: Sequence[str]) -> list[Problem]:
    """What is wrong with the stack files of `stacks` (warnings printed), and for each valid
    cluster with Slack alerts on: its credential in the stack config."""
    from .alerts import CONFIG_NAMESPACE, SlackConfigError, slack_credential
    from .stack_files import read_stack_file, require_stack_file

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
        try:
            slack_credential(cluster, present)
        except SlackConfigError as exc:
            problems.append(exc.problem)
    return problems


def _defined_stacks(fleet: Fleet) -> list[str]:
    """Every stack with a definition file, valid or not (registries when it has its file)."""
    registries = (fleet.project_dir / fleet.registries_file).exists()
    return sorted(fleet.files) + ([REGISTRIES_STACK] if registries else [])


# --- commands -------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from .stack_files import orphan_stack_files

    fleet = load_fleet(_project_or_fail(args.project))
    problems = list(fleet.all_problems)
    stacks = _defined_stacks(fleet)
    problems += _stack_file_problems(fleet, stacks)
    problems += orphan_stack_files(fleet.project_dir, set(stacks))
    if problems:
        raise BadInput([str(p) for p in sorted(set(problems))])
    from .consistency import consistency_problems

    mismatches = consistency_problems(fleet)
    if mismatches:
        raise BadInput([str(p) for p in mismatches])
    print(f"{len(fleet.clusters)} cluster definition(s) valid: {', '.join(fleet.clusters)}")
    if fleet.registries:
        names = ", ".join(fleet.registries)
        print(f"{len(fleet.registries)} registry definition(s) valid: {names}")
    return EXIT_OK


def cmd_new_cluster(args: argparse.Namespace) -> int:
    from .scaffold import NewCluster, new_cluster

    options = NewCluster(
        name=args.name,
        account_id=args.account_id,
        region=args.region,
        environment=args.environment,
        owner=args.owner,
        repository=args.repository,
        branch=args.branch,
        eks_cluster_name=args.eks_cluster_name,
        role_arn=args.role_arn,
    )
    sys.stdout.write(new_cluster(_project_or_fail(args.project), options).report())
    return EXIT_OK


def cmd_new_app(args: argparse.Namespace) -> int:
    from .scaffold import NewApp, new_app

    options = NewApp(
        cluster=args.cluster,
        name=args.name,
        repository=args.repository,
        owner=args.owner,
        branch=args.branch,
        path=args.path,
        secret_name=args.secret_name,
    )
    sys.stdout.write(new_app(_project_or_fail(args.project), options).report())
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
            message = f'no definition for stack "{stack}" (expected this file){hint}'
            lines.append(
                str(Problem(fleet.files.get(stack, f"{CLUSTERS_DIR}/{stack}.yaml"), "", message))
            )
        raise BadInput(lines)
    return list(dict.fromkeys(requested))


def _jobs(text: str) -> int:
    """--jobs N: a positive number of worker processes."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of processes, got {text!r}")
    return int(text)


def cmd_plan(args: argparse.Namespace) -> int:
    project: Path = _project_or_fail(args.project)
    args.stacks = [stack_name(s) for s in args.stacks]
    if args.stacks:
        fleet = load_fleet(project)
        _stacks(fleet, args.stacks)  # unknown names first, with a suggestion
        for stack in args.stacks:  # only the requested stacks' own problems stop the plan
            try:
                fleet.registries_stack() if stack == REGISTRIES_STACK else fleet.cluster(stack)
            except DefinitionError as exc:
                raise BadInput([str(p) for p in exc.problems]) from None
    else:
        fleet = _fleet_or_fail(project)
    stacks = _stacks(fleet, args.stacks)
    if args.json and args.markdown:
        raise BadInput(["--json and --markdown: choose one"])
    stack_problems = _stack_file_problems(fleet, stacks)
    if stack_problems:
        raise BadInput([str(p) for p in sorted(set(stack_problems))])

    import pulumi

    from . import render
    from .plan import plan_stacks

    progress = _progress_line if sys.stderr.isatty() and len(stacks) > 1 else None
    try:  # worker processes plan the stacks; the output does not depend on --jobs
        plans = plan_stacks(project, stacks, args.jobs, progress=progress)
    except pulumi.RunError as exc:
        raise BadInput(str(exc).splitlines()) from None
    finally:
        if progress is not None:
            print("\r\033[K", end="", file=sys.stderr, flush=True)  # the line goes away
    documents = {
        "json": lambda: render.dumps(_preview_document(plans)),
        "markdown": lambda: render.markdown(plans),
        "text": lambda: render.texts(plans),
    }
    sys.stdout.write(documents["json" if args.json else "markdown" if args.markdown else "text"]())
    if args.save is not None:
        _save(args.save, plans)
    return EXIT_OK


def _progress_line(done: int, total: int) -> None:
    print(f"\rplanned {done}/{total} stacks", end="", file=sys.stderr, flush=True)


def _preview_document(plans: list[StackPlan]) -> dict[str, Any]:
    from . import render

    docs = [render.preview_json(p) for p in plans]
    if len(docs) == 1:
        return docs[0]
    return {"stacks": [{"stack": p.stack, **d} for p, d in zip(plans, docs, strict=True)]}


def _save(folder: Path, plans: list[StackPlan]) -> None:
    """The whole plan, for CI's artifact and job summary: plan.txt, plan.json and summary.md
    (the markdown within the 1 MiB a job summary holds)."""
    from . import render

    files = {
        "plan.txt": render.texts(plans),
        "plan.json": render.dumps(_preview_document(plans)),
        "summary.md": render.markdown(plans, limit=render.MAX_SUMMARY),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_text(content, encoding="utf-8")
    except OSError as exc:
        raise BadInput([f"{folder}: cannot write the plan: {exc.strerror or exc}"]) from None


def cmd_schema(args: argparse.Namespace) -> int:
    """Write k8s-clusters/cluster.schema.json from the model (what editors check files with)."""
    import json

    from .definitions import SCHEMA_FILE
    from .model import json_schema

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
    from .dashboards import write_dashboards

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
    import json

    from .affected import AffectedError, affected, all_stacks, matrix

    if bool(args.base) == args.all:
        raise BadInput(["affected: give --base REF (the stacks a change touches) or --all"])
    project = _project_or_fail(args.project)
    try:
        if args.all:
            stacks = all_stacks(project, args.head)
        else:
            stacks = affected(project, args.base, args.head)
    except AffectedError as exc:
        raise BadInput(exc.lines) from None
    for stack in [] if args.all else stacks:
        state = " (definition removed: destroy it by hand)" if stack.removed else ""
        print(f"{stack.stack}{state}: {'; '.join(stack.reasons)}", file=sys.stderr)
    if args.format == "list":
        sys.stdout.writelines(f"{s.stack}\n" for s in stacks if not s.removed)
    else:
        print(json.dumps(matrix(stacks)))
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------------


def find_project(start: Path) -> Path:
    """The flux-fleet project `start` is in: the first folder up from it with a Pulumi.yaml
    (`start` itself when there is none: the command then says it is not a project)."""
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return start


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("flux-fleet")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class _Version(argparse.Action):
    """--version, looked up only when asked (reading the installed metadata takes time)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument(
        "--project",
        type=Path,
        default=argparse.SUPPRESS,  # before or after the command; the last one given wins
        help="the flux-fleet project (default: the folder up from here with a Pulumi.yaml)",
    )
    top = argparse.ArgumentParser(
        prog="fluxfleet", description=__doc__.splitlines()[0], parents=[project]
    )
    top.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **options: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[project], **options)

    p = command("validate", help="check every definition in k8s-clusters/")
    p.set_defaults(func=cmd_validate)

    p = command(
        "new-cluster",
        help="scaffold a cluster: its definition, stack file and flux/clusters/NAME/",
    )
    p.add_argument("name", metavar="NAME", help="the cluster and stack name (an RFC 1123 label)")
    p.add_argument("--account-id", required=True, help="the AWS account (12 digits)")
    p.add_argument("--region", required=True, help="the AWS region, such as eu-west-1")
    p.add_argument("--environment", required=True, help="the overlay flux/apps/ENVIRONMENT it runs")
    p.add_argument("--owner", help="the fleet repository's owner (default: _defaults.yaml)")
    p.add_argument("--repository", help="the fleet repository (default: _defaults.yaml)")
    p.add_argument("--branch", help="the branch Flux syncs (default: _defaults.yaml, or main)")
    p.add_argument("--eks-cluster-name", help="the EKS cluster's name (default: NAME)")
    p.add_argument("--role-arn", help="an IAM role to assume to reach the account")
    p.set_defaults(func=cmd_new_cluster)

    p = command(
        "new-app",
        help="add an application repository (own deploy key) to a cluster",
    )
    p.add_argument("cluster", metavar="CLUSTER", help="the cluster (k8s-clusters/CLUSTER.yaml)")
    p.add_argument("name", metavar="NAME", help="the GitRepository/Kustomization name")
    p.add_argument("--repository", required=True, help="the application repository")
    p.add_argument("--owner", help="its owner (default: the cluster's spec.git.owner)")
    p.add_argument("--branch", help="the branch to pull (default: main)")
    p.add_argument(
        "--path", help="the path in that repository Flux applies (default: flux/app/ENVIRONMENT)"
    )
    p.add_argument("--secret-name", help="the Secret with its key (default: NAME-deploykey)")
    p.set_defaults(func=cmd_new_app)

    p = command("plan", help="what `pulumi up` would create, offline (mock runtime)")
    p.add_argument("stacks", nargs="*", metavar="STACK", help="default: every cluster")
    p.add_argument("--json", action="store_true", help="`pulumi preview --json`-shaped output")
    p.add_argument("--markdown", action="store_true", help="a pull-request comment (CI posts it)")
    p.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="also write the whole plan to DIR: plan.txt, plan.json, summary.md (CI's artifact)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="plan in N worker processes (default: one per core; 1: in this process)",
    )
    p.set_defaults(func=cmd_plan)

    p = command("schema", help="write k8s-clusters/cluster.schema.json from the model")
    p.set_defaults(func=cmd_schema)

    p = command(
        "dashboards", help="write the Flux Grafana dashboards as JSON files (to import by hand)"
    )
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write (made if missing)"
    )
    p.set_defaults(func=cmd_dashboards)

    p = command(
        "affected",
        help="the stacks a git change touches, as a GitHub Actions matrix (what CI previews)",
    )
    p.add_argument("--base", metavar="REF", help="compare from the merge base with this commit")
    p.add_argument("--head", metavar="REF", default="HEAD", help="up to this commit (default HEAD)")
    p.add_argument("--all", action="store_true", help="every stack at --head (the drift check)")
    p.add_argument(
        "--format",
        choices=("json", "list"),
        default="json",
        help='json: {"include": [{"stack": ...}]}; list: one stack to run per line',
    )
    p.set_defaults(func=cmd_affected)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    given = getattr(args, "project", None)
    args.project = given.resolve() if given is not None else find_project(Path.cwd().resolve())
    try:
        return int(args.func(args))
    except BadInput as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except DefinitionError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
