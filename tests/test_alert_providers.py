"""spec.alerts.providers: every type of definition/alert_types.py makes a Provider, an Alert and
(when it reads one) a Secret that the vendored CRDs (schema and CEL rules) and Kubernetes' own
rules accept; each way a provider definition can be wrong is one line naming the file and the
field, exit 2; the plan registers them with the credential a Pulumi secret, and says where each
credential comes from, never its value."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from alerttools import notifiers
from corecheck import core_problems
from crdcheck import CRD_DIR, validate
from planutil import BARE, new_staging_cluster, one, run_cli
from ruamel.yaml import YAML

from components.builders.alerts import Notifier, secret_string_data
from components.definition.alert_types import PROVIDER_TYPES
from components.definition.cluster import Cluster
from components.definition.credentials import alert_key, check_credentials
from components.loading.fleet import validate_cluster_doc
from components.plan import render, runner
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack

STAGING = "staging-cluster-name"
DISPLAY = f"k8s-clusters/{STAGING}.yaml"
PROVIDER = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Provider"
ALERT = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Alert"
SECRET = "kubernetes:core/v1:Secret"
FAKE_WEBHOOK = "https://prod-00.westeurope.logic.azure.com/workflows/FAKEh00k7c1e"
OPSGENIE_ARN = "arn:aws:secretsmanager:eu-west-1:234567890123:secret:flux/opsgenie-AbCdEf"

# One working definition per type: the fields its notifier cannot do without.
MINIMAL: dict[str, dict[str, Any]] = {
    "slack": {"channel": "#deploys"},
    "msteams": {},
    "discord": {"username": "flux"},
    "googlechat": {},
    "webex": {"channel": "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQ"},
    "telegram": {"channel": "-1557265138:1"},
    "pagerduty": {"channel": "0123456789abcdef0123456789abcdef"},
    "opsgenie": {"address": "https://api.eu.opsgenie.com/v2/alerts"},
    "datadog": {"address": "https://api.datadoghq.eu"},
    "generic": {},
    "generic-hmac": {"address": "https://hooks.example.com/flux"},
}


def cluster_with(alerts: dict[str, Any]) -> tuple[Cluster | None, list[str]]:
    doc = copy.deepcopy(BARE)
    doc["spec"]["alerts"] = copy.deepcopy(alerts)
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    return cluster, [str(p) for p in problems]


def provider_of(type_: str, **fields: Any) -> dict[str, Any]:
    return {"name": "team", "type": type_, **MINIMAL[type_], **fields}


def built(cluster: Cluster, present: set[str]) -> list[Notifier]:
    credentials = check_credentials(cluster, present)
    assert credentials.problems == []
    return notifiers(cluster, credentials.alerts)


def test_the_table_has_every_type_the_issue_asks_for_and_the_crd_serves() -> None:
    crd = (CRD_DIR / "notification.toolkit.fluxcd.io_providers.yaml").read_text()
    assert set(MINIMAL) == set(PROVIDER_TYPES)
    for type_ in PROVIDER_TYPES:
        assert f"- {type_}\n" in crd, type_


@pytest.mark.parametrize("type_", sorted(PROVIDER_TYPES))
def test_each_type_makes_objects_the_crds_and_kubernetes_accept(type_: str) -> None:
    cluster, problems = cluster_with({"providers": [provider_of(type_)]})
    assert cluster is not None, problems
    kind = PROVIDER_TYPES[type_]
    (notifier,) = built(cluster, {alert_key("team")})
    (objects,) = notifier.objects
    assert objects.provider is not None and objects.alert is not None
    assert validate(objects.provider) == [] and validate(objects.alert) == []
    spec = objects.provider["spec"]
    assert spec["type"] == type_
    assert objects.alert["spec"]["providerRef"] == {"name": "team"}
    assert objects.alert["spec"]["eventSeverity"] == "error"
    if kind.secret_key is None:  # pagerduty: the routing key is the channel, no Secret
        assert notifier.secret_name is None and notifier.credential is None
        assert "secretRef" not in spec
    else:
        assert notifier.credential is not None
        assert notifier.credential.secret_key == kind.secret_key
        assert notifier.credential.where == "stack config alert-team"
        assert spec["secretRef"] == {"name": "alert-team"}
        secret = {
            "kind": "Secret",
            "metadata": {"name": notifier.secret_name, "namespace": "flux-system"},
            "stringData": secret_string_data(kind.secret_key, "value"),
        }
        assert core_problems(secret) == []
        assert secret["stringData"] == {kind.secret_key: "value"}
    # the address: the credential's (a webhook), the definition's, or the type's API
    if kind.secret_key == "address":
        assert "address" not in spec
    else:
        assert spec.get("address") == MINIMAL[type_].get("address", kind.address)
    assert spec.get("channel") == MINIMAL[type_].get("channel")


def test_routes_to_a_provider_alert_through_it_and_a_channel_of_their_own() -> None:
    cluster, problems = cluster_with(
        {
            "providers": [provider_of("slack", channel="#ops")],
            "routes": [
                {"name": "deploys", "channel": "#deploys", "severity": "info"},
                {"name": "failures"},
            ],
        }
    )
    assert cluster is not None, problems
    (notifier,) = built(cluster, {alert_key("team")})
    by_resource = {o.resource: o for o in notifier.objects}
    assert set(by_resource) == {"alerts-team", "alerts-team-deploys", "alerts-team-failures"}
    # routed: the provider alerts only through its routes
    assert by_resource["alerts-team"].alert is None
    deploys = by_resource["alerts-team-deploys"]
    assert deploys.provider is not None and deploys.alert is not None
    assert deploys.provider["metadata"]["name"] == "team-deploys"
    assert deploys.provider["spec"]["channel"] == "#deploys"
    assert deploys.alert["spec"]["providerRef"] == {"name": "team-deploys"}
    assert deploys.alert["spec"]["eventSeverity"] == "info"
    failures = by_resource["alerts-team-failures"]
    assert failures.provider is None and failures.alert is not None
    assert failures.alert["spec"]["providerRef"] == {"name": "team"}
    for obj in (deploys.provider, deploys.alert, failures.alert):
        assert validate(obj) == []


def test_credential_from_aws_when_stack_config_has_none_and_stack_config_wins() -> None:
    source = {"secretsManager": OPSGENIE_ARN}
    cluster, _ = cluster_with({"providers": [provider_of("opsgenie", credentialFrom=source)]})
    assert cluster is not None
    found = check_credentials(cluster, set()).alerts["team"]
    assert (found.key, found.where) == (None, f"Secrets Manager secret {OPSGENIE_ARN}")
    assert check_credentials(cluster, {"alert-team"}).alerts["team"].key == "alert-team"


def test_slack_stays_as_it_was_beside_the_providers() -> None:
    cluster, problems = cluster_with(
        {"slack": {"channel": "#flux-alerts"}, "providers": [provider_of("msteams")]}
    )
    assert cluster is not None, problems
    slack, teams = built(cluster, {"slackBotToken", "alert-team"})
    assert (slack.resource, slack.secret_name) == ("slack", "slack-credentials")
    assert [o.resource for o in slack.objects] == ["slack"]
    assert (teams.resource, teams.secret_name) == ("alerts-team", "alert-team")


# --- bad input: one line, the file and the field ------------------------------------------------

BAD: list[tuple[dict[str, Any], str]] = [
    (
        {"providers": [{"name": "oncall", "type": "pagerduty"}]},
        "spec.alerts.providers[0].channel: required field is missing for type pagerduty, "
        "expected the PagerDuty integration (routing) key of an Events API v2 integration",
    ),
    (
        {"providers": [{"name": "team", "type": "teams"}]},
        "spec.alerts.providers[0].type: expected one of slack, msteams, discord, googlechat, "
        'webex, telegram, pagerduty, opsgenie, datadog, generic, generic-hmac, got "teams"',
    ),
    (
        {"providers": [provider_of("generic-hmac", address="http://hooks.example.com/x")]},
        'spec.alerts.providers[0].address: expected an https:// URL, got "http://hooks.',
    ),
    (
        {"providers": [{"name": "hmac", "type": "generic-hmac"}]},
        "spec.alerts.providers[0].address: required field is missing for type generic-hmac, "
        "expected an https:// URL",
    ),
    (
        {"providers": [provider_of("msteams", address="https://example.com/hook")]},
        "spec.alerts.providers[0].address: expected no address: its address is the credential "
        "(the Teams workflow webhook URL: a secret, in stack config alert-team or credentialFrom)",
    ),
    (
        {"providers": [provider_of("msteams", channel="#general")]},
        "spec.alerts.providers[0].channel: expected no channel: msteams reads none",
    ),
    (
        {"providers": [provider_of("pagerduty", credentialFrom={"ssmParameter": "/x"})]},
        "spec.alerts.providers[0].credentialFrom: expected none: pagerduty reads no Secret",
    ),
    (
        {"providers": [provider_of("msteams"), provider_of("discord")]},
        "spec.alerts.providers: expected each entry once, got team more than once",
    ),
    (
        {"providers": [provider_of("msteams", name="slack")]},
        'spec.alerts.providers[0].name: expected another name: "slack" is the Provider of '
        "spec.alerts.slack",
    ),
    (
        {"providers": [provider_of("msteams")], "routes": [{"name": "x", "provider": "oncall"}]},
        'spec.alerts.routes[0].provider: expected one of slack, team, got "oncall"',
    ),
    (
        {
            "providers": [provider_of("msteams"), provider_of("discord", name="chat")],
            "routes": [{"name": "x"}],
        },
        "spec.alerts.routes[0].provider: required field is missing, expected one of slack, team, "
        "chat (spec.alerts.providers has several)",
    ),
    (
        {"routes": [{"name": "x"}]},
        "spec.alerts.routes[0].channel: required field is missing, expected the Slack channel",
    ),
    (
        {"routes": [{"name": "x", "channel": "#a,#b"}]},
        "spec.alerts.routes[0].channel: expected a Slack channel such as #flux-alerts, or a "
        'channel ID, got "#a,#b"',
    ),
    (
        {"providers": [provider_of("msteams")], "routes": [{"name": "x", "channel": "#a"}]},
        "spec.alerts.routes[0].channel: expected no channel: team is msteams, which reads none",
    ),
]


@pytest.mark.parametrize(("alerts", "expected"), BAD, ids=[e.split(":")[0] for _, e in BAD])
def test_a_wrong_provider_definition_is_one_line_naming_the_field(
    project: Path, alerts: dict[str, Any], expected: str
) -> None:
    set_alerts(project, alerts)
    code, _, err = run_cli(project, "validate")
    assert code == 2 and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{DISPLAY}: {expected}"), err


def test_a_provider_secret_named_like_an_app_key_secret_is_refused() -> None:
    doc = copy.deepcopy(BARE)
    doc["spec"]["alerts"] = {"providers": [provider_of("msteams")]}
    app = {"name": "web", "repository": "web", "path": "deploy", "secretName": "alert-team"}
    doc["spec"]["apps"] = [app]
    _, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    assert [str(p) for p in problems] == [
        "k8s-clusters/bare.yaml: spec.alerts.providers[0].name: expected another name: its "
        "Secret alert-team is already the Secret of spec.apps[0]"
    ]


def test_a_stack_secret_no_provider_reads_is_refused(project: Path) -> None:
    set_alerts(project, {"providers": [provider_of("msteams")]}, {"flux-fleet:alert-tema": "x"})
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"stacks/Pulumi.{STAGING}.yaml: config.flux-fleet:alert-tema: no provider tema in "
        f"spec.alerts.providers of {DISPLAY}, expected one of alert-team; remove it: "
        f"pulumi config rm alert-tema -s {STAGING}"
    )


def test_a_missing_credential_names_the_exact_command(project: Path) -> None:
    set_alerts(project, {"providers": [provider_of("msteams")]})
    expected = (
        f"{DISPLAY}: spec.alerts.providers[0]: msteams provider team has no credential (the Teams "
        f"workflow webhook URL) in stack config; run: pulumi config set --secret alert-team <URL> "
        f"-s {STAGING}, or read it from AWS: spec.alerts.providers[0].credentialFrom\n"
    )
    assert run_cli(project, "validate") == (2, "", expected)
    # the program's check is the same one: the plan stops with the same line
    assert run_cli(project, "plan", STAGING)[0::2] == (2, expected)


# --- the plan -------------------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def set_alerts(project: Path, alerts: dict[str, Any], config: dict[str, Any] | None = None) -> None:
    """spec.alerts of the staging definition (Slack off unless given), and stack config added."""
    file = project / "k8s-clusters" / f"{STAGING}.yaml"
    doc = _yaml().load(file.read_text())
    doc["spec"]["alerts"] = {"slack": {"enabled": False}, **alerts}
    with file.open("w") as out:
        _yaml().dump(doc, out)
    stack = project / "stacks" / f"Pulumi.{STAGING}.yaml"
    settings = _yaml().load(stack.read_text())
    settings["config"].update(config or {})
    with stack.open("w") as out:
        _yaml().dump(settings, out)


@pytest.fixture
def fleet_plan(project: Path, monkeypatch: pytest.MonkeyPatch) -> StackPlan:
    """Staging with Teams (stack config, decrypted as `pulumi up` would), PagerDuty (no
    credential) and Opsgenie (from Secrets Manager), a route to PagerDuty."""
    set_alerts(
        project,
        {
            "providers": [
                provider_of("msteams"),
                {"name": "oncall", "type": "pagerduty", **MINIMAL["pagerduty"]},
                {
                    "name": "ops",
                    "type": "opsgenie",
                    "credentialFrom": {"secretsManager": OPSGENIE_ARN},
                },
            ],
            "routes": [{"name": "failures", "provider": "oncall", "severity": "error"}],
        },
        {"flux-fleet:alert-team": {"secure": "v1:placeholder"}},
    )
    values = {"flux-fleet:alert-team": FAKE_WEBHOOK, "flux-fleet:slackBotToken": "xoxb-0-FAKE"}

    def stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
        return dict(values), list(values)

    monkeypatch.setattr(runner, "stack_config", stack_config)
    return plan_stack(project, STAGING)


def test_the_plan_registers_every_provider_with_its_secret_and_says_where_it_comes_from(
    fleet_plan: StackPlan,
) -> None:
    prefix = f"{STAGING}-observability-alerts"
    providers = {r.name: r for r in fleet_plan.resources if r.type == PROVIDER}
    alerts = {r.name: r for r in fleet_plan.resources if r.type == ALERT}
    assert set(providers) == {f"{prefix}-{p}-provider" for p in ("team", "oncall", "ops")}
    assert set(alerts) == {
        f"{prefix}-team-alert",
        f"{prefix}-ops-alert",
        f"{prefix}-oncall-failures-alert",
    }
    for reg in (*providers.values(), *alerts.values()):
        assert validate(reg.inputs) == [], reg.name
    failures = alerts[f"{prefix}-oncall-failures-alert"]
    assert failures.inputs["spec"]["providerRef"] == {"name": "oncall"}
    assert providers[f"{prefix}-oncall-provider"].urn in failures.dependencies
    teams = one(fleet_plan, SECRET, f"{prefix}-team-secret")
    assert teams.inputs["metadata"]["name"] == "alert-team"
    assert isinstance(teams.inputs["stringData"], Secret)
    assert teams.inputs["stringData"].value == {"address": FAKE_WEBHOOK}
    assert teams.urn in providers[f"{prefix}-team-provider"].dependencies
    ops = one(fleet_plan, SECRET, f"{prefix}-ops-secret")
    assert isinstance(ops.inputs["stringData"], Secret)
    assert [r.name for r in fleet_plan.resources if r.name == f"{prefix}-oncall-secret"] == []
    assert fleet_plan.outputs["alertCredentials"] == {
        "team": "stack config alert-team",
        "ops": f"Secrets Manager secret {OPSGENIE_ARN}",
    }
    text = render.text(fleet_plan) + render.dumps(render.preview_json(fleet_plan))
    assert "Secrets Manager secret " + OPSGENIE_ARN in text
    assert "FAKEh00k" not in text


def test_a_missing_provider_credential_stops_the_program(project: Path) -> None:
    set_alerts(project, {"providers": [provider_of("webex")]})
    with pytest.raises(pulumi.RunError, match=r"pulumi config set --secret alert-team <token>"):
        plan_stack(project, STAGING)


def test_inventory_lists_the_providers(project: Path) -> None:
    set_alerts(
        project, {"providers": [provider_of("msteams"), provider_of("pagerduty", name="pd")]}
    )
    code, out, _ = run_cli(project, "inventory", "--format", "json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)["clusters"]}
    assert rows[STAGING]["alertProviders"] == ["team (msteams)", "pd (pagerduty)"]
    assert rows["production-cluster-name"]["alertProviders"] == []


def test_fleet_wide_providers_in_defaults_reach_a_new_cluster_that_plans_at_once(
    project: Path,
) -> None:
    """Providers set once in _defaults.yaml: a scaffolded cluster's stack file holds a placeholder
    for the one whose credential is stack config, none for the one read from AWS; it plans."""
    defaults = project / "k8s-clusters" / "_defaults.yaml"
    doc = _yaml().load(defaults.read_text())
    doc["spec"]["alerts"]["providers"] = [
        provider_of("msteams"),
        {"name": "ops", "type": "opsgenie", "credentialFrom": {"secretsManager": OPSGENIE_ARN}},
    ]
    with defaults.open("w") as out:
        _yaml().dump(doc, out)
    new_staging_cluster(project, "fresh")
    settings = (project / "stacks" / "Pulumi.fresh.yaml").read_text()
    assert "flux-fleet:alert-team:\n    secure: " in settings
    assert "pulumi config set --secret alert-team <value> -s fresh" in settings
    assert "alert-ops" not in settings
    plan = plan_stack(project, "fresh")
    assert plan.outputs["alertCredentials"] == {
        "team": "stack config alert-team",
        "ops": f"Secrets Manager secret {OPSGENIE_ARN}",
    }


# --- the how-to (docs/how-to/alerts.md) ----------------------------------------------------------

HOW_TO = Path(__file__).resolve().parent.parent / "docs" / "how-to" / "alerts.md"


def _yaml_blocks(text: str) -> list[str]:
    return [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]


def test_every_recipe_of_the_how_to_validates() -> None:
    recipes = 0
    for block in _yaml_blocks(HOW_TO.read_text()):
        if block.startswith("    providers:"):  # a fragment of spec.alerts
            block = "spec:\n  alerts:\n" + block
        if not block.startswith("spec:"):
            continue
        alerts = YAML(typ="safe").load(block)["spec"]["alerts"]
        cluster, problems = cluster_with(alerts)
        assert cluster is not None, (problems, block)
        recipes += 1
    assert recipes >= 6  # Slack, Teams, PagerDuty, Opsgenie, webhooks, the chat types


def test_the_how_to_table_has_every_type_with_its_secret_key() -> None:
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in HOW_TO.read_text().splitlines()
        if line.startswith("| `") and not line.startswith("| `type`")
    }
    assert set(rows) == set(PROVIDER_TYPES)
    for type_, kind in PROVIDER_TYPES.items():
        assert (f"`{kind.secret_key}`" if kind.secret_key else "(no Secret)") in rows[type_]
