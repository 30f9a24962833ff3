"""The stack-config rules of every credential, in one place: which `flux-fleet:<key>` secrets the
program reads, which one a cluster uses (or where in AWS it is read instead), and the one-line
problem with the `pulumi config set --secret ...` command when one is missing.

`check_credentials` is THE check: the Pulumi program (stack/program.py, with the keys Pulumi
holds) and the CLI (tools/commands.py, with the keys of stacks/Pulumi.<stack>.yaml) both call it
and use its result. It sits below builders/ so that loading/ (the stack-file reader) needs no
builder. Values never pass through here: only which keys are set.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from components.definition.alert_types import PROVIDER_TYPES, SecretKey
from components.definition.alerts import SLACK, AlertProvider
from components.definition.cluster import Cluster
from components.definition.secrets import SecretSource
from components.names import CONFIG_NAMESPACE, definition_file, stack_file
from components.problems import Problem

SLACK_BOT_TOKEN_KEY = "slackBotToken"  # stack config: a bot token (xoxb-...), the usual way
SLACK_WEBHOOK_URL_KEY = "slackWebhookUrl"  # stack config: a legacy incoming webhook URL
SLACK_CREDENTIAL_KEYS = (SLACK_BOT_TOKEN_KEY, SLACK_WEBHOOK_URL_KEY)
# A provider of spec.alerts.providers: its credential is the stack secret named after it.
ALERT_KEY_PREFIX = "alert-"
ALERT_KEY = re.compile(r"^alert-[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# The fleet's GitHub App: stack config keys (flux-fleet:<key>, secrets) -> the Secret keys
# source-controller reads.
GITHUB_APP_KEYS = {
    "githubAppId": "githubAppID",
    "githubAppInstallationId": "githubAppInstallationID",
    "githubAppPrivateKey": "githubAppPrivateKey",
}
# Every fixed key of the project's namespace the program reads (all secrets); besides these,
# alert-<provider> (ALERT_KEY).
SECRET_CONFIG_KEYS = (*SLACK_CREDENTIAL_KEYS, *GITHUB_APP_KEYS)


def alert_key(provider: str) -> str:
    """The stack config key holding the credential of the provider `provider`."""
    return f"{ALERT_KEY_PREFIX}{provider}"


def is_secret_config_key(key: str) -> bool:
    """Whether `key` (without namespace) is one the program reads."""
    return key in SECRET_CONFIG_KEYS or ALERT_KEY.match(key) is not None


@dataclass(frozen=True)
class Credential:
    """Where one alert provider's credential is: the stack config key that holds it, or (none
    set) the AWS parameter or secret of its credentialFrom; and the Secret key it fills. The value
    itself stays with Pulumi."""

    provider: str  # "slack" (spec.alerts.slack and its routes) or a provider's name
    secret_key: SecretKey
    key: str | None  # the stack config key; None: read from AWS
    source: SecretSource | None = None

    @property
    def where(self) -> str:
        """Where the value comes from, for the plan (never the value)."""
        return self.source.where if self.source is not None else f"stack config {self.key}"


@dataclass(frozen=True)
class Credentials:
    """The result of THE check: each alert credential by provider, and the problems (one line
    each, naming the command to run)."""

    alerts: dict[str, Credential] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def check_credentials(cluster: Cluster, present: Collection[str]) -> Credentials:
    """Every credential `cluster` needs, given the stack config keys that are set (`present`,
    without namespace): where each alert credential comes from, and what is missing."""
    out = Credentials()
    slack = _slack(cluster, set(present), out.problems)
    if slack is not None:
        out.alerts[SLACK] = slack
    for index, provider in enumerate(cluster.spec.alerts.providers):
        found = _provider(cluster, index, provider, present, out.problems)
        if found is not None:
            out.alerts[provider.name] = found
    app = github_app_problem(cluster, set(present))
    if app is not None:
        out.problems.append(app)
    out.problems.extend(_stray_alert_keys(cluster, present))
    return out


def _stray_alert_keys(cluster: Cluster, present: Collection[str]) -> list[Problem]:
    """An alert-<name> key no provider reads: a typo, or a provider removed (its secret would
    linger in the stack config, unused)."""
    wanted = {alert_key(p.name) for p in cluster.spec.alerts.providers}
    expected = ", ".join(sorted(wanted)) or "none: spec.alerts.providers is empty"
    return [
        Problem(
            stack_file(cluster.name),
            f"config.{CONFIG_NAMESPACE}:{key}",
            f"no provider {key.removeprefix(ALERT_KEY_PREFIX)} in spec.alerts.providers of "
            f"{definition_file(cluster.name)}, expected one of {expected}; remove it: "
            f"pulumi config rm {key} -s {cluster.name}",
        )
        for key in sorted(present)
        if ALERT_KEY.match(key) and key not in wanted
    ]


def config_keys(cluster: Cluster) -> list[str]:
    """The stack config keys the program may read for `cluster`."""
    providers = [alert_key(p.name) for p in cluster.spec.alerts.providers]
    return [*SECRET_CONFIG_KEYS, *providers]


def _slack(cluster: Cluster, present: set[str], problems: list[Problem]) -> Credential | None:
    alerts = cluster.spec.alerts
    if not alerts.uses_slack:
        return None
    at = "spec.alerts.slack" if alerts.slack.is_enabled else "spec.alerts.routes"
    found = [key for key in SLACK_CREDENTIAL_KEYS if key in present]
    source = alerts.slack.credential_from
    if not found and source is not None:
        return Credential(SLACK, "token" if source.kind == "botToken" else "address", None, source)
    if not found:
        message = (
            "enabled but no Slack credential in stack config; run: pulumi config set --secret "
            f"{SLACK_BOT_TOKEN_KEY} <xoxb-...> -s {cluster.name} (or {SLACK_WEBHOOK_URL_KEY}), "
            "or read it from AWS: spec.alerts.slack.credentialFrom"
        )
        problems.append(Problem(definition_file(cluster.name), at, message))
        return None
    if len(found) > 1:
        message = (
            f"both {SLACK_BOT_TOKEN_KEY} and {SLACK_WEBHOOK_URL_KEY} are set in stack config, "
            f"expected one; run: pulumi config rm {SLACK_WEBHOOK_URL_KEY} -s {cluster.name} "
            f"(or {SLACK_BOT_TOKEN_KEY})"
        )
        problems.append(Problem(definition_file(cluster.name), at, message))
        return None
    return Credential(SLACK, "token" if found[0] == SLACK_BOT_TOKEN_KEY else "address", found[0])


def _provider(
    cluster: Cluster,
    index: int,
    provider: AlertProvider,
    present: Collection[str],
    problems: list[Problem],
) -> Credential | None:
    kind = PROVIDER_TYPES[provider.type]
    if kind.secret_key is None:
        return None
    key = alert_key(provider.name)
    if key in present:
        return Credential(provider.name, kind.secret_key, key)
    if provider.credential_from is not None:
        return Credential(provider.name, kind.secret_key, None, provider.credential_from)
    value = "<URL>" if kind.secret_key == "address" else "<token>"
    message = (
        f"{provider.type} provider {provider.name} has no credential ({kind.credential}) in stack "
        f"config; run: pulumi config set --secret {key} {value} -s {cluster.name}, "
        f"or read it from AWS: spec.alerts.providers[{index}].credentialFrom"
    )
    problems.append(
        Problem(definition_file(cluster.name), f"spec.alerts.providers[{index}]", message)
    )
    return None


# --- the fleet's GitHub App (spec.git.auth: githubApp) -------------------------------------------


def github_app_from_definition(cluster: Cluster) -> dict[str, object]:
    """What spec.git.githubApp gives, by stack config key: the IDs, and where the key is."""
    app = cluster.spec.git.github_app
    if app is None:
        return {}
    given = {
        "githubAppId": app.app_id,
        "githubAppInstallationId": app.installation_id,
        "githubAppPrivateKey": app.private_key_from,
    }
    return {key: value for key, value in given.items() if value is not None}


def needs_github_app(cluster: Cluster) -> bool:
    """Whether the cluster holds the GitHub App's credentials: with auth githubApp, for the fleet
    repository, unless it syncs the OCI artifact, and for its application repositories."""
    return cluster.spec.git.uses_github_app and (cluster.syncs_git or bool(cluster.spec.apps))


def github_app_problem(cluster: Cluster, present: set[str]) -> Problem | None:
    """What is missing from the stack config (and spec.git.githubApp) for the cluster's GitHub
    App (None: nothing)."""
    if not needs_github_app(cluster):
        return None
    defined = github_app_from_definition(cluster)
    app = cluster.spec.git.github_app
    by_owner = app is not None and app.installation_owner is not None
    if by_owner and "githubAppInstallationId" in present:
        message = (
            "githubApp with spec.git.githubApp.installationOwner while stack config has "
            "githubAppInstallationId: expected one of them (Flux refuses a Secret with both); "
            f"run: pulumi config rm githubAppInstallationId -s {cluster.name}"
        )
        return Problem(definition_file(cluster.name), "spec.git.auth", message)
    needed = [k for k in GITHUB_APP_KEYS if not (by_owner and k == "githubAppInstallationId")]
    missing = [key for key in needed if key not in present and key not in defined]
    if not missing:
        return None
    commands = "; ".join(
        f"pulumi config set --secret {key} {'< app.pem' if key.endswith('Key') else '<value>'}"
        f" -s {cluster.name}"
        for key in missing
    )
    message = (
        f"githubApp but no {', '.join(missing)} in stack config; run: {commands} "
        "(or set spec.git.githubApp: appId, installationId or installationOwner, privateKeyFrom)"
    )
    return Problem(definition_file(cluster.name), "spec.git.auth", message)
