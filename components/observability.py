"""Observability: Slack alerts, the Flux Grafana dashboards and Prometheus scraping of Flux."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .alerts import (
    CONFIG_NAMESPACE,
    MANAGED_BY,
    SLACK_CREDENTIAL_KEYS,
    SLACK_SECRET_NAME,
    SlackConfigError,
    dashboard_configmaps,
    flux_pod_monitor,
    slack_alert,
    slack_credential,
    slack_provider,
    slack_secret_string_data,
)
from .manifests import FLUX_NAMESPACE
from .model import Cluster


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

    - Slack (when `spec.alerts.slack` is enabled): a Secret with the credential from stack config
      (`slackBotToken` or `slackWebhookUrl`, only ever a Pulumi secret), a Provider and an Alert
      in flux-system. They depend on the FluxInstance, which is Ready only once Flux, and so the
      notification CRDs, are installed. No credential in stack config fails the program at once,
      with the `pulumi config set --secret` command, rather than at apply time.
    - Grafana (`monitoring.grafanaDashboards`): one ConfigMap per dashboard, labelled for the
      Grafana sidecar, in `monitoring.namespace`. That namespace is NOT created here: the
      Grafana/Prometheus stack that runs the sidecar owns it (creating it here would fight that
      stack over the object, and destroying this stack would delete the monitoring stack's
      namespace). It must exist before `pulumi up`.
    - Prometheus (`monitoring.prometheus`): a PodMonitor for the Flux controllers; the operator's
      own ServiceMonitor comes from its chart (manifests.operator_values). Both need the
      prometheus-operator CRDs in the cluster.
    """

    def __init__(
        self,
        name: str,
        cluster: Cluster,
        *,
        k8s_provider: k8s.Provider,
        flux_instance: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Checked before anything is registered: the message is the program's only output.
        config = pulumi.Config(CONFIG_NAMESPACE)
        values = {key: config.get_secret(key) for key in SLACK_CREDENTIAL_KEYS}
        try:
            credential = slack_credential(
                cluster, {key for key, value in values.items() if value is not None}
            )
        except SlackConfigError as exc:
            raise pulumi.RunError(str(exc)) from None

        super().__init__("flux-fleet:index:Observability", name, None, opts)

        def after_flux(*others: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=k8s_provider, depends_on=[flux_instance, *others]
            )

        self.slack_alert: k8s.apiextensions.CustomResource | None = None
        if credential is not None:
            secret_value = values[credential.key]
            assert secret_value is not None
            string_data: pulumi.Output[Any] = secret_value.apply(
                lambda value: slack_secret_string_data(credential, value)
            )
            secret = k8s.core.v1.Secret(
                f"{name}-slack-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=SLACK_SECRET_NAME, namespace=FLUX_NAMESPACE, labels=MANAGED_BY
                ),
                type="Opaque",
                string_data=pulumi.Output.secret(string_data),
                opts=after_flux(),
            )
            provider = _custom_resource(
                f"{name}-slack-provider",
                slack_provider(cluster, credential),
                after_flux(secret),
            )
            self.slack_alert = _custom_resource(
                f"{name}-slack-alert",
                slack_alert(cluster),
                after_flux(provider),
            )

        if cluster.spec.monitoring.prometheus:
            _custom_resource(f"{name}-podmonitor", flux_pod_monitor(cluster), after_flux())

        dashboards = dashboard_configmaps(cluster)
        for dashboard in dashboards:
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
                "slackChannel": cluster.spec.alerts.slack.channel if credential else None,
                "dashboards": [d.name for d in dashboards],
            }
        )
