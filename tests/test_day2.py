"""Day-2 safety in the plan: taking over a bootstrapped cluster, a rebuilt or deleted EKS cluster
under its stack, a stack without a definition, and what `pulumi destroy` deletes (and keeps)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from crdcheck import validate
from planutil import of_type, one, run_cli
from ruamel.yaml import YAML

from components.builders import recovery
from components.loading.fleet import load_fleet
from components.names import PROJECT, urn
from components.plan import render
from components.plan.mocks import PlanMocks
from components.plan.result import Registration, Secret, StackPlan, provider_urn
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
STAGING = "staging-cluster-name"
K8S_PROVIDER = "pulumi:providers:kubernetes"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
KEY_PAIR = "tls:index/privateKey:PrivateKey"
BOOTSTRAP_PATH = "clusters/production"


@pytest.fixture(scope="module", autouse=True)
def no_provider_environment() -> Iterator[None]:
    """The kubernetes SDK copies these variables into the provider's inputs: not here."""
    with pytest.MonkeyPatch.context() as env:
        for name in (
            DELETE_UNREACHABLE_ENV,
            "PULUMI_K8S_UPSERT_EXISTING_OBJECTS",
            "PULUMI_K8S_ENABLE_PATCH_FORCE",
            "PULUMI_K8S_SKIP_UPDATE_UNREACHABLE",
        ):
            env.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def prod(root: Path) -> StackPlan:
    return plan_stack(root, PROD)


def edit_spec(project: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = project / "k8s-clusters" / f"{name}.yaml"
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(path.read_text())
    change(doc["spec"])
    out = io.StringIO()
    yaml.dump(doc, out)
    path.write_text(out.getvalue())


def adopt(spec: dict[str, Any]) -> None:
    spec.setdefault("flux", {})["adopt"] = True
    spec.setdefault("git", {})["path"] = BOOTSTRAP_PATH


def k8s_provider(plan: StackPlan) -> Registration:
    return one(plan, K8S_PROVIDER)


def fleet_secret(plan: StackPlan) -> Registration:
    return one(plan, SECRET, f"{plan.stack}-fleet-key")


def plain(value: Any) -> Any:
    """`value` with secrets unwrapped (to search everything the program would send)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def engine_urn(plan: StackPlan, reg: Registration) -> str:
    """The URN the Pulumi engine gives `reg`: the types of all its ancestors below the stack,
    joined by `$` (the mock monitor keeps only the parent's)."""
    by_urn = {r.urn: r for r in plan.resources}
    types = [reg.type]
    parent = by_urn.get(reg.parent)
    while parent is not None:
        types.insert(0, parent.type)
        parent = by_urn.get(parent.parent)
    return f"urn:pulumi:{plan.stack}::{PROJECT}::{'$'.join(types)}::{reg.name}"


def dependents(plan: StackPlan, root: Registration) -> set[str]:
    """`root` and everything that depends on it through a dependency, its provider, its parent or
    deletedWith: what `pulumi state delete --target-dependents` removes with it."""
    found = {root.urn}
    grew = True
    while grew:
        grew = False
        for reg in plan.resources:
            edges = {*reg.dependencies, provider_urn(reg.provider), reg.parent, reg.deleted_with}
            if reg.urn not in found and edges & found:
                found.add(reg.urn)
                grew = True
    return found


def destroy_order(plan: StackPlan) -> list[Registration]:
    """The order `pulumi destroy` deletes in: a resource only after everything that depends on
    it (dependencies, provider, parent), as the engine does."""
    remaining = {r.urn: r for r in plan.resources}
    order: list[Registration] = []
    while remaining:
        blocked: set[str] = set()
        for reg in remaining.values():
            blocked |= {*reg.dependencies, provider_urn(reg.provider), reg.parent}
        ready = sorted(urn for urn in remaining if urn not in blocked)
        assert ready, "dependency cycle"
        order.extend(remaining.pop(urn) for urn in ready)
    return order


@pytest.fixture
def cluster_answers(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the mocked `aws.eks.get_cluster` answer another cluster (same name)."""

    def answer(*, created_at: str, endpoint: str, ca: str) -> None:
        original = PlanMocks.call

        def call(self: PlanMocks, args: Any) -> dict[str, Any]:
            result = original(self, args)
            if args.token == "aws:eks/getCluster:getCluster":
                result = {
                    **result,
                    "createdAt": created_at,
                    "endpoint": endpoint,
                    "certificateAuthorities": [{"data": ca}],
                }
            return result

        monkeypatch.setattr(PlanMocks, "call", call)

    return answer


# --- 1. taking over a cluster bootstrapped by `flux bootstrap` or the Terraform provider ------

# --- the recovery commands of docs/how-to/recover-a-cluster.md ------------------------------

# The provider setting the recovery of a deleted cluster relies on (at destroy: no program runs).
DELETE_UNREACHABLE_ENV = "PULUMI_K8S_DELETE_UNREACHABLE"
# The type chains (parent types joined by `$`) of the two resources the recovery commands name.
K8S_PROVIDER_TYPES = (
    "flux-fleet:index:FluxCluster$flux-fleet:index:EksConnection$pulumi:providers:kubernetes"
)
OPERATOR_RELEASE_TYPES = (
    "flux-fleet:index:FluxCluster$flux-fleet:index:Flux$kubernetes:helm.sh/v3:Release"
)


def k8s_provider_urn(stack: str) -> str:
    return urn(stack, K8S_PROVIDER_TYPES, f"{stack}-eks-k8s")


def operator_release_urn(stack: str) -> str:
    return urn(stack, OPERATOR_RELEASE_TYPES, f"{stack}-flux-operator")


def rebuilt_cluster_commands(stack: str) -> list[str]:
    """After the EKS cluster was deleted and created again under the same name: forget every
    object of the old cluster (they went with it), then create them all on the new one."""
    return [
        f"pulumi state delete --target-dependents --yes -s {stack} '{k8s_provider_urn(stack)}'",
        f"pulumi up -s {stack}",
    ]


def deleted_cluster_commands(stack: str) -> list[str]:
    """Destroy a stack whose EKS cluster no longer exists: the deploy keys, key pairs and IAM
    roles are deleted; the objects of the unreachable cluster only leave the state."""
    return [
        f"pulumi state delete --target-dependents --yes -s {stack} '{operator_release_urn(stack)}'",
        f"{DELETE_UNREACHABLE_ENV}=true pulumi destroy -s {stack}",
    ]


def test_without_adopt_nothing_upserts_or_forces(prod: StackPlan) -> None:
    assert "upsertExistingObjects" not in k8s_provider(prod).inputs
    for reg in of_type(prod, NAMESPACE) + of_type(prod, SECRET):
        assert recovery.PATCH_FORCE_ANNOTATION not in reg.inputs["metadata"].get("annotations", {})


def test_adopt_upserts_and_takes_over_the_namespace_and_secret(project: Path) -> None:
    edit_spec(project, PROD, adopt)
    plan = plan_stack(project, PROD)
    # The cluster's provider updates objects that exist instead of failing with AlreadyExists.
    assert json.loads(k8s_provider(plan).inputs["upsertExistingObjects"]) is True
    # The bootstrap's namespace and Secret: same names, their fields forced over to Pulumi.
    ns = one(plan, NAMESPACE)
    assert ns.inputs["metadata"]["name"] == "flux-system"
    assert ns.inputs["metadata"]["annotations"] == {recovery.PATCH_FORCE_ANNOTATION: "true"}
    assert ns.retain_on_delete is True
    secret = fleet_secret(plan)
    assert secret.inputs["metadata"]["name"] == "flux-system"
    assert secret.inputs["metadata"]["annotations"] == {recovery.PATCH_FORCE_ANNOTATION: "true"}
    assert set(plain(secret.inputs["stringData"])) == {"identity", "identity.pub", "known_hosts"}
    # Application Secrets are this project's own: nothing of the bootstrap to take over.
    app_secret = one(plan, SECRET, f"{PROD}-app-my-apps")
    assert "annotations" not in app_secret.inputs["metadata"]
    # No patch resources and no import: the same Namespace and Secret as without adopt.
    assert not [r for r in plan.resources if r.type.endswith("Patch")]


def test_adopt_syncs_the_bootstrap_path_with_the_same_sync_objects(project: Path) -> None:
    edit_spec(project, PROD, adopt)
    plan = plan_stack(project, PROD)
    instance = one(plan, INSTANCE)
    sync = instance.inputs["spec"]["sync"]
    # The operator names its GitRepository and Kustomization after the namespace: flux-system,
    # the names flux bootstrap gave them; the path is the bootstrap's, so nothing is pruned.
    assert "name" not in sync
    assert instance.inputs["metadata"]["namespace"] == "flux-system"
    assert sync["path"] == BOOTSTRAP_PATH
    assert sync["pullSecret"] == "flux-system"
    assert validate(plain(instance.inputs)) == []


def test_turning_adopt_on_or_off_replaces_nothing(prod: StackPlan, project: Path) -> None:
    edit_spec(project, PROD, adopt)
    adopted = plan_stack(project, PROD)

    # Same resources (type and name, parent, provider): switching adopt is an update.
    def shape(plan: StackPlan) -> set[tuple[str, str]]:
        return {(engine_urn(plan, r), provider_urn(r.provider)) for r in plan.resources}

    assert shape(adopted) == shape(prod)
    # The provider is replaced only when clusterIdentifier changes: it does not.
    assert (
        k8s_provider(adopted).inputs["clusterIdentifier"]
        == k8s_provider(prod).inputs["clusterIdentifier"]
    )


def test_adopt_needs_the_bootstrap_path(project: Path) -> None:
    edit_spec(project, PROD, lambda spec: spec["flux"].update(adopt=True))
    fleet = load_fleet(project)
    assert [str(p) for p in fleet.all_problems] == [
        f"k8s-clusters/{PROD}.yaml: spec.git.path: required when spec.flux.adopt is true: "
        "expected the path the bootstrap syncs (flux bootstrap --path, such as "
        "clusters/my-cluster); another folder would make the flux-system Kustomization prune "
        "what the bootstrap applied"
    ]
    code, out, err = run_cli(project, "plan", PROD)
    assert code == 2 and out == ""
    assert err.splitlines() == [str(fleet.all_problems[0])]


def test_adopt_must_be_a_boolean(project: Path) -> None:
    edit_spec(project, PROD, lambda spec: spec["flux"].update(adopt="yes"))
    assert [str(p) for p in load_fleet(project).all_problems] == [
        f'k8s-clusters/{PROD}.yaml: spec.flux.adopt: expected true or false, got "yes"'
    ]


# --- 2. rebuilt and vanished clusters ----------------------------------------------------------


def test_rebuilt_cluster_replaces_the_provider_and_its_objects_not_the_keys(
    prod: StackPlan, project: Path, cluster_answers: Callable[..., None]
) -> None:
    old = plain(k8s_provider(prod).inputs)
    old_kubeconfig = json.loads(old["kubeconfig"])
    old_endpoint = old_kubeconfig["clusters"][0]["cluster"]["server"]
    old_ca = old_kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
    cluster_answers(
        created_at="2031-01-01T00:00:00Z",
        endpoint="https://REBUILT.gr7.eu-west-1.eks.amazonaws.com",
        ca="UkVCVUlMVCBDQQ==",
    )
    rebuilt = plan_stack(project, PROD)
    provider = k8s_provider(rebuilt)
    new = plain(provider.inputs)

    # The cluster's identity changed: the provider is replaced, and every object created through
    # it with it (the provider replaces only on a clusterIdentifier change).
    assert new["clusterIdentifier"] != old["clusterIdentifier"]
    assert new["clusterIdentifier"].endswith("@2031-01-01T00:00:00Z")
    server = json.loads(new["kubeconfig"])["clusters"][0]["cluster"]
    assert server == {
        "server": "https://REBUILT.gr7.eu-west-1.eks.amazonaws.com",
        "certificate-authority-data": "UkVCVUlMVCBDQQ==",
    }
    in_cluster = [r for r in rebuilt.resources if r.type.startswith("kubernetes:")]
    assert len(in_cluster) >= 8
    assert all(provider_urn(r.provider) == provider.urn for r in in_cluster)

    # Nothing points at the old cluster any more: not its endpoint, not its CA.
    everything = json.dumps([plain(r.inputs) for r in rebuilt.resources], default=str)
    assert old_endpoint not in everything and old_ca not in everything

    # Key pairs and deploy keys: same URNs, same inputs, and not dependent on the provider, so
    # Flux on the new cluster pulls with the key GitHub already knows.
    for type_ in (KEY_PAIR, DEPLOY_KEY):
        before = {r.urn: plain(r.inputs) for r in of_type(prod, type_)}
        after = {r.urn: plain(r.inputs) for r in of_type(rebuilt, type_)}
        assert before == after and len(after) == 2
    forgotten = dependents(rebuilt, provider)
    kept = {r.urn for r in rebuilt.resources if r.type in (KEY_PAIR, DEPLOY_KEY)}
    assert not forgotten & kept


def test_ca_rotation_is_not_a_new_cluster(
    prod: StackPlan, project: Path, cluster_answers: Callable[..., None]
) -> None:
    cluster_answers(
        created_at="placeholder-created-at",
        endpoint="https://placeholder-production-eks.eu-west-1.eks.amazonaws.com",
        ca="Uk9UQVRFRCBDQQ==",
    )
    rotated = plan_stack(project, PROD)
    assert (
        k8s_provider(rotated).inputs["clusterIdentifier"]
        == k8s_provider(prod).inputs["clusterIdentifier"]
    )


def test_recovery_commands_name_real_resources(prod: StackPlan) -> None:
    provider = k8s_provider(prod)
    release = one(prod, RELEASE)
    assert k8s_provider_urn(PROD) == engine_urn(prod, provider)
    assert operator_release_urn(PROD) == engine_urn(prod, release)
    assert rebuilt_cluster_commands(PROD) == [
        f"pulumi state delete --target-dependents --yes -s {PROD} '{engine_urn(prod, provider)}'",
        f"pulumi up -s {PROD}",
    ]
    assert deleted_cluster_commands(PROD) == [
        f"pulumi state delete --target-dependents --yes -s {PROD} '{engine_urn(prod, release)}'",
        f"PULUMI_K8S_DELETE_UNREACHABLE=true pulumi destroy -s {PROD}",
    ]


def test_forgetting_a_rebuilt_cluster_forgets_exactly_its_objects(prod: StackPlan) -> None:
    provider = k8s_provider(prod)
    forgotten = dependents(prod, provider)
    in_cluster = {r.urn for r in prod.resources if r.type.startswith("kubernetes:")}
    assert forgotten == in_cluster | {provider.urn}


def test_deleted_cluster_destroy_still_deletes_the_deploy_keys(prod: StackPlan) -> None:
    # Forgotten first: the operator's Release (a Release ignores deleteUnreachable) and what
    # depends on it; only objects in the cluster, never a key on GitHub.
    forgotten = dependents(prod, one(prod, RELEASE))
    types = {r.urn: r.type for r in prod.resources}
    assert all(types[urn].startswith("kubernetes:") for urn in forgotten)
    assert one(prod, INSTANCE).urn in forgotten
    # Then `pulumi destroy` deletes what is left, the deploy keys with it.
    left = {r.type for r in prod.resources if r.urn not in forgotten}
    assert {DEPLOY_KEY, KEY_PAIR, SECRET} <= left


def test_program_never_sets_delete_unreachable(
    prod: StackPlan, monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    assert "deleteUnreachable" not in k8s_provider(prod).inputs
    # What the recovery guide warns about: the Python SDK copies the variable into the provider's
    # configuration when the program runs, so `pulumi up` with it set records it in the state.
    monkeypatch.setenv(DELETE_UNREACHABLE_ENV, "true")
    with_env = plan_stack(project, PROD)
    assert json.loads(k8s_provider(with_env).inputs["deleteUnreachable"]) is True


# --- 3. a stack without a definition ------------------------------------------------------------


def test_stack_without_definition_says_so_in_one_line(project: Path) -> None:
    line = 'k8s-clusters/gone.yaml: no definition for stack "gone" (expected this file)'
    # `pulumi up` runs the same __main__.py: RunError is printed as its message, without a trace.
    with pytest.raises(pulumi.RunError) as raised:
        plan_stack(project, "gone")
    assert str(raised.value) == line
    for args in (("plan", "gone"), ("plan", "gone", "--json"), ("plan", PROD, "gone")):
        assert run_cli(project, *args) == (2, "", line + "\n")


# --- 4. destroy never prunes workloads ---------------------------------------------------------


def destroy_checks(plan: StackPlan) -> None:
    order = [r.urn for r in destroy_order(plan)]
    position = {urn: i for i, urn in enumerate(order)}
    instance, release, ns = one(plan, INSTANCE), one(plan, RELEASE), one(plan, NAMESPACE)
    # The FluxInstance goes while the operator still runs: the operator uninstalls Flux without
    # deleting what Flux deployed. Then the operator.
    assert position[instance.urn] < position[release.urn]
    # Everything that reports on Flux goes before it; each Secret before its deploy key.
    for reg in dependents(plan, instance) - {instance.urn}:
        assert position[reg] < position[instance.urn]
    for secret in of_type(plan, SECRET):
        for dep in secret.dependencies:
            assert position[secret.urn] < position[dep]
    # Only the namespace is kept (deleting it would delete what is in it); nothing is skipped
    # with another resource or protected, so the FluxInstance really is deleted.
    assert [r.urn for r in plan.resources if r.retain_on_delete] == [ns.urn]
    assert not [r.urn for r in plan.resources if r.deleted_with or r.protect]
    # The text and JSON plans show the option.
    assert "(options: retainOnDelete)" in render.text(plan)
    steps = render.preview_json(plan)["steps"]
    retained = [s["urn"] for s in steps if s["newState"]["retainOnDelete"]]
    assert retained == [ns.urn]


def test_destroy_order_and_retained_namespace(prod: StackPlan) -> None:
    destroy_checks(prod)


def test_destroy_order_and_retained_namespace_when_adopted(project: Path) -> None:
    edit_spec(project, PROD, adopt)
    destroy_checks(plan_stack(project, PROD))


def test_destroy_checks_catch_a_regression(prod: StackPlan) -> None:
    """The checks above fail if the instance no longer waits for the operator, or if the
    namespace is no longer retained."""

    def broken(change: Callable[[Registration], None], type_: str) -> Iterator[StackPlan]:
        regs = []
        for reg in prod.resources:
            copy_ = Registration(**vars(reg))
            if reg.type == type_:
                copy_.dependencies = list(reg.dependencies)
                change(copy_)
            regs.append(copy_)
        yield StackPlan(prod.stack, regs, prod.outputs)

    release = one(prod, RELEASE)
    unordered = broken(lambda r: r.dependencies.remove(release.urn), INSTANCE)
    not_retained = broken(lambda r: setattr(r, "retain_on_delete", False), NAMESPACE)
    for plan in (*unordered, *not_retained):
        with pytest.raises(AssertionError):
            destroy_checks(plan)


def test_readme_commands_for_a_placeholder_stack_are_shell_safe() -> None:
    for command in rebuilt_cluster_commands("NAME") + deleted_cluster_commands("NAME"):
        # The URN is single-quoted (it contains `$`); nothing else needs quoting.
        unquoted = re.sub(r"'[^']*'", "", command)
        assert not re.search(r"[$`\\\"]", unquoted), command
