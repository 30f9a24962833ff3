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

from components.builders.alerts import (
    SLACK_CREDENTIAL_KEYS,
    SlackConfigError,
    SlackCredential,
    slack_credential,
)
from components.builders.git_access import (
    CA_KEY,
    GITHUB_APP_KEYS,
    github_app_from_definition,
    github_app_plain_data,
    github_app_problem,
    needs_github_app,
)
from components.builders.options import git_access_options
from components.definition.cluster import Cluster
from components.loading.fleet import Fleet, load_fleet
from components.names import CONFIG_NAMESPACE, REGISTRIES_STACK
from components.problems import DefinitionError
from components.stack.args import cluster_args
from components.stack.aws_secret import GithubAppArgs
from components.stack.cluster import FluxClusterArgs

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


def fleet_registries(fleet: Fleet) -> Fleet:
    """The whole fleet for the registries stack, which grants what every cluster pulls: any
    problem in any definition stops it (same messages as `fluxfleet validate`)."""
    try:
        return fleet.registries_stack()
    except DefinitionError as exc:
        raise pulumi.RunError(str(exc)) from None


def _config_secrets(keys: Iterable[str]) -> dict[str, pulumi.Output[str] | None]:
    """The stack config values of `keys` (flux-fleet:<key>), each a Pulumi secret, or None."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    return {key: config.get_secret(key) for key in keys}


def slack_secret(
    cluster: Cluster,
) -> tuple[SlackCredential, pulumi.Output[str] | None] | None:
    """The Slack credential, when alerts are on: from stack config (a Pulumi secret), or None
    when it is read from AWS (spec.alerts.slack.credentialFrom; the component reads it with the
    cluster's AWS provider). Neither, or both keys, stops the program with the `pulumi config`
    command to run, before anything is registered."""
    values = _config_secrets(SLACK_CREDENTIAL_KEYS)
    try:
        credential = slack_credential(cluster, {k for k, v in values.items() if v is not None})
    except SlackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    if credential is None:
        return None
    return credential, values[credential.key] if credential.key is not None else None


def github_app_secret(cluster: Cluster, project_dir: Path) -> GithubAppArgs | None:
    """The GitHub App's credentials (stack config, else spec.git.githubApp), when the cluster
    uses the App; a missing one stops the program with the commands to run. With a GitHub
    Enterprise Server, its API URL and CA certificate (a file's is read here; the loader
    checked it)."""
    if not needs_github_app(cluster):
        return None
    values = _config_secrets(GITHUB_APP_KEYS)
    problem = github_app_problem(cluster, {k for k, v in values.items() if v is not None})
    if problem is not None:
        raise pulumi.RunError(str(problem))
    config = {k: v for k, v in values.items() if v is not None}
    defined = {k: v for k, v in github_app_from_definition(cluster).items() if k not in config}
    plain = github_app_plain_data(cluster, git_access_options(cluster))
    host = cluster.spec.git.enterprise_host
    ca = host.ca_from if host is not None else None
    if ca is not None and ca.file is not None:
        plain[CA_KEY] = (project_dir / ca.file).read_text()
        ca = None
    return GithubAppArgs(config, defined, plain, ca)


def flux_cluster(fleet: Fleet, stack: str) -> FluxClusterArgs:
    """What the cluster stack `stack` registers: its definition, checked, with the fleet's
    registries (a cluster whose pulls do not check out against them never gets past
    `cluster_definition`) and its stack config."""
    cluster = cluster_definition(fleet, stack)
    return cluster_args(
        cluster,
        fleet.registries,
        slack_secret(cluster),
        github_app_secret(cluster, fleet.project_dir),
    )


def export_all(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)
