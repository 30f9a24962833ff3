"""Private and air-gapped registries: how the cluster and the deployer authenticate to the
mirrors of spec.flux (the controller images, the operator's image, chart and manifests artifact).
Pure, no Pulumi: the stack reads the credentials at apply time and hands them to these.

- ECR: no Secret. The nodes' role pulls the images (builders/ecr_cluster.py), and the deployer
  pulls the chart with an ECR authorization token the stack gets at `pulumi up`
  (`ChartCredentials.ecr`); a token in a Secret would expire after 12 hours.
- Any other registry: `spec.flux.registry.credentialFrom` gives the username and where the
  password (or token) is in SSM or Secrets Manager; the stack makes them the
  `kubernetes.io/dockerconfigjson` Secret the FluxInstance and the operator's pod pull with, and
  the chart's repository credentials when the chart is on the same host.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from components.definition.cluster import Cluster
from components.definition.ecr import ecr_location
from components.definition.flux import RegistryCredentialFrom, registry_host
from components.names import FLUX_NAMESPACE, MANAGED_BY

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG_KEY = ".dockerconfigjson"


@dataclass(frozen=True)
class ChartCredentials:
    """How the deployer logs in to the operator chart's registry at `pulumi up`: an ECR token
    for (account, region), or the mirror's credential (its password read from AWS)."""

    ecr: tuple[str, str] | None = None
    credential: RegistryCredentialFrom | None = None


def pull_secret_name(cluster: Cluster) -> str | None:
    """The pull Secret flux-fleet creates for a registry that is not ECR (None: none)."""
    registry = cluster.spec.flux.registry
    return registry.secret_name if registry is not None else None


def _on_mirror_host(cluster: Cluster, reference: str | None) -> bool:
    """Whether `reference` is on the host of spec.flux.registry (so its credential applies)."""
    registry = cluster.spec.flux.registry
    return (
        registry is not None and reference is not None and registry_host(reference) == registry.host
    )


def secret_for(cluster: Cluster, reference: str | None) -> str | None:
    """The pull Secret to name for `reference`: the mirror's, when it has one and the
    reference is on its host; else none (an anonymous registry, or ECR)."""
    return pull_secret_name(cluster) if _on_mirror_host(cluster, reference) else None


def chart_credentials(cluster: Cluster) -> ChartCredentials | None:
    """What the deployer pulls spec.flux.operatorChart with: an ECR token for an ECR chart,
    the mirror's credential for a chart on its host, else nothing (a public registry)."""
    chart = cluster.spec.flux.operator_chart
    if chart is None:
        return None
    location = ecr_location(chart)
    if location is not None:
        return ChartCredentials(ecr=(location[0], location[1]))
    registry = cluster.spec.flux.registry
    if registry is not None and registry.credential_from is not None and secret_for(cluster, chart):
        return ChartCredentials(credential=registry.credential_from)
    return None


def pull_secret_metadata(cluster: Cluster) -> dict[str, Any] | None:
    """The metadata of the mirror's pull Secret in flux-system, None when there is none."""
    name = pull_secret_name(cluster)
    if name is None:
        return None
    return {"name": name, "namespace": FLUX_NAMESPACE, "labels": dict(MANAGED_BY)}


def docker_config_json(host: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret for one host (what
    `kubectl create secret docker-registry` writes)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {host: entry}}, sort_keys=True)


def pull_secret_string_data(cluster: Cluster, password: str) -> dict[str, str]:
    """The pull Secret's data, given the password (or token) read from AWS."""
    registry = cluster.spec.flux.registry
    assert registry is not None and registry.credential_from is not None
    username = registry.credential_from.username
    return {DOCKER_CONFIG_KEY: docker_config_json(registry.host, username, password)}
