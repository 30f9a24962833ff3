"""EcrAccess: the cluster side of ECR pulls, in the cluster's account.

The repository policies (registry side) belong to the registries stack; this grants the
cluster's own identities what an identity policy must: `ecr:GetAuthorizationToken` and the pull
actions on the pulled repositories. Node roles get a managed policy; the Flux controllers that
reach ECR themselves get a role each (stack/controller_role.py), by IRSA or EKS Pod Identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.names import component_type
from components.stack.controller_role import ControllerRoleArgs, controller_role
from components.stack.policy_document import policy_json


@dataclass(frozen=True)
class EcrAccessArgs:
    cluster: str
    eks_cluster_name: str
    node_policy_name: str
    node_policy: dict[str, Any]
    node_role_names: Sequence[str]  # none: no node policy
    roles: Sequence[ControllerRoleArgs]


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
        args: EcrAccessArgs,
        *,
        aws_provider: aws.Provider,
        oidc_issuer: pulumi.Input[str],
        cluster_identity: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("EcrAccess"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=aws_provider)
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=aws_provider)

        self.node_policy: aws.iam.Policy | None = None
        if args.node_role_names:
            self.node_policy = aws.iam.Policy(
                f"{name}-nodes",
                name=args.node_policy_name,
                description=f"flux-fleet: pull the ECR repositories {args.cluster} declares",
                policy=policy_json(args.node_policy, invoke),
                opts=child,
            )
            for role_name in args.node_role_names:
                aws.iam.RolePolicyAttachment(
                    f"{name}-nodes-{role_name}",
                    role=role_name,
                    policy_arn=self.node_policy.arn,
                    opts=child,
                )

        self.roles: dict[str, aws.iam.Role] = {}
        self.service_account_roles = {}
        # Pod Identity: the controllers start (with the FluxInstance) once these exist
        self.associations: list[aws.eks.PodIdentityAssociation] = []
        for role_args in args.roles:
            made = controller_role(
                f"{name}-{role_args.controller}",
                role_args,
                cluster=args.cluster,
                eks_cluster_name=args.eks_cluster_name,
                oidc_issuer=oidc_issuer,
                cluster_identity=cluster_identity,
                opts=child,
                invoke=invoke,
            )
            self.roles[role_args.controller] = made.role
            if made.service_account_role is not None:
                self.service_account_roles[role_args.controller] = made.service_account_role
            if made.association is not None:
                self.associations.append(made.association)

        self.register_outputs(
            {
                "nodePolicyArn": self.node_policy.arn if self.node_policy else None,
                "serviceAccountRoles": self.service_account_roles,
            }
        )
