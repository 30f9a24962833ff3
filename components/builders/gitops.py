"""Pure builders for the Flux objects committed under flux/clusters/<cluster>/.

The committed files and the scaffolding that writes new cluster folders use the same functions,
so the tree in Git never drifts from what the tooling would generate. No Pulumi here.
"""

from __future__ import annotations

import re
from typing import Any

from components.builders.git_access import GIT_PROVIDER, GitAccessOptions, repository_url
from components.builders.runtime_info import has_runtime_info, substitute_from
from components.builders.sops import DECRYPTION
from components.definition.apps import AppRepository
from components.definition.cluster import Cluster
from components.names import FLUX_APPS_DIR, FLUX_NAMESPACE, SYNC_SOURCE_NAME
from components.yamlio import dump_yaml

_ENVIRONMENT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# The ServiceAccount the operator's multi-tenant profile gives its own sync Kustomization
# (flux-operator internal/builder/profiles.go, profileClusterMultitenant): kustomize-controller's,
# bound to cluster-admin. With the lockdown on, a Kustomization without serviceAccountName runs
# as the tenant default (`default` of its namespace), which may apply nothing.
LOCKDOWN_SERVICE_ACCOUNT = "kustomize-controller"


def apps_service_account(cluster: Cluster) -> str | None:
    """The ServiceAccount the `apps` Kustomization runs as: kustomize-controller's with
    spec.flux.multitenant (the fleet's own overlay, like the sync), else none (no impersonation)."""
    return LOCKDOWN_SERVICE_ACCOUNT if cluster.spec.flux.multitenant else None


def app_service_account(cluster: Cluster, app: AppRepository) -> str | None:
    """The ServiceAccount an application repository's Kustomization runs as: the entry's
    serviceAccountName, else kustomize-controller's with spec.flux.multitenant, else none."""
    return app.service_account_name or apps_service_account(cluster)


def apps_kustomization(
    environment: str,
    *,
    decrypt: bool = False,
    service_account: str | None = None,
    substitute: bool = False,
) -> dict[str, Any]:
    """The Flux Kustomization `apps` that reconciles ./flux/apps/<environment> (decrypting SOPS
    secrets when the cluster has spec.sops; as `service_account` when given; substituting the
    cluster's facts with `substitute`, spec.flux.runtimeInfo)."""
    if not _ENVIRONMENT.match(environment):
        raise ValueError(
            f"environment {environment!r}: expected a lowercase DNS label (e.g. 'production')"
        )
    out = _flux_kustomization(
        "apps", f"./{FLUX_APPS_DIR}/{environment}", SYNC_SOURCE_NAME, service_account, substitute
    )
    if decrypt:
        out["spec"]["decryption"] = dict(DECRYPTION)
    return out


def cluster_apps_kustomization(cluster: Cluster) -> dict[str, Any]:
    """The `apps` Kustomization of this cluster's folder (apps.yaml)."""
    return apps_kustomization(
        cluster.metadata.environment,
        decrypt=cluster.spec.sops is not None,
        service_account=apps_service_account(cluster),
        substitute=has_runtime_info(cluster),
    )


def _flux_kustomization(
    name: str,
    path: str,
    source: str,
    service_account: str | None = None,
    substitute: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": "1m",
        "timeout": "5m",
        "prune": True,
        "wait": True,
        "path": path,
        "sourceRef": {"kind": "GitRepository", "name": source},
    }
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    if substitute:
        spec["postBuild"] = substitute_from()
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
        "spec": spec,
    }


def _source_path(path: str) -> str:
    """A path inside a repository as Flux writes it: ./<path>, or ./ for the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "./" + "/".join(parts)


def app_git_repository(cluster: Cluster, app: AppRepository) -> dict[str, Any]:
    """The GitRepository of an application repository, pulled with the app's own Secret (over
    HTTPS with provider github when the cluster uses the GitHub App)."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": app.name, "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": app.interval,
            "url": repository_url(
                GitAccessOptions(github_app=cluster.spec.git.uses_github_app),
                app.owner_or(cluster.spec.git.owner),
                app.repository,
            ),
            "ref": {"branch": app.branch},
            "secretRef": {"name": app.pull_secret},
            **({"provider": GIT_PROVIDER} if cluster.spec.git.uses_github_app else {}),
        },
    }


def app_source(cluster: Cluster, app: AppRepository) -> list[dict[str, Any]]:
    """flux/clusters/<cluster>/<app>.yaml: the app's GitRepository and the Kustomization
    that applies its path. The Secret is not here: the cluster stack creates it."""
    return [
        app_git_repository(cluster, app),
        _flux_kustomization(
            app.name,
            _source_path(app.path),
            app.name,
            app_service_account(cluster, app),
            has_runtime_info(cluster),
        ),
    ]


def app_file(app: AppRepository) -> str:
    return f"{app.name}.yaml"


def cluster_files(cluster: Cluster) -> dict[str, str]:
    """Every generated file of flux/clusters/<cluster>/, file name -> content."""
    files = {"apps.yaml": dump_yaml([cluster_apps_kustomization(cluster)])}
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
