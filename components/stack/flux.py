"""Flux: the flux-operator Helm release and the FluxInstance that installs and syncs Flux."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.builders.flux import READY_TIMEOUT_SECONDS, FluxOptions, flux_instance
from components.builders.registry_access import (
    DOCKER_CONFIG_TYPE,
    MirrorOptions,
    chart_credentials,
    pull_secret_metadata,
    pull_secret_string_data,
)
from components.builders.runtime_info import (
    RuntimeInfoOptions,
    runtime_info_configmap,
    runtime_info_data,
)
from components.names import FLUX_NAMESPACE, component_type
from components.stack.aws_secret import aws_secret


@dataclass(frozen=True)
class FluxArgs:
    operator_chart: str
    operator_version: str
    operator_values: dict[str, Any]
    # The FluxInstance's options: the component builds it, adding the controllers' IRSA role
    # ARNs once the roles exist (builders/flux.py, flux_instance).
    instance: FluxOptions
    # spec.flux.runtimeInfo: the ConfigMap flux-runtime-info, built once the EKS OIDC issuer is
    # known (builders/runtime_info.py); None: off
    runtime_info: RuntimeInfoOptions | None = None
    # spec.flux's mirrors: the pull Secret made from credentialFrom, the chart registry's login
    # (builders/registry_access.py); the default: neither
    mirror: MirrorOptions = field(default_factory=MirrorOptions)


def chart_login_ignored(logs_in: bool, dry_run: bool) -> list[str] | None:
    """What a preview ignores of the Release: the chart registry's credentials. An ECR token is
    new on every run, so without this every `pulumi preview` (the daily drift check's
    `--expect-no-changes` included) would show the Release changed; `pulumi up` (not a dry run)
    ignores nothing, so an install or upgrade always pulls with a fresh token (and records a
    Helm revision of the same chart when nothing else changed)."""
    return ["repositoryOpts"] if logs_in and dry_run else None


class Flux(pulumi.ComponentResource):
    """Operator first, then the instance; destroy runs the other way round.

    The FluxInstance depends on the operator release, so `pulumi destroy` deletes the instance
    while the operator is still there to uninstall Flux (without deleting what Flux deployed),
    and only then removes the operator.
    """

    instance: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        args: FluxArgs,
        *,
        k8s_provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        aws_provider: pulumi.ProviderResource,  # the cluster's: reads credentials, ECR tokens
        before: list[pulumi.Resource],  # the Secrets it pulls with, Pod Identity associations
        service_account_roles: Mapping[str, pulumi.Input[str]] | None = None,
        oidc_issuer: pulumi.Input[str] | None = None,  # for spec.flux.runtimeInfo
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("Flux"), name, None, opts)
        # spec.flux.registry.credentialFrom: the mirror's pull Secret, before the operator's pod
        # and the FluxInstance that pull with it
        self.pull_secret: k8s.core.v1.Secret | None = None
        mirror, credential = args.mirror, args.mirror.credential
        metadata = pull_secret_metadata(mirror)
        if metadata is not None and credential is not None:
            data: pulumi.Output[Any] = aws_secret(credential, aws_provider, self).apply(
                lambda password: pull_secret_string_data(mirror, password)
            )
            self.pull_secret = k8s.core.v1.Secret(
                f"{name}-registry-pull-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(**metadata),
                type=DOCKER_CONFIG_TYPE,
                string_data=pulumi.Output.secret(data),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=k8s_provider, depends_on=[namespace]
                ),
            )
            before = [*before, self.pull_secret]
        login = self._chart_login(args.mirror, aws_provider)
        self.operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name="flux-operator",
            chart=args.operator_chart,
            version=args.operator_version,
            namespace=FLUX_NAMESPACE,
            create_namespace=False,
            values=args.operator_values,
            repository_opts=login,
            atomic=True,
            timeout=READY_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=k8s_provider,
                depends_on=[namespace, *([self.pull_secret] if self.pull_secret else [])],
                ignore_changes=chart_login_ignored(login is not None, pulumi.runtime.is_dry_run()),
            ),
        )
        # spec.flux.runtimeInfo: the facts the sync Kustomization substitutes, there before the
        # instance (a Kustomization substituting from a missing ConfigMap fails)
        self.runtime_info: k8s.core.v1.ConfigMap | None = None
        if args.runtime_info is not None:
            assert oidc_issuer is not None
            facts = args.runtime_info
            data = pulumi.Output.from_input(oidc_issuer).apply(
                lambda issuer: runtime_info_data(facts, issuer)
            )
            self.runtime_info = k8s.core.v1.ConfigMap(
                f"{name}-runtime-info",
                # the data alone waits for the issuer
                metadata=runtime_info_configmap({})["metadata"],
                data=data,
                opts=pulumi.ResourceOptions(
                    parent=self, provider=k8s_provider, depends_on=[namespace]
                ),
            )
            before = [*before, self.runtime_info]
        timeout = args.instance.ready_timeout_seconds
        desired = flux_instance(args.instance)
        spec: pulumi.Input[dict[str, Any]] = desired["spec"]
        if service_account_roles:  # IRSA role ARNs (Outputs): patched onto the ServiceAccounts
            spec = pulumi.Output.all(**service_account_roles).apply(
                lambda arns: flux_instance(args.instance, service_account_roles=arns)["spec"]
            )
        self.instance = k8s.apiextensions.CustomResource(
            f"{name}-instance",
            api_version=desired["apiVersion"],
            kind=desired["kind"],
            metadata=desired["metadata"],
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=k8s_provider,
                depends_on=[self.operator, *before],
                custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout}s", update=f"{timeout}s"),
            ),
        )
        self.register_outputs({"version": args.instance.version})

    def _chart_login(
        self, mirror: MirrorOptions, aws_provider: pulumi.ProviderResource
    ) -> k8s.helm.v3.RepositoryOptsArgs | None:
        """The chart registry's credentials, Pulumi secrets, for the Release's repositoryOpts:
        pulumi-kubernetes (>= 4.27, `getChart` in provider/pkg/provider/helm_release.go and
        `NewRegistryClient` in provider/pkg/helm/tool.go) logs in to an `oci://` chart's host
        with them through a credential store in a temporary directory it removes once the chart
        is fetched: no `helm registry login`, nothing left on the deployer's disk.

        ECR: an authorization token of the cluster's account (the deployer's identity there,
        which the registries stack grants the chart's repository across accounts), for the
        chart registry's region; a token lasts 12 hours, so each run gets a new one."""
        login = chart_credentials(mirror)
        if login is None:
            return None
        opts = pulumi.InvokeOutputOptions(provider=aws_provider, parent=self)
        if login.ecr is not None:
            account, region = login.ecr
            token = aws.ecr.get_authorization_token_output(
                registry_id=account, region=region, opts=opts
            )
            username, password = token.user_name, token.password
        else:
            assert login.credential is not None
            username = pulumi.Output.from_input(login.credential.username)
            password = aws_secret(login.credential, aws_provider, self)
        return k8s.helm.v3.RepositoryOptsArgs(
            username=pulumi.Output.secret(username), password=pulumi.Output.secret(password)
        )
