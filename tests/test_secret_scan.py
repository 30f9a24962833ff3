"""No plan shows a secret: every example stack and generated cluster, in text, JSON and markdown,
the stack outputs, and `fluxfleet plan` itself, with fake secrets in the stack config."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from definition_strategies import valid_clusters
from fleetworkspace import FAKE_SLACK_TOKEN, planned
from hypothesis import HealthCheck, Phase, given, settings
from planutil import run_cli
from ruamel.yaml import YAML
from secretscan import leaks, scan, unwrapped

from components.loading.fleet import load_fleet
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
FAKE_TOKEN = "xoxb-1111111111-2222222222-FAKEfakeFAKEfake"
FAKE_WEBHOOK = "https://hooks.slack.com/services/T00000000/B00000000/FAKEfakeFAKEfake"


def set_config(project: Path, stack: str, values: dict[str, str]) -> None:
    """Plain values as the stack's only config: what the program gets once Pulumi decrypted
    them."""
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump({"config": values}, out)
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(out.getvalue())


def with_fake_secrets(project: Path) -> Path:
    set_config(project, PROD, {"flux-fleet:slackBotToken": FAKE_TOKEN})
    set_config(project, STAGING, {"flux-fleet:slackWebhookUrl": FAKE_WEBHOOK})
    return project


def test_every_example_stack_plans_without_a_secret(root: Path) -> None:
    stacks = [*load_fleet(root).clusters, "registries"]
    assert len(stacks) >= 3
    for stack in stacks:
        plan = plan_stack(root, stack)
        assert scan(plan) == {}, stack
        if stack != "registries":
            # The key pairs' private keys are in what the program sent: the scan would see them.
            assert "PRIVATE KEY" in unwrapped([r.inputs for r in plan.resources])


def test_fake_slack_secrets_reach_the_cluster_but_no_output(project: Path) -> None:
    with_fake_secrets(project)
    for stack, secret in ((PROD, FAKE_TOKEN), (STAGING, FAKE_WEBHOOK)):
        plan = plan_stack(project, stack)
        sent = unwrapped([r.inputs for r in plan.resources])
        assert secret in sent, "the Slack Secret carries the credential"
        assert leaks(sent), "the scan recognises it"
        assert scan(plan) == {}, stack


def test_fluxfleet_plan_prints_no_secret(project: Path) -> None:
    with_fake_secrets(project)
    for args in (("plan",), ("plan", "--json")):
        code, out, err = run_cli(project, *args)
        assert code == 0, err
        assert "[secret]" in out
        assert leaks(out + err) == [], args


def adopt(spec: dict[str, Any]) -> None:
    spec["flux"] = {**spec.get("flux", {}), "adopt": True}
    spec["git"] = {**spec.get("git", {}), "path": "clusters/production"}


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "image automation (read-write key)": lambda s: s.setdefault("flux", {}).update(
        componentsExtra=["image-reflector-controller", "image-automation-controller"]
    ),
    "RSA key, rotated": lambda s: s.setdefault("flux", {}).update(
        deployKey={"algorithm": "RSA-4096", "rotation": 7}
    ),
    "ED25519 key": lambda s: s.setdefault("flux", {}).update(deployKey={"algorithm": "ED25519"}),
    "OCI sources over IRSA": lambda s: s["ecr"].update(ociSources=True),
    "taken over from flux bootstrap": adopt,
    "no Slack, no monitoring": lambda s: s.update(
        alerts={"slack": {"enabled": False}},
        monitoring={"grafanaDashboards": False, "prometheus": False},
    ),
}


@pytest.mark.parametrize("change", VARIANTS.values(), ids=VARIANTS.keys())
def test_cluster_variants_plan_without_a_secret(
    project: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    with_fake_secrets(project)
    path = project / "k8s-clusters" / f"{PROD}.yaml"
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(path.read_text())
    change(doc["spec"])
    out = io.StringIO()
    yaml.dump(doc, out)
    path.write_text(out.getvalue())
    plan = plan_stack(project, PROD)
    assert scan(plan) == {}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: planning is slow
)
@given(doc=valid_clusters())
def test_generated_clusters_plan_without_a_secret(doc: dict[str, Any]) -> None:
    plan = planned(doc)
    assert FAKE_SLACK_TOKEN not in unwrapped(plan.outputs)
    assert scan(plan) == {}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("token: xoxb-0000-FAKE", ["Slack token"]),
        ("xoxp-1-2", ["Slack token"]),
        ("xoxe.xoxp-1-refresh", ["Slack token"]),
        ("environment: xox20", []),  # a name hypothesis generated once: no token
        ("https://hooks.slack.com/services/T/B/x", ["webhook URL"]),
    ],
)
def test_the_scan_knows_a_token_from_a_name(text: str, found: list[str]) -> None:
    assert leaks(text) == found
