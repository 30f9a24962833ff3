"""EcrAccess: the cluster side of ECR pulls, in the cluster's account.

The repository policies (registry side) belong to the registries stack; this grants the
cluster's own identities what an identity policy must: `ecr:GetAuthorizationToken` and the pull
actions on the pulled repositories. Node roles get a managed policy; the Flux controllers that
reach ECR themselves get an IRSA role each, trusted only by their ServiceAccount.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from .ecr import (
    irsa_controllers,
    irsa_permissions,
    irsa_role_name,
    irsa_trust_policy,
    node_policy_name,
    node_pull_policy,
)
from .model import Cluster
from .policy_document import policy_json
from .registries_model import Registry, partition_of


class EcrAccess(pulumi.ComponentResource):
    """Node-role policy (when `spec.ecr.nodeRoleNames`) and IRSA roles (image-reflector-controller
    when it runs, source-controller when `spec.ecr.ociSources`).

    `service_account_roles` maps each controller to its role ARN, resolved only once the role's
    permissions are attached: the FluxInstance patches the ServiceAccounts with it.
    """

    service_account_roles: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        cluster: Cluster,
        registries: Mapping[str, Registry],
        *,
        aws_provider: aws.Provider,
        oidc_issuer: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("flux-fleet:index:EcrAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=aws_provider)
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=aws_provider)
        account = cluster.spec.aws.account_id
        partition = partition_of(cluster.spec.aws.region)

        self.node_policy: aws.iam.Policy | None = None
        if cluster.spec.ecr.node_role_names:
            self.node_policy = aws.iam.Policy(
                f"{name}-nodes",
                name=node_policy_name(cluster),
                description=f"flux-fleet: pull the ECR repositories {cluster.name} declares",
                policy=policy_json(node_pull_policy(cluster, registries), invoke),
                opts=child,
            )
            for role_name in cluster.spec.ecr.node_role_names:
                aws.iam.RolePolicyAttachment(
                    f"{name}-nodes-{role_name}",
                    role=role_name,
                    policy_arn=self.node_policy.arn,
                    opts=child,
                )

        self.roles: dict[str, aws.iam.Role] = {}
        self.service_account_roles = {}
        for controller in irsa_controllers(cluster):
            trust = pulumi.Output.from_input(oidc_issuer).apply(
                functools.partial(
                    irsa_trust_policy,
                    account_id=account,
                    controller=controller,
                    partition=partition,
                )
            )
            role = aws.iam.Role(
                f"{name}-{controller}",
                name=irsa_role_name(cluster, controller),
                description=f"flux-fleet: {controller} of {cluster.name} pulls from ECR (IRSA)",
                assume_role_policy=policy_json(trust, invoke),
                opts=child,
            )
            permissions = aws.iam.RolePolicy(
                f"{name}-{controller}-pull",
                name="ecr-pull",
                role=role.name,
                policy=policy_json(irsa_permissions(cluster, registries, controller), invoke),
                opts=child,
            )
            self.roles[controller] = role
            self.service_account_roles[controller] = pulumi.Output.all(
                role.arn, permissions.id
            ).apply(lambda values: values[0])

        self.register_outputs(
            {
                "nodePolicyArn": self.node_policy.arn if self.node_policy else None,
                "serviceAccountRoles": self.service_account_roles,
            }
        )
