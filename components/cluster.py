"""FluxCluster: everything one cluster stack creates."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_github as github
import pulumi_kubernetes as k8s

from .day2 import adoption_annotations
from .deploy_key import DeployKey, DeployKeyArgs
from .ecr_access import EcrAccess
from .eks import EksConnection
from .flux import Flux
from .manifests import FLUX_NAMESPACE, FLUX_SECRET_NAME, ssh_url
from .model import Cluster
from .observability import Observability
from .registries_model import Registry


class FluxCluster(pulumi.ComponentResource):
    """Connects to the EKS cluster, generates and registers the deploy key, installs Flux."""

    def __init__(
        self,
        cluster: Cluster,
        opts: pulumi.ResourceOptions | None = None,
        *,
        registries: Mapping[str, Registry] | None = None,
    ) -> None:
        name = cluster.name
        super().__init__("flux-fleet:index:FluxCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = cluster.spec

        self.connection = EksConnection(f"{name}-eks", cluster, opts=child)
        k8s_provider = self.connection.k8s_provider
        # The cluster side of ECR pulls (node-role policy, IRSA roles); the registries stack
        # writes the repository policies.
        self.ecr = (
            EcrAccess(
                f"{name}-ecr",
                cluster,
                registries or {},
                aws_provider=self.connection.aws_provider,
                oidc_issuer=self.connection.oidc_issuer,
                opts=child,
            )
            if spec.ecr.pull
            else None
        )
        self._github: dict[str, github.Provider] = {}

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-flux-system",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=FLUX_NAMESPACE,
                labels={"app.kubernetes.io/part-of": "flux", "flux-fleet/cluster": name},
                annotations=adoption_annotations(spec.flux.adopt) or None,
            ),
            # Kept on destroy: deleting the namespace would take Flux's objects with it.
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, retain_on_delete=True),
        )

        self.fleet_key = DeployKey(
            f"{name}-fleet-key",
            DeployKeyArgs(
                cluster=name,
                purpose="fleet",
                repository=spec.git.repository,
                algorithm=spec.flux.deploy_key.algorithm,
                rotation=spec.flux.deploy_key.rotation,
                read_only=not spec.flux.pushes_to_git,
                secret_name=FLUX_SECRET_NAME,
                namespace=FLUX_NAMESPACE,
                adopt=spec.flux.adopt,  # the bootstrap's flux-system Secret is taken over
            ),
            github_provider=self.github_provider(spec.git.owner),
            k8s_provider=k8s_provider,
            depends_on=[self.namespace],
            opts=child,
        )

        # One key per application repository (GitHub refuses a public key used twice), always
        # read-only. Its GitRepository lives in Git (flux/clusters/<name>/<app>.yaml).
        self.app_keys = {
            app.name: DeployKey(
                f"{name}-app-{app.name}",
                DeployKeyArgs(
                    cluster=name,
                    purpose=app.name,
                    repository=app.repository,
                    algorithm=spec.flux.deploy_key.algorithm,
                    rotation=spec.flux.deploy_key.rotation,
                    read_only=True,
                    secret_name=app.pull_secret,
                    namespace=FLUX_NAMESPACE,
                ),
                github_provider=self.github_provider(app.owner_or(spec.git.owner)),
                k8s_provider=k8s_provider,
                depends_on=[self.namespace],
                opts=child,
            )
            for app in spec.apps
        }

        self.flux = Flux(
            f"{name}-flux",
            cluster,
            k8s_provider=k8s_provider,
            namespace=self.namespace,
            pull_secrets=[self.fleet_key.secret, *(k.secret for k in self.app_keys.values())],
            service_account_roles=self.ecr.service_account_roles if self.ecr else None,
            opts=child,
        )

        # Slack alerts, Grafana dashboards, Prometheus scraping: once Flux (and its CRDs) is Ready.
        self.observability = Observability(
            f"{name}-observability",
            cluster,
            k8s_provider=k8s_provider,
            flux_instance=self.flux.instance,
            opts=child,
        )

        self.outputs: dict[str, pulumi.Input[str]] = {
            "clusterName": name,
            "fluxVersion": spec.flux.version,
            "syncUrl": ssh_url(spec.git.owner, spec.git.repository),
            "syncPath": cluster.git_path,
            "deployKeyPublicKey": self.fleet_key.public_key,
            "deployKeyFingerprint": self.fleet_key.fingerprint,
        }
        self.register_outputs(self.outputs)

    def github_provider(self, owner: str) -> github.Provider:
        """One GitHub provider per owner; credentials come from GITHUB_TOKEN or GITHUB_APP_*."""
        if owner not in self._github:
            self._github[owner] = github.Provider(
                f"{self._name}-github-{owner.lower()}",
                owner=owner,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return self._github[owner]
