"""A generated fleet of N realistic clusters, in a copy of the project (for the benchmark).

Each cluster is what a team would write: a definition (accounts, regions and EKS names spread like
a real fleet, an IAM role for some accounts; staging and production, one canary in 100 in wave 0;
the fleet's rollout settings in _defaults.yaml), ECR pulls from the fleet's registries (one per
region, granting the AWS Organization as a fleet of thousands of accounts does; names and
prefixes, node roles, IRSA for OCI sources and image automation on some), two application
repositories, Slack alerts (the fleet default, `info` on some) with a placeholder token in the
stack config, and the Grafana dashboards and Prometheus monitors (the model's defaults). The
files are written with the project's own builders (scaffold.stack_settings, gitops.cluster_files,
gitops.dump_yaml), so `fluxfleet validate` accepts the result as it would a scaffolded fleet.

From the command line, a fleet to try the tool at fleet size with (see benchmarks/README.md):

    python -m benchmarks.fleetgen --clusters 1000 --out DIR
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.builders.gitops import cluster_files
from components.builders.options import cluster_folder_options
from components.loading.fleet import load_defaults, validate_cluster_doc
from components.names import CLUSTERS_DIR, DEFAULTS_FILE, REGISTRIES_FILE, STACKS_DIR, stack_file
from components.tools.cli import _Parser
from components.tools.scaffold import SCHEMA_LINE, stack_settings
from components.yamlio import dump_yaml

ROOT = Path(__file__).resolve().parents[1]  # the project the fleet's files are copied from
MAX_CLUSTERS = 10_000
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "k8s-clusters", "stacks", "flux")
REGIONS = ("eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2", "us-west-2")
ENVIRONMENTS = ("production", "staging")  # the overlays of flux/apps/
CLUSTERS_PER_ACCOUNT = 4
# A fleet of thousands of accounts grants ECR pulls to its AWS Organization (grantTo:
# organization), not account by account: one registry per region serves every account.
ORGANIZATION_ID = "o-benchfleet01"
# One cluster in this many is a canary (metadata.wave: 0), ahead of staging (wave 1) and
# production (wave 2): three waves, as a provider rolls a change out.
CANARY_EVERY = 100
ROLLOUT = {
    "maxParallel": 32,
    "environments": {
        "staging": {"wave": 1, "review": False},
        "production": {"wave": 2, "review": True},
    },
}
REPOSITORIES = ["api", "worker", "web", "jobs", "platform/base", "platform/metrics"]


def cluster_name(i: int) -> str:
    return f"bench-{i:04d}"


def _account_id(account: int) -> str:
    return f"{300000000000 + account * 7919:012d}"


def _registry_name(k: int) -> str:
    return f"bench-registry-{k:02d}"


def _region(account: int) -> str:
    return REGIONS[account % len(REGIONS)]


def registry_count(n: int) -> int:
    """One registry per region the fleet's accounts are in."""
    accounts = -(-n // CLUSTERS_PER_ACCOUNT)
    return min(accounts, len(REGIONS))


def registries_document(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "flux-fleet/v1",
        "kind": "Registries",
        "registries": [
            {
                "name": _registry_name(k),
                "accountId": f"{200000000000 + k * 104729:012d}",
                "region": REGIONS[k],
                "roleArn": f"arn:aws:iam::{200000000000 + k * 104729:012d}:role/fleet-deployer",
                "organizationId": ORGANIZATION_ID,
                "grantTo": "organization",
                "repositories": list(REPOSITORIES),
            }
            for k in range(registry_count(n))
        ],
    }


def cluster_document(i: int) -> dict[str, Any]:
    """The definition of cluster i (only what differs from _defaults.yaml, as a person writes)."""
    name = cluster_name(i)
    account = (i - 1) // CLUSTERS_PER_ACCOUNT
    account_id = _account_id(account)
    aws: dict[str, Any] = {
        "accountId": account_id,
        "region": _region(account),
        "eksClusterName": f"{name}-eks",
    }
    if account % 2 == 0:
        aws["roleArn"] = f"arn:aws:iam::{account_id}:role/fleet-deployer"
    ecr: dict[str, Any] = {
        "pull": [
            {
                "registry": _registry_name(account % len(REGIONS)),
                "repositories": ["api", "worker", "platform/*"] if i % 3 else ["web", "jobs"],
            }
        ],
        "nodeRoleNames": [f"{name}-nodes"],
    }
    if i % 5 == 0:
        ecr["ociSources"] = True
    flux: dict[str, Any] = {"size": ("small", "medium", "large")[i % 3]}
    if i % 10 == 0:
        flux["componentsExtra"] = ["image-reflector-controller", "image-automation-controller"]
    if i % 4 == 0:
        flux["tolerationKeys"] = ["CriticalAddonsOnly"]
    spec: dict[str, Any] = {
        "aws": aws,
        "ecr": ecr,
        "flux": flux,
        "apps": [
            {
                "name": "frontend",
                "repository": f"team-{i % 7}-frontend",
                "path": f"flux/app/{ENVIRONMENTS[i % 2]}",
            },
            {
                "name": "backend",
                "repository": f"team-{i % 7}-backend",
                "path": f"deploy/{ENVIRONMENTS[i % 2]}",
                "secretName": "backend-deploykey",
            },
        ],
    }
    if i % 2:
        spec["alerts"] = {"slack": {"severity": "info"}}
    metadata: dict[str, Any] = {"name": name, "environment": ENVIRONMENTS[i % 2]}
    if i % CANARY_EVERY == 1:
        metadata["wave"] = 0
    return {"apiVersion": "flux-fleet/v1", "kind": "Cluster", "metadata": metadata, "spec": spec}


def _with_rollout(defaults_text: str) -> str:
    """_defaults.yaml with the fleet's rollout settings (before its spec)."""
    rollout = dump_yaml([{"rollout": ROLLOUT}], explicit_start=False)
    return defaults_text.replace("\nspec:\n", f"\n{rollout}spec:\n", 1)


def copy_project(source: Path, dest: Path) -> Path:
    """The project's files without its example clusters (definitions, stacks, cluster folders)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    for definition in (dest / CLUSTERS_DIR).glob("[!_]*.y*ml"):
        stack = definition.stem
        definition.unlink()
        (dest / STACKS_DIR / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
        shutil.rmtree(dest / "flux" / "clusters" / stack, ignore_errors=True)
    return dest


def generate(source: Path, dest: Path, n: int) -> Path:
    """A copy of the project at `dest` whose fleet is n generated clusters (and its registries)."""
    project = copy_project(source, dest)
    (project / CLUSTERS_DIR / REGISTRIES_FILE).write_text(
        f"{SCHEMA_LINE}\n" + dump_yaml([registries_document(n)], explicit_start=False)
    )
    defaults_file = project / CLUSTERS_DIR / DEFAULTS_FILE
    defaults_file.write_text(_with_rollout(defaults_file.read_text()))
    defaults, problems = load_defaults(project)
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    for i in range(1, n + 1):
        doc = cluster_document(i)
        display = f"{CLUSTERS_DIR}/{cluster_name(i)}.yaml"
        cluster, problems = validate_cluster_doc(doc, display, cluster_name(i), defaults)
        if cluster is None:
            raise SystemExit("\n".join(str(p) for p in problems))
        (project / display).write_text(f"{SCHEMA_LINE}\n" + dump_yaml([doc], explicit_start=False))
        (project / stack_file(cluster.name)).write_text(stack_settings(cluster))
        folder = project / cluster.git_path
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in cluster_files(cluster_folder_options(cluster)).items():
            (folder / file).write_text(text)
    return project


# --- the command line ---------------------------------------------------------------------------


def _clusters(text: str) -> int:
    """--clusters N: a whole number from 1 to MAX_CLUSTERS."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_CLUSTERS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_CLUSTERS:,}, got {text!r}"
        )
    return int(text)


def out_problem(out: Path, source: Path = ROOT) -> str | None:
    """Why the fleet cannot be written to `out`: it must be a new or an empty folder, and not
    inside a folder of the project it copies (that copy would copy itself)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        return "exists and is not a folder, expected a new or empty folder"
    if out.is_dir() and any(out.iterdir()):
        return "is not empty, expected a new or empty folder (nothing is overwritten)"
    target = out.resolve()
    for name in PROJECT_FILES:
        if (source / name).is_dir() and target.is_relative_to((source / name).resolve()):
            return f"is inside {name}/ of the project it copies, expected a folder elsewhere"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m benchmarks.fleetgen",
        description="Write a flux-fleet project of N generated clusters, to try fluxfleet "
        "validate, plan and inventory at fleet size.",
    )
    parser.add_argument(
        "--clusters", type=_clusters, required=True, metavar="N", help="clusters in the fleet"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new (or empty) folder"
    )
    args = parser.parse_args(argv)
    problem = out_problem(args.out)
    if problem is not None:
        parser.error(f"--out {args.out}: {problem}")
    try:
        project = generate(ROOT, args.out, args.clusters)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot write: {exc.strerror or exc}")
    registries = registry_count(args.clusters)
    print(
        f"wrote {args.clusters:,} cluster(s) and {registries} registry(ies) to {project}; try: "
        f"fluxfleet --project {project} validate (or plan {cluster_name(1)}, inventory)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
