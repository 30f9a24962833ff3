"""What __main__.py calls: shared by `pulumi up` and `fluxfleet plan` (one code path).

The program reads the definitions (or takes those the offline plan read: `read_fleet`) and the
stack config; the components are handed args objects (stack/args.py) built from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pulumi

from components.builders.alerts import notifier
from components.builders.ecr import EcrFleet
from components.builders.git_access import CA_KEY, github_app_plain_data
from components.builders.options import alert_options, ecr_fleet, git_access_options
from components.definition.cluster import Cluster
from components.definition.credentials import (
    GITHUB_APP_KEYS,
    Credentials,
    check_credentials,
    config_keys,
    github_app_from_definition,
    needs_github_app,
)
from components.loading.fleet import Fleet, load_fleet
from components.names import CONFIG_NAMESPACE, REGISTRIES_STACK
from components.problems import DefinitionError
from components.stack.args import cluster_args
from components.stack.aws_secret import GithubAppArgs
from components.stack.cluster import FluxClusterArgs
from components.stack.observability import NotifierArgs

# The fleet the offline plan read already, handed to the program of the stack it plans
# (plan/runner.py sets it in that stack's own context, so nothing outlives the stack); `pulumi up`
# hands none: the program reads the definitions.
HANDED_FLEET: ContextVar[Fleet | None] = ContextVar("handed_fleet", default=None)


def read_fleet(project_dir: Path, stack: str) -> Fleet:
    """The definitions stack `stack` needs. A cluster stack reads what its own checks need
    (load_fleet's `only`: its file, and the others only as far as needed to know none defines
    the same EKS cluster), so its cost hardly grows with the fleet; the registries stack reads
    the whole fleet. A fleet handed over that answers for the stack is used instead."""
    stacks = None if stack == REGISTRIES_STACK else [stack]
    handed = HANDED_FLEET.get()
    if handed is not None and handed.project_dir == project_dir.resolve() and handed.serves(stacks):
        return handed
    return load_fleet(project_dir, stacks)


def cluster_definition(fleet: Fleet, stack: str) -> Cluster:
    """The definition of `stack`; invalid or missing stops the program with the same
    one-line-per-problem messages as `fluxfleet validate` (RunError: printed without a trace)."""
    try:
        return fleet.cluster(stack)
    except DefinitionError as exc:
        raise pulumi.RunError(str(exc)) from None


def fleet_registries(fleet: Fleet) -> EcrFleet:
    """What the registries stack reads of the whole fleet (each cluster's EcrOptions), which
    grants what every cluster pulls: any problem in any definition stops it (same messages as
    `fluxfleet validate`)."""
    try:
        return ecr_fleet(fleet.registries_stack())
    except DefinitionError as exc:
        raise pulumi.RunError(str(exc)) from None


def _config_secrets(keys: Iterable[str]) -> dict[str, pulumi.Output[str] | None]:
    """The stack config values of `keys` (flux-fleet:<key>), each a Pulumi secret, or None."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    return {key: config.get_secret(key) for key in keys}


def stack_credentials(cluster: Cluster) -> tuple[Credentials, dict[str, pulumi.Output[str]]]:
    """THE credential check (definition/credentials.py) on the keys set in the stack config, and
    their values (Pulumi secrets). A missing credential stops the program with the `pulumi config`
    command to run, before anything is registered."""
    values = _config_secrets(config_keys(cluster))
    config = {key: value for key, value in values.items() if value is not None}
    credentials = check_credentials(cluster, set(config))
    if credentials.problems:
        raise pulumi.RunError("\n".join(str(p) for p in credentials.problems))
    return credentials, config


def alert_notifiers(
    cluster: Cluster, credentials: Credentials, config: Mapping[str, pulumi.Output[str]]
) -> list[NotifierArgs]:
    """Every alert provider's objects, each with its credential's value from stack config (None:
    read from AWS by the component with the cluster's AWS provider, or none needed)."""
    out = []
    for options in alert_options(cluster, credentials.alerts):
        key = options.credential.key if options.credential is not None else None
        out.append(NotifierArgs(notifier(options), config[key] if key is not None else None))
    return out


def github_app_secret(
    cluster: Cluster, config: Mapping[str, pulumi.Output[str]], project_dir: Path
) -> GithubAppArgs | None:
    """The GitHub App's credentials (stack config, else spec.git.githubApp), when the cluster
    uses the App (the credential check found them). With a GitHub Enterprise Server, its API URL
    and CA certificate (a file's is read here; the loader checked it)."""
    if not needs_github_app(cluster):
        return None
    mine = {k: v for k, v in config.items() if k in GITHUB_APP_KEYS}
    defined = {k: v for k, v in github_app_from_definition(cluster).items() if k not in mine}
    plain = github_app_plain_data(git_access_options(cluster))
    host = cluster.spec.git.enterprise_host
    ca = host.ca_from if host is not None else None
    if ca is not None and ca.file is not None:
        plain[CA_KEY] = (project_dir / ca.file).read_text()
        ca = None
    return GithubAppArgs(mine, defined, plain, ca)


def flux_cluster(fleet: Fleet, stack: str) -> FluxClusterArgs:
    """What the cluster stack `stack` registers: its definition, checked, with the fleet's
    registries (a cluster whose pulls do not check out against them never gets past
    `cluster_definition`) and its stack config."""
    cluster = cluster_definition(fleet, stack)
    credentials, config = stack_credentials(cluster)
    return cluster_args(
        cluster,
        fleet.registries,
        alert_notifiers(cluster, credentials, config),
        github_app_secret(cluster, config, fleet.project_dir),
    )


def export_all(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)
