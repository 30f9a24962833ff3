"""Pure builders for the Flux objects committed under flux/clusters/<cluster>/.

The committed files and the scaffolding that writes new cluster folders use the same functions,
so the tree in Git never drifts from what the tooling would generate. No Pulumi here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.definition.apps import AppRepository
from components.names import FLUX_APPS_DIR, FLUX_NAMESPACE, SYNC_SOURCE_NAME
from components.yamlio import dump_yaml

_ENVIRONMENT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# The ServiceAccount the operator's multi-tenant profile gives its own sync Kustomization
# (flux-operator internal/builder/profiles.go, profileClusterMultitenant): kustomize-controller's,
# bound to cluster-admin. With the lockdown on, a Kustomization without serviceAccountName runs
# as the tenant default (`default` of its namespace), which may apply nothing.
LOCKDOWN_SERVICE_ACCOUNT = "kustomize-controller"


@dataclass(frozen=True)
class AppSourceOptions:
    """One application repository's GitRepository and Kustomization (filled by
    builders/options.py: the URL and provider follow spec.git.auth, the ServiceAccount the
    entry or spec.flux.multitenant)."""

    name: str
    url: str
    ref: Mapping[str, str]  # the GitRepository's spec.ref: {branch|tag|semver|commit: ...}
    path: str  # inside the repository
    interval: str
    pull_secret: str
    provider: str | None = None  # github with the GitHub App
    service_account: str | None = None
    post_build: Mapping[str, Any] | None = None  # spec.postBuild (the runtime facts)


@dataclass(frozen=True)
class ClusterFolderOptions:
    """What flux/clusters/<cluster>/ holds: the `apps` Kustomization and one file per app."""

    environment: str
    apps_service_account: str | None = None
    decryption: Mapping[str, Any] | None = None  # spec.decryption of `apps` (spec.sops)
    post_build: Mapping[str, Any] | None = None  # spec.postBuild of `apps` (the runtime facts)
    apps: Sequence[AppSourceOptions] = field(default_factory=tuple)
    # the kind of the cluster's sync source flux-system, which `apps` builds from (OCIRepository
    # when the cluster syncs the OCI artifact of the tree, spec.sync kind oci)
    source_kind: str = "GitRepository"


def apps_kustomization(
    environment: str,
    *,
    decryption: Mapping[str, Any] | None = None,
    service_account: str | None = None,
    post_build: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Flux Kustomization `apps` that reconciles ./flux/apps/<environment> (with the
    `decryption` of spec.sops; as `service_account` when given; substituting the cluster's facts
    with the `post_build` of spec.flux.runtimeInfo)."""
    if not _ENVIRONMENT.match(environment):
        raise ValueError(
            f"environment {environment!r}: expected a lowercase DNS label (e.g. 'production')"
        )
    out = _flux_kustomization(
        "apps", f"./{FLUX_APPS_DIR}/{environment}", SYNC_SOURCE_NAME, service_account, post_build
    )
    if decryption is not None:
        out["spec"]["decryption"] = dict(decryption)
    return out


def cluster_apps_kustomization(options: ClusterFolderOptions) -> dict[str, Any]:
    """The `apps` Kustomization of this cluster's folder (apps.yaml), built from the cluster's
    sync source."""
    out = apps_kustomization(
        options.environment,
        decryption=options.decryption,
        service_account=options.apps_service_account,
        post_build=options.post_build,
    )
    out["spec"]["sourceRef"]["kind"] = options.source_kind
    return out


def _flux_kustomization(
    name: str,
    path: str,
    source: str,
    service_account: str | None = None,
    post_build: Mapping[str, Any] | None = None,
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
    if post_build is not None:
        spec["postBuild"] = copy.deepcopy(dict(post_build))
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


def app_git_repository(app: AppSourceOptions) -> dict[str, Any]:
    """The GitRepository of an application repository, pulled with the app's own Secret (over
    HTTPS with provider github when the cluster uses the GitHub App)."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": app.name, "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": app.interval,
            "url": app.url,
            "ref": dict(app.ref),
            "secretRef": {"name": app.pull_secret},
            **({"provider": app.provider} if app.provider is not None else {}),
        },
    }


def app_source(app: AppSourceOptions) -> list[dict[str, Any]]:
    """flux/clusters/<cluster>/<app>.yaml: the app's GitRepository and the Kustomization
    that applies its path. The Secret is not here: the cluster stack creates it."""
    return [
        app_git_repository(app),
        _flux_kustomization(
            app.name, _source_path(app.path), app.name, app.service_account, app.post_build
        ),
    ]


def app_file(app: AppRepository | AppSourceOptions) -> str:
    return f"{app.name}.yaml"


def cluster_files(options: ClusterFolderOptions) -> dict[str, str]:
    """Every generated file of flux/clusters/<cluster>/, file name -> content."""
    files = {"apps.yaml": dump_yaml([cluster_apps_kustomization(options)])}
    for app in options.apps:
        files[app_file(app)] = dump_yaml(app_source(app))
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
