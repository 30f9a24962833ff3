"""The alert provider types flux-fleet supports: ONE table, type -> what its Provider and Secret
need.

Adding a type is one row here (and, when it takes a credential, nothing else: its stack config key
is `alert-<provider name>` whatever the type). Each row follows notification-controller's own
reading of a Provider (fluxcd/notification-controller, api/v1beta3/provider_types.go for the type
names, internal/notifier/factory.go for which of address, channel, token and username each
notifier is built from, docs/spec/v1beta3/providers.md for the addresses):

- `secret_key`: which key of the Provider's Secret the one credential fills: `address` (a webhook
  URL that carries its own token: Teams, Discord, Google Chat, generic), `token` (an API or bot
  token next to a fixed address: Slack's bot token, Webex, Telegram, Opsgenie, generic-hmac's HMAC
  key), or None (PagerDuty: its routing key is spec.channel, notifier/pagerduty.go; no Secret).
- `channel`: whether spec.channel is required (the notifier posts nowhere without it), optional,
  or not read at all (refused: it would suggest a channel that is never used).
- `address`: the spec.address written when the definition gives none (the API endpoint of a
  token type); `address_given`: whether the definition may (or must) give its own https address.
- `username`: whether the notifier reads spec.username.

Nothing here imports Pulumi or reads files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SecretKey = Literal["address", "token"]
Need = Literal["required", "optional", "no"]
SLACK_API_ADDRESS = "https://slack.com/api/chat.postMessage"


@dataclass(frozen=True)
class ProviderType:
    """What one Provider.spec.type needs; `credential` and `channel_hint` are for messages."""

    secret_key: SecretKey | None
    credential: str  # what the credential is, for messages ("" when none)
    channel: Need = "no"
    channel_hint: str = ""
    address: str | None = None
    address_given: Need = "no"
    username: bool = False


PROVIDER_TYPES: dict[str, ProviderType] = {
    # notifier/slack.go: a bot token posts to chat.postMessage in spec.channel.
    "slack": ProviderType(
        "token",
        "a Slack bot token (xoxb-...)",
        channel="required",
        channel_hint="a Slack channel such as #flux-alerts, or a channel ID",
        address=SLACK_API_ADDRESS,
        username=True,
    ),
    # notifier/teams.go: the Workflows (or legacy connector) webhook URL; no channel.
    "msteams": ProviderType("address", "the Teams workflow webhook URL"),
    # notifier/discord.go: the webhook URL (its channel is the webhook's).
    "discord": ProviderType("address", "the Discord webhook URL", username=True),
    # notifier/google_chat.go: the space's webhook URL.
    "googlechat": ProviderType("address", "the Google Chat webhook URL"),
    # notifier/webex.go: a bot token, the room ID in spec.channel.
    "webex": ProviderType(
        "token",
        "a Webex bot access token",
        channel="required",
        channel_hint="the Webex room ID",
        address="https://webexapis.com/v1/messages",
    ),
    # notifier/telegram.go: a bot token; spec.address is ignored (api.telegram.org).
    "telegram": ProviderType(
        "token",
        "a Telegram bot token (from BotFather)",
        channel="required",
        channel_hint='the Telegram chat: an ID such as "-1234567890" or "@channel"',
    ),
    # notifier/pagerduty.go: the routing (integration) key in spec.channel, nothing secret read.
    "pagerduty": ProviderType(
        None,
        "",
        channel="required",
        channel_hint="the PagerDuty integration (routing) key of an Events API v2 integration",
        address="https://events.pagerduty.com",
        address_given="optional",
    ),
    # notifier/opsgenie.go: the API key in token; EU accounts give https://api.eu.opsgenie.com/...
    "opsgenie": ProviderType(
        "token",
        "an Opsgenie API integration key",
        address="https://api.opsgenie.com/v2/alerts",
        address_given="optional",
    ),
    # notifier/datadog.go: an API key in token (refused when empty); spec.address is the Datadog
    # site's API (US1 by default; https://api.datadoghq.eu for EU1...).
    "datadog": ProviderType(
        "token",
        "a Datadog API key (not an application key)",
        address="https://api.datadoghq.com",
        address_given="optional",
    ),
    # notifier/forwarder.go: POSTs the event to the URL (from the Secret: it may carry a token).
    "generic": ProviderType("address", "the webhook URL"),
    # notifier/forwarder.go with an HMAC key: the URL is spec.address, the key the token.
    "generic-hmac": ProviderType(
        "token", "the HMAC key the receiver checks signatures with", address_given="required"
    ),
}
