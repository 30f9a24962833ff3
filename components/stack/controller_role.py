"""The AWS role of one Flux controller (IRSA or EKS Pod Identity), shared by the components that
give controllers AWS access (EcrAccess, SopsAccess)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.builders.controller_role import RoleTrust, trust_policy
from components.names import FLUX_NAMESPACE
from components.stack.policy_document import policy_json


@dataclass(frozen=True)
class ControllerRoleArgs:
    controller: str
    role_name: str
    trust: RoleTrust  # who may assume it (IRSA: with the OIDC issuer, read at apply time)
    permissions: dict[str, Any]
    purpose: str = "pulls from ECR"  # in the role's description
    policy_name: str = "ecr-pull"  # of the inline policy
    policy_suffix: str = "pull"  # of its resource name


@dataclass
class ControllerRole:
    role: aws.iam.Role
    # IRSA: the role's ARN, known once its permissions are attached (the FluxInstance annotates
    # the ServiceAccount with it); None with Pod Identity
    service_account_role: pulumi.Output[str] | None
    # Pod Identity: what binds the role to the ServiceAccount (the FluxInstance waits for it)
    association: aws.eks.PodIdentityAssociation | None


def controller_role(
    name: str,
    args: ControllerRoleArgs,
    *,
    cluster: str,
    eks_cluster_name: str,
    oidc_issuer: pulumi.Input[str],
    cluster_identity: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    invoke: pulumi.InvokeOutputOptions,
) -> ControllerRole:
    """Role `name`, its inline policy `<name>-<args.policy_suffix>`, and with Pod Identity the
    association `<name>-pod-identity` (`opts`: parent and AWS provider), replaced with the
    cluster (`cluster_identity`: EKS deletes its associations with it)."""
    controller = args.controller
    trust: pulumi.Input[Mapping[str, Any]] = (
        trust_policy(args.trust, controller, None)
        if args.trust.pod_identity
        else pulumi.Output.from_input(oidc_issuer).apply(
            lambda issuer: trust_policy(args.trust, controller, issuer)
        )
    )
    how = "EKS Pod Identity" if args.trust.pod_identity else "IRSA"
    role = aws.iam.Role(
        name,
        name=args.role_name,
        description=f"flux-fleet: {controller} of {cluster} {args.purpose} ({how})",
        assume_role_policy=policy_json(trust, invoke),
        opts=opts,
    )
    permissions = aws.iam.RolePolicy(
        f"{name}-{args.policy_suffix}",
        name=args.policy_name,
        role=role.name,
        policy=policy_json(args.permissions, invoke),
        opts=opts,
    )
    if args.trust.pod_identity:  # the association, not an annotation, binds it
        association = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=eks_cluster_name,
            namespace=FLUX_NAMESPACE,
            service_account=controller,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=[permissions], replacement_trigger=cluster_identity
                ),
            ),
        )
        return ControllerRole(role, None, association)
    arn = pulumi.Output.all(role.arn, permissions.id).apply(lambda values: values[0])
    return ControllerRole(role, arn, None)
