"""Observability: Slack alerts, the Flux Grafana dashboards and Prometheus scraping of Flux."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.alerts import SLACK_SECRET_NAME, SlackCredential, slack_secret_string_data
from components.builders.monitoring import DashboardConfigMap
from components.names import FLUX_NAMESPACE, MANAGED_BY, component_type
from components.stack.aws_secret import aws_secret


@dataclass(frozen=True)
class SlackAlertArgs:
    route: str | None  # None: spec.alerts.slack; else the route's name (in the resource names)
    provider: dict[str, Any]
    alert: dict[str, Any]


@dataclass(frozen=True)
class SlackArgs:
    credential: SlackCredential
    # from stack config: only ever a Pulumi secret; None: read from AWS (credential.source)
    value: pulumi.Output[str] | None
    channel: str | None  # of spec.alerts.slack, when it is on
    alerts: Sequence[SlackAlertArgs]


@dataclass(frozen=True)
class ObservabilityArgs:
    slack: SlackArgs | None
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

    - Slack (when `spec.alerts.slack` is enabled, and for each of `spec.alerts.routes`): a
      Secret with the credential from stack config
      (`slackBotToken` or `slackWebhookUrl`, only ever a Pulumi secret; the program reads it, and
      stops with the `pulumi config set --secret` command when it is missing) or, without
      either, read from AWS (`credentialFrom`, with the cluster's AWS provider), a Provider and an
      Alert each in flux-system. They depend on the FluxInstance, which is Ready only once Flux, and
      so the notification CRDs, are installed.
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

        self.slack_alert: k8s.apiextensions.CustomResource | None = None
        slack = args.slack
        if slack is not None:
            value = slack.value
            if value is None:  # spec.alerts.slack.credentialFrom
                assert slack.credential.source is not None
                value = aws_secret(slack.credential.source, aws_provider, self)
            string_data: pulumi.Output[Any] = value.apply(
                lambda value: slack_secret_string_data(slack.credential, value)
            )
            secret = k8s.core.v1.Secret(
                f"{name}-slack-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=SLACK_SECRET_NAME, namespace=FLUX_NAMESPACE, labels=dict(MANAGED_BY)
                ),
                type="Opaque",
                string_data=pulumi.Output.secret(string_data),
                opts=after_flux(),
            )
            for alert in slack.alerts:
                prefix = f"{name}-slack" + (f"-{alert.route}" if alert.route else "")
                provider = _custom_resource(
                    f"{prefix}-provider", alert.provider, after_flux(secret)
                )
                created = _custom_resource(f"{prefix}-alert", alert.alert, after_flux(provider))
                if alert.route is None:
                    self.slack_alert = created

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

        self.register_outputs(
            {
                "slackChannel": slack.channel if slack else None,
                "dashboards": [d.name for d in args.dashboards],
            }
        )
