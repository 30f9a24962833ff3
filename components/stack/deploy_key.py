"""DeployKey: a key pair, its deploy key on GitHub, and the Secret Flux pulls with (or, with the
GitHub App, the Secret alone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_github as github
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.builders.git_access import KEY_ALGORITHMS, deploy_key_title, git_secret_string_data
from components.builders.recovery import adoption_annotations
from components.names import MANAGED_BY, component_type
from components.stack.outputs import secret


@dataclass(frozen=True)
class DeployKeyArgs:
    cluster: str
    purpose: str  # "fleet" or an application repository's name, for the title
    repository: str
    algorithm: str
    rotation: int
    read_only: bool
    secret_name: str
    namespace: str
    known_hosts: str  # the Git host's keys, in the Secret
    adopt: bool = False  # the Secret exists (flux bootstrap's): its create takes it over


class DeployKey(pulumi.ComponentResource):
    """One key per cluster and repository (GitHub refuses a public key used twice).

    Rotation: the key pair and deploy key carry the rotation number (and `-rw` when read-write)
    in their names, the Secret does not. Bumping it creates the new pair and deploy key,
    updates the Secret in place, and only then (Pulumi deletes removed resources last) deletes
    the old deploy key.

    With the fleet's GitHub App (`github_app`: the Secret's data), only the Secret, holding the
    App's credentials: an application repository's Secret stays the same resource in both modes.
    """

    secret: k8s.core.v1.Secret

    def __init__(
        self,
        name: str,
        args: DeployKeyArgs,
        *,
        github_provider: github.Provider | None,
        k8s_provider: k8s.Provider,
        github_app: pulumi.Output[dict[str, str]] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("DeployKey"), name, None, opts)
        self.public_key: pulumi.Output[str] | None = None
        self.fingerprint: pulumi.Output[str] | None = None
        before: list[pulumi.Resource] = []
        if github_app is not None:  # the fleet's GitHub App: no key of its own
            string_data: pulumi.Output[Any] = github_app
        else:
            assert github_provider is not None
            # A read-write key is another key pair: GitHub cannot change a deploy key's access,
            # so flipping it replaces the deploy key, delete-first (pulumi-github), and with the
            # same public key a create-first would be refused. A new name makes the flip a
            # rotation: new pair and deploy key, the Secret updated, the old key deleted last.
            versioned = f"{name}-r{args.rotation}{'' if args.read_only else '-rw'}"
            key = tls.PrivateKey(
                versioned,
                **KEY_ALGORITHMS[args.algorithm],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.public_key = key.public_key_openssh.apply(str.strip)
            self.fingerprint = key.public_key_fingerprint_sha256
            deploy_key = github.RepositoryDeployKey(
                versioned,
                repository=args.repository,
                title=deploy_key_title(args.cluster, args.purpose, args.rotation, args.read_only),
                key=self.public_key,
                read_only=args.read_only,
                opts=pulumi.ResourceOptions(parent=self, provider=github_provider),
            )
            before.append(deploy_key)  # on GitHub before Flux is handed the private key
            string_data = pulumi.Output.all(key.private_key_openssh, self.public_key).apply(
                lambda keys: git_secret_string_data(keys[0], keys[1], args.known_hosts)
            )
        self.secret = k8s.core.v1.Secret(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.secret_name,
                namespace=args.namespace,
                labels=dict(MANAGED_BY),
                annotations=adoption_annotations(args.adopt) or None,
            ),
            type="Opaque",
            string_data=secret(string_data),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=k8s_provider,
                depends_on=[*before, *(depends_on or [])],
            ),
        )
        self.register_outputs(
            {
                "publicKey": self.public_key,
                "fingerprint": self.fingerprint,
                "secret": args.secret_name,
            }
        )
