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

from .manifests import ssh_url
from .model import AppRepository, Cluster

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
    return _flux_kustomization("apps", f"{APPS_ROOT}/{environment}", SYNC_SOURCE_NAME)


def _flux_kustomization(name: str, path: str, source: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": "10m",
            "retryInterval": "1m",
            "timeout": "5m",
            "prune": True,
            "wait": True,
            "path": path,
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
    }


def _source_path(path: str) -> str:
    """A path inside a repository as Flux writes it: ./<path>, or ./ for the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "./" + "/".join(parts)


def app_git_repository(cluster: Cluster, app: AppRepository) -> dict[str, Any]:
    """The GitRepository of an application repository, pulled with the app's own Secret."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": app.name, "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": app.interval,
            "url": ssh_url(app.owner_or(cluster.spec.git.owner), app.repository),
            "ref": {"branch": app.branch},
            "secretRef": {"name": app.pull_secret},
        },
    }


def app_source(cluster: Cluster, app: AppRepository) -> list[dict[str, Any]]:
    """flux/clusters/<cluster>/<app>.yaml: the app's GitRepository and the Kustomization
    that applies its path. The Secret is not here: the cluster stack creates it."""
    return [
        app_git_repository(cluster, app),
        _flux_kustomization(app.name, _source_path(app.path), app.name),
    ]


def app_file(app: AppRepository) -> str:
    return f"{app.name}.yaml"


def cluster_files(cluster: Cluster) -> dict[str, str]:
    """Every generated file of flux/clusters/<cluster>/, file name -> content."""
    files = {"apps.yaml": dump_yaml([apps_kustomization(cluster.metadata.environment)])}
    for app in cluster.spec.apps:
        files[app_file(app)] = dump_yaml(app_source(cluster, app))
    files["kustomization.yaml"] = dump_yaml([cluster_kustomization(list(files))])
    return files


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


def dump_yaml(docs: list[dict[str, Any]], *, explicit_start: bool = True) -> str:
    """Multi-document YAML, each document introduced by `---`, keys in the order given."""
    if not docs:
        return ""
    out = io.StringIO()
    yaml = _yaml()
    yaml.explicit_start = explicit_start or len(docs) > 1
    yaml.dump_all(docs, out)
    return out.getvalue()
