"""SopsAccess: kustomize-controller's AWS role, allowed to decrypt with the cluster's SOPS keys."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.names import component_type
from components.stack.controller_role import ControllerRoleArgs, controller_role


@dataclass(frozen=True)
class SopsAccessArgs:
    cluster: str
    eks_cluster_name: str
    role: ControllerRoleArgs  # kustomize-controller's: decrypt with the KMS keys


class SopsAccess(pulumi.ComponentResource):
    """One role (IRSA or EKS Pod Identity, like the ECR roles) with exactly kms:Decrypt and
    kms:DescribeKey on spec.sops.kmsKeyArns. A key of another account also needs its owner to
    allow the role in the key policy (the stack output sopsKeyPolicyStatements)."""

    def __init__(
        self,
        name: str,
        args: SopsAccessArgs,
        *,
        aws_provider: aws.Provider,
        oidc_issuer: pulumi.Input[str],
        cluster_identity: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("SopsAccess"), name, None, opts)
        made = controller_role(
            f"{name}-{args.role.controller}",
            args.role,
            cluster=args.cluster,
            eks_cluster_name=args.eks_cluster_name,
            oidc_issuer=oidc_issuer,
            cluster_identity=cluster_identity,
            opts=pulumi.ResourceOptions(parent=self, provider=aws_provider),
            invoke=pulumi.InvokeOutputOptions(parent=self, provider=aws_provider),
        )
        self.role = made.role
        self.service_account_roles = (
            {args.role.controller: made.service_account_role}
            if made.service_account_role is not None
            else {}
        )
        self.associations = [made.association] if made.association is not None else []
        self.register_outputs({"role": made.role.arn})
