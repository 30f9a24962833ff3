"""EksConnection: the AWS provider of the cluster's account and the cluster's k8s provider."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.builders.eks import kubeconfig
from components.names import component_type
from components.stack.access_wait import after_access
from components.stack.aws_account import account_provider
from components.stack.outputs import secret


@dataclass(frozen=True)
class EksConnectionArgs:
    account_id: str
    region: str
    role_arn: str | None
    eks_cluster_name: str
    upsert_existing_objects: bool | None  # spec.flux.adopt: creates of existing objects update
    # spec.aws.accessEntry: (principal ARN, access policy ARN), made before any Kubernetes object
    access_entry: tuple[str, str] | None = None


class EksConnection(pulumi.ComponentResource):
    """Reaches one EKS cluster: endpoint and CA looked up, token from `aws eks get-token`.

    Every Kubernetes object of the stack goes through `self.k8s_provider`; nothing uses an
    ambient kubeconfig.
    """

    aws_provider: aws.Provider
    k8s_provider: k8s.Provider
    oidc_issuer: pulumi.Output[str]
    # The cluster's identity, its ARN and creation time: a cluster deleted and created again
    # under the same name has a new one.
    cluster_identity: pulumi.Output[str]

    def __init__(
        self, name: str, args: EksConnectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("EksConnection"), name, None, opts)
        self.aws_provider = account_provider(
            f"{name}-aws",
            account_id=args.account_id,
            region=args.region,
            role_arn=args.role_arn,
            parent=self,
        )
        eks = aws.eks.get_cluster_output(
            name=args.eks_cluster_name,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws_provider),
        )
        config = pulumi.Output.all(eks.endpoint, eks.certificate_authorities).apply(
            lambda values: json.dumps(
                kubeconfig(
                    endpoint=values[0],
                    certificate_authority=values[1][0]["data"],
                    eks_cluster_name=args.eks_cluster_name,
                    region=args.region,
                    role_arn=args.role_arn,
                )
            )
        )
        self.oidc_issuer = eks.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
        self.cluster_identity = pulumi.Output.concat(eks.arn, "@", eks.created_at)
        # The deployer's access to the cluster, before any Kubernetes object (each goes through
        # the provider below, which waits for it).
        access: list[pulumi.Resource] = []
        if args.access_entry is not None:
            principal, policy = args.access_entry
            # EKS deletes the entry with the cluster: a rebuilt cluster (new identity) gets it
            # again. Delete-first: the old entry's ID (cluster name, principal) also names the
            # new one, and deleting an entry that is gone succeeds.
            on_aws = pulumi.ResourceOptions(
                parent=self,
                provider=self.aws_provider,
                replacement_trigger=self.cluster_identity,
                delete_before_replace=True,
            )
            entry = aws.eks.AccessEntry(
                f"{name}-access",
                cluster_name=args.eks_cluster_name,
                principal_arn=principal,
                type="STANDARD",
                opts=on_aws,
            )
            association = aws.eks.AccessPolicyAssociation(
                f"{name}-access-policy",
                cluster_name=args.eks_cluster_name,
                principal_arn=principal,
                policy_arn=policy,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions.merge(
                    on_aws, pulumi.ResourceOptions(depends_on=[entry])
                ),
            )
            access.append(association)
            # The provider probes the cluster once: a new entry must work first (bounded).
            config = pulumi.Output.all(config, association.associated_at).apply(
                lambda values: after_access(values[0], values[1], args.eks_cluster_name)
            )
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=secret(config),
            # The provider (and every object through it) is replaced only when the cluster itself
            # is: a rebuilt cluster has a new ARN creation time; a changed role or CA rotation is
            # an in-place update.
            cluster_identifier=self.cluster_identity,
            enable_server_side_apply=True,
            # A Secret's data is updated in place, not replaced: pulumi-kubernetes replaces a
            # Secret whose data changed unless this is on, and a named object is replaced
            # delete-first, so a key rotation would leave Flux without its Secret for a moment.
            enable_secret_mutable=True,
            # Taking over a bootstrapped cluster (spec.flux.adopt): creates of objects that
            # already exist update them instead of failing (builders/recovery.py).
            # deleteUnreachable is never set here: PULUMI_K8S_DELETE_UNREACHABLE, at destroy.
            upsert_existing_objects=args.upsert_existing_objects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=access or None),
        )
        self.register_outputs({"endpoint": eks.endpoint})
