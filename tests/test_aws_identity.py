"""AWS identities of a cluster stack (#14): the deployer's EKS access entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from planutil import new_staging_cluster, of_type, one, run_cli

from components import yamlio
from components.plan.runner import plan_stack

PROD = "production-cluster-name"
DEPLOYER = "arn:aws:iam::123456789012:role/fleet-deployer"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
K8S_PROVIDER = "pulumi:providers:kubernetes"
AWS_PROVIDER = "pulumi:providers:aws"


def set_aws(project: Path, **values: Any) -> None:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["aws"].update(values)
    path.write_text(yamlio.dump_yaml([doc]))


def test_no_access_entry_by_default(root: Path) -> None:
    plan = plan_stack(root, PROD)
    assert of_type(plan, ENTRY) == [] and of_type(plan, ASSOCIATION) == []


def test_the_access_entry_comes_before_any_kubernetes_object(project: Path) -> None:
    set_aws(project, accessEntry={"principalArn": DEPLOYER})
    plan = plan_stack(project, PROD)
    entry, association = one(plan, ENTRY), one(plan, ASSOCIATION)
    aws_provider = one(plan, AWS_PROVIDER, f"{PROD}-eks-aws")
    for resource in (entry, association):
        assert resource.provider.startswith(aws_provider.urn)  # the cluster account's provider
        assert resource.inputs["clusterName"] == "production-eks"
        assert resource.inputs["principalArn"] == DEPLOYER
    assert entry.inputs["type"] == "STANDARD"
    assert association.inputs["policyArn"] == (
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert entry.urn in association.dependencies
    k8s = one(plan, K8S_PROVIDER)
    assert association.urn in k8s.dependencies  # every Kubernetes object goes through it
    assert all(
        r.provider.startswith(k8s.urn) for r in plan.resources if r.type.startswith("kubernetes:")
    )


def test_another_access_policy(project: Path) -> None:
    set_aws(project, accessEntry={"principalArn": DEPLOYER, "policy": "AmazonEKSAdminPolicy"})
    association = one(plan_stack(project, PROD), ASSOCIATION)
    assert association.inputs["policyArn"].endswith("/AmazonEKSAdminPolicy")


@pytest.mark.parametrize(
    ("entry", "path", "expected"),
    [
        ({"principalArn": "fleet-deployer"}, "principalArn", "an IAM role or user ARN"),
        ({"principalArn": DEPLOYER, "policy": "Admin"}, "policy", "AmazonEKSClusterAdminPolicy"),
        ({}, "principalArn", "required field is missing"),
    ],
)
def test_a_bad_access_entry_is_one_line(
    project: Path, entry: dict[str, Any], path: str, expected: str
) -> None:
    set_aws(project, accessEntry=entry)
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"k8s-clusters/{PROD}.yaml: spec.aws.accessEntry.{path}: "), line
    assert expected in line


# --- workload identity: IRSA or EKS Pod Identity -------------------------------------------------

ROLE = "aws:iam/role:Role"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
CONTROLLERS = ["image-reflector-controller", "source-controller"]


def pulling_from_ecr(project: Path, mode: str) -> Any:
    """The production cluster with both controllers pulling from ECR, in `mode`."""
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["aws"]["workloadIdentity"] = mode
    doc["spec"]["ecr"]["ociSources"] = True
    doc["spec"]["flux"]["componentsExtra"] = ["image-reflector-controller"]
    path.write_text(yamlio.dump_yaml([doc]))
    return plan_stack(project, PROD)


def trust(plan: Any, controller: str) -> dict[str, Any]:
    import json

    role = one(plan, ROLE, f"{PROD}-ecr-{controller}")
    return dict(json.loads(role.inputs["assumeRolePolicy"]))


def test_pod_identity_roles_trust_the_service_for_this_cluster_only(project: Path) -> None:
    plan = pulling_from_ecr(project, "podIdentity")
    for controller in CONTROLLERS:
        (statement,) = trust(plan, controller)["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Action": ["sts:TagSession", "sts:AssumeRole"],
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            # the session tags Pod Identity sets: this cluster, namespace and ServiceAccount
            "Condition": {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-arn": (
                        "arn:aws:eks:eu-west-1:123456789012:cluster/production-eks"
                    ),
                    "aws:RequestTag/kubernetes-namespace": "flux-system",
                    "aws:RequestTag/kubernetes-service-account": controller,
                },
            },
        }
    associations = {r.inputs["serviceAccount"]: r for r in of_type(plan, POD_IDENTITY)}
    assert sorted(associations) == CONTROLLERS
    instance = one(plan, INSTANCE)
    for controller, association in associations.items():
        role = one(plan, ROLE, f"{PROD}-ecr-{controller}")
        assert association.inputs["namespace"] == "flux-system"
        assert association.inputs["clusterName"] == "production-eks"
        assert role.urn in association.dependencies
        assert association.urn in instance.dependencies  # controllers start with credentials
    # no ServiceAccount annotation: the association binds them
    patches = instance.inputs["spec"].get("kustomize", {}).get("patches", [])
    assert not any(p["target"].get("kind") == "ServiceAccount" for p in patches)


def test_irsa_stays_the_default_and_switching_modes_replaces_no_role(project: Path) -> None:
    irsa = pulling_from_ecr(project, "irsa")
    assert of_type(irsa, POD_IDENTITY) == []
    assert trust(irsa, CONTROLLERS[0])["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    patches = one(irsa, INSTANCE).inputs["spec"]["kustomize"]["patches"]
    assert sorted(
        p["target"]["name"] for p in patches if p["target"]["kind"] == "ServiceAccount"
    ) == (CONTROLLERS)
    pods = pulling_from_ecr(project, "podIdentity")
    # the same roles (URN and name): switching updates their trust policy, adds or removes the
    # associations and the ServiceAccount patches
    for controller in CONTROLLERS:
        before, after = (one(p, ROLE, f"{PROD}-ecr-{controller}") for p in (irsa, pods))
        assert before.urn == after.urn and before.inputs["name"] == after.inputs["name"]
    added = {r.urn for r in pods.resources} - {r.urn for r in irsa.resources}
    assert {urn.rsplit("::", 1)[1] for urn in added} == {
        f"{PROD}-ecr-{c}-pod-identity" for c in CONTROLLERS
    }
    assert {r.urn for r in irsa.resources} <= {r.urn for r in pods.resources}


def test_the_pod_identity_trust_policy_is_parliament_clean(project: Path) -> None:
    import json

    from parliament import analyze_policy_string

    plan = pulling_from_ecr(project, "podIdentity")
    for controller in CONTROLLERS:
        document = trust(plan, controller)
        document["Statement"][0]["Resource"] = f"arn:aws:iam::123456789012:role/{controller}"
        found = analyze_policy_string(json.dumps(document)).findings
        assert [(f.issue, f.detail) for f in found] == [], controller


def test_a_bad_workload_identity_is_one_line(project: Path) -> None:
    set_aws(project, workloadIdentity="oidc")
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err == (
        f"k8s-clusters/{PROD}.yaml: spec.aws.workloadIdentity: expected one of irsa or "
        'podIdentity, got "oidc"\n'
    )


# --- Flux on AWS Fargate ------------------------------------------------------------------------


def test_pod_identity_is_refused_for_flux_on_fargate(project: Path) -> None:
    """EKS Pod Identity does not work for pods on Fargate (EKS user guide, "EKS Pod Identity
    restrictions"): a cluster whose Flux controllers run there must use IRSA."""
    set_aws(project, fluxOnFargate=True, workloadIdentity="podIdentity")
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err == (
        f"k8s-clusters/{PROD}.yaml: spec.aws.workloadIdentity: EKS Pod Identity does not work "
        "for pods on AWS Fargate, and fluxOnFargate says the Flux controllers run there: "
        "expected irsa\n"
    )
    set_aws(project, fluxOnFargate="sometimes", workloadIdentity="irsa")
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"k8s-clusters/{PROD}.yaml: spec.aws.fluxOnFargate: "), line


def test_pod_identity_from_the_defaults_is_refused_for_flux_on_fargate(project: Path) -> None:
    defaults = project / "k8s-clusters/_defaults.yaml"
    doc = yamlio.load(defaults.read_text())
    doc["spec"]["aws"] = {"workloadIdentity": "podIdentity"}
    defaults.write_text(yamlio.dump_yaml([doc]))
    set_aws(project, fluxOnFargate=True)
    code, _, err = run_cli(project, "validate")
    assert code == 2
    (line,) = err.splitlines()
    assert "spec.aws.workloadIdentity: EKS Pod Identity does not work for pods on AWS" in line
    set_aws(project, workloadIdentity="irsa")  # the cluster overrides the fleet's default
    assert run_cli(project, "validate")[0] == 0


def test_flux_on_fargate_pulls_with_the_pod_execution_role_and_irsa(project: Path) -> None:
    """On Fargate the pod execution role pulls the images: listed in nodeRoleNames it gets the
    node pull policy; the controllers' roles are IRSA; the registries stack writes the same
    policies as for the cluster on nodes (it grants the account, whatever pulls in it)."""
    import json

    policy = "aws:ecr/repositoryPolicy:RepositoryPolicy"

    def registries() -> dict[str, Any]:
        plan = plan_stack(project, "registries")
        return {r.name: json.loads(r.inputs["policy"]) for r in of_type(plan, policy)}

    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["ecr"]["ociSources"] = True
    path.write_text(yamlio.dump_yaml([doc]))
    on_nodes = registries()
    doc["spec"]["aws"]["fluxOnFargate"] = True
    doc["spec"]["ecr"]["nodeRoleNames"] = ["production-fargate-pod-execution"]
    path.write_text(yamlio.dump_yaml([doc]))
    assert registries() == on_nodes
    plan = plan_stack(project, PROD)
    attachment = one(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["role"] == "production-fargate-pod-execution"
    node_policy = json.loads(one(plan, "aws:iam/policy:Policy").inputs["policy"])
    assert node_policy["Statement"][0]["Action"] == "ecr:GetAuthorizationToken"
    assert of_type(plan, POD_IDENTITY) == []
    source = one(plan, ROLE, f"{PROD}-ecr-source-controller")
    trust_policy = json.loads(source.inputs["assumeRolePolicy"])
    assert trust_policy["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"


# --- SOPS with AWS KMS ---------------------------------------------------------------------------

OWN_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FOREIGN_KEY = "arn:aws:kms:eu-west-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef"
SOPS_ROLE = f"{PROD}-sops-kustomize-controller"


def with_sops(project: Path, mode: str = "irsa", keys: list[str] | None = None) -> Any:
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["sops"] = {"kmsKeyArns": keys or [OWN_KEY, FOREIGN_KEY]}
    doc["spec"]["aws"]["workloadIdentity"] = mode
    path.write_text(yamlio.dump_yaml([doc]))
    return plan_stack(project, PROD)


def test_kustomize_controller_may_decrypt_with_exactly_the_keys(project: Path) -> None:
    import json

    from crdcheck import validate
    from parliament import analyze_policy_string

    plan = with_sops(project)
    role = one(plan, ROLE, SOPS_ROLE)
    assert role.inputs["name"] == f"{PROD}-kustomize-controller"
    assert one(plan, "flux-fleet:index:SopsAccess").urn == role.parent
    policy = one(plan, "aws:iam/rolePolicy:RolePolicy", f"{SOPS_ROLE}-decrypt")
    assert policy.inputs["name"] == "sops-decrypt"
    document = json.loads(policy.inputs["policy"])
    assert document["Statement"] == [
        {
            "Sid": "SopsDecrypt",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:Decrypt"],
            "Resource": [FOREIGN_KEY, OWN_KEY],  # the provider's reverse-sorted set
        }
    ]
    assert analyze_policy_string(json.dumps(document)).findings == []
    # the sync Kustomization decrypts, and kustomize-controller's ServiceAccount has the role
    instance = one(plan, INSTANCE).inputs
    assert validate(instance) == []
    patches = instance["spec"]["kustomize"]["patches"]
    decryption = [
        p for p in patches if p["target"] == {"kind": "Kustomization", "name": "flux-system"}
    ]
    assert [json.loads(p["patch"]) for p in decryption] == [
        [{"op": "add", "path": "/spec/decryption", "value": {"provider": "sops"}}]
    ]
    annotated = [p["target"]["name"] for p in patches if p["target"]["kind"] == "ServiceAccount"]
    assert annotated == ["kustomize-controller"]


def test_the_owner_of_a_foreign_key_gets_the_statement_to_add(project: Path) -> None:
    import json

    from parliament import analyze_policy_string

    plan = with_sops(project)
    statements = plan.outputs["sopsKeyPolicyStatements"]
    role_arn = f"arn:aws:iam::123456789012:role/{PROD}-kustomize-controller"
    assert statements == {
        FOREIGN_KEY: {
            "Sid": "FluxSopsProductionClusterName",
            "Effect": "Allow",
            # the account, not the role: KMS refuses a principal that does not exist yet, and
            # a role principal stops matching once the role is re-created
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}},
        }
    }  # the cluster's own key needs no statement: the identity policy is enough in-account
    # parliament, with the key the policy is attached to spelled out
    spelled = {"Version": "2012-10-17", "Statement": [{**statements[FOREIGN_KEY]}]}
    spelled["Statement"][0]["Resource"] = FOREIGN_KEY
    assert analyze_policy_string(json.dumps(spelled)).findings == []
    # the role the condition names is the one the stack creates, with the decrypt permissions
    assert one(plan, ROLE, SOPS_ROLE).inputs["name"] == role_arn.rsplit("/", 1)[1]
    assert "sopsKeyPolicyStatements" not in with_sops(project, keys=[OWN_KEY]).outputs


def test_clusters_sharing_a_foreign_key_add_one_statement_each() -> None:
    """KMS refuses a key policy with a duplicate Sid: each cluster's statement has its own,
    and a key policy holding every cluster's statement renders (the provider's rules refuse a
    duplicate Sid too)."""
    import json

    from components.builders.iam import statement_args
    from components.builders.options import sops_options
    from components.builders.sops import foreign_key_policy_statements
    from components.definition.cluster import Cluster
    from components.plan.iam import get_policy_document

    def cluster(name: str, account: str) -> Cluster:
        return Cluster.model_validate(
            {
                "apiVersion": "flux-fleet/v1",
                "kind": "Cluster",
                "metadata": {"name": name, "environment": "production"},
                "spec": {
                    "aws": {"accountId": account, "region": "eu-west-1"},
                    "git": {"owner": "acme", "repository": "gitops"},
                    "sops": {"kmsKeyArns": [FOREIGN_KEY]},
                },
            }
        )

    names = ["prod", "prod-eu", "prod-1", "prod1", "prod--eu", "staging"]
    clusters = [cluster(name, f"{100000000000 + i}") for i, name in enumerate(names)]
    statements = [foreign_key_policy_statements(sops_options(c))[FOREIGN_KEY] for c in clusters]
    sids = [s["Sid"] for s in statements]
    assert sids[:2] == ["FluxSopsProd", "FluxSopsProdEu"]
    assert len(set(sids)) == len(names)  # prod-1 and prod1 too
    assert all(sid.isalnum() for sid in sids)
    document = {"Version": "2012-10-17", "Statement": statements}
    rendered = get_policy_document(
        {"version": "2012-10-17", "statements": statement_args(document)}
    )
    assert [s["Sid"] for s in json.loads(rendered["json"])["Statement"]] == sids
    for c, statement in zip(clusters, statements, strict=True):
        account = c.spec.aws.account_id
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
        assert statement["Condition"]["ArnEquals"]["aws:PrincipalArn"] == (
            f"arn:aws:iam::{account}:role/{c.name}-kustomize-controller"
        )


def test_sops_with_pod_identity_binds_kustomize_controller(project: Path) -> None:
    plan = with_sops(project, "podIdentity")
    (association,) = [
        r
        for r in of_type(plan, POD_IDENTITY)
        if r.inputs["serviceAccount"] == "kustomize-controller"
    ]
    assert association.urn in one(plan, INSTANCE).dependencies
    role = one(plan, ROLE, SOPS_ROLE)
    assert '"pods.eks.amazonaws.com"' in role.inputs["assumeRolePolicy"]


def kustomized_sync(folder: Path, patch: dict[str, Any]) -> dict[str, Any]:
    """The FluxInstance's sync Kustomization (flux-system) after kustomize applied `patch`, as
    the operator applies its spec.kustomize.patches to the sync objects; checked against the
    Kustomization CRD."""
    import subprocess

    import kubectltool
    from crdcheck import validate

    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": "./flux/clusters/x",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
    }
    (folder / "sync.yaml").write_text(yamlio.dump_yaml([kustomization]))
    build = {"resources": ["sync.yaml"], "patches": [patch]}
    (folder / "kustomization.yaml").write_text(yamlio.dump_yaml([build]))
    done = subprocess.run(
        [kubectltool.kubectl(), "kustomize", str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (patched,) = yamlio.load_all(done.stdout)
    assert validate(patched) == []
    return dict(patched)


def test_the_decryption_patch_does_what_it_says_with_kustomize(tmp_path: Path) -> None:
    from components.builders.sops import sync_decryption_patch

    patched = kustomized_sync(tmp_path, sync_decryption_patch())
    assert patched["spec"]["decryption"] == {"provider": "sops"}


def test_the_apps_kustomization_in_git_decrypts_too(project: Path) -> None:
    from components.builders.gitops import cluster_files
    from components.builders.options import cluster_folder_options

    with_sops(project)
    cluster = load_fleet_cluster(project)
    apps = yamlio.load(cluster_files(cluster_folder_options(cluster))["apps.yaml"])
    assert apps["spec"]["decryption"] == {"provider": "sops"}
    # new-cluster writes it when the fleet's defaults turn SOPS on
    defaults = project / "k8s-clusters/_defaults.yaml"
    defaults.write_text(defaults.read_text() + f"  sops:\n    kmsKeyArns: [{OWN_KEY}]\n")
    written = new_staging_cluster(project, "fresh")
    assert written["spec"]["decryption"] == {"provider": "sops"}
    assert "sops" not in yamlio.load((project / "k8s-clusters/fresh.yaml").read_text())["spec"]


def load_fleet_cluster(project: Path) -> Any:
    from components.loading.fleet import load_fleet

    return load_fleet(project).clusters[PROD]


@pytest.mark.parametrize(
    ("keys", "path", "expected"),
    [
        (["arn:aws:kms:eu-west-1:123456789012:alias/flux"], "kmsKeyArns[0]", "not an alias"),
        ([OWN_KEY, OWN_KEY], "kmsKeyArns", "more than once"),
        ([], "kmsKeyArns", "at least 1"),
        (
            [OWN_KEY.replace("arn:aws:", "arn:aws-cn:")],
            "kmsKeyArns[0]",
            "a key of partition aws-cn",
        ),
    ],
)
def test_a_bad_sops_key_is_one_line(
    project: Path, keys: list[str], path: str, expected: str
) -> None:
    file = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(file.read_text())
    doc["spec"]["sops"] = {"kmsKeyArns": keys}
    file.write_text(yamlio.dump_yaml([doc]))
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"k8s-clusters/{PROD}.yaml: spec.sops.{path}: "), line
    assert expected in line, line


def test_flux_on_fargate_from_an_ecr_mirror_needs_the_pod_execution_role(project: Path) -> None:
    """On Fargate nothing but the pod execution role pulls the controller images: from an ECR
    mirror without it in nodeRoleNames the controllers would never start."""
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    mirror = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/ghcr/fluxcd"  # the registry shared
    doc["spec"].setdefault("flux", {})["registry"] = {"url": mirror}
    doc["spec"]["ecr"].pop("nodeRoleNames", None)
    doc["spec"]["aws"]["fluxOnFargate"] = True
    path.write_text(yamlio.dump_yaml([doc]))
    code, _, err = run_cli(project, "validate")
    assert code == 2
    assert err.splitlines() == [
        f"k8s-clusters/{PROD}.yaml: spec.ecr.nodeRoleNames: empty while spec.aws.fluxOnFargate "
        f"is true and the controller images come from ECR ({mirror}): expected the Fargate "
        "profile's pod execution role, which pulls them"
    ]
    doc["spec"]["ecr"]["nodeRoleNames"] = ["production-fargate-pod-execution"]
    path.write_text(yamlio.dump_yaml([doc]))
    # (the example's registry mirrors no controller image: that problem remains, not this one)
    assert "spec.ecr.nodeRoleNames" not in run_cli(project, "validate")[2]
