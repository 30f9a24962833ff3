"""fluxfleet: validate and plan the fleet offline (also `python -m components`).

A thin layer over the same functions the Pulumi program uses. Exit codes: 0 fine,
2 bad input (one line per problem on stderr, never a traceback), 1 anything else.
Pulumi is imported only by the commands that run the program.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .definitions import DefinitionError, Fleet, Problem, load_fleet

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Problems to report one per line, exit 2."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def _fleet_or_fail(project: Path) -> Fleet:
    if not (project / "Pulumi.yaml").exists():
        raise BadInput([f"{project}: not a flux-fleet project (no Pulumi.yaml); use --project DIR"])
    fleet = load_fleet(project)
    if fleet.all_problems:
        raise BadInput([str(p) for p in fleet.all_problems])
    return fleet


# --- commands -------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    fleet = _fleet_or_fail(args.project)
    print(f"{len(fleet.clusters)} cluster definition(s) valid: {', '.join(fleet.clusters)}")
    return EXIT_OK


def _stacks(fleet: Fleet, requested: list[str]) -> list[str]:
    if not requested:
        return list(fleet.clusters)
    missing = [s for s in requested if s not in fleet.clusters]
    if missing:
        raise BadInput(
            [
                str(
                    Problem(
                        fleet.files.get(s, f"k8s-clusters/{s}.yaml"),
                        "",
                        f'no definition for stack "{s}" (expected this file)',
                    )
                )
                for s in missing
            ]
        )
    return list(dict.fromkeys(requested))


def cmd_plan(args: argparse.Namespace) -> int:
    project: Path = args.project
    if args.stacks:
        fleet = load_fleet(project)
        if not (project / "Pulumi.yaml").exists():
            _fleet_or_fail(project)
        for stack in args.stacks:  # only the requested stacks' own problems stop the plan
            try:
                fleet.cluster(stack)
            except DefinitionError as exc:
                raise BadInput([str(p) for p in exc.problems]) from None
    else:
        fleet = _fleet_or_fail(project)
    stacks = _stacks(fleet, args.stacks)

    import pulumi

    from . import render
    from .plan import plan_stack

    plans = []
    for stack in stacks:
        try:
            plans.append(plan_stack(project, stack))
        except pulumi.RunError as exc:
            raise BadInput(str(exc).splitlines()) from None
    if args.json:
        docs = [render.preview_json(p) for p in plans]
        out = (
            docs[0]
            if len(docs) == 1
            else {"stacks": [{"stack": p.stack, **d} for p, d in zip(plans, docs, strict=True)]}
        )
        sys.stdout.write(render.dumps(out))
    else:
        sys.stdout.write("\n".join(render.text(p) for p in plans))
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fluxfleet", description=__doc__.splitlines()[0])
    top.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="the flux-fleet project (default: the current directory)",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check every definition in k8s-clusters/")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="what `pulumi up` would create, offline (mock runtime)")
    p.add_argument("stacks", nargs="*", metavar="STACK", help="default: every cluster")
    p.add_argument("--json", action="store_true", help="`pulumi preview --json`-shaped output")
    p.set_defaults(func=cmd_plan)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.project = args.project.resolve()
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
