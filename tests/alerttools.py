"""The alert objects a cluster gets (builders/options.py's alert_options, built by
builders/alerts.py), looked up by name: what the tests of Slack, its routes and the other
providers read."""

from __future__ import annotations

from typing import Any

from components.builders.alerts import AlertObjects, Notifier, notifier, route_name
from components.builders.options import alert_options
from components.definition.alerts import SLACK, AlertRoute
from components.definition.cluster import Cluster
from components.definition.credentials import Credential

BOT = Credential(SLACK, "token", "slackBotToken")
WEBHOOK = Credential(SLACK, "address", "slackWebhookUrl")


def all_objects(cluster: Cluster, credentials: dict[str, Credential]) -> list[AlertObjects]:
    return [o for n in notifiers(cluster, credentials) for o in n.objects]


def notifiers(cluster: Cluster, credentials: dict[str, Credential]) -> list[Notifier]:
    """What the program builds for `cluster`, given where each credential is."""
    return [notifier(options) for options in alert_options(cluster, credentials)]


def slack_objects(
    cluster: Cluster, route: AlertRoute | None = None, credential: Credential = BOT
) -> AlertObjects:
    """The Provider and Alert of spec.alerts.slack (or of a Slack route)."""
    found = [
        o
        for o in all_objects(cluster, {SLACK: credential})
        if o.resource == route_name(route.name if route else None)
    ]
    assert len(found) == 1, found
    return found[0]


def slack_alert(cluster: Cluster, route: AlertRoute | None = None) -> dict[str, Any]:
    alert = slack_objects(cluster, route).alert
    assert alert is not None
    return alert


def slack_provider(
    cluster: Cluster, credential: Credential = BOT, route: AlertRoute | None = None
) -> dict[str, Any]:
    provider = slack_objects(cluster, route, credential).provider
    assert provider is not None
    return provider
