"""The Observability component in the offline plan: Slack Secret/Provider/Alert, PodMonitor and
dashboard ConfigMaps registered through the cluster's provider after the FluxInstance, the
plan-time error without a Slack credential, and no credential in any plan output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import ROOT
from crdcheck import validate
from planutil import of_type, one, run_cli
from ruamel.yaml import YAML

from components.loading.stack_files import SECURE_PLACEHOLDER
from components.plan import render, runner
from components.plan.result import Registration, Secret, StackPlan
from components.plan.runner import plan_stack
from components.tools import cli

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
OBS = "flux-fleet:index:Observability"
SECRET = "kubernetes:core/v1:Secret"
PROVIDER = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Provider"
ALERT = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Alert"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
# Recognisable fake credentials: any part of them in plan output is a leak.
FAKE_TOKEN = "xoxb-000000000000-FAKE-TOKEN-8c1f2"
FAKE_WEBHOOK = "https://hooks.slack.com/services/T0FAKE/B0FAKE/FAKEWEBHOOK9d2e"
MISSING = (
    "k8s-clusters/{name}.yaml: spec.alerts.slack: enabled but no Slack credential in stack "
    "config; run: pulumi config set --secret slackBotToken <xoxb-...> -s {name} "
    "(or slackWebhookUrl), or read it from AWS: spec.alerts.slack.credentialFrom"
)


def slack_secret(p: StackPlan) -> Registration:
    return one(p, SECRET, f"{p.stack}-observability-slack-secret")


@pytest.fixture(scope="module")
def prod(root: Path) -> StackPlan:
    return plan_stack(root, PROD)


@pytest.fixture(scope="module")
def staging(root: Path) -> StackPlan:
    return plan_stack(root, STAGING)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    return yaml


def set_spec(project: Path, name: str, path: str, value: Any) -> None:
    """Set spec.<path> (dotted) in k8s-clusters/<name>.yaml of a project copy."""
    file = project / "k8s-clusters" / f"{name}.yaml"
    doc = _yaml().load(file.read_text())
    node = doc["spec"]
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    with file.open("w") as out:
        _yaml().dump(doc, out)


def set_stack_config(project: Path, name: str, config: dict[str, Any]) -> None:
    with (project / "stacks" / f"Pulumi.{name}.yaml").open("w") as out:
        _yaml().dump({"config": config}, out)


def decrypted(values: dict[str, str]) -> Any:
    """A stand-in for runner.stack_config that hands the program `values` the way `pulumi up`
    does after decrypting the stack's `secure:` values: plain text, marked secret."""

    def stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
        return dict(values), list(values)

    return stack_config


def outputs_of(p: StackPlan) -> list[str]:
    return [render.text(p), render.dumps(render.preview_json(p)), repr(render.masked(p.outputs))]


# --- what the stack registers ---------------------------------------------------------------------


def test_observability_component_is_a_child_of_the_cluster(prod: StackPlan) -> None:
    component = one(prod, OBS)
    assert component.name == f"{PROD}-observability"
    assert component.parent == one(prod, "flux-fleet:index:FluxCluster").urn
    children = [r for r in prod.resources if r.parent == component.urn]
    assert sorted(r.name for r in children) == sorted(
        f"{PROD}-observability-{suffix}"
        for suffix in (
            "slack-secret",
            "slack-provider",
            "slack-alert",
            "podmonitor",
            "grafana-dashboard-flux-cluster-stats",
            "grafana-dashboard-flux-control-plane",
        )
    )
    k8s_provider = one(prod, "pulumi:providers:kubernetes")
    for reg in children:
        assert reg.provider.startswith(k8s_provider.urn + "::"), reg.urn


def test_flux_objects_wait_for_the_ready_flux_instance(prod: StackPlan) -> None:
    instance = one(prod, INSTANCE)
    secret, provider, alert = slack_secret(prod), one(prod, PROVIDER), one(prod, ALERT)
    monitor = one(prod, POD_MONITOR)
    for reg in (secret, provider, alert, monitor):
        assert instance.urn in reg.dependencies, reg.name
    assert secret.urn in provider.dependencies
    assert provider.urn in alert.dependencies
    # The FluxInstance is created once Ready (so the notification CRDs exist).
    assert instance.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    order = [r.urn for r in prod.resources]
    assert order.index(instance.urn) < order.index(provider.urn) < order.index(alert.urn)


def test_provider_alert_and_pod_monitor_validate_against_the_crds(
    prod: StackPlan, staging: StackPlan
) -> None:
    for p in (prod, staging):
        for type_ in (PROVIDER, ALERT, POD_MONITOR):
            reg = one(p, type_)
            assert validate(reg.inputs) == [], reg.urn


def test_slack_secret_holds_the_token_as_a_pulumi_secret(prod: StackPlan) -> None:
    secret = slack_secret(prod)
    assert secret.inputs["metadata"]["name"] == "slack-credentials"
    assert secret.inputs["metadata"]["namespace"] == "flux-system"
    assert isinstance(secret.inputs["stringData"], Secret)
    # The offline plan reads `secure:` stack values as a placeholder, still secret.
    assert secret.inputs["stringData"].value == {"token": SECURE_PLACEHOLDER}
    provider = one(prod, PROVIDER)
    assert provider.inputs["spec"]["secretRef"] == {"name": "slack-credentials"}
    assert provider.inputs["spec"]["address"] == "https://slack.com/api/chat.postMessage"
    assert provider.inputs["spec"]["channel"] == "#flux-alerts"


def test_alert_severity_and_metadata_per_cluster(prod: StackPlan, staging: StackPlan) -> None:
    assert one(prod, ALERT).inputs["spec"]["eventSeverity"] == "error"
    assert one(staging, ALERT).inputs["spec"]["eventSeverity"] == "info"
    assert one(staging, ALERT).inputs["spec"]["eventMetadata"] == {
        "cluster": STAGING,
        "environment": "staging",
        "region": "eu-west-1",
        "account": "234567890123",
    }
    assert one(prod, ALERT).inputs["spec"]["providerRef"] == {
        "name": one(prod, PROVIDER).inputs["metadata"]["name"]
    }


def test_dashboards_go_to_the_monitoring_namespace_with_the_sidecar_label(prod: StackPlan) -> None:
    maps = of_type(prod, CONFIG_MAP)
    assert len(maps) == 2
    titles = set()
    for cm in maps:
        assert cm.inputs["metadata"]["namespace"] == "monitoring"
        assert cm.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
        (text,) = cm.inputs["data"].values()
        titles.add(json.loads(text)["title"])
    assert titles == {"Flux Cluster Stats", "Flux Control Plane"}
    # The monitoring namespace belongs to the Grafana stack: this stack never creates it.
    namespaces = [
        r.inputs["metadata"]["name"] for r in of_type(prod, "kubernetes:core/v1:Namespace")
    ]
    assert "monitoring" not in namespaces


def test_operator_chart_creates_its_service_monitor(prod: StackPlan) -> None:
    release = one(prod, "kubernetes:helm.sh/v3:Release")
    # labelled for kube-prometheus-stack's selector (monitorLabels of _defaults.yaml), like the
    # PodMonitor, and the operator reports every 30s (its docs' advice when Prometheus scrapes it)
    assert release.inputs["values"]["serviceMonitor"] == {
        "create": True,
        "labels": {"release": "kube-prometheus-stack"},
    }
    assert release.inputs["values"]["reporting"] == {"interval": "30s"}
    pod_monitor = one(prod, "kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert pod_monitor.inputs["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_switches_turn_the_objects_off(project: Path) -> None:
    set_spec(project, PROD, "alerts.slack.enabled", False)
    set_spec(project, PROD, "monitoring", {"prometheus": False, "grafanaDashboards": False})
    set_stack_config(project, PROD, {})  # no credential needed when Slack is off
    p = plan_stack(project, PROD)
    assert one(p, OBS)
    for type_ in (PROVIDER, ALERT, POD_MONITOR, CONFIG_MAP):
        assert of_type(p, type_) == [], type_
    assert not [r for r in of_type(p, SECRET) if "slack" in r.name]
    assert [r.parent for r in p.resources].count(one(p, OBS).urn) == 0
    assert "serviceMonitor" not in one(p, "kubernetes:helm.sh/v3:Release").inputs["values"]


def test_custom_monitoring_namespace_and_label(project: Path) -> None:
    set_spec(
        project,
        STAGING,
        "monitoring",
        {"namespace": "grafana", "dashboardLabel": {"example.com/dashboard": "flux"}},
    )
    for cm in of_type(plan_stack(project, STAGING), CONFIG_MAP):
        assert cm.inputs["metadata"]["namespace"] == "grafana"
        assert cm.inputs["metadata"]["labels"]["example.com/dashboard"] == "flux"
        assert "grafana_dashboard" not in cm.inputs["metadata"]["labels"]


# --- the Slack credential -------------------------------------------------------------------------


def test_slack_without_a_credential_fails_at_plan_time(project: Path) -> None:
    set_stack_config(project, STAGING, {})
    with pytest.raises(pulumi.RunError) as caught:
        plan_stack(project, STAGING)
    assert str(caught.value) == MISSING.format(name=STAGING)


def test_cli_plan_prints_the_missing_credential_line_and_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stack_config(project, PROD, {"aws:region": "eu-west-1"})
    assert cli.main(["--project", str(project), "plan", PROD]) == 2
    captured = capsys.readouterr()
    assert captured.err == MISSING.format(name=PROD) + "\n"
    assert captured.out == ""


def test_both_credentials_is_a_plan_time_error(project: Path) -> None:
    set_stack_config(
        project,
        PROD,
        {"flux-fleet:slackBotToken": {"secure": "v1:a"}, "slackWebhookUrl": {"secure": "v1:b"}},
    )
    with pytest.raises(pulumi.RunError, match="both slackBotToken and slackWebhookUrl"):
        plan_stack(project, PROD)


def test_webhook_url_goes_in_the_secret_address(project: Path) -> None:
    set_stack_config(project, PROD, {"flux-fleet:slackWebhookUrl": {"secure": "v1:cipher"}})
    p = plan_stack(project, PROD)
    data = slack_secret(p).inputs["stringData"]
    assert isinstance(data, Secret)
    assert set(data.value) == {"address"}
    assert "address" not in one(p, PROVIDER).inputs["spec"]
    assert validate(one(p, PROVIDER).inputs) == []


# --- no credential in plan output or stack outputs ------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "secret_key"),
    [("slackBotToken", FAKE_TOKEN, "token"), ("slackWebhookUrl", FAKE_WEBHOOK, "address")],
)
def test_decrypted_credential_never_reaches_plan_output(
    project: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, secret_key: str
) -> None:
    # The offline plan never decrypts: it hands the program a placeholder. Here the program gets
    # the real-looking value exactly as `pulumi up` would (plain text, marked secret), so a code
    # path that unwrapped it (an apply into a plain input, an export, a log) would show below.
    monkeypatch.setattr(runner, "stack_config", decrypted({f"flux-fleet:{key}": value}))
    p = plan_stack(project, PROD)
    data = slack_secret(p).inputs["stringData"]
    assert isinstance(data, Secret)
    assert data.value == {secret_key: value}  # it did reach the Secret, wrapped
    everything = "\n".join(outputs_of(p))
    assert "[secret]" in everything
    for needle in (value, value[-12:], "xox", "hooks.slack.com"):
        assert needle not in everything, needle
    for reg in p.resources:
        if reg is not slack_secret(p):
            assert value not in repr(reg.inputs), reg.urn
    assert value not in repr(p.outputs)


def test_ciphertext_is_not_printed_either(project: Path) -> None:
    cipher = "v1:AAABAFAKECIPHERTEXTxoxb7d1"
    set_stack_config(project, STAGING, {"flux-fleet:slackBotToken": {"secure": cipher}})
    p = plan_stack(project, STAGING)
    for out in outputs_of(p):
        assert "FAKECIPHERTEXT" not in out
        assert "xox" not in out


# --- more alerts: spec.alerts.routes -------------------------------------------------------------

ROUTES = [
    {"name": "deploys", "channel": "#deploys", "severity": "info",
     "eventSources": [{"kind": "HelmRelease", "name": "*"}]},
    {"name": "infra", "channel": "C0123456789", "exclusionList": ["^Dependencies do not"]},
]  # fmt: skip


def test_each_route_is_a_provider_and_an_alert_with_the_same_credential(project: Path) -> None:
    set_spec(project, PROD, "alerts.routes", ROUTES)
    plan = plan_stack(project, PROD)
    providers = {r.inputs["metadata"]["name"]: r for r in of_type(plan, PROVIDER)}
    alerts = {r.inputs["metadata"]["name"]: r for r in of_type(plan, ALERT)}
    assert sorted(providers) == sorted(alerts) == ["slack", "slack-deploys", "slack-infra"]
    assert [s.name for s in of_type(plan, SECRET) if "slack" in s.name] == [
        f"{PROD}-observability-slack-secret"
    ]  # one Secret for every route
    deploys, infra = providers["slack-deploys"].inputs, providers["slack-infra"].inputs
    assert deploys["spec"]["channel"] == "#deploys"
    assert infra["spec"]["channel"] == "C0123456789"
    assert deploys["spec"]["secretRef"] == providers["slack"].inputs["spec"]["secretRef"]
    alert = alerts["slack-deploys"].inputs["spec"]
    assert alert["providerRef"] == {"name": "slack-deploys"}
    assert alert["eventSeverity"] == "info"
    assert alert["eventSources"] == [{"kind": "HelmRelease", "name": "*"}]
    assert alerts["slack-infra"].inputs["spec"]["exclusionList"] == ["^Dependencies do not"]
    # the default route is what it was without routes
    before = plan_stack(ROOT, PROD)
    assert (
        one(plan, ALERT, f"{PROD}-observability-slack-alert").inputs
        == one(before, ALERT, f"{PROD}-observability-slack-alert").inputs
    )
    route_alert = one(plan, ALERT, f"{PROD}-observability-slack-deploys-alert")
    assert set(route_alert.dependencies) == {
        one(plan, INSTANCE).urn,
        providers["slack-deploys"].urn,
    }
    for obj in [*providers.values(), *alerts.values()]:
        assert validate(obj.inputs) == [], obj.inputs


def test_routes_without_the_default_channel_still_need_the_credential(project: Path) -> None:
    set_spec(project, STAGING, "alerts.slack", {"enabled": False})
    set_spec(project, STAGING, "alerts.routes", ROUTES[:1])
    set_stack_config(project, STAGING, {})
    with pytest.raises(pulumi.RunError) as caught:
        plan_stack(project, STAGING)
    assert str(caught.value) == MISSING.format(name=STAGING).replace(
        "spec.alerts.slack:", "spec.alerts.routes:"
    )
    set_stack_config(project, STAGING, {"flux-fleet:slackBotToken": {"secure": "v1:cipher"}})
    plan = plan_stack(project, STAGING)
    assert [r.inputs["metadata"]["name"] for r in of_type(plan, PROVIDER)] == ["slack-deploys"]


@pytest.mark.parametrize(
    ("routes", "path", "expected"),
    [
        ([ROUTES[0], ROUTES[0]], "spec.alerts.routes", "deploys more than once"),
        ([{"name": "x"}], "spec.alerts.routes[0].channel", "required field is missing"),
        ([{"name": "x" * 58, "channel": "#c"}], "spec.alerts.routes[0].name", "at most 57"),
        ([{"name": "x", "channel": "#c", "severity": "debug"}], "spec.alerts.routes[0].severity",
         "one of error or info"),
    ],
)  # fmt: skip
def test_a_bad_route_is_one_line(
    project: Path, routes: list[dict[str, Any]], path: str, expected: str
) -> None:
    set_spec(project, PROD, "alerts.routes", routes)
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"k8s-clusters/{PROD}.yaml: {path}: "), line
    assert expected in line, line


# --- the credential from AWS: spec.alerts.slack.credentialFrom -----------------------------------

SSM = "aws:ssm/getParameter:getParameter"
SECRETS_MANAGER = "aws:secretsmanager/getSecretVersion:getSecretVersion"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:flux-fleet/slack-AbCdEf"


def test_the_credential_is_read_from_ssm_with_the_clusters_provider(project: Path) -> None:
    set_spec(project, STAGING, "alerts.slack.credentialFrom", {"ssmParameter": "/fleet/slack"})
    set_stack_config(project, STAGING, {})  # no stack config: the fleet's parameter
    p = plan_stack(project, STAGING)
    assert SSM in p.invokes
    data = slack_secret(p).inputs["stringData"]
    assert isinstance(data, Secret)  # kept secret from the read on
    assert data.value == {"token": "placeholder value of SSM parameter /fleet/slack"}
    assert p.outputs["slackCredentialFrom"] == "SSM parameter /fleet/slack"
    assert one(p, PROVIDER).inputs["spec"]["address"] == "https://slack.com/api/chat.postMessage"
    for out in outputs_of(p):
        assert "placeholder value" not in out  # where it comes from, never a value
    assert "slackCredentialFrom: SSM parameter /fleet/slack" in render.text(p)


def test_a_webhook_from_secrets_manager(project: Path) -> None:
    source = {"secretsManager": SECRET_ARN, "kind": "webhookUrl"}
    set_spec(project, PROD, "alerts.slack.credentialFrom", source)
    set_stack_config(project, PROD, {})
    p = plan_stack(project, PROD)
    assert SECRETS_MANAGER in p.invokes and SSM not in p.invokes
    data = slack_secret(p).inputs["stringData"]
    assert isinstance(data, Secret) and set(data.value) == {"address"}
    assert "address" not in one(p, PROVIDER).inputs["spec"]
    assert p.outputs["slackCredentialFrom"] == f"Secrets Manager secret {SECRET_ARN}"


def test_stack_config_wins_over_the_fleet_source(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_spec(project, PROD, "alerts.slack.credentialFrom", {"ssmParameter": "/fleet/slack"})
    monkeypatch.setattr(runner, "stack_config", decrypted({"flux-fleet:slackBotToken": FAKE_TOKEN}))
    p = plan_stack(project, PROD)
    assert SSM not in p.invokes and "slackCredentialFrom" not in p.outputs
    assert slack_secret(p).inputs["stringData"].value == {"token": FAKE_TOKEN}


def test_the_fleet_source_from_defaults_lets_every_stack_validate(project: Path) -> None:
    defaults = project / "k8s-clusters" / "_defaults.yaml"
    text = defaults.read_text()
    old = '      channel: "#flux-alerts"\n'
    assert old in text
    defaults.write_text(
        text.replace(old, old + "      credentialFrom:\n        ssmParameter: /fleet/slack\n")
    )
    for name in (PROD, STAGING):
        set_stack_config(project, name, {})
    code, out, err = run_cli(project, "validate")
    assert (code, err) == (0, ""), err
    assert out.startswith("2 cluster definition(s) valid")
    p = plan_stack(project, PROD)
    assert p.outputs["slackCredentialFrom"] == "SSM parameter /fleet/slack"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"ssmParameter": "/a", "secretsManager": SECRET_ARN},
            "spec.alerts.slack.credentialFrom: expected exactly one of ssmParameter and "
            "secretsManager",
        ),
        (
            {"kind": "botToken"},
            "spec.alerts.slack.credentialFrom: expected exactly one of ssmParameter and "
            "secretsManager",
        ),
        (
            {"secretsManager": "flux-fleet/slack"},
            "spec.alerts.slack.credentialFrom.secretsManager: expected a Secrets Manager secret "
            'ARN (arn:aws:secretsmanager:...), got "flux-fleet/slack"',
        ),
        (
            {"ssmParameter": "/a b"},
            "spec.alerts.slack.credentialFrom.ssmParameter: expected an SSM parameter name such "
            'as /flux-fleet/slack-bot-token, or its ARN, got "/a b"',
        ),
        (
            {"ssmParameter": "/a", "kind": "token"},
            "spec.alerts.slack.credentialFrom.kind: expected one of botToken or webhookUrl, "
            'got "token"',
        ),
    ],
)
def test_a_bad_source_is_one_line(project: Path, source: dict[str, str], message: str) -> None:
    set_spec(project, STAGING, "alerts.slack.credentialFrom", source)
    code, _, err = run_cli(project, "validate")
    assert "Traceback" not in err
    assert (code, err.splitlines()) == (2, [f"k8s-clusters/{STAGING}.yaml: {message}"])


def test_a_clusters_monitor_labels_and_reporting_interval(project: Path) -> None:
    set_spec(project, PROD, "monitoring.monitorLabels", {"release": "prom", "team": "sre"})
    set_spec(project, PROD, "monitoring.reportingInterval", "1m")
    plan = plan_stack(project, PROD)
    values = one(plan, "kubernetes:helm.sh/v3:Release").inputs["values"]
    assert values["serviceMonitor"]["labels"] == {"release": "prom", "team": "sre"}
    assert values["reporting"] == {"interval": "1m"}
    pod_monitor = one(plan, "kubernetes:monitoring.coreos.com/v1:PodMonitor").inputs
    assert {"release": "prom", "team": "sre"}.items() <= pod_monitor["metadata"]["labels"].items()
    assert validate(pod_monitor) == []
    # without Prometheus: no ServiceMonitor, and the operator keeps its own interval
    set_spec(project, PROD, "monitoring.prometheus", False)
    values = one(plan_stack(project, PROD), "kubernetes:helm.sh/v3:Release").inputs["values"]
    assert "serviceMonitor" not in values
    assert "reporting" not in values
