"""spec.sync kind oci: the cluster syncs the OCI artifact of the fleet repository's flux/ tree from
ECR with source-controller's AWS identity, and holds no Git credential (#23, part 3)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from applymodel import by_op, transition
from crdcheck import validate
from planutil import of_type, one, run_cli

from components import yamlio
from components.builders.sync_source import Signer, signer_identity
from components.loading.fleet import load_fleet
from components.plan.result import StackPlan
from components.plan.runner import plan_stack

PROD, STAGING = "production-cluster-name", "staging-cluster-name"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
SECRET = "kubernetes:core/v1:Secret"
KEY_PAIR = "tls:index/privateKey:PrivateKey"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
GITHUB = "pulumi:providers:github"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
PULL = ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"]
ARTIFACT = "oci://210987654321.dkr.ecr.eu-west-1.amazonaws.com/fleet/flux"
ARTIFACT_ARN = "arn:aws:ecr:eu-west-1:210987654321:repository/fleet/flux"


def set_sync(project: Path, name: str, sync: dict[str, Any] | None, **spec: Any) -> None:
    """Give cluster `name` the spec.sync `sync` (None: none), and list the artifact's repository
    in the shared registry."""
    path = project / f"k8s-clusters/{name}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"].pop("sync", None)
    if sync is not None:
        doc["spec"]["sync"] = sync
    doc["spec"].update(spec)
    path.write_text(yamlio.dump_yaml([doc]))
    registries = project / "k8s-clusters/_registries.yaml"
    text = registries.read_text()
    if "fleet/flux" not in text:
        registries.write_text(text.replace("[api, worker]", "[api, worker, fleet/flux]"))


OCI = {"kind": "oci", "registry": "shared", "repository": "fleet/flux"}


@pytest.fixture
def staging_oci(project: Path) -> StackPlan:
    set_sync(project, STAGING, OCI)
    return plan_stack(project, STAGING)


def test_the_instance_syncs_the_artifact_at_the_environment_tag(staging_oci: StackPlan) -> None:
    instance = one(staging_oci, INSTANCE)
    assert instance.inputs["spec"]["sync"] == {
        "kind": "OCIRepository",
        "url": ARTIFACT,
        "ref": "staging",  # metadata.environment
        "path": f"flux/clusters/{STAGING}",  # the artifact keeps the repository's layout
        "interval": "1m",
        "provider": "aws",
    }
    assert validate(instance.inputs) == []  # the FluxInstance CRD and its CEL rules
    assert staging_oci.outputs["syncUrl"] == ARTIFACT


def test_no_git_credential_at_all(staging_oci: StackPlan) -> None:
    for type_ in (KEY_PAIR, DEPLOY_KEY, GITHUB):
        assert of_type(staging_oci, type_) == []
    # the Slack credential's Secret is the only one left: nothing for Git
    assert [s.name for s in of_type(staging_oci, SECRET)] == [
        f"{STAGING}-observability-slack-secret"
    ]
    assert "pullSecret" not in one(staging_oci, INSTANCE).inputs["spec"]["sync"]
    assert "deployKeyPublicKey" not in staging_oci.outputs


def test_source_controller_pulls_exactly_the_artifact(staging_oci: StackPlan) -> None:
    role = one(staging_oci, ROLE, f"{STAGING}-ecr-source-controller")
    assert role.inputs["name"] == f"{STAGING}-source-controller"
    policy = json.loads(
        one(staging_oci, ROLE_POLICY, f"{STAGING}-ecr-source-controller-pull").inputs["policy"]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    # no spec.ecr.ociSources: source-controller reaches nothing of spec.ecr.pull, only the artifact
    assert set(statements) == {"EcrAuthorizationToken", "FluxSyncPull"}
    assert statements["FluxSyncPull"]["Resource"] == ARTIFACT_ARN
    assert sorted(statements["FluxSyncPull"]["Action"]) == sorted(PULL)  # a tag: no listing
    instance = one(staging_oci, INSTANCE).inputs["spec"]
    patches = [json.loads(p["patch"]) for p in instance["kustomize"]["patches"]]
    annotated = [p for p in patches if isinstance(p, dict) and p.get("kind") == "ServiceAccount"]
    assert [p["metadata"]["name"] for p in annotated] == ["source-controller"]


def test_nodes_and_other_controllers_never_get_the_artifact(project: Path) -> None:
    set_sync(project, PROD, OCI)
    plan = plan_stack(project, PROD)
    node_policy = one(plan, "aws:iam/policy:Policy").inputs["policy"]
    assert "fleet/flux" not in node_policy
    assert (
        ARTIFACT_ARN
        in one(plan, ROLE_POLICY, f"{PROD}-ecr-source-controller-pull").inputs["policy"]
    )


def test_the_registries_stack_grants_the_pull_through_the_same_policies(project: Path) -> None:
    set_sync(project, STAGING, OCI)
    plan = plan_stack(project, "registries")
    policy = one(plan, REPOSITORY_POLICY, "registries-shared/fleet/flux")
    assert policy.inputs["repository"] == "fleet/flux"
    document = json.loads(policy.inputs["policy"])
    (statement,) = document["Statement"]
    assert statement["Sid"] == "Pull"  # the pulls alone: a tag needs no ecr:ListImages
    assert statement["Principal"] == {"AWS": "arn:aws:iam::234567890123:root"}
    assert plan.outputs["repositoryPolicies"]["shared/fleet/flux"] == ["234567890123"]


def test_a_tag_of_its_own_and_an_interval(project: Path) -> None:
    set_sync(project, STAGING, {**OCI, "tag": "staging-canary", "interval": "5m"})
    sync = one(plan_stack(project, STAGING), INSTANCE).inputs["spec"]["sync"]
    assert (sync["ref"], sync["interval"]) == ("staging-canary", "5m")


# --- verification of the producer's keyless signature ---------------------------------------------


def operator_oci_repository(sync: dict[str, Any]) -> dict[str, Any]:
    """The OCIRepository flux-operator generates from spec.sync (internal/builder/templates.go,
    syncTmpl, v0.58.1)."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {
            "interval": sync["interval"],
            "ref": {"tag": sync["ref"]},
            "provider": sync["provider"],
            "url": sync["url"],
        },
    }


def apply_json_patch(obj: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for op in operations:
        assert op["op"] == "add"
        *parents, last = op["path"].strip("/").split("/")
        node = out
        for part in parents:
            node = node[part]
        node[last] = op["value"]
    return out


def test_verify_patches_the_sync_oci_repository(project: Path) -> None:
    set_sync(project, STAGING, {**OCI, "verify": True})
    spec = one(plan_stack(project, STAGING), INSTANCE).inputs["spec"]
    (patch,) = [
        p for p in spec["kustomize"]["patches"] if p["target"].get("kind") == "OCIRepository"
    ]
    assert patch["target"] == {"kind": "OCIRepository", "name": "flux-system"}
    patched = apply_json_patch(operator_oci_repository(spec["sync"]), json.loads(patch["patch"]))
    assert validate(patched) == []  # the OCIRepository CRD (served v1), strict
    verify = patched["spec"]["verify"]
    assert verify["provider"] == "cosign"
    (identity,) = verify["matchOIDCIdentity"]
    assert identity == {
        "issuer": r"^https://token\.actions\.githubusercontent\.com$",
        "subject": r"^https://github\.com/acme/gitops/\.github/workflows/flux-artifact\.yml"
        r"@refs/heads/main$",
    }


def test_the_identity_matches_the_workflow_only() -> None:
    import re2

    identity = signer_identity(Signer("acme", "gitops"))
    subject = "https://github.com/acme/gitops/.github/workflows/flux-artifact.yml@refs/heads/main"
    assert re2.search(identity["subject"], subject)
    assert re2.search(identity["issuer"], "https://token.actions.githubusercontent.com")
    for other in (
        subject.replace("main", "evil"),
        subject.replace("acme/gitops", "acme/gitopsx"),
        subject.replace("flux-artifact.yml", "flux-artifactXyml"),
        "https://github.com/evil/repo/x@" + subject,
    ):
        assert not re2.search(identity["subject"], other), other


def test_the_workflow_the_identity_names_runs_on_that_branch(root: Path) -> None:
    from components.builders.sync_source import ARTIFACT_BRANCH, ARTIFACT_WORKFLOW

    doc = yamlio.load((root / ARTIFACT_WORKFLOW).read_text())
    assert doc[True if True in doc else "on"]["push"]["branches"] == [ARTIFACT_BRANCH]


# --- switching between Git and OCI ----------------------------------------------------------------


def test_switching_to_oci_creates_the_role_before_the_keys_go(root: Path, project: Path) -> None:
    before = plan_stack(root, STAGING)
    set_sync(project, STAGING, OCI)
    after = plan_stack(project, STAGING)
    steps = transition(before, after)
    types = {r.urn: r.type for r in [*before.resources, *after.resources]}
    created = {types[u] for u in by_op(steps, "create")}
    deleted = {types[u] for u in by_op(steps, "delete")}
    assert {ROLE, ROLE_POLICY} <= created
    assert deleted == {"flux-fleet:index:DeployKey", KEY_PAIR, DEPLOY_KEY, GITHUB, SECRET}
    assert by_op(steps, "replace") == set()
    instance = one(after, INSTANCE)
    assert steps[instance.urn].op == "update"  # the same FluxInstance moves to the artifact
    # It waits for source-controller's role (its ARN is in the instance), created first; the
    # engine deletes the deploy key, its Secret and the GitHub provider last, after the update.
    role = one(after, ROLE, f"{STAGING}-ecr-source-controller")
    assert role.urn in instance.dependencies


def test_switching_back_creates_the_key_before_the_instance_moves(
    root: Path, project: Path
) -> None:
    set_sync(project, STAGING, OCI)
    oci = plan_stack(project, STAGING)
    set_sync(project, STAGING, None)
    git = plan_stack(project, STAGING)
    steps = transition(oci, git)
    types = {r.urn: r.type for r in [*oci.resources, *git.resources]}
    assert {KEY_PAIR, DEPLOY_KEY, SECRET} <= {types[u] for u in by_op(steps, "create")}
    assert {types[u] for u in by_op(steps, "delete")} >= {ROLE, ROLE_POLICY}
    instance = one(git, INSTANCE)
    assert one(git, SECRET, f"{STAGING}-fleet-key").urn in instance.dependencies
    assert steps[instance.urn].op == "update"


# --- bad input: one line each, exit 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sync", "registries", "expected"),
    [
        (
            {**OCI, "registry": "elsewhere"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.registry: expected one of shared "
            '(the registries stack grants the pull), got "elsewhere"',
        ),
        (
            {**OCI, "repository": "unknown/flux"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.repository: expected a repository "
            'of registry "shared" (api, worker, fleet/flux), got "unknown/flux"',
        ),
        (
            OCI,
            ("region: eu-west-1", "region: cn-north-1"),
            'k8s-clusters/staging-cluster-name.yaml: spec.sync.registry: registry "shared" '
            "(cn-north-1) is in partition aws-cn, the cluster in aws: an ECR URL of another "
            "partition cannot be pulled, expected a registry of the cluster's partition",
        ),
        (
            {"kind": "oci", "registry": "shared"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.repository: required with kind "
            "oci: expected the ECR repository the producer workflow pushes the artifact to",
        ),
        (
            {"kind": "git", "tag": "v1"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.tag: only for kind oci, expected "
            "no tag with kind git",
        ),
        (
            {**OCI, "tag": "-bad"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.tag: expected an OCI tag "
            "(letters, digits, '.', '_', '-'; at most 128), got \"-bad\"",
        ),
        (
            {**OCI, "verify": "yes"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.verify: expected true or false, "
            'got "yes"',
        ),
        (
            {**OCI, "kind": "bucket"},
            None,
            "k8s-clusters/staging-cluster-name.yaml: spec.sync.kind: expected one of git or oci, "
            'got "bucket"',
        ),
    ],
)
def test_bad_sync_is_one_line(
    project: Path,
    sync: dict[str, Any],
    registries: tuple[str, str] | None,
    expected: str,
) -> None:
    set_sync(project, STAGING, sync)
    if registries is not None:
        path = project / "k8s-clusters/_registries.yaml"
        path.write_text(path.read_text().replace(*registries))
    code, out, err = run_cli(project, "validate")
    assert code == 2
    lines = [line for line in (out + err).splitlines() if "spec.sync" in line]
    assert lines == [expected]


def test_a_folder_outside_the_artifact_and_a_takeover_are_refused(project: Path) -> None:
    set_sync(project, STAGING, OCI, git={"path": "clusters/staging"})
    _, out, err = run_cli(project, "validate")
    assert (
        "k8s-clusters/staging-cluster-name.yaml: spec.git.path: outside flux/ while spec.sync is "
        "of kind oci: the artifact holds the repository's flux/ tree alone, expected a path "
        "under it"
    ) in (out + err).splitlines()
    set_sync(project, STAGING, OCI, flux={"adopt": True, "size": "small"})
    code, out, err = run_cli(project, "validate")
    assert code == 2
    assert (
        "k8s-clusters/staging-cluster-name.yaml: spec.sync.kind: oci while spec.flux.adopt is "
        "true (the bootstrap's Git sync and its deploy key are taken over), expected git: switch "
        "after the takeover"
    ) in (out + err).splitlines()


def test_the_cluster_folder_builds_from_the_oci_source(project: Path) -> None:
    set_sync(project, STAGING, OCI)
    code, out, err = run_cli(project, "validate")
    assert code == 2  # apps.yaml still names the GitRepository the operator no longer creates
    assert [line for line in (out + err).splitlines() if "sourceRef" in line] == [
        "flux/clusters/staging-cluster-name/apps.yaml: Kustomization apps: spec.sourceRef.kind: "
        'expected "OCIRepository" (the kind of the cluster\'s sync source, spec.sync in '
        'k8s-clusters/staging-cluster-name.yaml), got "GitRepository"'
    ]
    apps = project / "flux/clusters/staging-cluster-name/apps.yaml"
    apps.write_text(apps.read_text().replace("kind: GitRepository", "kind: OCIRepository"))
    code, out, err = run_cli(project, "validate")
    assert code == 0, out + err


def test_new_cluster_writes_the_oci_source_into_apps_yaml(project: Path) -> None:
    from components.builders.gitops import cluster_apps_kustomization
    from components.builders.options import cluster_folder_options

    set_sync(project, STAGING, OCI)
    cluster = load_fleet(project).clusters[STAGING]
    kustomization = cluster_apps_kustomization(cluster_folder_options(cluster))
    assert kustomization["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "flux-system"}
    assert validate(kustomization) == []


def test_an_oci_cluster_without_apps_needs_no_github_app(project: Path) -> None:
    set_sync(project, STAGING, OCI, git={"auth": "githubApp"})
    plan = plan_stack(project, STAGING)  # no App credential in the stack config: none needed
    assert of_type(plan, GITHUB) == [] and of_type(plan, DEPLOY_KEY) == []
    assert [s.name for s in of_type(plan, SECRET)] == [f"{STAGING}-observability-slack-secret"]


def test_the_workflow_pushes_the_artifact_root_alone(root: Path) -> None:
    from components.definition.sources import ARTIFACT_ROOT

    doc = yamlio.load((root / ".github/workflows/flux-artifact.yml").read_text())
    assert doc["env"]["IGNORE_PATHS"] == f"/*,!/{ARTIFACT_ROOT}"


def test_with_pod_identity_the_instance_waits_for_the_association(project: Path) -> None:
    set_sync(project, STAGING, OCI, aws={"accountId": "234567890123", "region": "eu-west-1",
                                        "eksClusterName": "staging-eks",
                                        "workloadIdentity": "podIdentity"})  # fmt: skip
    plan = plan_stack(project, STAGING)
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["serviceAccount"] == "source-controller"
    assert association.inputs["namespace"] == "flux-system"
    instance = one(plan, INSTANCE)
    assert association.urn in instance.dependencies  # source-controller starts with its role
    patches = [json.loads(p["patch"]) for p in instance.inputs["spec"]["kustomize"]["patches"]]
    assert not any(isinstance(p, dict) and p.get("kind") == "ServiceAccount" for p in patches)


def test_the_git_ref_patches_nothing_of_an_oci_cluster(project: Path) -> None:
    """spec.git.ref is the fleet repository's; an OCI cluster follows its tag (no patch aims at
    a GitRepository that no longer exists)."""
    set_sync(project, STAGING, OCI, git={"ref": {"semver": ">=1.0.0"}})
    spec = one(plan_stack(project, STAGING), INSTANCE).inputs["spec"]
    targets = [p["target"].get("kind") for p in spec.get("kustomize", {}).get("patches", [])]
    assert "GitRepository" not in targets
    assert spec["sync"]["ref"] == "staging"


def test_keyless_verification_needs_github_com(project: Path) -> None:
    from test_git_host import GHE

    set_sync(project, STAGING, {**OCI, "verify": True}, git={"host": GHE})
    code, out, err = run_cli(project, "validate")
    assert code == 2
    assert [line for line in (out + err).splitlines() if "spec.sync" in line] == [
        "k8s-clusters/staging-cluster-name.yaml: spec.sync.verify: true while the fleet "
        "repository is on ghe.acme.example: keyless cosign signatures (Sigstore's public Fulcio) "
        "trust the OIDC tokens of github.com's Actions, not a GitHub Enterprise Server's, "
        "expected false"
    ]
    set_sync(project, STAGING, OCI, git={"host": GHE})  # unsigned: fine
    assert one(plan_stack(project, STAGING), INSTANCE).inputs["spec"]["sync"]["url"] == ARTIFACT
