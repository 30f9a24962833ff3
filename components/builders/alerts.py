"""Alerts: the Providers, the Alerts and the Secret data of every alert provider (spec.alerts.slack,
its routes, spec.alerts.providers and theirs), from small option objects (builders/options.py's
alert_options fills them from the definition).

Nothing here imports Pulumi, reads the definition, or knows a provider type (the table of
definition/alert_types.py does). A credential is never an argument of the object builders: only
`secret_string_data` sees it, and the component wraps what that returns as a Pulumi secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.common import metadata
from components.definition.alert_types import SecretKey
from components.definition.alerts import SLACK, AlertRule, EventSource
from components.definition.credentials import Credential
from components.names import FLUX_NAMESPACE

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


# --- a credential and what uses it ----------------------------------------------------------------


@dataclass(frozen=True)
class PairOptions:
    """A Provider and/or an Alert; `resource` names their Pulumi resources
    (<stack>-<resource>-provider, <stack>-<resource>-alert), a contract."""

    resource: str
    provider: ProviderOptions | None
    alert: AlertOptions | None


@dataclass(frozen=True)
class NotifierOptions:
    """One credential (its Secret, <stack>-<resource>-secret, when the type reads one) and the
    Providers and Alerts that use it (builders/options.py's alert_options fills them)."""

    resource: str
    secret_name: str | None
    credential: Credential | None
    pairs: tuple[PairOptions, ...]
    channel: str | None = None  # spec.alerts.slack's, when it is on (a stack output)


@dataclass(frozen=True)
class AlertObjects:
    """The objects of a PairOptions."""

    resource: str
    provider: dict[str, Any] | None
    alert: dict[str, Any] | None


@dataclass(frozen=True)
class Notifier:
    """The desired objects of a NotifierOptions. The credential's value stays with the program
    (a Pulumi secret)."""

    resource: str
    secret_name: str | None
    credential: Credential | None
    objects: tuple[AlertObjects, ...]
    channel: str | None = None


def notifier(options: NotifierOptions) -> Notifier:
    objects = tuple(
        AlertObjects(
            pair.resource,
            provider(pair.provider) if pair.provider is not None else None,
            alert(pair.alert) if pair.alert is not None else None,
        )
        for pair in options.pairs
    )
    return Notifier(
        options.resource, options.secret_name, options.credential, objects, options.channel
    )


def route_name(route: str | None) -> str:
    """The Provider's and the Alert's name of a Slack route (or of spec.alerts.slack)."""
    return f"{SLACK}-{route}" if route else SLACK
