"""What a real `pulumi up`, `refresh` and `destroy` do that the offline plan alone cannot show
(#27): each test plans two states of a stack and checks, with the model of the engine's and the
providers' decisions (`applymodel.py`), what is created, updated, replaced (and how) or deleted."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest
from applymodel import (
    ACCESS_ENTRY,
    ACCESS_POLICY,
    DEPLOY_KEY,
    KEY_PAIR,
    POD_IDENTITY,
    SECRET,
    Step,
    by_op,
    transition,
)
from planutil import of_type, one, run_cli
from test_day2 import cluster_answers, dependents, edit_spec, plain  # noqa: F401 (a fixture)

from components.plan import render
from components.plan.mocks import PlanMocks, RecordingMonitor
from components.plan.result import StackPlan
from components.plan.runner import plan_stack
from components.stack import access_wait, cluster

PROD = "production-cluster-name"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def planned(project: Path, change: Callable[[dict[str, Any]], None] | None = None) -> StackPlan:
    if change is not None:
        edit_spec(project, PROD, change)
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


# --- items 1 and 5: the GitHub credential comes from each command's environment ------------------

GITHUB_PROVIDER = "pulumi:providers:github"
APP_ENV = {
    "GITHUB_APP_ID": "123456",
    "GITHUB_APP_INSTALLATION_ID": "7654321",
    "GITHUB_APP_PEM_FILE": "-----BEGIN RSA PRIVATE KEY-----\nFAKE\n-----END RSA PRIVATE KEY-----",
}


@pytest.fixture
def no_github_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("GITHUB_TOKEN", *APP_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_github_token_in_the_provider_inputs(
    project: Path, no_github_env: pytest.MonkeyPatch
) -> None:
    no_github_env.setenv("GITHUB_TOKEN", "ghs_first_run_token")
    first = planned(project)
    provider = one(first, GITHUB_PROVIDER)
    # Not an input, so not in the state: destroy and refresh (which configure the provider from
    # the state) use the token of their own environment, read by the provider.
    assert "token" not in provider.inputs and "appAuth" not in provider.inputs
    assert "ghs_first_run_token" not in json.dumps(plain(provider.inputs))
    # The program's environment is left as it was.
    assert os.environ["GITHUB_TOKEN"] == "ghs_first_run_token"
    # A new token on the next run (an App token lives an hour) changes nothing: no drift.
    no_github_env.setenv("GITHUB_TOKEN", "ghs_next_run_token")
    steps = transition(first, planned(project))
    assert steps[provider.urn].op == "same"
    assert {step.op for step in steps.values()} == {"same"}


def test_without_hiding_the_sdk_stores_the_token(
    project: Path, no_github_env: pytest.MonkeyPatch
) -> None:
    """What the test above guards against: the SDK copies GITHUB_TOKEN into the inputs."""
    no_github_env.setattr(cluster, "_hidden", lambda _name: nullcontext())
    no_github_env.setenv("GITHUB_TOKEN", "ghs_first_run_token")
    first = planned(project)
    assert plain(one(first, GITHUB_PROVIDER).inputs)["token"] == "ghs_first_run_token"
    no_github_env.setenv("GITHUB_TOKEN", "ghs_next_run_token")
    steps = transition(first, planned(project))
    assert steps[one(first, GITHUB_PROVIDER).urn].op == "update"


def test_github_app_variables_configure_an_empty_app_auth(
    project: Path, no_github_env: pytest.MonkeyPatch
) -> None:
    for name, value in APP_ENV.items():
        no_github_env.setenv(name, value)
    plan = planned(project)
    provider = one(plan, GITHUB_PROVIDER)
    # The block the provider needs to read GITHUB_APP_* (pulumi-github docs), empty: the App's
    # IDs and key stay in the environment, never in the state.
    assert json.loads(provider.inputs["appAuth"]) == {}
    assert "token" not in provider.inputs
    assert "FAKE" not in json.dumps(plain([r.inputs for r in plan.resources]), default=str)
    # Switching between a token and the App is an update of the provider, not a replacement of
    # the deploy keys.
    no_github_env.delenv("GITHUB_APP_ID")
    no_github_env.delenv("GITHUB_APP_INSTALLATION_ID")
    no_github_env.delenv("GITHUB_APP_PEM_FILE")
    no_github_env.setenv("GITHUB_TOKEN", "ghs_token")
    steps = transition(plan, planned(project))
    assert steps[provider.urn].op == "update"
    assert {s.op for urn, s in steps.items() if urn != provider.urn} == {"same"}


def test_some_github_app_variables_without_the_others_is_one_line(
    project: Path, no_github_env: pytest.MonkeyPatch
) -> None:
    no_github_env.setenv("GITHUB_APP_ID", "123456")
    code, out, err = run_cli(project, "plan", PROD)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "GITHUB_APP_ID set without GITHUB_APP_INSTALLATION_ID, GITHUB_APP_PEM_FILE: the GitHub "
        "provider authenticates as a GitHub App with all of GITHUB_APP_ID, "
        "GITHUB_APP_INSTALLATION_ID, GITHUB_APP_PEM_FILE (GITHUB_APP_PEM_FILE: the key's PEM "
        "text), or with GITHUB_TOKEN"
    ]


# --- item 7: read-only to read-write goes through a new key pair ---------------------------------


def image_automation(spec: dict[str, Any]) -> None:
    spec.setdefault("flux", {})["componentsExtra"] = ["image-automation-controller"]


def assert_flip_is_a_rotation(
    read_only: StackPlan, read_write: StackPlan, key: str, to_read_write: bool
) -> tuple[StackPlan, dict[str, Step], Any]:
    """The key `key` (a name prefix) flipped to read-write or back: a new key pair and deploy key
    created, the old ones deleted (last), no deploy key replaced (GitHub always has a key Flux
    holds), and the Secret updated in place after the new deploy key exists. Returns the plan
    after, the steps and the new deploy key."""
    before, after = (read_only, read_write) if to_read_write else (read_write, read_only)
    steps = transition(before, after)
    old_name, new_name = (f"{key}-r1", f"{key}-r1-rw")[:: 1 if to_read_write else -1]
    new_key = one(after, DEPLOY_KEY, new_name)
    assert new_key.inputs["readOnly"] is (not to_read_write)
    for type_ in (KEY_PAIR, DEPLOY_KEY):
        assert steps[one(after, type_, new_name).urn].op == "create"
        assert steps[one(before, type_, old_name).urn].op == "delete"
    assert not [urn for urn in by_op(steps, "replace") if DEPLOY_KEY in urn]
    secret = next(s for s in of_type(after, SECRET) if new_key.urn in s.dependencies)
    assert steps[secret.urn].op == "update"
    return after, steps, new_key


@pytest.mark.parametrize("to_read_write", [True, False])
def test_flipping_the_fleet_key_access_is_a_rotation(project: Path, to_read_write: bool) -> None:
    fleet = f"{PROD}-fleet-key"
    after, steps, new_key = assert_flip_is_a_rotation(
        planned(project), planned(project, image_automation), fleet, to_read_write
    )
    # told apart on GitHub's list while both exist
    access = ", read-write" if to_read_write else ""
    assert new_key.inputs["title"] == f"flux-fleet {PROD} fleet (rotation 1{access})"
    assert one(after, SECRET, fleet).urn in by_op(steps, "update")
    # The application keys stay read-only and untouched.
    app = one(after, DEPLOY_KEY, f"{PROD}-app-my-apps-r1")
    assert app.inputs["readOnly"] is True and steps[app.urn].op == "same"


def app_image_automation(spec: dict[str, Any]) -> None:
    """Image automation pushing to the application repository my-apps (#28 item 6)."""
    image_automation(spec)
    spec["apps"][0]["imageAutomation"] = True


@pytest.mark.parametrize("to_read_write", [True, False])
def test_flipping_an_app_key_to_read_write_is_a_new_key_pair(
    project: Path, to_read_write: bool
) -> None:
    """The app key follows the fleet key's rule (#27 item 7 with #28 item 6): a new pair and
    deploy key `-rw`, the Secret updated after it exists, the old one deleted; none replaced."""
    assert_flip_is_a_rotation(
        planned(project, image_automation),
        planned(project, app_image_automation),
        f"{PROD}-app-my-apps",
        to_read_write,
    )


def test_app_pushes_leave_the_fleet_key_read_only_unless_asked(project: Path) -> None:
    """Least privilege: automation pushing to an application repository gets no write access to
    the fleet repository (which controls every cluster), unless deployKey.readWrite says so."""
    apps_only = planned(project, app_image_automation)
    fleet = one(apps_only, DEPLOY_KEY, f"{PROD}-fleet-key-r1")
    assert fleet.inputs["readOnly"] is True
    assert one(apps_only, DEPLOY_KEY, f"{PROD}-app-my-apps-r1-rw").inputs["readOnly"] is False

    def both(spec: dict[str, Any]) -> None:
        spec["flux"].setdefault("deployKey", {})["readWrite"] = True

    asked = planned(project, both)
    assert one(asked, DEPLOY_KEY, f"{PROD}-fleet-key-r1-rw").inputs["readOnly"] is False


def test_a_read_write_fleet_key_without_image_automation_is_refused(project: Path) -> None:
    edit_spec(project, PROD, lambda spec: spec["flux"].update(deployKey={"readWrite": True}))
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f"k8s-clusters/{PROD}.yaml: spec.flux.deployKey.readWrite: true while "
        "image-automation-controller is not in spec.flux.componentsExtra (nothing would push "
        "with the read-write key), expected false or no readWrite"
    ]


def test_under_one_name_the_flip_would_replace_the_deploy_key_delete_first(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the names avoid: the same key under the same URN, only readOnly changed."""
    before = planned(project)
    after = planned(project, image_automation)
    old = one(before, DEPLOY_KEY, f"{PROD}-fleet-key-r1")
    flipped = one(after, DEPLOY_KEY, f"{PROD}-fleet-key-r1-rw")
    monkeypatch.setattr(flipped, "urn", old.urn)
    monkeypatch.setitem(flipped.inputs, "key", old.inputs["key"])
    step = transition(before, after)[old.urn]
    assert step.op == "replace" and step.delete_first


# --- item 2: a rebuilt cluster gets its access entry and Pod Identity associations again --------

DEPLOYER = "arn:aws:iam::123456789012:role/fleet-deployer"
OWN_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.fixture
def rebuild(cluster_answers: Callable[..., None]) -> Callable[..., None]:  # noqa: F811
    """Make the EKS lookup answer another cluster of the same name (test_day2's fixture)."""
    return cluster_answers


def with_aws_identities(spec: dict[str, Any]) -> None:
    """The deployer's access entry, and three controllers on Pod Identity (ECR and SOPS)."""
    spec["aws"].update(accessEntry={"principalArn": DEPLOYER}, workloadIdentity="podIdentity")
    spec["ecr"]["ociSources"] = True
    spec["flux"]["componentsExtra"] = ["image-reflector-controller"]
    spec["sops"] = {"kmsKeyArns": [OWN_KEY]}


def test_a_rebuilt_cluster_replaces_its_access_entry_and_associations(
    project: Path, rebuild: Callable[..., None]
) -> None:
    before = planned(project, with_aws_identities)
    entries = of_type(before, ACCESS_ENTRY) + of_type(before, ACCESS_POLICY)
    associations = of_type(before, POD_IDENTITY)
    assert len(entries) == 2 and len(associations) == 3
    identity = one(before, K8S_PROVIDER).inputs["clusterIdentifier"]
    for reg in entries + associations:  # tied to the cluster's identity, as the provider is
        assert reg.replacement_trigger == identity
    # Access entry and policy association: delete-first (the new one has the old one's ID).
    assert all(r.delete_before_replace for r in entries)

    # Deleted and created again under the same name: the documented recipe forgets the old
    # cluster's objects (state delete --target-dependents of its provider), then `pulumi up`.
    rebuild(
        created_at="2031-01-01T00:00:00Z",
        endpoint="https://REBUILT.gr7.eu-west-1.eks.amazonaws.com",
        ca="UkVCVUlMVCBDQQ==",
    )
    rebuilt = planned(project)
    forgotten = dependents(before, one(before, K8S_PROVIDER))
    kept = StackPlan(
        before.stack, [r for r in before.resources if r.urn not in forgotten], before.outputs
    )
    steps = transition(kept, rebuilt)
    for reg in entries:
        assert steps[reg.urn] == Step("replace", reg.urn, delete_first=True)
    for reg in associations:
        assert steps[reg.urn].op == "replace"
    # Every object of the cluster is created through the new provider, which waits for the
    # access entry; the FluxInstance waits for the associations.
    provider = one(rebuilt, K8S_PROVIDER)
    assert steps[provider.urn].op == "create"
    assert one(rebuilt, ACCESS_POLICY).urn in provider.dependencies
    instance = one(rebuilt, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    assert {r.urn for r in associations} <= set(instance.dependencies)
    # The roles and key pairs stay as they are.
    for type_ in ("aws:iam/role:Role", KEY_PAIR, DEPLOY_KEY):
        assert {steps[r.urn].op for r in of_type(rebuilt, type_)} == {"same"}


def test_without_the_trigger_a_rebuild_would_keep_the_vanished_entries(
    project: Path, rebuild: Callable[..., None]
) -> None:
    """What the trigger fixes: nothing in the inputs of these resources changes with a rebuild."""
    before = planned(project, with_aws_identities)
    rebuild(created_at="2031-01-01T00:00:00Z", endpoint="https://R", ca="Ug==")
    rebuilt = planned(project)
    for plan in (before, rebuilt):
        for reg in plan.resources:
            reg.replacement_trigger = None
    steps = transition(before, rebuilt)
    for type_ in (ACCESS_ENTRY, ACCESS_POLICY, POD_IDENTITY):
        assert {steps[r.urn].op for r in of_type(rebuilt, type_)} == {"same"}


def test_the_cluster_identity_appearing_in_an_old_state_replaces_nothing(project: Path) -> None:
    """A stack last run before the trigger existed: the engine replaces only when an old value
    changes, so the upgrade is no replacement."""
    before = planned(project, with_aws_identities)
    after = planned(project)
    for reg in before.resources:
        reg.replacement_trigger = None
    steps = transition(before, after)
    assert {s.op for s in steps.values()} == {"same"}


# --- item 6: Pod Identity roles trust exactly their controller, by the documented session tags ---


def test_pod_identity_trust_names_cluster_namespace_and_service_account(project: Path) -> None:
    plan = planned(project, with_aws_identities)
    roles = {r.inputs["serviceAccount"]: r.inputs["roleArn"] for r in of_type(plan, POD_IDENTITY)}
    assert sorted(roles) == [
        "image-reflector-controller",
        "kustomize-controller",
        "source-controller",
    ]
    by_urn = {r.urn: r for r in of_type(plan, "aws:iam/role:Role")}
    for service_account, role_arn in roles.items():
        # the association binds the role (its ARN, known at apply: the mocks name the role)
        (role,) = [r for urn, r in by_urn.items() if role_arn == f"[unknown {r.name}.arn]"]
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Condition"] == {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-arn": (
                    "arn:aws:eks:eu-west-1:123456789012:cluster/production-eks"
                ),
                "aws:RequestTag/kubernetes-namespace": "flux-system",
                "aws:RequestTag/kubernetes-service-account": service_account,
            }
        }
    # The change from the former conditions is an update of each role's trust, not a new role.
    irsa = planned(project, lambda spec: spec["aws"].update(workloadIdentity="irsa"))
    steps = transition(irsa, plan)
    assert {steps[urn].op for urn in by_urn} == {"update"}


# --- item 4: a new access entry is waited for before the provider probes the cluster ------------


def test_the_wait_retries_denials_then_returns() -> None:
    answers = iter([401, 403, 200])
    asked: list[dict[str, Any]] = []
    slept: list[float] = []

    def status(kubeconfig: dict[str, Any]) -> int | None:
        asked.append(kubeconfig)
        return next(answers)

    access_wait.wait_for_access({"k": 1}, "production-eks", status=status, sleep=slept.append)
    assert len(asked) == 3 and slept == [access_wait.INTERVAL_SECONDS] * 2


@pytest.mark.parametrize("answer", [200, 404, 500, None])
def test_the_wait_stops_at_anything_but_a_denial(answer: int | None) -> None:
    slept: list[float] = []
    access_wait.wait_for_access({}, "eks", status=lambda _: answer, sleep=slept.append)
    assert slept == []


def test_the_wait_is_bounded_with_one_clear_line() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(pulumi.RunError) as raised:
        access_wait.wait_for_access(
            {}, "production-eks", status=lambda _: 401, sleep=sleep, clock=lambda: now[0]
        )
    assert now[0] == access_wait.WAIT_SECONDS
    assert str(raised.value) == (
        "EKS cluster production-eks: the deployer's access entry was just created, but the "
        "cluster still answers 401 after 300 seconds (access entries take a while to "
        "propagate): run `pulumi up` again"
    )


def test_only_a_new_association_is_waited_for() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert access_wait.fresh("2030-01-01T11:58:00Z", now)
    assert not access_wait.fresh("2030-01-01T11:00:00Z", now)  # an earlier run's
    for missing in (None, "", "[unknown x.associatedAt]", "2030-01-01T11:58:00"):
        assert not access_wait.fresh(missing, now)


def test_a_preview_never_asks_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a preview an unchanged association's associatedAt comes from the state: within 15
    minutes of an `up` it is fresh, and yet nothing may be asked (nor waited for)."""
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    asked: list[Any] = []
    monkeypatch.setattr(access_wait, "api_status", lambda kubeconfig: asked.append(1) or 401)
    config = json.dumps({"clusters": []})
    out = access_wait.after_access(config, "2030-01-01T11:58:00Z", "eks", now, dry_run=True)
    assert (out, asked) == (config, [])
    # the same outside a preview is waited for (in a thread)
    waiting = access_wait.after_access(config, "2030-01-01T11:58:00Z", "eks", now, dry_run=False)
    assert not isinstance(waiting, str)
    waiting.close()  # type: ignore[union-attr]  # never run: the test asks no cluster


ASSOCIATION_TYPE = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


def test_the_program_waits_for_a_new_entry_before_configuring_the_provider(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, Any]] = []

    def status(kubeconfig: dict[str, Any]) -> int:
        # the provider is not registered yet when the cluster is asked
        assert not [r for r in runner_registrations() if r.type == K8S_PROVIDER]
        asked.append(kubeconfig)
        return 200

    registrations: list[Any] = []

    def runner_registrations() -> list[Any]:
        return registrations[0].registrations if registrations else []

    original_init = RecordingMonitor.__init__

    def init(self: RecordingMonitor, mocks: PlanMocks) -> None:
        original_init(self, mocks)
        registrations.append(self)

    monkeypatch.setattr(RecordingMonitor, "__init__", init)
    monkeypatch.setattr(access_wait, "api_status", status)
    # A plain plan (and a preview, or a later run): the association has no fresh time, no wait.
    plan = planned(project, lambda spec: spec["aws"].update(accessEntry={"principalArn": DEPLOYER}))
    assert asked == []
    # A `pulumi up` that has just associated the policy: the cluster is asked, with the
    # provider's own kubeconfig, before the provider is configured with it.
    original = PlanMocks.new_resource

    def new_resource(self: PlanMocks, args: Any) -> tuple[str, dict[str, Any]]:
        id_, outputs = original(self, args)
        if args.typ == ASSOCIATION_TYPE:
            outputs["associatedAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return id_, outputs

    monkeypatch.setattr(PlanMocks, "new_resource", new_resource)
    registrations.clear()
    fresh_plan = planned(project)
    (kubeconfig,) = asked
    provider = one(fresh_plan, K8S_PROVIDER)
    assert json.loads(plain(provider.inputs["kubeconfig"])) == kubeconfig
    assert one(fresh_plan, ASSOCIATION_TYPE).urn in provider.dependencies
    assert plain(one(plan, K8S_PROVIDER).inputs) == plain(provider.inputs)


def test_the_text_plan_shows_what_is_replaced_with_the_cluster(project: Path) -> None:
    text = render.text(planned(project, with_aws_identities))
    lines = text.splitlines()
    for name in (f"{PROD}-eks-access", f"{PROD}-eks-access-policy"):
        at = lines.index(next(line for line in lines if line.endswith(f" {name}")))
        assert lines[at + 1].strip() == "(options: deleteBeforeReplace, replacementTrigger)"
    shown = [line for line in lines if "PodIdentityAssociation" in line]
    assert len(shown) == 3
    for line in shown:
        assert lines[lines.index(line) + 1].strip() == "(options: replacementTrigger)"
