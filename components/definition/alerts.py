"""spec.alerts and spec.monitoring: Slack alerts, Grafana dashboards, Prometheus scraping."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.definition.secrets import SecretSource
from components.definition.types import (
    Duration,
    Label,
    LabelKey,
    LabelValue,
    Model,
    go_regex,
    pattern,
    unique,
)
from components.names import FLUX_NAMESPACE
from components.problems import show

# Alert.spec.eventSources[].kind of notification-controller v1beta3, plus FluxInstance, which the
# operator adds to the Alert CRD's enum when it installs Flux.
FluxEventKind = Literal[
    "FluxInstance",
    "Kustomization",
    "HelmRelease",
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "ArtifactGenerator",
    "ExternalArtifact",
]
EVENT_SOURCE_NAME = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
SLACK_CHANNEL = r"^#?[^\s#,]{1,80}$"
EventSourceName = Annotated[
    str,
    pattern(EVENT_SOURCE_NAME, 'a Kubernetes object name, or "*" for every object of the kind'),
    Field(max_length=253),
]


def _printable_channel(value: str) -> str:
    """No control or invisible character (NUL, ESC, a right-to-left override...): the pattern
    lets them through, and a terminal or a pull-request comment would show them raw."""
    if not value.isprintable():
        raise ValueError(
            f"expected a Slack channel such as #flux-alerts, or a channel ID, got {show(value)} "
            "(a control or invisible character)"
        )
    return value


SlackChannel = Annotated[
    str,
    pattern(SLACK_CHANNEL, "a Slack channel such as #flux-alerts, or a channel ID"),
    AfterValidator(_printable_channel),
]
GoRegex = Annotated[str, AfterValidator(go_regex)]


class EventSource(Model):
    kind: FluxEventKind
    name: EventSourceName = Field("*", description='the object\'s name; default "*" (every one)')
    namespace: Label | None = Field(
        None, description="default: flux-system and each of spec.alerts.namespaces"
    )
    match_labels: dict[LabelKey, LabelValue] | None = Field(
        None, description='only objects with these labels (needs name "*")'
    )

    @model_validator(mode="after")
    def _labels_need_wildcard(self) -> EventSource:
        if self.match_labels and self.name != "*":
            raise ValueError(f'expected name "*" with matchLabels, got "{self.name}"')
        return self


def _default_event_sources() -> list[EventSource]:
    kinds = ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
    return [
        *(EventSource.model_validate({"kind": kind, "name": "*"}) for kind in kinds),
        # The operator reconciles exactly one FluxInstance, named flux.
        EventSource.model_validate({"kind": "FluxInstance", "name": "flux"}),
    ]


class AlertRule(Model):
    """Which events an alert sends: the severity, the sources, what to leave out."""

    severity: Literal["error", "info"] = Field(
        "error", description="error: failures only; info: every event"
    )
    event_sources: list[EventSource] = Field(
        default_factory=_default_event_sources,
        min_length=1,
        max_length=100,
        description="default: every Kustomization, HelmRelease, GitRepository and OCIRepository "
        "in flux-system and spec.alerts.namespaces, and the FluxInstance flux",
    )
    exclusion_list: list[GoRegex] = Field(
        default_factory=list,
        max_length=100,
        description="Go regular expressions; events whose message matches one are not sent",
    )


class CredentialFrom(SecretSource):
    """The Slack credential in AWS: the source, and what its value is."""

    kind: Literal["botToken", "webhookUrl"] = Field(
        "botToken", description="what the value is: a bot token (xoxb-...) or a webhook URL"
    )


class SlackAlerts(AlertRule):
    enabled: bool | None = Field(None, description="default: true when a channel is set")
    channel: SlackChannel | None = Field(
        None, description="the Slack channel Flux posts to, such as #flux-alerts"
    )
    credential_from: CredentialFrom | None = Field(
        None,
        description="read the Slack credential from AWS at apply time (set once in "
        "_defaults.yaml for the fleet); stack config (slackBotToken, slackWebhookUrl) wins",
    )

    @model_validator(mode="after")
    def _channel_when_enabled(self) -> SlackAlerts:
        if self.enabled and self.channel is None:
            raise ValueError("expected a channel (such as #flux-alerts) when enabled is true")
        return self

    @property
    def is_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else self.channel is not None


class AlertRoute(AlertRule):
    """One more Slack alert: its own channel, severity, sources and exclusions, with the same
    Slack credential (a Provider and an Alert named slack-<name>)."""

    name: Annotated[Label, Field(max_length=57)] = Field(
        description="the route's name, unique: its Provider and Alert are slack-<name>"
    )
    channel: SlackChannel = Field(description="the Slack channel, such as #deploys")


def _unique_routes(routes: list[AlertRoute]) -> list[AlertRoute]:
    unique([route.name for route in routes])
    return routes


def _besides_flux_system(namespaces: list[str]) -> list[str]:
    if FLUX_NAMESPACE in namespaces:
        raise ValueError(
            f"expected namespaces besides {FLUX_NAMESPACE}, which every alert covers already "
            f"(leave {FLUX_NAMESPACE} out)"
        )
    return namespaces


class Alerts(Model):
    slack: SlackAlerts = Field(default_factory=SlackAlerts)
    namespaces: Annotated[
        list[Label], AfterValidator(unique), AfterValidator(_besides_flux_system)
    ] = Field(
        default_factory=list,
        max_length=50,
        description="the namespaces besides flux-system whose Flux objects the alerts cover (those "
        "of your apps' Kustomizations and HelmReleases): an event source without a namespace "
        "covers flux-system and each of these",
    )
    routes: Annotated[list[AlertRoute], AfterValidator(_unique_routes)] = Field(
        default_factory=list,
        max_length=20,
        description="more Slack alerts, each to its own channel (the same Slack credential)",
    )

    @property
    def uses_slack(self) -> bool:
        return self.slack.is_enabled or bool(self.routes)


class Monitoring(Model):
    grafana_dashboards: bool = Field(
        True, description="ship the Flux Grafana dashboards as ConfigMaps"
    )
    namespace: Label = Field(
        "monitoring",
        description="where the dashboard ConfigMaps go; must exist (the Grafana stack owns it)",
    )
    dashboard_label: dict[LabelKey, LabelValue] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        min_length=1,
        description="the label Grafana's dashboard sidecar looks for",
    )
    prometheus: bool = Field(
        True,
        description="scrape the Flux controllers (PodMonitor) and the operator (ServiceMonitor); "
        "needs the prometheus-operator CRDs in the cluster",
    )
    monitor_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=20,
        description="labels on the PodMonitor and the operator's ServiceMonitor: the ones your "
        "Prometheus selects monitors by (kube-prometheus-stack: release: <its Helm release>)",
    )
    reporting_interval: Duration = Field(
        "30s",
        description="with prometheus: how often the operator recomputes its report and the "
        "flux_resource_info metrics (its default 5m; its docs recommend 30s when scraped)",
    )
