"""Alerts that reach Slack once Flux runs: refused without notification-controller (its CRDs),
and covering the namespaces the cluster's apps use (an Alert's eventSources without a namespace
mean the Alert's own, notification-controller internal/server/event_handlers.go
eventMatchesAlertSources)."""

from __future__ import annotations

from pathlib import Path

from planutil import edit, run_cli

STAGING = "k8s-clusters/staging-cluster-name.yaml"
NO_NOTIFICATION = "    components: [source-controller, kustomize-controller, helm-controller]\n"


def refused(project: Path) -> list[str]:
    """The one-line problems of validate, and plan's same lines (exit 2 both, no traceback)."""
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    code, out, plan_err = run_cli(project, "plan", "staging-cluster-name")
    assert (code, out, plan_err) == (2, "", err)
    return err.splitlines()


def missing(on: str, off: str) -> str:
    return (
        f"{STAGING}: spec.flux.components: notification-controller is not in the list while "
        f"{on} is on: its Provider and Alert need the CRDs only notification-controller "
        f"installs, expected notification-controller in spec.flux.components, or {off}"
    )


def test_slack_without_notification_controller_is_refused(project: Path) -> None:
    edit(project, STAGING, "    size: small\n", "    size: small\n" + NO_NOTIFICATION)
    assert refused(project) == [
        missing("spec.alerts.slack (a channel is set)", "spec.alerts.slack.enabled: false")
    ]


def test_routes_without_notification_controller_are_refused(project: Path) -> None:
    edit(
        project,
        STAGING,
        "      severity: info  # every event, not only failures\n",
        "      enabled: false\n    routes:\n      - {name: deploys, channel: '#deploys'}\n",
    )
    edit(project, STAGING, "    size: small\n", "    size: small\n" + NO_NOTIFICATION)
    assert refused(project) == [missing("spec.alerts.routes", "no routes")]


def test_without_alerts_notification_controller_may_go(project: Path) -> None:
    edit(project, STAGING, "    size: small\n", "    size: small\n" + NO_NOTIFICATION)
    edit(project, STAGING, "      severity: info", "      enabled: false\n      severity: info")
    code, _, err = run_cli(project, "validate")
    assert (code, err) == (0, "")
