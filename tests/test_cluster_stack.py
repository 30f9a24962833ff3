"""The cluster stack under the mock runtime: the same __main__.py `pulumi up` runs."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pulumi
import pytest
from crdcheck import is_flux_kind, validate
from planutil import of_type, one

from components.builders.flux import flux_instance
from components.builders.git_access import KEY_ALGORITHMS, github_known_hosts
from components.builders.options import flux_options
from components.plan import render
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack

UPSTREAM = Path(__file__).resolve().parent / "upstream"
PROD = "production-cluster-name"
STAGING = "staging-cluster-name"


def ssh_fingerprint(public_key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a `[host] type base64 [comment]` key line."""
    parts = public_key_line.split()
    key_at = 1 if parts[0].startswith(("ssh-", "ecdsa-", "sk-")) else 2
    blob = base64.b64decode(parts[key_at], validate=True)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture(scope="module")
def prod(root: Path) -> StackPlan:
    return plan_stack(root, PROD)


@pytest.fixture(scope="module")
def staging(root: Path) -> StackPlan:
    return plan_stack(root, STAGING)


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "k8s-clusters" / f"{name}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# --- components and providers -------------------------------------------------------------------


def test_components_have_their_type_tokens_and_children_are_parented(prod: StackPlan) -> None:
    components = {r.type for r in prod.resources if not r.custom}
    assert {
        "flux-fleet:index:FluxCluster",
        "flux-fleet:index:EksConnection",
        "flux-fleet:index:DeployKey",
        "flux-fleet:index:Flux",
    } <= components
    top = one(prod, "flux-fleet:index:FluxCluster")
    assert top.name == PROD
    for reg in prod.resources:
        if reg is not top:
            assert reg.parent, f"{reg.urn} has no parent"
            assert reg.name.startswith(PROD), reg.name


def test_every_kubernetes_object_goes_through_the_clusters_provider(prod: StackPlan) -> None:
    provider = one(prod, "pulumi:providers:kubernetes")
    k8s = [r for r in prod.resources if r.type.startswith("kubernetes:")]
    assert len(k8s) >= 4
    for reg in k8s:
        assert reg.provider.startswith(provider.urn + "::"), reg.urn
    for reg in prod.resources:
        if reg.custom and not reg.type.startswith(("pulumi:providers:", "tls:")):
            assert reg.provider, f"{reg.urn} would use a default provider"


def test_aws_provider_targets_the_account_and_assumes_the_role(prod: StackPlan) -> None:
    aws = one(prod, "pulumi:providers:aws")
    assert aws.inputs["region"] == "eu-west-1"
    assert json.loads(aws.inputs["allowedAccountIds"]) == ["123456789012"]
    roles = json.loads(aws.inputs["assumeRoles"])
    assert roles[0]["roleArn"] == "arn:aws:iam::123456789012:role/fleet-deployer"


def test_kubeconfig_is_a_secret_with_an_exec_credential(prod: StackPlan, staging) -> None:
    for plan, role in ((prod, "arn:aws:iam::123456789012:role/fleet-deployer"), (staging, None)):
        provider = one(plan, "pulumi:providers:kubernetes")
        assert isinstance(provider.inputs["kubeconfig"], Secret)
        config = json.loads(provider.inputs["kubeconfig"].value)
        (user,) = config["users"]
        assert "token" not in user["user"]
        exec_ = user["user"]["exec"]
        assert exec_["command"] == "aws"
        eks = "production-eks" if plan is prod else "staging-eks"
        expected = ["eks", "get-token", "--cluster-name", eks, "--region", "eu-west-1"]
        assert exec_["args"] == expected + (["--role-arn", role] if role else [])
        assert config["clusters"][0]["cluster"]["server"].startswith("https://placeholder-")


def test_eks_lookup_is_an_invoke_through_the_account_provider(prod: StackPlan) -> None:
    assert "aws:eks/getCluster:getCluster" in prod.invokes


def test_namespace_is_kept_on_destroy(prod: StackPlan) -> None:
    ns = one(prod, "kubernetes:core/v1:Namespace")
    assert ns.inputs["metadata"]["name"] == "flux-system"
    assert ns.retain_on_delete is True


# --- deploy key ---------------------------------------------------------------------------------


def test_deploy_key_secret_and_github_key(prod: StackPlan) -> None:
    key = one(prod, "tls:index/privateKey:PrivateKey", f"{PROD}-fleet-key-r1")
    assert key.inputs == {"algorithm": "ECDSA", "ecdsaCurve": "P384"}
    gh = one(prod, "github:index/repositoryDeployKey:RepositoryDeployKey", f"{PROD}-fleet-key-r1")
    assert gh.inputs["repository"] == "gitops"
    assert gh.inputs["readOnly"] is True
    assert PROD in gh.inputs["title"]
    assert gh.inputs["key"] == f"[unknown {PROD}-fleet-key-r1.publicKeyOpenssh]"
    github = one(prod, "pulumi:providers:github")
    assert github.inputs["owner"] == "acme"
    assert gh.provider.startswith(github.urn)

    secret = one(prod, "kubernetes:core/v1:Secret", f"{PROD}-fleet-key")
    assert secret.inputs["metadata"]["name"] == "flux-system"
    assert secret.inputs["metadata"]["namespace"] == "flux-system"
    data = secret.inputs["stringData"]
    assert isinstance(data, Secret)
    assert set(data.value) == {"identity", "identity.pub", "known_hosts"}
    assert data.value["identity"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert data.value["identity.pub"] == gh.inputs["key"]
    assert data.value["known_hosts"] == github_known_hosts()
    # GitHub has the key before Flux is handed the private key.
    assert gh.urn in secret.dependencies


def test_staging_key_algorithm_is_ed25519(staging: StackPlan) -> None:
    key = one(staging, "tls:index/privateKey:PrivateKey")
    assert key.inputs == {"algorithm": "ED25519"}


@pytest.mark.parametrize("algorithm", sorted(KEY_ALGORITHMS))
def test_every_algorithm_maps_to_an_openssh_capable_key(project: Path, algorithm: str) -> None:
    edit(project, STAGING, "algorithm: ED25519", f"algorithm: {algorithm}")
    key = one(plan_stack(project, STAGING), "tls:index/privateKey:PrivateKey")
    if key.inputs["algorithm"] == "ECDSA":
        # the provider's default curve P224 has no OpenSSH form
        assert key.inputs["ecdsaCurve"] in ("P256", "P384")
    if key.inputs["algorithm"] == "RSA":
        assert key.inputs["rsaBits"] == 4096


def test_image_automation_makes_the_fleet_key_read_write(project: Path) -> None:
    edit(
        project,
        STAGING,
        "  flux:\n",
        "  flux:\n    componentsExtra: [image-automation-controller]\n",
    )
    plan = plan_stack(project, STAGING)
    gh = one(plan, "github:index/repositoryDeployKey:RepositoryDeployKey")
    assert gh.inputs["readOnly"] is False
    instance = one(plan, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    assert "image-automation-controller" in instance.inputs["spec"]["components"]


def test_rotation_replaces_only_the_key_pair_and_deploy_key(project: Path) -> None:
    before = plan_stack(project, STAGING)
    edit(project, STAGING, "algorithm: ED25519", "algorithm: ED25519\n      rotation: 2")

    after = plan_stack(project, STAGING)
    old = {r.urn for r in before.resources}
    new = {r.urn for r in after.resources}
    assert {u.rsplit("::", 1)[1] for u in old - new} == {f"{STAGING}-fleet-key-r1"}
    assert {u.rsplit("::", 1)[1] for u in new - old} == {f"{STAGING}-fleet-key-r2"}
    assert len(old - new) == 2  # the tls key and the GitHub deploy key
    # The Secret keeps its resource name (updated in place, never deleted), now with the new key.
    secret = one(after, "kubernetes:core/v1:Secret", f"{STAGING}-fleet-key")
    assert "r2" in secret.inputs["stringData"].value["identity"]
    gh = one(after, "github:index/repositoryDeployKey:RepositoryDeployKey")
    assert "rotation 2" in gh.inputs["title"]
    # everything else registers with identical inputs
    unchanged = {r.urn: r.inputs for r in before.resources if r.urn in new and r.custom}
    for reg in after.resources:
        if reg.urn in unchanged and reg.type != "kubernetes:core/v1:Secret":
            assert repr(reg.inputs) == repr(unchanged[reg.urn]), reg.urn


# --- known_hosts --------------------------------------------------------------------------------


def test_known_hosts_match_githubs_published_fingerprints() -> None:
    meta = json.loads((UPSTREAM / "github_ssh_key_fingerprints.json").read_text())
    published = {f"SHA256:{value}" for value in meta["ssh_key_fingerprints"].values()}
    assert len(published) == 3
    lines = github_known_hosts().splitlines()
    assert all(line.split()[0] == "github.com" for line in lines)
    assert {ssh_fingerprint(line) for line in lines} == published


def test_fingerprint_function_is_real() -> None:
    line = github_known_hosts().splitlines()[0]
    tampered = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    assert ssh_fingerprint(tampered) != ssh_fingerprint(line)


# --- Flux -----------------------------------------------------------------------------------------


def test_operator_release_is_pinned(prod: StackPlan) -> None:
    release = one(prod, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
    assert release.inputs["version"] == "0.58.1"
    assert release.inputs["namespace"] == "flux-system"
    assert release.inputs["name"] == "flux-operator"
    assert release.inputs["values"]["installCRDs"] is True
    assert release.inputs["values"]["tolerations"][0]["key"] == "CriticalAddonsOnly"


def test_flux_instance_spec(prod: StackPlan) -> None:
    instance = one(prod, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    spec = instance.inputs["spec"]
    assert instance.inputs["metadata"]["name"] == "flux"
    assert instance.inputs["metadata"]["namespace"] == "flux-system"
    assert spec["distribution"] == {"version": "2.9.x", "registry": "ghcr.io/fluxcd"}
    assert "artifact" not in spec["distribution"]
    assert spec["cluster"] == {"type": "aws", "size": "large", "networkPolicy": True}
    assert spec["sync"] == {
        "kind": "GitRepository",
        "url": "ssh://git@github.com/acme/gitops.git",
        "ref": "refs/heads/main",
        "path": "flux/clusters/production-cluster-name",
        "pullSecret": "flux-system",
        "interval": "1m",
    }
    (patch,) = spec["kustomize"]["patches"]
    assert patch["target"] == {"kind": "Deployment"}
    assert json.loads(patch["patch"])[0]["value"][0]["key"] == "CriticalAddonsOnly"
    annotations = instance.inputs["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) > 0


def test_flux_instance_waits_for_operator_and_pull_secret_and_goes_first_on_destroy(
    prod: StackPlan,
) -> None:
    instance = one(prod, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    release = one(prod, "kubernetes:helm.sh/v3:Release")
    secret = one(prod, "kubernetes:core/v1:Secret", f"{PROD}-fleet-key")
    # Pulumi deletes dependents first: the instance is deleted while the operator still runs
    # (it uninstalls Flux without pruning workloads); the namespace is retained.
    assert release.urn in instance.dependencies
    assert secret.urn in instance.dependencies
    assert instance.retain_on_delete is False


def test_emitted_flux_objects_validate_against_the_crds(prod: StackPlan, staging) -> None:
    checked = 0
    for plan in (prod, staging):
        for reg in plan.resources:
            if reg.type.startswith("kubernetes:") and is_flux_kind(reg.inputs):
                obj = {k: v for k, v in reg.inputs.items()}
                assert validate(obj) == [], reg.urn
                checked += 1
    assert checked >= 2


def test_crd_check_catches_a_wrong_field(root: Path) -> None:
    from components.loading.fleet import load_fleet

    instance = flux_instance(flux_options(load_fleet(root).clusters[PROD]))
    instance["spec"]["cluster"]["sise"] = "large"
    assert validate(instance)


# --- outputs and plan output --------------------------------------------------------------------


def test_outputs(prod: StackPlan) -> None:
    assert prod.outputs["clusterName"] == PROD
    assert prod.outputs["fluxVersion"] == "2.9.x"
    assert prod.outputs["syncUrl"] == "ssh://git@github.com/acme/gitops.git"
    assert prod.outputs["syncPath"] == "flux/clusters/production-cluster-name"
    assert prod.outputs["deployKeyPublicKey"] == f"[unknown {PROD}-fleet-key-r1.publicKeyOpenssh]"
    assert "publicKeyFingerprintSha256" in prod.outputs["deployKeyFingerprint"]


def test_plan_output_has_no_private_key_material(prod: StackPlan, staging) -> None:
    # The mocks give the key pair PEM-looking private keys, so a leak would show up here.
    raw = repr([r.inputs["stringData"].value for r in of_type(prod, "kubernetes:core/v1:Secret")])
    assert "PRIVATE KEY" in raw
    for plan in (prod, staging):
        outputs = [render.text(plan), render.dumps(render.preview_json(plan))]
        for out in outputs:
            assert "PRIVATE KEY" not in out
            assert "[secret]" in out
        assert "[unknown]" in outputs[0]


def test_preview_json_shape(prod: StackPlan) -> None:
    doc = render.preview_json(prod)
    assert set(doc) == {"steps", "changeSummary"}
    assert doc["changeSummary"] == {"create": len(doc["steps"])}
    keys = {
        "urn",
        "type",
        "custom",
        "parent",
        "inputs",
        "dependencies",
        "protect",
        "retainOnDelete",
        "deletedWith",
        "provider",
    }
    for step in doc["steps"]:
        assert step["op"] == "create"
        assert keys <= set(step["newState"])
        assert step["urn"] == step["newState"]["urn"]
        assert step["provider"] == step["newState"]["provider"]
    stack = doc["steps"][0]["newState"]
    assert stack["type"] == "pulumi:pulumi:Stack"
    ns = next(s for s in doc["steps"] if s["newState"]["type"] == "kubernetes:core/v1:Namespace")
    assert ns["newState"]["retainOnDelete"] is True
    assert ns["newState"]["inputs"]["metadata"]["name"] == "flux-system"
    secret = next(s for s in doc["steps"] if s["newState"]["type"] == "kubernetes:core/v1:Secret")
    assert secret["newState"]["inputs"]["stringData"] == "[secret]"


def test_plan_is_deterministic(root: Path) -> None:
    first = render.dumps(render.preview_json(plan_stack(root, PROD)))
    second = render.dumps(render.preview_json(plan_stack(root, PROD)))
    assert first == second


def test_program_fails_with_the_validation_message(project: Path) -> None:
    edit(project, STAGING, 'accountId: "234567890123"', 'accountId: "2345"')
    with pytest.raises(pulumi.RunError) as err:
        plan_stack(project, STAGING)
    assert str(err.value) == (
        'k8s-clusters/staging-cluster-name.yaml: spec.aws.accountId: expected 12 digits, got "2345"'
    )


def test_stacks_are_isolated_from_each_other(root: Path, prod: StackPlan) -> None:
    staging = plan_stack(root, STAGING)
    assert all(r.urn.startswith(f"urn:pulumi:{STAGING}::") for r in staging.resources)
    assert not {r.name for r in staging.resources} & {r.name for r in prod.resources}
