"""Every fixed name more than one module uses, defined once: the project's folders and files,
the Pulumi project, stack and config names, the Kubernetes names Flux expects, and URNs."""

from __future__ import annotations

import re
from pathlib import Path

# --- the project ----------------------------------------------------------------------------------
PROJECT = "flux-fleet"  # Pulumi.yaml `name`: the project part of every URN
CONFIG_NAMESPACE = PROJECT  # stack config keys of the program: flux-fleet:<key>
API_VERSION = "flux-fleet/v1"  # of every definition file
DATA_DIR = Path(__file__).parent / "data"  # packaged data: regions, GitHub host keys, dashboards

CLUSTERS_DIR = "k8s-clusters"  # one definition file per cluster
DEFAULTS_FILE = "_defaults.yaml"
REGISTRIES_FILE = "_registries.yaml"
SCHEMA_FILE = "cluster.schema.json"
STACKS_DIR = "stacks"  # Pulumi.yaml's stackConfigDir
FLUX_CLUSTERS_DIR = "flux/clusters"  # a cluster syncs flux/clusters/<name> by default
FLUX_APPS_DIR = "flux/apps"  # the overlays flux/apps/<environment>

REGISTRIES_STACK = "registries"  # the stack that owns every ECR repository policy


# A cluster or stack name: an RFC 1123 label (also what makes it safe in a path).
NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
NAME_RULE = "an RFC 1123 label: lowercase letters, digits and '-', at most 63"


def is_name(text: str) -> bool:
    """Whether `text` is a cluster or stack name; check it before any path is built from it."""
    return NAME_PATTERN.fullmatch(text) is not None


def definition_file(cluster: str) -> str:
    """Where a cluster's definition is, relative to the project."""
    return f"{CLUSTERS_DIR}/{cluster}.yaml"


def stack_file(stack: str) -> str:
    """Where a stack's settings are, relative to the project."""
    return f"{STACKS_DIR}/Pulumi.{stack}.yaml"


# --- in the cluster -------------------------------------------------------------------------------
FLUX_NAMESPACE = "flux-system"
FLUX_SECRET_NAME = "flux-system"  # the name `flux bootstrap` uses: clusters can be taken over
SYNC_SOURCE_NAME = "flux-system"  # the FluxInstance's GitRepository and Kustomization
FLUX_INSTANCE_NAME = "flux"  # the operator reconciles exactly one FluxInstance, named flux
MANAGED_BY = {"app.kubernetes.io/managed-by": PROJECT}  # on what the stack creates in a cluster


# --- Pulumi types and URNs ------------------------------------------------------------------------
def component_type(component: str) -> str:
    """The type token of one of the project's components (a contract: renaming one replaces it
    in every stack)."""
    return f"{PROJECT}:index:{component}"


def urn(stack: str, types: str, name: str) -> str:
    """The engine's URN of a resource: `types` is its type, after its parents' joined by `$`."""
    return f"urn:pulumi:{stack}::{PROJECT}::{types}::{name}"


def stack_urn(stack: str) -> str:
    return urn(stack, "pulumi:pulumi:Stack", f"{PROJECT}-{stack}")
