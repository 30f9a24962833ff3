"""Slack alerts, Prometheus scraping and dashboard ConfigMaps: the model and the pure builders
(components/builders/alerts.py, components/builders/monitoring.py), the CRDs they must satisfy, and
`fluxfleet dashboards`."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from crdcheck import CRD_DIR, validate
from dashboardtools import DOCUMENTED_METRICS, iter_panels, metric_names, panel_queries
from planutil import BARE
from ruamel.yaml import YAML

from components.builders import alerts
from components.builders.alerts import (
    SLACK_API_ADDRESS,
    SlackConfigError,
    SlackCredential,
    slack_alert,
    slack_credential,
    slack_provider,
    slack_secret_string_data,
)
from components.builders.flux import operator_values
from components.builders.monitoring import dashboard_configmaps, flux_pod_monitor
from components.builders.options import monitoring_options, operator_options
from components.definition.alerts import FluxEventKind
from components.definition.cluster import Cluster
from components.loading.fleet import load_fleet, validate_cluster_doc
from components.tools import cli

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
BOT = SlackCredential("slackBotToken")
WEBHOOK = SlackCredential("slackWebhookUrl")
TITLES = {"Flux Cluster Stats", "Flux Control Plane"}


def cluster_from(spec: dict[str, Any] | None = None) -> tuple[Cluster | None, list[str]]:
    """A definition without fleet defaults: BARE's spec with `spec` merged over it."""
    doc = copy.deepcopy(BARE)
    doc["spec"].update(copy.deepcopy(spec or {}))
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    return cluster, [str(p) for p in problems]


def bare(spec: dict[str, Any] | None = None) -> Cluster:
    cluster, problems = cluster_from(spec)
    assert cluster is not None, problems
    return cluster


@pytest.fixture(scope="module")
def fleet(root: Path) -> dict[str, Cluster]:
    return load_fleet(root).clusters


# --- the model ------------------------------------------------------------------------------------


def test_a_cluster_with_nothing_set_validates_with_alerts_off_and_monitoring_on() -> None:
    cluster = bare()
    slack = cluster.spec.alerts.slack
    assert slack.is_enabled is False
    assert slack.channel is None
    assert slack.severity == "error"
    monitoring = cluster.spec.monitoring
    assert monitoring.grafana_dashboards is True
    assert monitoring.namespace == "monitoring"
    assert monitoring.dashboard_label == {"grafana_dashboard": "1"}
    assert monitoring.prometheus is True


def test_default_event_sources_cover_the_usual_kinds_and_the_flux_instance() -> None:
    sources = [(s.kind, s.name, s.namespace) for s in bare().spec.alerts.slack.event_sources]
    assert sources == [
        ("Kustomization", "*", None),
        ("HelmRelease", "*", None),
        ("GitRepository", "*", None),
        ("OCIRepository", "*", None),
        ("FluxInstance", "flux", None),
    ]


def test_a_channel_turns_slack_on_and_enabled_false_turns_it_off() -> None:
    assert bare({"alerts": {"slack": {"channel": "#ops"}}}).spec.alerts.slack.is_enabled
    off = bare({"alerts": {"slack": {"channel": "#ops", "enabled": False}}})
    assert off.spec.alerts.slack.is_enabled is False


def test_example_fleet_channel_comes_from_defaults_and_staging_says_info(
    fleet: dict[str, Cluster],
) -> None:
    prod, staging = fleet[PROD].spec.alerts.slack, fleet[STAGING].spec.alerts.slack
    assert prod.channel == staging.channel == "#flux-alerts"
    assert prod.is_enabled and staging.is_enabled
    assert prod.severity == "error"
    assert staging.severity == "info"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"alerts": {"slack": {"enabled": True}}},
            "spec.alerts.slack: expected a channel (such as #flux-alerts) when enabled is true",
        ),
        ({"alerts": {"slack": {"channel": ""}}}, "spec.alerts.slack.channel: expected a Slack"),
        ({"alerts": {"slack": {"channel": "#flux alerts"}}}, "spec.alerts.slack.channel: "),
        (
            {"alerts": {"slack": {"channel": "#a", "severity": "warning"}}},
            'spec.alerts.slack.severity: expected one of error or info, got "warning"',
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "eventSources": [{"kind": "Deployment"}]}}},
            "spec.alerts.slack.eventSources[0].kind: expected one of FluxInstance, ",
        ),
        (
            {
                "alerts": {
                    "slack": {
                        "channel": "#a",
                        "eventSources": [{"kind": "Kustomization", "name": "Apps"}],
                    }
                }
            },
            "spec.alerts.slack.eventSources[0].name: expected a Kubernetes object name",
        ),
        (
            {
                "alerts": {
                    "slack": {
                        "channel": "#a",
                        "eventSources": [{"kind": "HelmRelease", "namespace": "Apps"}],
                    }
                }
            },
            "spec.alerts.slack.eventSources[0].namespace: expected an RFC 1123 label",
        ),
        (
            {
                "alerts": {
                    "slack": {
                        "channel": "#a",
                        "eventSources": [
                            {"kind": "HelmRelease", "name": "web", "matchLabels": {"team": "a"}}
                        ],
                    }
                }
            },
            'spec.alerts.slack.eventSources[0]: expected name "*" with matchLabels, got "web"',
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "eventSources": []}}},
            "spec.alerts.slack.eventSources: expected at least 1 entries, got 0",
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "exclusionList": ["ok", "timeout ("]}}},
            'spec.alerts.slack.exclusionList[1]: expected a Go regular expression, got "timeout ("',
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "exclusionList": ["^(?!error)"]}}},
            'spec.alerts.slack.exclusionList[0]: expected a Go regular expression, got "^(?!error)"'
            " (RE2: invalid perl operator: (?!)",
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "exclusionList": [""]}}},
            "spec.alerts.slack.exclusionList[0]: expected a Go regular expression, got an empty",
        ),
        (
            {"alerts": {"slack": {"channel": "#a", "sevrity": "info"}}},
            "spec.alerts.slack.sevrity: unknown field, did you mean severity?",
        ),
        (
            {"monitoring": {"namespace": "Monitoring"}},
            "spec.monitoring.namespace: expected an RFC 1123 label",
        ),
        (
            {"monitoring": {"dashboardLabel": {"grafana_dashboard": 1}}},
            "spec.monitoring.dashboardLabel.grafana_dashboard: expected a string",
        ),
        (
            {"monitoring": {"dashboardLabel": {"grafana dashboard": "1"}}},
            "expected a Kubernetes label key",
        ),
        (
            {"monitoring": {"dashboardLabel": {"grafana_dashboard": "-1-"}}},
            "spec.monitoring.dashboardLabel.grafana_dashboard: expected a Kubernetes label value",
        ),
        (
            {"monitoring": {"dashboardLabel": {"a" * 64: "1"}}},
            "expected a label key with a name of at most 63 characters",
        ),
        (
            {"monitoring": {"dashboardLabel": {}}},
            "spec.monitoring.dashboardLabel: expected at least 1 entries, got 0",
        ),
        (
            {"monitoring": {"prometheus": "yes"}},
            'spec.monitoring.prometheus: expected true or false, got "yes"',
        ),
    ],
)
def test_bad_alerts_and_monitoring_fields_name_the_field_and_what_was_expected(
    spec: dict[str, Any], expected: str
) -> None:
    cluster, problems = cluster_from(spec)
    assert cluster is None
    assert len(problems) == 1, problems
    assert problems[0].startswith("k8s-clusters/bare.yaml: ")
    assert expected in problems[0], problems[0]


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        # Go's regexp (RE2) decides, not Python's re: each of these compiles in Python
        ("(?P=x)", '"(?P=x)" (RE2: invalid perl operator: (?P)'),  # a backreference
        ("(?>a)", '"(?>a)" (RE2: invalid perl operator: (?>)'),  # an atomic group
        ("a*+", '"a*+" (RE2: bad repetition operator: *+)'),  # a possessive quantifier
        ("a\\Z", '"a\\\\Z" (RE2: invalid escape sequence: \\Z)'),  # Go has \z
        ("a{1001}", '"a{1001}" (RE2: invalid repetition size: {1001})'),
        # 2,000 nested parentheses were a RecursionError; a 10 MB regex took 1.5 GB and 14 s
        ("(" * 2000 + "a" + ")" * 2000, "of at most 1024 characters, got 4,001"),
        ("a" * 500_000, "of at most 1024 characters, got 500,000"),
    ],
)
def test_exclusion_regexes_are_checked_by_re2_and_bounded(regex: str, expected: str) -> None:
    cluster, problems = cluster_from(
        {"alerts": {"slack": {"channel": "#a", "exclusionList": [regex]}}}
    )
    assert cluster is None
    separator = " " if expected.startswith("of ") else ", got "
    assert problems == [
        "k8s-clusters/bare.yaml: spec.alerts.slack.exclusionList[0]: expected a Go regular "
        f"expression{separator}{expected}"
    ]


def test_go_regex_syntax_python_rejects_is_accepted() -> None:
    regexes = ["(?<name>timeout)", "\\p{Greek}+", "(?i)a(?s:b.)c", "a{1000}"]
    slack = bare({"alerts": {"slack": {"channel": "#a", "exclusionList": regexes}}})
    assert slack.spec.alerts.slack.exclusion_list == regexes


@pytest.mark.parametrize("channel", ["#a\x00b", "#alerts\x1b[2J", "#\u202eslla", "#a\u200bb"])
def test_a_control_or_invisible_character_in_a_channel_is_refused_and_escaped(
    channel: str,
) -> None:
    cluster, problems = cluster_from({"alerts": {"slack": {"channel": channel}}})
    assert cluster is None
    assert len(problems) == 1 and problems[0].isprintable(), problems
    assert "spec.alerts.slack.channel: expected a Slack channel" in problems[0]
    assert "(a control or invisible character)" in problems[0]


def test_valid_event_sources_label_keys_and_regexes_are_accepted() -> None:
    cluster = bare(
        {
            "alerts": {
                "slack": {
                    "channel": "C0123456789",
                    "eventSources": [
                        {
                            "kind": "HelmRelease",
                            "name": "*",
                            "namespace": "podinfo",
                            "matchLabels": {"app.kubernetes.io/part-of": "web"},
                        },
                        {"kind": "Kustomization", "name": "apps"},
                        {"kind": "ImageUpdateAutomation"},
                    ],
                    "exclusionList": [r"^(?i)dial tcp .*: i/o timeout$", r"waiting for \d+"],
                }
            },
            "monitoring": {"dashboardLabel": {"example.com/dashboard": "flux", "empty": ""}},
        }
    )
    assert cluster.spec.alerts.slack.event_sources[2].name == "*"


def test_event_kinds_are_the_alert_crds_plus_flux_instance() -> None:
    crd = YAML(typ="safe").load(
        (CRD_DIR / "notification.toolkit.fluxcd.io_alerts.yaml").read_text()
    )
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta3"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    crd_kinds = set(spec["eventSources"]["items"]["properties"]["kind"]["enum"])
    assert set(typing.get_args(FluxEventKind)) == crd_kinds | {"FluxInstance"}


# --- the Slack credential ------------------------------------------------------------------------


def test_no_credential_needed_when_slack_is_off() -> None:
    assert slack_credential(bare(), set()) is None
    off = bare({"alerts": {"slack": {"channel": "#ops", "enabled": False}}})
    assert slack_credential(off, set()) is None


def test_missing_credential_names_the_key_and_the_command() -> None:
    cluster = bare({"alerts": {"slack": {"channel": "#ops"}}})
    with pytest.raises(SlackConfigError) as caught:
        slack_credential(cluster, {"someOtherKey"})
    assert str(caught.value) == (
        "k8s-clusters/bare.yaml: spec.alerts.slack: enabled but no Slack credential in stack "
        "config; run: pulumi config set --secret slackBotToken <xoxb-...> -s bare "
        "(or slackWebhookUrl), or read it from AWS: spec.alerts.slack.credentialFrom"
    )


def test_both_credentials_is_an_error_too() -> None:
    cluster = bare({"alerts": {"slack": {"channel": "#ops"}}})
    with pytest.raises(SlackConfigError, match="both slackBotToken and slackWebhookUrl"):
        slack_credential(cluster, {"slackBotToken", "slackWebhookUrl"})


def test_the_set_credential_is_chosen() -> None:
    cluster = bare({"alerts": {"slack": {"channel": "#ops"}}})
    assert slack_credential(cluster, {"slackBotToken"}) == BOT
    assert slack_credential(cluster, {"slackWebhookUrl"}) == WEBHOOK


def test_secret_keys_are_the_ones_notification_controller_reads() -> None:
    assert slack_secret_string_data(BOT, "xoxb-1") == {"token": "xoxb-1"}
    assert slack_secret_string_data(WEBHOOK, "https://hooks.slack.com/x") == {
        "address": "https://hooks.slack.com/x"
    }


# --- Provider, Alert, PodMonitor against the CRDs -------------------------------------------------


def test_bot_token_provider_posts_to_the_chat_api(fleet: dict[str, Cluster]) -> None:
    provider = slack_provider(fleet[PROD], BOT)
    assert validate(provider) == []
    assert provider["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"
    assert provider["metadata"]["namespace"] == "flux-system"
    assert provider["spec"] == {
        "type": "slack",
        "channel": "#flux-alerts",
        "address": SLACK_API_ADDRESS,
        "secretRef": {"name": "slack-credentials"},
    }


def test_webhook_provider_takes_its_address_from_the_secret(fleet: dict[str, Cluster]) -> None:
    provider = slack_provider(fleet[PROD], WEBHOOK)
    assert validate(provider) == []
    assert "address" not in provider["spec"]
    assert provider["spec"]["secretRef"] == {"name": "slack-credentials"}


def test_alert_spec(fleet: dict[str, Cluster]) -> None:
    for name, severity in ((PROD, "error"), (STAGING, "info")):
        alert = slack_alert(fleet[name])
        assert validate(alert) == [], name
        spec = alert["spec"]
        assert spec["providerRef"] == {"name": slack_provider(fleet[name], BOT)["metadata"]["name"]}
        assert spec["eventSeverity"] == severity
        assert {"kind": "FluxInstance", "name": "flux"} in spec["eventSources"]
        assert {"kind": "Kustomization", "name": "*"} in spec["eventSources"]
        assert "exclusionList" not in spec
    assert slack_alert(fleet[PROD])["spec"]["eventMetadata"] == {
        "cluster": PROD,
        "environment": "production",
        "region": "eu-west-1",
        "account": "123456789012",
    }


def test_alert_carries_namespaces_labels_and_exclusions() -> None:
    cluster = bare(
        {
            "alerts": {
                "slack": {
                    "channel": "#ops",
                    "eventSources": [
                        {
                            "kind": "HelmRelease",
                            "namespace": "podinfo",
                            "matchLabels": {"team": "web"},
                        },
                    ],
                    "exclusionList": ["i/o timeout"],
                }
            }
        }
    )
    alert = slack_alert(cluster)
    assert validate(alert) == []
    assert alert["spec"]["eventSources"] == [
        {"kind": "HelmRelease", "name": "*", "namespace": "podinfo", "matchLabels": {"team": "web"}}
    ]
    assert alert["spec"]["exclusionList"] == ["i/o timeout"]


def test_crd_check_rejects_what_the_api_server_would() -> None:
    alert = slack_alert(bare({"alerts": {"slack": {"channel": "#ops"}}}))
    broken = copy.deepcopy(alert)
    broken["spec"]["eventSources"][0]["kind"] = "Deployment"
    assert validate(broken)
    broken = copy.deepcopy(alert)
    broken["spec"]["severity"] = "error"  # the field is eventSeverity
    assert validate(broken)
    broken = copy.deepcopy(alert)
    del broken["spec"]["eventSources"]
    assert validate(broken)


def test_pod_monitor_scrapes_every_flux_controller_of_the_cluster() -> None:
    cluster = bare({"flux": {"componentsExtra": ["image-reflector-controller"]}})
    monitor = flux_pod_monitor(monitoring_options(cluster))
    assert validate(monitor) == []
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "flux-system"
    spec = monitor["spec"]
    assert spec["podMetricsEndpoints"] == [{"port": "http-prom"}]
    assert spec["namespaceSelector"] == {"matchNames": ["flux-system"]}
    (expression,) = spec["selector"]["matchExpressions"]
    assert expression["key"] == "app" and expression["operator"] == "In"
    assert expression["values"] == [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
        "image-reflector-controller",
    ]


def test_operator_exports_its_metrics_only_with_prometheus() -> None:
    assert operator_values(operator_options(bare()))["serviceMonitor"] == {"create": True}
    assert "serviceMonitor" not in operator_values(
        operator_options(bare({"monitoring": {"prometheus": False}}))
    )


# --- dashboards as ConfigMaps ---------------------------------------------------------------------


def test_dashboard_configmaps(fleet: dict[str, Cluster]) -> None:
    maps = dashboard_configmaps(monitoring_options(fleet[PROD]))
    assert [m.name for m in maps] == [
        "grafana-dashboard-flux-cluster-stats",
        "grafana-dashboard-flux-control-plane",
    ]
    titles = set()
    for cm in maps:
        assert cm.namespace == "monitoring"
        assert cm.labels["grafana_dashboard"] == "1"
        (text,) = cm.data.values()
        assert len(text.encode()) < 1024 * 1024
        dashboard = json.loads(text)
        titles.add(dashboard["title"])
        ids = [p["id"] for p in iter_panels(dashboard)]
        assert len(ids) == len(set(ids)), cm.name
        for expr in panel_queries(dashboard):
            assert metric_names(expr) <= DOCUMENTED_METRICS, expr
    assert titles == TITLES


def test_dashboard_configmaps_follow_the_definition() -> None:
    cluster = bare(
        {"monitoring": {"namespace": "grafana", "dashboardLabel": {"example.com/dash": "yes"}}}
    )
    for cm in dashboard_configmaps(monitoring_options(cluster)):
        assert cm.namespace == "grafana"
        assert cm.labels == {
            "example.com/dash": "yes",
            "app.kubernetes.io/managed-by": "flux-fleet",
        }
    off = monitoring_options(bare({"monitoring": {"grafanaDashboards": False}}))
    assert dashboard_configmaps(off) == []


def test_alerts_module_does_not_import_pulumi() -> None:
    tree = ast.parse(Path(alerts.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(name.split(".")[0].startswith("pulumi") for name in imported), imported


# --- fluxfleet dashboards ---------------------------------------------------------------------


def test_cli_writes_the_dashboards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grafana" / "import"
    assert cli.main(["dashboards", "--out", str(out)]) == 0
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == ["flux-cluster-stats.json", "flux-control-plane.json"]
    assert {json.loads(f.read_text())["title"] for f in files} == TITLES
    assert capsys.readouterr().out.split() == [str(f) for f in files]


def test_cli_dashboards_into_a_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["dashboards", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{blocker / 'out'}: cannot write the dashboards: ")
    assert "Traceback" not in err


def test_cli_dashboards_does_not_import_pulumi(tmp_path: Path, root: Path) -> None:
    code = (
        "import sys; from components.tools.cli import main; "
        f"rc = main(['dashboards', '--out', {str(tmp_path)!r}]); "
        "assert not [m for m in sys.modules if m.split('.')[0].startswith('pulumi')]; "
        "sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.json"))) == 2
