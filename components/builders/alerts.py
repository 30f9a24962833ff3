"""Alerts: the Providers, the Alerts and the Secret data of every alert provider (spec.alerts.slack,
its routes, spec.alerts.providers and theirs), from a validated definition.

Nothing here imports Pulumi, and nothing here knows a provider type: what a type needs is the
table of definition/alert_types.py. `provider`, `alert` and `secret_string_data` build one object
each from a small options object; `notifiers` is the one place those options are made from the
definition. A credential is never an argument of the object builders: only `secret_string_data`
sees it, and the component wraps what that returns as a Pulumi secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.definition.alert_types import PROVIDER_TYPES, SecretKey
from components.definition.alerts import SLACK, AlertProvider, AlertRoute, AlertRule, EventSource
from components.definition.cluster import Cluster
from components.definition.credentials import Credential
from components.names import FLUX_NAMESPACE, MANAGED_BY

NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
SLACK_SECRET_NAME = "slack-credentials"
PROVIDERS_RESOURCE = (
    "alerts"  # the resource names of spec.alerts.providers: <stack>-alerts-<name>-...
)


@dataclass(frozen=True)
class ProviderOptions:
    """One Provider: its name and type, what it posts to, and the Secret with its credential."""

    name: str
    type: str
    channel: str | None = None
    username: str | None = None
    address: str | None = None  # spec.address; None when the credential is the address
    secret_name: str | None = None  # None: the type reads no Secret


@dataclass(frozen=True)
class AlertOptions:
    """One Alert: its name, its Provider's, which events, and what each event carries."""

    name: str
    provider: str
    rule: AlertRule
    namespaces: Sequence[str] = ()  # spec.alerts.namespaces
    event_metadata: Mapping[str, str] | None = None


def metadata(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {**(labels or {}), **MANAGED_BY}}


def provider(options: ProviderOptions) -> dict[str, Any]:
    """The Provider. A Slack bot token posts through the chat.postMessage API to the channel; a
    webhook's URL (Slack's legacy ones, Teams, Discord...) comes from the Secret instead."""
    spec: dict[str, Any] = {"type": options.type}
    for key in ("channel", "username"):
        if getattr(options, key) is not None:
            spec[key] = getattr(options, key)
    if options.secret_name is not None:
        spec["secretRef"] = {"name": options.secret_name}
    if options.address is not None:
        spec["address"] = options.address
    return {
        "apiVersion": NOTIFICATION_API,
        "kind": "Provider",
        "metadata": metadata(options.name, FLUX_NAMESPACE),
        "spec": spec,
    }


def secret_string_data(secret_key: SecretKey, value: str) -> dict[str, str]:
    """What notification-controller reads: a token in `token`, a webhook URL in `address`."""
    return {secret_key: value}


def event_source(source: EventSource, namespace: str | None = None) -> dict[str, Any]:
    """One Alert eventSources entry; without a namespace it means the Alert's (flux-system)."""
    out: dict[str, Any] = {"kind": source.kind, "name": source.name}
    if namespace or source.namespace:
        out["namespace"] = namespace or source.namespace
    if source.match_labels:
        out["matchLabels"] = dict(source.match_labels)
    return out


def event_sources(rule: AlertRule, namespaces: Sequence[str]) -> list[dict[str, Any]]:
    """The Alert's eventSources. notification-controller reads a source without a namespace as
    the Alert's own (internal/server/event_handlers.go) and has no namespace wildcard, so such a
    source is written for flux-system (as it was) and once more for each of `namespaces`
    (spec.alerts.namespaces); the FluxInstance lives only in flux-system."""
    out = []
    for source in rule.event_sources:
        out.append(event_source(source))
        if source.namespace is None and source.kind != "FluxInstance":
            out += [event_source(source, ns) for ns in namespaces]
    return out


def event_metadata(cluster: Cluster) -> dict[str, str]:
    """Added to every event sent, so a shared channel shows which cluster spoke."""
    return {
        "cluster": cluster.name,
        "environment": cluster.metadata.environment,
        "region": cluster.spec.aws.region,
        "account": cluster.spec.aws.account_id,
    }


def alert(options: AlertOptions) -> dict[str, Any]:
    """The Alert sending the events of its rule to its Provider."""
    rule = options.rule
    spec: dict[str, Any] = {
        "providerRef": {"name": options.provider},
        "eventSeverity": rule.severity,
        "eventSources": event_sources(rule, options.namespaces),
        "eventMetadata": dict(options.event_metadata or {}),
    }
    if rule.exclusion_list:
        spec["exclusionList"] = list(rule.exclusion_list)
    return {
        "apiVersion": NOTIFICATION_API,
        "kind": "Alert",
        "metadata": metadata(options.name, FLUX_NAMESPACE),
        "spec": spec,
    }


# --- from the definition --------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertObjects:
    """A Provider and/or an Alert; `resource` names their Pulumi resources
    (<stack>-<resource>-provider, <stack>-<resource>-alert), a contract."""

    resource: str
    provider: dict[str, Any] | None
    alert: dict[str, Any] | None


@dataclass(frozen=True)
class Notifier:
    """One credential (the Secret, <stack>-<resource>-secret, when the type reads one) and the
    Providers and Alerts that use it. The value stays with the program (a Pulumi secret)."""

    resource: str
    secret_name: str | None
    credential: Credential | None
    objects: tuple[AlertObjects, ...]
    channel: str | None = None  # spec.alerts.slack's, when it is on (a stack output)


def route_name(route: AlertRoute | None) -> str:
    """The Provider's and the Alert's name of a Slack route (or of spec.alerts.slack)."""
    return f"{SLACK}-{route.name}" if route else SLACK


def notifiers(cluster: Cluster, credentials: Mapping[str, Credential]) -> list[Notifier]:
    """Every Secret, Provider and Alert of the cluster's alerts, given where each credential is
    (definition/credentials.py's check; a provider it found nothing for is left out: the check
    reported it)."""
    alerts = cluster.spec.alerts
    out = []
    slack = credentials.get(SLACK)
    if slack is not None:
        out.append(_slack(cluster, slack))
    for entry in alerts.providers:
        kind = PROVIDER_TYPES[entry.type]
        credential = credentials.get(entry.name)
        if kind.secret_key is not None and credential is None:
            continue
        out.append(_provider(cluster, entry, credential))
    return out


def _alert_options(cluster: Cluster, name: str, provider: str, rule: AlertRule) -> AlertOptions:
    namespaces = cluster.spec.alerts.namespaces
    return AlertOptions(name, provider, rule, namespaces, event_metadata(cluster))


def _slack(cluster: Cluster, credential: Credential) -> Notifier:
    """spec.alerts.slack and each route to slack: a Provider and an Alert each, one Secret."""
    alerts = cluster.spec.alerts
    address = None if credential.secret_key == "address" else PROVIDER_TYPES[SLACK].address
    objects = []
    routes = [r for r in alerts.routes if alerts.route_provider(r) == SLACK]
    for route in [*([None] if alerts.slack.is_enabled else []), *routes]:
        name = route_name(route)
        channel = route.channel if route else alerts.slack.channel
        options = ProviderOptions(name, SLACK, channel, None, address, SLACK_SECRET_NAME)
        rule: AlertRule = route or alerts.slack
        objects.append(
            AlertObjects(name, provider(options), alert(_alert_options(cluster, name, name, rule)))
        )
    channel = alerts.slack.channel if alerts.slack.is_enabled else None
    return Notifier(SLACK, SLACK_SECRET_NAME, credential, tuple(objects), channel)


def _provider(cluster: Cluster, entry: AlertProvider, credential: Credential | None) -> Notifier:
    """A provider of spec.alerts.providers: its Provider (and its Alert unless routes name it),
    and per route an Alert <name>-<route> (with its own Provider when it has its own channel)."""
    alerts = cluster.spec.alerts
    kind = PROVIDER_TYPES[entry.type]
    secret = entry.secret_name if credential is not None else None
    address = None if kind.secret_key == "address" else entry.address or kind.address
    own = ProviderOptions(entry.name, entry.type, entry.channel, entry.username, address, secret)
    resource = f"{PROVIDERS_RESOURCE}-{entry.name}"
    default = (
        None
        if alerts.routed(entry.name)
        else alert(_alert_options(cluster, entry.name, entry.name, AlertRule()))
    )
    objects = [AlertObjects(resource, provider(own), default)]
    for route in alerts.routes:
        if alerts.route_provider(route) != entry.name:
            continue
        name = f"{entry.name}-{route.name}"
        routed = None
        if route.channel is not None:
            routed = provider(
                ProviderOptions(name, entry.type, route.channel, entry.username, address, secret)
            )
        target = name if routed is not None else entry.name
        options = _alert_options(cluster, name, target, route)
        objects.append(AlertObjects(f"{resource}-{route.name}", routed, alert(options)))
    return Notifier(resource, secret, credential, tuple(objects))
