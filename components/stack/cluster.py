"""FluxCluster: everything one cluster stack creates."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_github as github
import pulumi_kubernetes as k8s

from components.builders.git_access import GITHUB_APP_SECRET_NAME
from components.names import FLUX_NAMESPACE, MANAGED_BY, component_type
from components.stack.aws_secret import GithubAppArgs, github_app_secret_data
from components.stack.deploy_key import DeployKey, DeployKeyArgs
from components.stack.ecr_access import EcrAccess, EcrAccessArgs
from components.stack.eks import EksConnection, EksConnectionArgs
from components.stack.flux import Flux, FluxArgs
from components.stack.observability import Observability, ObservabilityArgs
from components.stack.sops_access import SopsAccess, SopsAccessArgs

# The GitHub provider's credentials, read from the environment of each command by the provider
# itself (pulumi-github `provider/resources.go`: token defaults to GITHUB_TOKEN; the App's
# fields to these when an `appAuth` block is present, even empty), never program inputs.
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"
GITHUB_APP_ENV = ("GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PEM_FILE")


@dataclass(frozen=True)
class AppKeyArgs:
    name: str
    owner: str
    key: DeployKeyArgs


@dataclass(frozen=True)
class FluxClusterArgs:
    name: str
    eks: EksConnectionArgs
    ecr: EcrAccessArgs | None  # None: the cluster pulls nothing from ECR
    sops: SopsAccessArgs | None  # None: no spec.sops
    namespace_labels: dict[str, str]
    namespace_annotations: dict[str, str]
    fleet_owner: str
    github_api_url: str | None  # the GitHub provider's baseUrl (GitHub Enterprise Server)
    fleet_key: DeployKeyArgs | None  # None: the GitHub App's Secret, or no Git sync
    github_app: GithubAppArgs | None  # every Secret holds the App's credentials instead of a key
    app_keys: Sequence[AppKeyArgs]
    flux: FluxArgs
    observability: ObservabilityArgs
    outputs: dict[str, Any] = field(default_factory=dict)  # the plain ones
    # False: the cluster syncs an OCI artifact (spec.sync), no credential for the fleet repository
    syncs_git: bool = True


@contextmanager
def _hidden(variable: str) -> Iterator[None]:
    """`variable` out of this process's environment for the block (the SDK copies it into the
    resource's inputs when it sees it)."""
    saved = os.environ.pop(variable, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[variable] = saved


def github_app_auth() -> github.ProviderAppAuthArgsDict | None:
    """An empty `appAuth` block when the GITHUB_APP_* variables are set (the provider fills it
    from them), else None; some of them without the others is a clear error."""
    present = [name for name in GITHUB_APP_ENV if os.environ.get(name)]
    if not present:
        return None
    missing = [name for name in GITHUB_APP_ENV if name not in present]
    if missing:
        raise pulumi.RunError(
            f"{', '.join(present)} set without {', '.join(missing)}: the GitHub provider "
            f"authenticates as a GitHub App with all of {', '.join(GITHUB_APP_ENV)} "
            f"(GITHUB_APP_PEM_FILE: the key's PEM text), or with {GITHUB_TOKEN_ENV}"
        )
    return cast(github.ProviderAppAuthArgsDict, {})  # empty: its fields are read from the env


class FluxCluster(pulumi.ComponentResource):
    """Connects to the EKS cluster, generates and registers the deploy keys, installs Flux, and
    reports on it. The component is named after the cluster (and the stack)."""

    def __init__(self, args: FluxClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        name = self.cluster = args.name
        super().__init__(component_type("FluxCluster"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.connection = EksConnection(f"{name}-eks", args.eks, opts=child)
        k8s_provider = self.connection.k8s_provider
        # Flux controllers' AWS roles: the cluster side of ECR pulls (node-role policy, controller
        # roles; the registries stack writes the repository policies), and kustomize-controller's
        # for SOPS decryption with the cluster's KMS keys.
        aws_provider, oidc_issuer = self.connection.aws_provider, self.connection.oidc_issuer
        identity = self.connection.cluster_identity
        self.ecr: EcrAccess | None = None
        self.sops: SopsAccess | None = None
        if args.ecr is not None:
            self.ecr = EcrAccess(
                f"{name}-ecr",
                args.ecr,
                aws_provider=aws_provider,
                oidc_issuer=oidc_issuer,
                cluster_identity=identity,
                opts=child,
            )
        if args.sops is not None:
            self.sops = SopsAccess(
                f"{name}-sops",
                args.sops,
                aws_provider=aws_provider,
                oidc_issuer=oidc_issuer,
                cluster_identity=identity,
                opts=child,
            )
        self._github: dict[str, github.Provider] = {}
        self._github_api_url = args.github_api_url

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-flux-system",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=FLUX_NAMESPACE,
                labels=args.namespace_labels,
                annotations=args.namespace_annotations or None,
            ),
            # Kept on destroy: deleting the namespace would take Flux's objects with it.
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, retain_on_delete=True),
        )

        # The fleet's GitHub App: every Secret holds its credentials, read once.
        app_data = (
            github_app_secret_data(args.github_app, aws_provider, self)
            if args.github_app is not None
            else None
        )

        def deploy_key(key_name: str, key: DeployKeyArgs, owner: str) -> DeployKey:
            return DeployKey(
                key_name,
                key,
                # no deploy key to register with the App: no GitHub provider either
                github_provider=self.github_provider(owner) if app_data is None else None,
                k8s_provider=k8s_provider,
                github_app=app_data,
                depends_on=[self.namespace],
                opts=child,
            )

        self.fleet_key: DeployKey | None = None
        self.github_app: k8s.core.v1.Secret | None = None
        if args.fleet_key is not None:
            self.fleet_key = deploy_key(f"{name}-fleet-key", args.fleet_key, args.fleet_owner)
        elif args.syncs_git:  # the fleet's GitHub App: its own Secret, so a switch creates
            assert app_data is not None  # it before moving
            self.github_app = k8s.core.v1.Secret(
                f"{name}-github-app",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=GITHUB_APP_SECRET_NAME, namespace=FLUX_NAMESPACE, labels=dict(MANAGED_BY)
                ),
                type="Opaque",
                string_data=app_data,
                opts=pulumi.ResourceOptions(
                    parent=self, provider=k8s_provider, depends_on=[self.namespace]
                ),
            )
        self.app_keys = {
            app.name: deploy_key(f"{name}-app-{app.name}", app.key, app.owner)
            for app in args.app_keys
        }

        self.flux = Flux(
            f"{name}-flux",
            args.flux,
            k8s_provider=k8s_provider,
            namespace=self.namespace,
            aws_provider=aws_provider,
            before=[
                *([self.fleet_key.secret] if self.fleet_key else []),
                *([self.github_app] if self.github_app else []),
                *(k.secret for k in self.app_keys.values()),
                *(self.ecr.associations if self.ecr else []),
                *(self.sops.associations if self.sops else []),
            ],
            service_account_roles={
                **(self.ecr.service_account_roles if self.ecr else {}),
                **(self.sops.service_account_roles if self.sops else {}),
            }
            or None,
            oidc_issuer=oidc_issuer,
            opts=child,
        )

        # Slack alerts, Grafana dashboards, Prometheus scraping: once Flux (and its CRDs) is Ready.
        self.observability = Observability(
            f"{name}-observability",
            args.observability,
            k8s_provider=k8s_provider,
            aws_provider=aws_provider,
            flux_instance=self.flux.instance,
            opts=child,
        )

        self.outputs: dict[str, Any] = dict(args.outputs)
        if self.fleet_key is not None:
            self.outputs["deployKeyPublicKey"] = self.fleet_key.public_key
            self.outputs["deployKeyFingerprint"] = self.fleet_key.fingerprint
        self.register_outputs(self.outputs)

    def github_provider(self, owner: str) -> github.Provider:
        """One GitHub provider per owner, with no credential among its inputs: the provider
        reads GITHUB_TOKEN (or, with `appAuth`, GITHUB_APP_*) when each command configures it.
        `destroy` and `refresh` configure it from the state, so a token stored there would be
        the (expired) one of the last `up`, and a new token each run would show as a change."""
        if owner not in self._github:
            with _hidden(GITHUB_TOKEN_ENV):
                self._github[owner] = github.Provider(
                    f"{self.cluster}-github-{owner.lower()}",
                    owner=owner,
                    base_url=self._github_api_url,
                    app_auth=github_app_auth(),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        return self._github[owner]
