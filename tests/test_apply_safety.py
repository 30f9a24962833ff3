"""What a real `pulumi up`, `refresh` and `destroy` do that the offline plan alone cannot show
(#27): each test plans two states of a stack and checks, with the model of the engine's and the
providers' decisions (`applymodel.py`), what is created, updated, replaced (and how) or deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from applymodel import DEPLOY_KEY, KEY_PAIR, SECRET, by_op, transition
from planutil import of_type, one
from test_day2 import edit_spec

from components.plan.result import StackPlan
from components.plan.runner import plan_stack
from components.stack import program

PROD = "production-cluster-name"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def planned(project: Path, change: Callable[[dict[str, Any]], None] | None = None) -> StackPlan:
    if change is not None:
        edit_spec(project, PROD, change)
    program.fleet.cache_clear()  # the definitions are read again
    return plan_stack(project, PROD)


def rotate(spec: dict[str, Any]) -> None:
    spec.setdefault("flux", {}).setdefault("deployKey", {})["rotation"] = 2


# --- item 3: Secrets are updated in place --------------------------------------------------------


def test_the_cluster_provider_updates_secrets_in_place(project: Path) -> None:
    provider = one(planned(project), K8S_PROVIDER)
    assert json.loads(provider.inputs["enableSecretMutable"]) is True


def test_rotation_updates_every_secret_in_place_after_the_new_deploy_key(project: Path) -> None:
    before = planned(project)
    after = planned(project, rotate)
    steps = transition(before, after)
    keys = {r.urn for r in of_type(after, DEPLOY_KEY)}
    secrets = {r.urn: r for r in of_type(after, SECRET) if keys & set(r.dependencies)}
    assert len(secrets) == 2  # the fleet's and my-apps'
    for urn, reg in secrets.items():
        # the key material changed (a replacement without enableSecretMutable) ...
        old = next(r for r in before.resources if r.urn == urn)
        assert old.inputs["stringData"].value != reg.inputs["stringData"].value
        # ... and the Secret is updated, never deleted and created again
        assert steps[urn].op == "update", steps[urn]
        # after its new deploy key is on GitHub
        (new_key,) = keys & set(reg.dependencies)
        assert new_key.endswith("-r2") and steps[new_key].op == "create"
    # The other Secrets (the Slack credential) do not change.
    others = [r.urn for r in of_type(after, SECRET) if r.urn not in secrets]
    assert others and all(steps[urn].op == "same" for urn in others)
    # New key pairs and deploy keys created, the old ones deleted (last); nothing replaced.
    assert by_op(steps, "create") == {
        r.urn for r in after.resources if r.type in (KEY_PAIR, DEPLOY_KEY)
    }
    assert by_op(steps, "delete") == {
        r.urn for r in before.resources if r.type in (KEY_PAIR, DEPLOY_KEY)
    }
    assert not by_op(steps, "replace")


def test_without_mutable_secrets_the_model_sees_the_delete_first_replacement(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above fails when the provider option is gone: the Secret (a fixed name) would
    be replaced delete-first."""
    before, after = planned(project), planned(project, rotate)
    for plan in (before, after):
        provider = one(plan, K8S_PROVIDER)
        monkeypatch.setitem(provider.inputs, "enableSecretMutable", "false")
    steps = transition(before, after)
    keys = {r.urn for r in of_type(after, DEPLOY_KEY)}
    secrets = [r.urn for r in of_type(after, SECRET) if keys & set(r.dependencies)]
    assert len(secrets) == 2
    for urn in secrets:
        assert steps[urn].op == "replace" and steps[urn].delete_first
