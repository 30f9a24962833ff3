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

from components.definition.flux import RegistryCredentialFrom, registry_host
from components.definition.types import ecr_location
from components.names import FLUX_NAMESPACE, MANAGED_BY

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG_KEY = ".dockerconfigjson"


@dataclass(frozen=True)
class ChartCredentials:
    """How the deployer logs in to the operator chart's registry at `pulumi up`: an ECR token
    for (account, region), or the mirror's credential (its password read from AWS)."""

    ecr: tuple[str, str] | None = None
    credential: RegistryCredentialFrom | None = None


@dataclass(frozen=True)
class MirrorOptions:
    """The mirror of spec.flux.registry and what it needs, filled by builders/options.py."""

    host: str | None = None  # the controller images' registry host; None: ghcr.io, no mirror
    credential: RegistryCredentialFrom | None = None  # not for ECR
    secret_name: str | None = None  # the pull Secret made from `credential`
    chart: str | None = None  # spec.flux.operatorChart; None: the chart on ghcr.io


def secret_for(options: MirrorOptions, reference: str | None) -> str | None:
    """The pull Secret to name for `reference`: the mirror's, when it has one and the
    reference is on its host; else none (an anonymous registry, or ECR)."""
    if reference is None or options.host is None or registry_host(reference) != options.host:
        return None
    return options.secret_name


def chart_credentials(options: MirrorOptions) -> ChartCredentials | None:
    """What the deployer pulls the operator chart with: an ECR token for an ECR chart, the
    mirror's credential for a chart on its host, else nothing (a public registry)."""
    if options.chart is None:
        return None
    location = ecr_location(options.chart)
    if location is not None:
        return ChartCredentials(ecr=(location[0], location[1]))
    if options.credential is not None and secret_for(options, options.chart) is not None:
        return ChartCredentials(credential=options.credential)
    return None


def pull_secret_metadata(options: MirrorOptions) -> dict[str, Any] | None:
    """The metadata of the mirror's pull Secret in flux-system, None when there is none."""
    if options.secret_name is None:
        return None
    return {"name": options.secret_name, "namespace": FLUX_NAMESPACE, "labels": dict(MANAGED_BY)}


def docker_config_json(host: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret for one host (what
    `kubectl create secret docker-registry` writes)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {host: entry}}, sort_keys=True)


def pull_secret_string_data(options: MirrorOptions, password: str) -> dict[str, str]:
    """The pull Secret's data, given the password (or token) read from AWS."""
    assert options.host is not None and options.credential is not None
    username = options.credential.username
    return {DOCKER_CONFIG_KEY: docker_config_json(options.host, username, password)}
