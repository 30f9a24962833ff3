"""Observability: alerts (Slack and the other providers), the Flux Grafana dashboards and
Prometheus scraping of Flux; with its Args."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.alerts import Notifier, secret_string_data
from components.builders.monitoring import DashboardConfigMap
from components.names import FLUX_NAMESPACE, MANAGED_BY, component_type
from components.stack.aws_secret import aws_secret


@dataclass(frozen=True)
class NotifierArgs:
    """One alert credential's Secret, Providers and Alerts (builders/alerts.py), and the value
    from stack config: only ever a Pulumi secret; None: read from AWS (credential.source) or
    none needed (no Secret)."""

    notifier: Notifier
    value: pulumi.Output[str] | None


@dataclass(frozen=True)
class ObservabilityArgs:
    notifiers: Sequence[NotifierArgs]
    pod_monitor: dict[str, Any] | None
    dashboards: Sequence[DashboardConfigMap]


def _custom_resource(
    name: str, desired: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version=desired["apiVersion"],
        kind=desired["kind"],
        metadata=desired["metadata"],
        spec=desired["spec"],
        opts=opts,
    )


class Observability(pulumi.ComponentResource):
    """Everything that reports on Flux, through the cluster's Kubernetes provider.

    - Alerts, per credential (builders/alerts.py's notifiers: Slack's, and each provider's of
      `spec.alerts.providers`): a Secret with the credential from stack config (`slackBotToken` or
      `slackWebhookUrl`, `alert-<provider>`; only ever a Pulumi secret; the program stops with the
      `pulumi config set --secret` command when it is missing) or, without it, read from AWS
      (`credentialFrom`, with the cluster's AWS provider), none for a type that reads no Secret
      (pagerduty); then its Providers and Alerts, in flux-system. They depend on the FluxInstance,
      which is Ready only once Flux, and so the notification CRDs, are installed.
    - Grafana (`monitoring.grafanaDashboards`): one ConfigMap per dashboard, labelled for the
      Grafana sidecar, in `monitoring.namespace`. That namespace is NOT created here: the
      Grafana/Prometheus stack that runs the sidecar owns it (creating it here would fight that
      stack over the object, and destroying this stack would delete the monitoring stack's
      namespace). It must exist before `pulumi up`.
    - Prometheus (`monitoring.prometheus`): a PodMonitor for the Flux controllers; the operator's
      own ServiceMonitor comes from its chart (builders/flux.py, operator_values). Both need the
      prometheus-operator CRDs in the cluster.
    """

    def __init__(
        self,
        name: str,
        args: ObservabilityArgs,
        *,
        k8s_provider: k8s.Provider,
        aws_provider: pulumi.ProviderResource,
        flux_instance: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_type("Observability"), name, None, opts)

        def after_flux(*others: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=k8s_provider, depends_on=[flux_instance, *others]
            )

        for notifier in args.notifiers:
            self._notifier(name, notifier, aws_provider, after_flux)

        if args.pod_monitor is not None:
            _custom_resource(f"{name}-podmonitor", args.pod_monitor, after_flux())

        for dashboard in args.dashboards:
            k8s.core.v1.ConfigMap(
                f"{name}-{dashboard.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=dashboard.name, namespace=dashboard.namespace, labels=dashboard.labels
                ),
                data=dashboard.data,
                opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider),
            )

        slack = next((n.notifier for n in args.notifiers if n.notifier.channel), None)
        self.register_outputs(
            {
                "slackChannel": slack.channel if slack else None,
                "dashboards": [d.name for d in args.dashboards],
            }
        )

    def _notifier(
        self,
        name: str,
        args: NotifierArgs,
        aws_provider: pulumi.ProviderResource,
        after_flux: Callable[..., pulumi.ResourceOptions],
    ) -> None:
        """The Secret (when the type reads one), then each Provider, then each Alert after its
        Provider (or the notifier's first one)."""
        notifier, credential = args.notifier, args.notifier.credential
        after: list[pulumi.Resource] = []
        if notifier.secret_name is not None and credential is not None:
            value = args.value
            if value is None:  # credentialFrom
                assert credential.source is not None
                value = aws_secret(credential.source, aws_provider, self)
            string_data: pulumi.Output[Any] = value.apply(
                lambda value: secret_string_data(credential.secret_key, value)
            )
            after = [
                k8s.core.v1.Secret(
                    f"{name}-{notifier.resource}-secret",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=notifier.secret_name, namespace=FLUX_NAMESPACE, labels=dict(MANAGED_BY)
                    ),
                    type="Opaque",
                    string_data=pulumi.Output.secret(string_data),
                    opts=after_flux(),
                )
            ]
        first: pulumi.Resource | None = None
        for objects in notifier.objects:
            prefix = f"{name}-{objects.resource}"
            provider = None
            if objects.provider is not None:
                provider = _custom_resource(
                    f"{prefix}-provider", objects.provider, after_flux(*after)
                )
                first = first or provider
            target = provider or first
            if objects.alert is not None:
                assert target is not None  # a notifier's first objects carry its Provider
                _custom_resource(f"{prefix}-alert", objects.alert, after_flux(target))
