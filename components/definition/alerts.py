"""spec.alerts and spec.monitoring: alerts (Slack, and any provider type of alert_types.py),
Grafana dashboards, Prometheus scraping."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.definition.alert_types import PROVIDER_TYPES
from components.definition.secrets import SecretSource
from components.definition.types import (
    Duration,
    Label,
    LabelKey,
    LabelValue,
    Model,
    field_error,
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
SLACK = "slack"  # spec.alerts.slack's Provider and Alert, and a route's default provider
EVENT_SOURCE_NAME = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
SLACK_CHANNEL = r"^#?[^\s#,]{1,80}$"
CHANNEL = r"^\S{1,256}$"  # what the other types take: IDs and keys, no space
HTTPS_URL = r"^https://[^\s/?#@]+[^\s]*$"
EventSourceName = Annotated[
    str,
    pattern(EVENT_SOURCE_NAME, 'a Kubernetes object name, or "*" for every object of the kind'),
    Field(max_length=253),
]


def _printable(expected: str) -> Callable[[str], str]:
    """A check that a value has no control or invisible character (NUL, ESC, a right-to-left
    override...): the patterns let them through, and a terminal or a pull-request comment would
    show them raw."""

    def check(value: str) -> str:
        if not value.isprintable():
            raise ValueError(
                f"expected {expected}, got {show(value)} (a control or invisible character)"
            )
        return value

    return check


SLACK_CHANNEL_HINT = "a Slack channel such as #flux-alerts, or a channel ID"
_printable_channel = _printable(SLACK_CHANNEL_HINT)


SlackChannel = Annotated[
    str,
    pattern(SLACK_CHANNEL, SLACK_CHANNEL_HINT),
    AfterValidator(_printable_channel),
]
CHANNEL_HINT = "the provider's channel, room, chat or routing key (no space)"
Channel = Annotated[str, pattern(CHANNEL, CHANNEL_HINT), AfterValidator(_printable(CHANNEL_HINT))]
HttpsUrl = Annotated[
    str,
    pattern(HTTPS_URL, "an https:// URL", max_length=2048),
    AfterValidator(_printable("an https:// URL")),
]
Username = Annotated[
    str,
    pattern(r"^[^\n\r]{1,256}$", "the name to post as (one line)"),
    AfterValidator(_printable("the name to post as")),
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


def _known_type(value: str) -> str:
    if value not in PROVIDER_TYPES:
        raise ValueError(f"expected one of {', '.join(PROVIDER_TYPES)}, got {show(value)}")
    return value


ProviderTypeName = Annotated[str, AfterValidator(_known_type)]


class AlertProvider(Model):
    """One more destination of alerts, of any type of alert_types.PROVIDER_TYPES: a Provider
    named after it, its Secret (the credential), and an Alert unless routes name it."""

    name: Annotated[Label, Field(max_length=40)] = Field(
        description="the provider's name, unique: its Provider, its Alert, its Secret "
        "alert-<name> and its stack config key alert-<name>"
    )
    type: ProviderTypeName = Field(
        description=f"one of {', '.join(PROVIDER_TYPES)}",
        json_schema_extra={"enum": list(PROVIDER_TYPES)},  # editors complete it
    )
    channel: Channel | None = Field(
        None,
        description="where it posts (slack: the channel; webex: the room ID; telegram: the chat; "
        "pagerduty: the integration key); only the types that read one",
    )
    address: HttpsUrl | None = Field(
        None,
        description="the https endpoint, for the types whose address is not the credential "
        "(generic-hmac: required; opsgenie, pagerduty: another region's API)",
    )
    username: Username | None = Field(None, description="the name to post as (slack, discord)")
    credential_from: SecretSource | None = Field(
        None,
        description="read the credential from AWS at apply time (set once in _defaults.yaml for "
        "the fleet); the stack config secret alert-<name> wins",
    )

    @property
    def secret_name(self) -> str:
        """Its Secret in flux-system: alert-<name>, like its stack config key."""
        return f"alert-{self.name}"

    @model_validator(mode="after")
    def _fits_its_type(self) -> AlertProvider:
        """A field the type's notifier never reads is refused (it would suggest a setting that
        does nothing), and one it cannot work without is required."""
        kind = PROVIDER_TYPES[self.type]
        errors = []
        if kind.channel == "required" and self.channel is None:
            errors.append(
                field_error(
                    ("channel",),
                    None,
                    f"required field is missing for type {self.type}, expected {kind.channel_hint}",
                )
            )
        if kind.channel == "no" and self.channel is not None:
            errors.append(
                field_error(
                    ("channel",),
                    self.channel,
                    f"expected no channel: {self.type} reads none (its destination is "
                    f"{kind.credential or 'its address'})",
                )
            )
        errors += self._address_errors()
        if self.username is not None and not kind.username:
            errors.append(
                field_error(("username",), self.username, f"expected none: {self.type} reads none")
            )
        if self.credential_from is not None and kind.secret_key is None:
            errors.append(
                field_error(
                    ("credentialFrom",),
                    None,
                    f"expected none: {self.type} reads no Secret (its key is the channel)",
                )
            )
        if errors:
            raise ValidationError.from_exception_data("AlertProvider", errors)  # type: ignore[arg-type]
        return self

    def _address_errors(self) -> list[dict[str, object]]:
        kind = PROVIDER_TYPES[self.type]
        if kind.address_given == "required" and self.address is None:
            message = f"required field is missing for type {self.type}, expected an https:// URL"
            return [field_error(("address",), None, message)]
        if kind.address_given == "no" and self.address is not None:
            why = (
                f"its address is the credential ({kind.credential}: a secret, in stack config "
                f"alert-{self.name} or credentialFrom)"
                if kind.secret_key == "address"
                else f"{self.type} posts to {kind.address or 'its own API'}"
            )
            return [field_error(("address",), self.address, f"expected no address: {why}")]
        return []


Named = TypeVar("Named", "AlertProvider", "AlertRoute")


class AlertRoute(AlertRule):
    """One more Alert: its own severity, sources and exclusions, to a provider (spec.alerts.slack's
    credential by default: then a Provider and an Alert named slack-<name>, to its channel)."""

    name: Annotated[Label, Field(max_length=57)] = Field(
        description="the route's name, unique: its Alert is slack-<name> (or <provider>-<name>)"
    )
    provider: Label | None = Field(
        None,
        description="the provider it sends to: slack (spec.alerts.slack's credential) or one of "
        "spec.alerts.providers; default: the one provider, or slack when there is none",
    )
    channel: Channel | None = Field(
        None,
        description="the channel, such as #deploys (required for slack; a Provider of its own "
        "with this channel, for a provider type that reads one)",
    )


def _unique_names(entries: list[Named]) -> list[Named]:
    """Routes, providers: each name once (it names their objects)."""
    unique([entry.name for entry in entries])
    return entries


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
    providers: Annotated[list[AlertProvider], AfterValidator(_unique_names)] = Field(
        default_factory=list,
        max_length=20,
        description="more destinations besides spec.alerts.slack: Teams, PagerDuty, Opsgenie, "
        "a webhook...; each alerts on errors unless routes name it",
    )
    routes: Annotated[list[AlertRoute], AfterValidator(_unique_names)] = Field(
        default_factory=list,
        max_length=20,
        description="more alerts, each to a provider (default: Slack, to its own channel with the "
        "same Slack credential)",
    )

    def route_provider(self, route: AlertRoute) -> str | None:
        """The provider a route sends to: its own, else the one of spec.alerts.providers, else
        slack when there is none; None when several leave it open."""
        if route.provider is not None:
            return route.provider
        if not self.providers:
            return SLACK
        return self.providers[0].name if len(self.providers) == 1 else None

    def provider(self, name: str) -> AlertProvider | None:
        return next((p for p in self.providers if p.name == name), None)

    def routed(self, provider: str) -> bool:
        """Whether a route names the provider (then it alerts only through its routes)."""
        return any(self.route_provider(route) == provider for route in self.routes)

    @property
    def uses_slack(self) -> bool:
        """Whether the Slack credential is needed: spec.alerts.slack, or a route to slack."""
        return self.slack.is_enabled or self.routed(SLACK)

    @property
    def any(self) -> bool:
        """Whether any Alert is made (they need notification-controller)."""
        return self.uses_slack or bool(self.providers)

    @model_validator(mode="after")
    def _routes_name_their_providers(self) -> Alerts:
        errors = [*self._provider_name_errors()]
        for i, route in enumerate(self.routes):
            errors += self._route_errors(i, route)
        if errors:
            raise ValidationError.from_exception_data("Alerts", errors)  # type: ignore[arg-type]
        return self

    def _provider_name_errors(self) -> list[dict[str, object]]:
        """The Provider, Alert and Secret names are the providers' and the routes': no two the
        same (a second object of a name would replace the first)."""
        taken = {f"{SLACK}-{r.name}" for r in self.routes if self.route_provider(r) == SLACK}
        errors = []
        for i, provider in enumerate(self.providers):
            if provider.name == SLACK or provider.name in taken:
                errors.append(
                    field_error(
                        ("providers", i, "name"),
                        provider.name,
                        f'expected another name: "{provider.name}" is the Provider of '
                        + ("spec.alerts.slack" if provider.name == SLACK else "a Slack route"),
                    )
                )
        return errors

    def _route_errors(self, i: int, route: AlertRoute) -> list[dict[str, object]]:
        target = self.route_provider(route)
        names = [SLACK, *(p.name for p in self.providers)]
        if target is None:
            message = (
                f"required field is missing, expected one of {', '.join(names)} "
                "(spec.alerts.providers has several)"
            )
            return [field_error(("routes", i, "provider"), None, message)]
        if target not in names:
            message = f"expected one of {', '.join(names)}, got {show(target)}"
            return [field_error(("routes", i, "provider"), target, message)]
        if target == SLACK:
            if route.channel is None:
                message = "required field is missing, expected the Slack channel, such as #deploys"
                return [field_error(("routes", i, "channel"), None, message)]
            if re.fullmatch(SLACK_CHANNEL, route.channel) is None:
                message = f"expected {SLACK_CHANNEL_HINT}, got {show(route.channel)}"
                return [field_error(("routes", i, "channel"), route.channel, message)]
            return []
        provider = self.provider(target)
        assert provider is not None
        if len(f"{target}-{route.name}") > 63:
            message = (
                f"expected at most {62 - len(target)} characters (its Alert is {target}-<name>)"
            )
            return [field_error(("routes", i, "name"), route.name, message)]
        if route.channel is not None and PROVIDER_TYPES[provider.type].channel == "no":
            message = f"expected no channel: {target} is {provider.type}, which reads none"
            return [field_error(("routes", i, "channel"), route.channel, message)]
        return []

    @property
    def rules(self) -> list[AlertRule]:
        """The rule of every Alert made: spec.alerts.slack's, each route's, and the default one of
        each provider no route names."""
        own = [self.slack] if self.slack.is_enabled else []
        defaults = [AlertRule() for p in self.providers if not self.routed(p.name)]
        return [*own, *self.routes, *defaults]


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
