"""EcrAccess: the cluster side of ECR pulls, in the cluster's account.

The repository policies (registry side) belong to the registries stack; this grants the
cluster's own identities what an identity policy must: `ecr:GetAuthorizationToken` and the pull
actions on the pulled repositories. Node roles get a managed policy; the Flux controllers that
reach ECR themselves get an IRSA role each, trusted only by their ServiceAccount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from components.names import FLUX_NAMESPACE, component_type
from components.stack.args import EcrAccessArgs
from components.stack.policy_document import policy_json


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
        for irsa in args.roles:
            controller = irsa.controller
            trust: pulumi.Input[Mapping[str, Any]] = (
                irsa.trust_policy
                if isinstance(irsa.trust_policy, dict)
                else pulumi.Output.from_input(oidc_issuer).apply(irsa.trust_policy)
            )
            how = "EKS Pod Identity" if args.pod_identity else "IRSA"
            role = aws.iam.Role(
                f"{name}-{controller}",
                name=irsa.role_name,
                description=f"flux-fleet: {controller} of {args.cluster} pulls from ECR ({how})",
                assume_role_policy=policy_json(trust, invoke),
                opts=child,
            )
            permissions = aws.iam.RolePolicy(
                f"{name}-{controller}-pull",
                name="ecr-pull",
                role=role.name,
                policy=policy_json(irsa.permissions, invoke),
                opts=child,
            )
            self.roles[controller] = role
            if args.pod_identity:  # the association, not an annotation, binds the ServiceAccount
                self.associations.append(
                    aws.eks.PodIdentityAssociation(
                        f"{name}-{controller}-pod-identity",
                        cluster_name=args.eks_cluster_name,
                        namespace=FLUX_NAMESPACE,
                        service_account=controller,
                        role_arn=role.arn,
                        opts=pulumi.ResourceOptions.merge(
                            child, pulumi.ResourceOptions(depends_on=[permissions])
                        ),
                    )
                )
                continue
            self.service_account_roles[controller] = pulumi.Output.all(
                role.arn, permissions.id
            ).apply(lambda values: values[0])

        self.register_outputs(
            {
                "nodePolicyArn": self.node_policy.arn if self.node_policy else None,
                "serviceAccountRoles": self.service_account_roles,
            }
        )
