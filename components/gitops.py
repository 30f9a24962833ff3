"""Pure builders for the Flux objects committed under flux/clusters/<cluster>/.

The committed files and the scaffolding that writes new cluster folders use the same functions,
so the tree in Git never drifts from what the tooling would generate. No Pulumi here.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

FLUX_NAMESPACE = "flux-system"
# The FluxInstance's sync objects (GitRepository + Kustomization) are named after its namespace.
SYNC_SOURCE_NAME = "flux-system"
APPS_ROOT = "./flux/apps"

_ENVIRONMENT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Plain scalars a YAML 1.1 parser (sigs.k8s.io/yaml, used by kubectl) reads as bool or null.
_YAML11_NON_STRINGS = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF|~|null|Null|NULL)$"
)


def apps_kustomization(environment: str) -> dict[str, Any]:
    """The Flux Kustomization `apps` that reconciles ./flux/apps/<environment>."""
    if not _ENVIRONMENT.match(environment):
        raise ValueError(
            f"environment {environment!r}: expected a lowercase DNS label (e.g. 'production')"
        )
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": "10m",
            "retryInterval": "1m",
            "timeout": "5m",
            "prune": True,
            "wait": True,
            "path": f"{APPS_ROOT}/{environment}",
            "sourceRef": {"kind": "GitRepository", "name": SYNC_SOURCE_NAME},
        },
    }


def cluster_kustomization(resources: list[str]) -> dict[str, Any]:
    """The kustomize.config.k8s.io kustomization.yaml of a cluster folder."""
    if not resources:
        raise ValueError("resources: expected at least one file")
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }


class _KubeRepresenter(SafeRepresenter):
    """Safe representer that keeps key order and quotes strings YAML 1.1 would not keep."""

    def represent_str(self, data: str) -> Any:
        if _YAML11_NON_STRINGS.match(data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_KubeRepresenter.add_representer(str, _KubeRepresenter.represent_str)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _KubeRepresenter
    # Set before `yaml.representer` is first touched: the representer copies it on creation.
    yaml.default_flow_style = False
    yaml.representer.sort_base_mapping_type_on_output = False
    yaml.explicit_start = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def dump_yaml(docs: list[dict[str, Any]]) -> str:
    """Multi-document YAML, each document introduced by `---`, keys in the order given."""
    if not docs:
        return ""
    out = io.StringIO()
    _yaml().dump_all(docs, out)
    return out.getvalue()
