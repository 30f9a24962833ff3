"""fluxfleet: validate and plan the fleet offline (also `python -m components`).

A thin layer over the same functions the Pulumi program uses. Exit codes: 0 fine,
2 bad input (one line per problem on stderr, never a traceback), 1 anything else.
Pulumi is imported only by the commands that run the program.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from components.names import PROJECT
from components.problems import DefinitionError
from components.tools import commands
from components.tools.commands import EXIT_BAD_INPUT, BadInput

PLAN_FORMATS = ("text", "json", "markdown")


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
        return installed(PROJECT)
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class _Version(argparse.Action):
    """--version, looked up only when asked (reading the installed metadata takes time)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """A usage mistake is bad input like any other: one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")


def _jobs(text: str) -> int:
    """--jobs N: a positive number of worker processes."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of processes, got {text!r}")
    return int(text)


def _count(low: int) -> Callable[[str], int]:
    """A whole number of at least `low` (--wave 0, --timeout 1)."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return int(text)

    return parse


def _max_previews(text: str) -> int:
    """--max-previews N: 1 to 256 (the preview job is one matrix)."""
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 256, got {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    project = _Parser(add_help=False)
    project.add_argument(
        "--project",
        type=Path,
        default=argparse.SUPPRESS,  # before or after the command; the last one given wins
        help="the flux-fleet project (default: the folder up from here with a Pulumi.yaml)",
    )
    top = _Parser(prog="fluxfleet", description=__doc__.splitlines()[0], parents=[project])
    top.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    top.set_defaults(func=None)  # no command: the help (main prints it, exit 2)

    def command(name: str, **options: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[project], **options)

    p = command(
        "validate",
        help="check every definition in k8s-clusters/",
        description="Check every definition in k8s-clusters/ (with _defaults.yaml and "
        "_registries.yaml), the stack files in stacks/ and the GitOps tree in flux/: one line "
        "per problem on stderr, exit code 2; no cloud access, no Pulumi.",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="also list the valid definitions by name"
    )
    p.set_defaults(func=commands.cmd_validate)

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
    p.set_defaults(func=commands.cmd_new_cluster)

    p = command(
        "new-app",
        help="add an application repository (own deploy key) to a cluster",
    )
    p.add_argument("cluster", metavar="CLUSTER", help="the cluster (k8s-clusters/CLUSTER.yaml)")
    p.add_argument("name", metavar="NAME", help="the GitRepository/Kustomization name")
    p.add_argument("--repository", required=True, help="the application repository")
    p.add_argument("--owner", help="its owner (default: the cluster's spec.git.owner)")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--branch", help="the branch to pull (default: main)")
    ref.add_argument("--tag", help="a tag to pull instead of a branch")
    ref.add_argument("--semver", help="the highest tag in a semver range, such as '>=1.0.0'")
    ref.add_argument("--commit", help="a commit (its full SHA) to pull")
    p.add_argument(
        "--path", help="the path in that repository Flux applies (default: flux/app/ENVIRONMENT)"
    )
    p.add_argument("--secret-name", help="the Secret with its key (default: NAME-deploykey)")
    p.set_defaults(func=commands.cmd_new_app)

    p = command("plan", help="what `pulumi up` would create, offline (mock runtime)")
    p.add_argument("stacks", nargs="*", metavar="STACK", help="default: every cluster")
    output = p.add_mutually_exclusive_group()
    output.add_argument(
        "--format",
        choices=PLAN_FORMATS,
        default=None,  # text; not the default itself: argparse would miss --json --format text
        help="text: a tree per stack (default); json: `pulumi preview --json`-shaped; "
        "markdown: a pull-request comment (CI posts it)",
    )
    output.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    output.add_argument(
        "--markdown",
        dest="format",
        action="store_const",
        const="markdown",
        help="--format markdown",
    )
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
    p.set_defaults(func=commands.cmd_plan)

    p = command(
        "schema",
        help="write k8s-clusters/cluster.schema.json from the model",
        description="Write k8s-clusters/cluster.schema.json, the JSON Schema of a definition "
        "generated from the model, for editors to check and complete definition files with "
        "(each definition's first line points to it). Run it after changing the model; a test "
        "fails while the committed schema is stale.",
    )
    p.set_defaults(func=commands.cmd_schema)

    p = command(
        "dashboards", help="write the Flux Grafana dashboards as JSON files (to import by hand)"
    )
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write (made if missing)"
    )
    p.set_defaults(func=commands.cmd_dashboards)

    p = command(
        "affected",
        help="the stacks a git change touches, as a GitHub Actions matrix (what CI previews)",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", metavar="REF", help="compare from the merge base with this commit")
    which.add_argument("--all", action="store_true", help="every stack at --head (the drift check)")
    p.add_argument("--head", metavar="REF", default="HEAD", help="up to this commit (default HEAD)")
    p.add_argument(
        "--definitions-only",
        action="store_true",
        help="a change of program code touches no stack (a preview that runs main's code)",
    )
    p.add_argument(
        "--same-aws-as",
        type=Path,
        metavar="DIR",
        help="leave out the stacks whose AWS accounts, roles or EKS cluster differ from those of "
        "the project DIR, or that it does not define (a preview with the fleet's credentials)",
    )
    p.add_argument(
        "--format",
        choices=("json", "list"),
        default="json",
        help='json: {"include": [{"stack": ...}]}; list: one stack to run per line',
    )
    p.set_defaults(func=commands.cmd_affected)

    p = command(
        "previews",
        help="the stacks a pull request previews for real: one per class of the same offline "
        "plan (identity aside), and those whose own file changed, up to a bound (JSON)",
    )
    p.add_argument("--base", metavar="REF", required=True, help="the pull request's base")
    p.add_argument("--head", metavar="REF", default="HEAD", help="up to this commit (default HEAD)")
    p.add_argument(
        "--repository",
        type=Path,
        metavar="DIR",
        help="the git repository of the change (default: the project); the offline plans run "
        "in the project, whose definitions should be those of --head",
    )
    p.add_argument(
        "--same-aws-as",
        type=Path,
        metavar="DIR",
        help="leave out the stacks whose AWS accounts, roles or EKS cluster differ from those of "
        "the project DIR, or that it does not define",
    )
    p.add_argument(
        "--max-previews",
        type=_max_previews,
        default=None,
        metavar="N",
        help="real previews at most (default 24; at most 256)",
    )
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N", help="as for plan")
    p.set_defaults(func=commands.cmd_previews)

    p = command(
        "preview-comment",
        help="the pull request's one preview comment, from `previews` and the previews' output",
    )
    p.add_argument(
        "--selection", type=Path, required=True, metavar="FILE", help="the JSON of `previews`"
    )
    p.add_argument(
        "--results",
        type=Path,
        required=True,
        metavar="DIR",
        help="each real preview's STACK.txt (its output) and STACK.result (its outcome)",
    )
    p.set_defaults(func=commands.cmd_preview_comment)

    p = command(
        "rollout",
        help="the waves a change deploys in: which stacks, in which order, and why",
    )
    p.add_argument(
        "--base", metavar="REF", help="the change since the merge base with REF (default: all)"
    )
    p.add_argument("--head", metavar="REF", default="HEAD", help="up to this commit (default HEAD)")
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one line per stack (default); json: the waves as matrices (Deploy reads it)",
    )
    p.add_argument(
        "--artifacts",
        action="store_true",
        help="the OCI tags to move instead, wave by wave: the clusters that sync the flux/ "
        "artifact (spec.sync kind oci) and the change touches (the producer workflow reads it)",
    )
    p.set_defaults(func=commands.cmd_rollout)

    p = command(
        "inventory",
        help="one row per cluster: versions, keys, repositories, registries, alerts, validity",
    )
    p.add_argument(
        "--format",
        choices=("table", "markdown", "csv", "json"),
        default="table",
        help="table (default), markdown, csv or json",
    )
    columns = p.add_mutually_exclusive_group()
    columns.add_argument(
        "--columns",
        metavar="A,B,...",
        help="the columns to show, by their json names (such as name,region,apps); default: "
        "those a terminal fits for table and markdown (name, environment, wave, account, region, "
        "fluxVersion, gitAuth, valid, problem), every column for csv; json always has all",
    )
    columns.add_argument("--wide", action="store_true", help="every column (table and markdown)")
    p.set_defaults(func=commands.cmd_inventory)

    p = command(
        "status",
        help="what each cluster's Flux runs: version, components, sync, failing reconcilers",
        description="Read each cluster's FluxReport, Kustomizations and HelmReleases through the "
        "EKS connection the stack uses (AWS credentials from the environment): one row per "
        "cluster, an unreachable or forbidden one with the reason. Exit 0; with --wait, exit 1 "
        "when a cluster is not healthy in time.",
    )
    p.add_argument("stacks", nargs="*", metavar="STACK", help="default: every cluster")
    p.add_argument("--environment", metavar="ENV", help="only the clusters of this environment")
    p.add_argument("--wave", type=_count(0), metavar="N", help="only the clusters of wave N")
    p.add_argument(
        "--format",
        choices=("table", "markdown", "json"),
        default="table",
        help="table (default), markdown (a job summary) or json",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="read again until every cluster is healthy (exit 0) or the wait is over (exit 1)",
    )
    p.add_argument(
        "--revision",
        metavar="COMMIT",
        help="healthy also needs the sync to have applied this commit (a sha, 7+ characters)",
    )
    p.add_argument(
        "--wait-timeout",
        metavar="DURATION",
        help="how long --wait waits, a Go duration (default: rollout.healthTimeout of "
        "_defaults.yaml, 10m)",
    )
    p.add_argument(
        "--timeout",
        type=_count(1),
        default=20,
        metavar="SECONDS",
        help="for each cluster, each time it is read (default 20)",
    )
    p.add_argument(
        "--concurrency",
        type=_count(1),
        default=64,
        metavar="N",
        help="clusters read at once (default 64)",
    )
    p.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="also write status.json and summary.md to DIR (CI's report and job summary)",
    )
    p.set_defaults(func=commands.cmd_status)

    p = command(
        "completion",
        help='print shell completion, bash or zsh only: eval "$(fluxfleet completion bash)"',
    )
    p.add_argument(
        "shell", choices=("bash", "zsh"), help="the shell to complete in (fish is not supported)"
    )
    p.set_defaults(func=_completion)
    return top


def _completion(args: argparse.Namespace) -> int:
    from components.tools.completion import script

    sys.stdout.write(script(parser(), args.shell))
    return commands.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)  # a usage mistake: one line, SystemExit(2)
    if args.func is None:  # `fluxfleet` alone: what it can do, and that a command is needed
        top.print_help(sys.stderr)
        return EXIT_BAD_INPUT
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
