"""Flux: the flux-operator Helm release and the FluxInstance that installs and syncs Flux."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.flux import READY_TIMEOUT_SECONDS, FluxOptions, flux_instance
from components.builders.runtime_info import (
    RuntimeInfoOptions,
    runtime_info_configmap,
    runtime_info_data,
)
from components.names import FLUX_NAMESPACE, component_type


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
        before: list[pulumi.Resource],  # the Secrets it pulls with, Pod Identity associations
        service_account_roles: Mapping[str, pulumi.Input[str]] | None = None,
        oidc_issuer: pulumi.Input[str] | None = None,  # for spec.flux.runtimeInfo
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("Flux"), name, None, opts)
        self.operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name="flux-operator",
            chart=args.operator_chart,
            version=args.operator_version,
            namespace=FLUX_NAMESPACE,
            create_namespace=False,
            values=args.operator_values,
            atomic=True,
            timeout=READY_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[namespace]),
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
