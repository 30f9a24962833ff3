"""EksConnection: the AWS provider of the cluster's account and the cluster's k8s provider."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .aws_account import account_provider
from .day2 import upsert_existing_objects
from .manifests import kubeconfig
from .model import Cluster
from .outputs import secret


class EksConnection(pulumi.ComponentResource):
    """Reaches one EKS cluster: endpoint and CA looked up, token from `aws eks get-token`.

    Every Kubernetes object of the stack goes through `self.k8s_provider`; nothing uses an
    ambient kubeconfig.
    """

    aws_provider: aws.Provider
    k8s_provider: k8s.Provider
    oidc_issuer: pulumi.Output[str]

    def __init__(
        self, name: str, cluster: Cluster, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("flux-fleet:index:EksConnection", name, None, opts)
        a = cluster.spec.aws
        self.aws_provider = account_provider(
            f"{name}-aws",
            account_id=a.account_id,
            region=a.region,
            role_arn=a.role_arn,
            parent=self,
        )
        eks = aws.eks.get_cluster_output(
            name=cluster.eks_cluster_name,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws_provider),
        )
        config = pulumi.Output.all(eks.endpoint, eks.certificate_authorities).apply(
            lambda args: json.dumps(
                kubeconfig(
                    endpoint=args[0],
                    certificate_authority=args[1][0]["data"],
                    eks_cluster_name=cluster.eks_cluster_name,
                    region=a.region,
                    role_arn=a.role_arn,
                )
            )
        )
        self.oidc_issuer = eks.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=secret(config),
            # The provider (and every object through it) is replaced only when the cluster itself
            # is: a rebuilt cluster has a new ARN creation time; a changed role or CA rotation is
            # an in-place update.
            cluster_identifier=pulumi.Output.concat(eks.arn, "@", eks.created_at),
            enable_server_side_apply=True,
            # Taking over a bootstrapped cluster (spec.flux.adopt): creates of objects that
            # already exist update them instead of failing; see components/day2.py for why.
            # deleteUnreachable is never set here: PULUMI_K8S_DELETE_UNREACHABLE, at destroy.
            upsert_existing_objects=upsert_existing_objects(cluster),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"endpoint": eks.endpoint})
