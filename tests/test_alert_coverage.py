"""Alerts that reach Slack once Flux runs: refused without notification-controller (its CRDs),
and covering the namespaces the cluster's apps use (an Alert's eventSources without a namespace
mean the Alert's own, notification-controller internal/server/event_handlers.go
eventMatchesAlertSources)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from alerttools import slack_alert
from crdcheck import validate as crd_validate
from planutil import BARE, edit, one, run_cli

from components.loading.fleet import validate_cluster_doc
from components.plan.runner import plan_stack

STAGING = "k8s-clusters/staging-cluster-name.yaml"
ALERT = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Alert"
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


# --- the namespaces the alerts cover ------------------------------------------------------------


def alert_of(spec: dict[str, Any], route: int | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(BARE)
    doc["spec"].update(spec)
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    assert cluster is not None, problems
    alert = slack_alert(cluster, None if route is None else cluster.spec.alerts.routes[route])
    assert crd_validate(alert) == []
    return alert


def problems_of(spec: dict[str, Any]) -> list[str]:
    doc = copy.deepcopy(BARE)
    doc["spec"].update(spec)
    _, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    return [str(p) for p in problems]


def test_without_namespaces_the_default_alert_is_unchanged_and_covers_flux_system() -> None:
    sources = alert_of({"alerts": {"slack": {"channel": "#a"}}})["spec"]["eventSources"]
    assert sources == [
        {"kind": kind, "name": "*"}
        for kind in ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
    ] + [{"kind": "FluxInstance", "name": "flux"}]


def test_each_namespace_gets_every_source_without_a_namespace() -> None:
    alerts = {
        "namespaces": ["podinfo", "team-a"],
        "slack": {"channel": "#a"},
        "routes": [
            {
                "name": "deploys",
                "channel": "#d",
                "eventSources": [
                    {"kind": "HelmRelease", "name": "*", "matchLabels": {"tier": "web"}},
                    {"kind": "Kustomization", "name": "x", "namespace": "other"},
                ],
            }
        ],
    }
    sources = alert_of({"alerts": alerts})["spec"]["eventSources"]
    kinds = ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
    expected: list[dict[str, Any]] = []
    for kind in kinds:
        expected.append({"kind": kind, "name": "*"})
        expected += [{"kind": kind, "name": "*", "namespace": ns} for ns in ("podinfo", "team-a")]
    # the operator reconciles one FluxInstance, in flux-system: not repeated
    assert sources == [*expected, {"kind": "FluxInstance", "name": "flux"}]
    route = alert_of({"alerts": alerts}, 0)["spec"]["eventSources"]
    labels = {"matchLabels": {"tier": "web"}}
    assert route == [
        {"kind": "HelmRelease", "name": "*", **labels},
        {"kind": "HelmRelease", "name": "*", "namespace": "podinfo", **labels},
        {"kind": "HelmRelease", "name": "*", "namespace": "team-a", **labels},
        {"kind": "Kustomization", "name": "x", "namespace": "other"},  # as written
    ]


def test_an_event_from_an_app_namespace_matches_the_alert_as_notification_controller_does() -> None:
    """notification-controller's eventMatchesAlertSources: a source's empty namespace becomes the
    Alert's, then namespace and kind must equal the event's (no wildcard)."""

    def matches(alert: dict[str, Any], kind: str, namespace: str) -> bool:
        return any(
            (s.get("namespace") or alert["metadata"]["namespace"]) == namespace
            and s["kind"] == kind
            for s in alert["spec"]["eventSources"]
        )

    before = alert_of({"alerts": {"slack": {"channel": "#a"}}})
    after = alert_of({"alerts": {"slack": {"channel": "#a"}, "namespaces": ["podinfo"]}})
    assert not matches(before, "HelmRelease", "podinfo")
    assert matches(after, "HelmRelease", "podinfo")
    assert matches(after, "HelmRelease", "flux-system")
    assert not matches(after, "HelmRelease", "elsewhere")


def test_namespaces_are_refused_under_the_lockdown() -> None:
    why = (
        "with spec.flux.multitenant notification-controller refuses events from another "
        "namespace than the Alert's (flux-system; --no-cross-namespace-refs)"
    )
    assert problems_of(
        {
            "flux": {"multitenant": True},
            "alerts": {
                "slack": {"channel": "#a"},
                "namespaces": ["podinfo"],
                "routes": [
                    {
                        "name": "r",
                        "channel": "#r",
                        "eventSources": [
                            {"kind": "HelmRelease", "namespace": "flux-system"},
                            {"kind": "HelmRelease", "namespace": "team-a"},
                        ],
                    }
                ],
            },
        }
    ) == [
        f"k8s-clusters/bare.yaml: spec.alerts.namespaces: {why}, expected none",
        "k8s-clusters/bare.yaml: spec.alerts.routes[0].eventSources[1].namespace: "
        f"{why}, expected flux-system or no namespace",
    ]
    # alerts off: nothing is sent, nothing to refuse
    assert problems_of({"flux": {"multitenant": True}, "alerts": {"namespaces": ["podinfo"]}}) == []


@pytest.mark.parametrize(
    ("namespaces", "expected"),
    [
        (["Team"], "spec.alerts.namespaces[0]: "),
        (["a", "a"], "spec.alerts.namespaces: "),
        ("podinfo", "spec.alerts.namespaces: "),
    ],
)
def test_bad_namespaces_are_one_line(namespaces: Any, expected: str) -> None:
    problems = problems_of({"alerts": {"slack": {"channel": "#a"}, "namespaces": namespaces}})
    assert len(problems) == 1
    assert problems[0].startswith(f"k8s-clusters/bare.yaml: {expected}")


def test_the_plan_alert_covers_the_fleet_wide_namespaces(project: Path) -> None:
    edit(
        project,
        "k8s-clusters/_defaults.yaml",
        "  alerts:\n",
        "  alerts:\n    namespaces: [podinfo]  # the overlay's namespace\n",
    )
    alert = one(plan_stack(project, "staging-cluster-name"), ALERT).inputs
    assert {"kind": "HelmRelease", "name": "*", "namespace": "podinfo"} in alert["spec"][
        "eventSources"
    ]
    assert {"kind": "HelmRelease", "name": "*"} in alert["spec"]["eventSources"]
    assert crd_validate(alert) == []


HELM_RELEASE = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}
"""


def test_validate_names_a_flux_object_of_the_tree_in_an_uncovered_namespace(
    project: Path,
) -> None:
    overlay = project / "flux/apps/staging"
    (overlay / "release.yaml").write_text(HELM_RELEASE)
    edit(
        project,
        "flux/apps/staging/kustomization.yaml",
        "  - ../base\n",
        "  - ../base\n  - release.yaml\n",
    )
    code, _, err = run_cli(project, "validate")
    assert (code, err.splitlines()) == (
        2,
        [
            "flux/apps/staging/release.yaml: HelmRelease podinfo: metadata.namespace: "
            f'"podinfo" is not covered by the alerts of {STAGING}, expected it in '
            "spec.alerts.namespaces (an Alert's event source without a namespace is flux-system "
            "only)"
        ],
    )
    # covered (the example's production cluster, another environment, never saw it)
    edit(project, STAGING, "    slack:\n", "    namespaces: [podinfo]\n    slack:\n")
    assert run_cli(project, "validate")[0] == 0
    # or alerts off: nothing to cover
    edit(project, STAGING, "    namespaces: [podinfo]\n", "")
    edit(project, STAGING, "      severity: info", "      enabled: false\n      severity: info")
    assert run_cli(project, "validate")[0] == 0
