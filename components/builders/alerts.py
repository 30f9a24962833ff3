"""Slack alerts: the credential check, the Providers and the Alerts (spec.alerts.slack and each
route), from a validated definition.

Nothing here imports Pulumi. The Slack credential is never an argument of the object builders:
only `slack_secret_string_data` sees it, and the component wraps what that returns as a Pulumi
secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.definition.alerts import AlertRoute, AlertRule, CredentialFrom, EventSource
from components.definition.cluster import Cluster
from components.names import FLUX_NAMESPACE, MANAGED_BY, definition_file
from components.problems import Problem

SLACK_BOT_TOKEN_KEY = "slackBotToken"  # stack config: a bot token (xoxb-...), the usual way
SLACK_WEBHOOK_URL_KEY = "slackWebhookUrl"  # stack config: a legacy incoming webhook URL
SLACK_CREDENTIAL_KEYS = (SLACK_BOT_TOKEN_KEY, SLACK_WEBHOOK_URL_KEY)
SLACK_API_ADDRESS = "https://slack.com/api/chat.postMessage"

NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
SLACK_SECRET_NAME = "slack-credentials"
SLACK_PROVIDER_NAME = "slack"  # and its Alert's; a route's are slack-<name>


class SlackConfigError(ValueError):
    """Slack alerts are on but the stack config has no usable credential; str() is one line."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


@dataclass(frozen=True)
class SlackCredential:
    """Where the credential is: the stack config key that holds it, or (none set) the AWS
    parameter or secret of spec.alerts.slack.credentialFrom. The value itself stays with Pulumi."""

    key: str | None
    source: CredentialFrom | None = None

    @property
    def is_bot_token(self) -> bool:
        if self.source is not None:
            return self.source.kind == "botToken"
        return self.key == SLACK_BOT_TOKEN_KEY

    @property
    def where(self) -> str:
        return self.source.where if self.source is not None else f"stack config {self.key}"


def slack_credential(cluster: Cluster, present: set[str]) -> SlackCredential | None:
    """The credential to use, given the stack config keys that are set; None when alerts are
    off. Raises SlackConfigError (naming the key and the command) when they are on but neither
    key, or both, are set."""
    alerts = cluster.spec.alerts
    if not alerts.uses_slack:
        return None
    at = "spec.alerts.slack" if alerts.slack.is_enabled else "spec.alerts.routes"
    found = [key for key in SLACK_CREDENTIAL_KEYS if key in present]
    if not found and alerts.slack.credential_from is not None:
        return SlackCredential(None, alerts.slack.credential_from)
    if not found:
        message = (
            "enabled but no Slack credential in stack config; run: pulumi config set --secret "
            f"{SLACK_BOT_TOKEN_KEY} <xoxb-...> -s {cluster.name} (or {SLACK_WEBHOOK_URL_KEY}), "
            "or read it from AWS: spec.alerts.slack.credentialFrom"
        )
        raise SlackConfigError(Problem(definition_file(cluster.name), at, message))
    if len(found) > 1:
        message = (
            f"both {SLACK_BOT_TOKEN_KEY} and {SLACK_WEBHOOK_URL_KEY} are set in stack config, "
            f"expected one; run: pulumi config rm {SLACK_WEBHOOK_URL_KEY} -s {cluster.name} "
            f"(or {SLACK_BOT_TOKEN_KEY})"
        )
        raise SlackConfigError(Problem(definition_file(cluster.name), at, message))
    return SlackCredential(found[0])


def slack_secret_string_data(credential: SlackCredential, value: str) -> dict[str, str]:
    """What notification-controller reads: a bot token in `token`, a webhook URL in `address`."""
    return {"token" if credential.is_bot_token else "address": value}


def metadata(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {**(labels or {}), **MANAGED_BY}}


def slack_provider(
    cluster: Cluster, credential: SlackCredential, route: AlertRoute | None = None
) -> dict[str, Any]:
    """The Provider of type slack (of `route`, or of spec.alerts.slack). A bot token posts
    through the chat.postMessage API to the channel; a legacy webhook's URL comes from the Secret
    (its channel is fixed by Slack)."""
    spec: dict[str, Any] = {
        "type": "slack",
        "channel": route.channel if route else cluster.spec.alerts.slack.channel,
        "secretRef": {"name": SLACK_SECRET_NAME},
    }
    if credential.is_bot_token:
        spec["address"] = SLACK_API_ADDRESS
    return {
        "apiVersion": NOTIFICATION_API,
        "kind": "Provider",
        "metadata": metadata(route_name(route), FLUX_NAMESPACE),
        "spec": spec,
    }


def route_name(route: AlertRoute | None) -> str:
    """The Provider's and the Alert's name: slack, or slack-<route>."""
    return f"{SLACK_PROVIDER_NAME}-{route.name}" if route else SLACK_PROVIDER_NAME


def event_source(source: EventSource, namespace: str | None = None) -> dict[str, Any]:
    """One Alert eventSources entry; without a namespace it means the Alert's (flux-system)."""
    out: dict[str, Any] = {"kind": source.kind, "name": source.name}
    if namespace or source.namespace:
        out["namespace"] = namespace or source.namespace
    if source.match_labels:
        out["matchLabels"] = dict(source.match_labels)
    return out


def event_sources(cluster: Cluster, rule: AlertRule) -> list[dict[str, Any]]:
    """The Alert's eventSources. notification-controller reads a source without a namespace as
    the Alert's own (internal/server/event_handlers.go) and has no namespace wildcard, so such a
    source is written for flux-system (as it was) and once more for each of
    spec.alerts.namespaces; the FluxInstance lives only in flux-system."""
    out = []
    for source in rule.event_sources:
        out.append(event_source(source))
        if source.namespace is None and source.kind != "FluxInstance":
            out += [event_source(source, ns) for ns in cluster.spec.alerts.namespaces]
    return out


def event_metadata(cluster: Cluster) -> dict[str, str]:
    """Added to every event sent, so a shared channel shows which cluster spoke."""
    return {
        "cluster": cluster.name,
        "environment": cluster.metadata.environment,
        "region": cluster.spec.aws.region,
        "account": cluster.spec.aws.account_id,
    }


def slack_alert(cluster: Cluster, route: AlertRoute | None = None) -> dict[str, Any]:
    """The Alert (of `route`, or of spec.alerts.slack) sending to its Provider."""
    rule: AlertRule = route or cluster.spec.alerts.slack
    spec: dict[str, Any] = {
        "providerRef": {"name": route_name(route)},
        "eventSeverity": rule.severity,
        "eventSources": event_sources(cluster, rule),
        "eventMetadata": event_metadata(cluster),
    }
    if rule.exclusion_list:
        spec["exclusionList"] = list(rule.exclusion_list)
    return {
        "apiVersion": NOTIFICATION_API,
        "kind": "Alert",
        "metadata": metadata(route_name(route), FLUX_NAMESPACE),
        "spec": spec,
    }
