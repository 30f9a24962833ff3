"""Private and air-gapped registries (#30 part 1): the operator chart pulled at `pulumi up` with
credentials derived from AWS, the operator's image and manifests from the mirror, a non-ECR
mirror's pull Secret from credentialFrom, ECR pull-through caches that work from an empty cache
across accounts, and an air-gapped cluster whose plan names nothing outside its mirror."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from crdcheck import validate
from fleetworkspace import assert_problem_lines
from parliament import analyze_policy_string
from planutil import BARE, of_type, one, run_cli

from components import yamlio
from components.builders import ecr
from components.builders.flux import flux_instance, operator_values
from components.builders.options import flux_options, operator_options
from components.builders.registry_access import docker_config_json
from components.definition.flux import FLUX_VARIANTS, KNOWN_REGISTRY_VARIANTS
from components.definition.registries import Registry
from components.loading.fleet import load_fleet, validate_cluster_doc
from components.plan.result import Secret, StackPlan
from components.plan.runner import plan_stack
from components.stack.flux import chart_login_ignored
from components.tools.snapshots import Snapshot, registries_view

PROD = "production-cluster-name"
PROD_ACCOUNT = "123456789012"
ECR_HOST = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"  # the example's registry "shared"
HOST = "registry.example.internal"  # a mirror that is not ECR
RELEASE = "kubernetes:helm.sh/v3:Release"
INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
SECRET = "kubernetes:core/v1:Secret"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
TOKEN = "aws:ecr/getAuthorizationToken:getAuthorizationToken"
CACHE_ACTIONS = ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]  # provider's order
PULLS = ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"]
CREDENTIAL = {"ssmParameter": "/fleet/registry-token", "username": "flux"}

# Every mirror of a cluster, on a registry that is not ECR (with credentials) and on ECR.
PRIVATE_MIRRORS: dict[str, Any] = {
    "registry": {
        "url": f"{HOST}/fluxcd",
        "credentialFrom": CREDENTIAL,
        "artifact": f"oci://{HOST}/controlplaneio-fluxcd/flux-operator-manifests",
    },
    "operatorImage": f"{HOST}/controlplaneio-fluxcd/flux-operator",
    "operatorChart": f"oci://{HOST}/controlplaneio-fluxcd/charts/flux-operator",
}
ECR_MIRRORS: dict[str, Any] = {
    "registry": {"url": f"{ECR_HOST}/ghcr/fluxcd"},
    "operatorImage": f"{ECR_HOST}/ghcr/controlplaneio-fluxcd/flux-operator",
    "operatorChart": f"oci://{ECR_HOST}/charts/flux-operator",
}


# --- helpers --------------------------------------------------------------------------------------


def checked(flux: dict[str, Any]) -> tuple[Any, list[str]]:
    doc = copy.deepcopy(BARE)
    doc["spec"]["flux"] = flux
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    return cluster, [str(p) for p in problems]


def bare(flux: dict[str, Any]) -> Any:
    cluster, problems = checked(flux)
    assert cluster is not None, problems
    return cluster


def set_flux(project: Path, flux: dict[str, Any], *, alerts: bool = True) -> None:
    """spec.flux of the production cluster updated with `flux`; without `alerts`, no Slack."""
    path = project / f"k8s-clusters/{PROD}.yaml"
    doc = yamlio.load(path.read_text())
    doc["spec"]["flux"].update(copy.deepcopy(flux))
    if not alerts:
        doc["spec"]["alerts"] = {"slack": {"enabled": False}}
    path.write_text(yamlio.dump_yaml([doc]))


def set_registry(project: Path, **fields: Any) -> None:
    """The example registry "shared" of _registries.yaml, with `fields` set."""
    path = project / "k8s-clusters/_registries.yaml"
    doc = yamlio.load(path.read_text())
    doc["registries"][0].update(fields)
    path.write_text(yamlio.dump_yaml([doc]))


def ecr_fleet(project: Path, *, alerts: bool = True) -> None:
    """The production cluster on the ECR mirrors of "shared": the images through its
    pull-through cache ghcr (repositories created on the first pull), the chart pushed to
    charts/flux-operator."""
    set_registry(project, repositories=["api", "worker", "charts/flux-operator"])
    set_registry(project, pullThroughCache=["ghcr"])
    set_flux(project, ECR_MIRRORS, alerts=alerts)


def strings(value: Any) -> Iterator[str]:
    """Every string in `value`: keys, values, secrets' values, and the JSON or YAML inside a
    string (policies, patches) as its own strings too."""
    if isinstance(value, Secret):
        yield from strings(value.value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value
        if value[:1] in "{[":
            yield from strings(parsed(value))


def parsed(text: str) -> Any:
    """The JSON document `text` holds, or None."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in document["Statement"] if s.get("Sid") == sid]
    return found


# parliament 1.6's privilege data has ecr:BatchImportUpstreamImage without a resource type, so it
# asks for Resource "*"; the Service Authorization Reference ("Actions, resources, and condition
# keys for Amazon Elastic Container Registry") gives it the resource type repository*, and the
# ECR User Guide's pull-through cache registry policy scopes it to repository ARNs. Exactly that
# outdated finding is tolerated, nothing else.
OUTDATED = (
    "RESOURCE_MISMATCH",
    "[{'action': 'ecr:BatchImportUpstreamImage', 'required_format': '*'}]",
)


def findings(document: dict[str, Any]) -> list[tuple[str, str]]:
    found = analyze_policy_string(json.dumps(document)).findings
    return [(f.issue, str(f.detail)) for f in found if (f.issue, str(f.detail)) != OUTDATED]


# --- the definition and the builders --------------------------------------------------------------


def test_the_variants_are_exactly_the_ones_the_operator_knows() -> None:
    crd = yaml.safe_load(
        (ROOT / "tests/upstream/crds/fluxcd.controlplane.io_fluxinstances.yaml").read_text()
    )
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    enum = schema["properties"]["spec"]["properties"]["distribution"]["properties"]["variant"]
    assert tuple(enum["enum"]) == FLUX_VARIANTS
    assert set(KNOWN_REGISTRY_VARIANTS.values()) <= set(FLUX_VARIANTS)


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ({"url": "ghcr.io/fluxcd"}, None),  # the operator knows it
        ({"url": "ghcr.io/controlplaneio-fluxcd/distroless"}, None),
        ({"url": f"{HOST}/fluxcd"}, "upstream-alpine"),  # a mirror of ghcr.io/fluxcd
        (
            {"url": f"{HOST}/cp/distroless", "variant": "enterprise-distroless"},
            "enterprise-distroless",
        ),
    ],
)
def test_a_mirror_names_its_variant_a_registry_the_operator_knows_needs_none(
    registry: dict[str, Any], expected: str | None
) -> None:
    instance = flux_instance(flux_options(bare({"registry": registry})))
    assert validate(instance) == []
    assert instance["spec"]["distribution"].get("variant") == expected


def test_the_mirror_credential_reaches_the_instance_and_the_operator_chart() -> None:
    cluster = bare(PRIVATE_MIRRORS)
    instance = flux_instance(flux_options(cluster))
    assert validate(instance) == []
    assert instance["spec"]["distribution"] == {
        "version": "2.9.x",
        "registry": f"{HOST}/fluxcd",
        "variant": "upstream-alpine",
        "imagePullSecret": "flux-registry",
        "artifact": f"oci://{HOST}/controlplaneio-fluxcd/flux-operator-manifests",
        "artifactPullSecret": "flux-registry",
    }
    assert operator_values(operator_options(cluster))["image"] == {
        "repository": f"{HOST}/controlplaneio-fluxcd/flux-operator",
        "pullSecrets": [{"name": "flux-registry"}],
    }
    # an operator image on another (public) host gets no Secret; no artifact, no artifact field
    other = bare({**PRIVATE_MIRRORS, "operatorImage": "mirror.example.org/flux-operator"})
    assert operator_values(operator_options(other))["image"] == {
        "repository": "mirror.example.org/flux-operator"
    }
    plain = flux_instance(flux_options(bare({"registry": {"url": f"{HOST}/fluxcd"}})))
    assert {"artifact", "artifactPullSecret", "imagePullSecret"}.isdisjoint(
        plain["spec"]["distribution"]
    )


def test_the_docker_config_is_what_kubectl_writes() -> None:
    config = json.loads(docker_config_json(HOST, "flux", "s3cret"))
    assert config == {
        "auths": {
            HOST: {
                "username": "flux",
                "password": "s3cret",
                "auth": base64.b64encode(b"flux:s3cret").decode(),
            }
        }
    }


ECR_URL = f"{ECR_HOST}/ghcr/fluxcd"


@pytest.mark.parametrize(
    ("registry", "field", "expected"),
    [
        (
            {"url": f"{HOST}/fluxcd", "pullSecret": "mirror"},
            "registry.pullSecret",
            "a pull Secret needs a source: expected credentialFrom (the username, and "
            "ssmParameter or secretsManager for the password or token)",
        ),
        (
            {"url": f"{HOST}/fluxcd", "variant": "upstream-debian"},
            "registry.variant",
            "expected one of upstream-alpine, enterprise-alpine, enterprise-distroless or "
            'enterprise-distroless-fips, got "upstream-debian"',
        ),
        (
            {"url": "ghcr.io/fluxcd", "variant": "enterprise-distroless"},
            "registry.variant",
            "ghcr.io/fluxcd holds upstream-alpine, expected variant upstream-alpine or none",
        ),
        (
            {"url": ECR_URL, "credentialFrom": CREDENTIAL},
            "registry.credentialFrom",
            "an ECR registry needs no pull Secret (the nodes' role pulls, with "
            "spec.ecr.nodeRoleNames; a Secret's ECR token would expire in 12 hours): expected "
            "no credentialFrom",
        ),
        (
            {"url": ECR_URL, "artifact": f"oci://{ECR_HOST}/flux-operator-manifests"},
            "registry.artifact",
            "the operator pulls the artifact only with a static pull Secret, and an ECR token "
            "expires in 12 hours: expected no artifact (the operator then uses the manifests "
            "in its image) or one on a registry that is not ECR",
        ),
        (
            {"url": f"{HOST}/fluxcd", "artifact": "oci://ghcr.io/controlplaneio-fluxcd/m"},
            "registry.artifact",
            f"expected an artifact on the registry's host {HOST} (pulled with its pull "
            "Secret), got host ghcr.io",
        ),
        (
            {"url": f"{HOST}/fluxcd", "credentialFrom": {"ssmParameter": "/fleet/token"}},
            "registry.credentialFrom.username",
            "required",
        ),
        (
            {"url": f"{HOST}/fluxcd", "credentialFrom": {"username": "flux"}},
            "registry.credentialFrom",
            "expected exactly one of ssmParameter and secretsManager",
        ),
    ],
)
def test_a_bad_mirror_is_one_line_naming_the_field(
    registry: dict[str, Any], field: str, expected: str
) -> None:
    cluster, problems = checked({"registry": registry})
    assert cluster is None
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"k8s-clusters/bare.yaml: spec.flux.{field}: "), problems
    assert expected in problems[0]


def test_an_operator_image_with_a_tag_is_refused() -> None:
    _, problems = checked({"operatorImage": f"{HOST}/flux-operator:v0.58.1"})
    assert problems == [
        f"k8s-clusters/bare.yaml: spec.flux.operatorImage: expected an image repository "
        f"without scheme or tag, such as registry.example.com/controlplaneio-fluxcd/"
        f'flux-operator, got "{HOST}/flux-operator:v0.58.1"'
    ]


def test_validate_exits_2_with_one_line_per_problem(project: Path) -> None:
    set_flux(
        project,
        {
            "registry": {"url": f"{HOST}/fluxcd", "pullSecret": "mirror"},
            "operatorImage": f"{HOST}/flux-operator:latest",
        },
    )
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    lines = assert_problem_lines(err)
    assert sorted(line.split(": ")[1] for line in lines) == [
        "spec.flux.operatorImage",
        "spec.flux.registry.pullSecret",
    ]


# --- a mirror that is not ECR: the pull Secret, the chart's login ---------------------------------


@pytest.fixture
def private(project: Path) -> StackPlan:
    set_flux(project, PRIVATE_MIRRORS)
    return plan_stack(project, PROD)


def test_the_pull_secret_is_made_from_aws_as_a_pulumi_secret(private: StackPlan) -> None:
    secret = one(private, SECRET, f"{PROD}-flux-registry-pull-secret")
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.inputs["metadata"]["name"] == "flux-registry"
    assert secret.inputs["metadata"]["namespace"] == "flux-system"
    data = secret.inputs["stringData"]
    assert isinstance(data, Secret)  # never plain text in the plan or the state
    config = json.loads(data.value[".dockerconfigjson"])
    # the offline plan reads no AWS: the SSM parameter's placeholder stands for the password
    assert config["auths"][HOST]["username"] == "flux"
    assert (
        config["auths"][HOST]["password"]
        == "placeholder value of SSM parameter /fleet/registry-token"
    )
    assert "aws:ssm/getParameter:getParameter" in private.invokes
    # the operator's pod and the FluxInstance pull with it: both wait for it
    assert secret.urn in one(private, RELEASE).dependencies
    assert secret.urn in one(private, INSTANCE).dependencies
    instance = one(private, INSTANCE).inputs
    assert validate(instance) == []
    assert instance["spec"]["distribution"]["imagePullSecret"] == "flux-registry"


def test_the_chart_on_the_mirror_is_pulled_with_its_credential(private: StackPlan) -> None:
    release = one(private, RELEASE).inputs
    assert release["chart"] == f"oci://{HOST}/controlplaneio-fluxcd/charts/flux-operator"
    opts = release["repositoryOpts"]
    assert isinstance(opts["username"], Secret) and isinstance(opts["password"], Secret)
    assert opts["username"].value == "flux"
    assert opts["password"].value == "placeholder value of SSM parameter /fleet/registry-token"
    assert release["values"]["image"]["pullSecrets"] == [{"name": "flux-registry"}]


def test_the_plan_shows_where_the_credential_is_never_its_value(project: Path) -> None:
    set_flux(project, PRIVATE_MIRRORS)
    code, out, err = run_cli(project, "plan", PROD)
    assert code == 0, err
    assert "placeholder value of SSM parameter" not in out
    assert "[secret]" in out


def test_without_mirrors_nothing_logs_in_and_no_secret_is_made(root: Path) -> None:
    plan = plan_stack(root, PROD)
    assert "repositoryOpts" not in one(plan, RELEASE).inputs
    assert TOKEN not in plan.invokes
    assert not [s for s in of_type(plan, SECRET) if "registry" in s.name]


# --- ECR: the chart's token, the grants, the pull-through cache -----------------------------------


def test_an_ecr_chart_is_pulled_with_a_token_of_the_clusters_account(project: Path) -> None:
    ecr_fleet(project)
    assert load_fleet(project).all_problems == []
    plan = plan_stack(project, PROD)
    assert TOKEN in plan.invokes
    release = one(plan, RELEASE).inputs
    assert release["chart"] == f"oci://{ECR_HOST}/charts/flux-operator"
    opts = release["repositoryOpts"]
    assert isinstance(opts["username"], Secret) and isinstance(opts["password"], Secret)
    assert opts["username"].value == "AWS"
    # the mock answers for the registry and region asked: the chart's
    assert opts["password"].value == f"placeholder ECR token for {ECR_HOST}"
    assert not [s for s in strings(plan.outputs) if "token" in s.lower()]
    # ECR needs no pull Secret: the nodes pull the operator's and the controllers' images
    assert not [s for s in of_type(plan, SECRET) if "registry" in s.name]
    assert release["values"]["image"] == {
        "repository": f"{ECR_HOST}/ghcr/controlplaneio-fluxcd/flux-operator"
    }


def test_the_registries_stack_grants_the_chart_to_the_clusters_account(project: Path) -> None:
    ecr_fleet(project)
    plan = plan_stack(project, "registries")
    policy = one(plan, REPOSITORY_POLICY, "registries-shared/charts/flux-operator")
    assert policy.inputs["repository"] == "charts/flux-operator"
    document = json.loads(policy.inputs["policy"])
    assert document["Statement"] == [
        {
            "Sid": "Pull",
            "Effect": "Allow",
            "Action": PULLS,
            "Principal": {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"},
        }
    ]


def test_a_pull_through_cache_is_granted_for_repositories_that_do_not_exist_yet(
    project: Path,
) -> None:
    ecr_fleet(project)
    plan = plan_stack(project, "registries")
    # no repository policy on a cached repository: it may not exist before the first pull
    names = {r.inputs["repository"] for r in of_type(plan, REPOSITORY_POLICY)}
    assert not [n for n in names if n.startswith("ghcr/")]
    # the registry policy: the consuming account may import and create exactly what it pulls
    registry_policy = json.loads(one(plan, REGISTRY_POLICY).inputs["policy"])
    arn = "arn:aws:ecr:eu-west-1:210987654321:repository"
    assert registry_policy["Statement"] == [
        {
            "Sid": "PullThroughCache1",
            "Effect": "Allow",
            "Action": CACHE_ACTIONS,
            "Resource": [
                f"{arn}/ghcr/fluxcd/*",
                f"{arn}/ghcr/controlplaneio-fluxcd/flux-operator",
            ],
            "Principal": {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"},
        }
    ]
    assert findings(registry_policy) == []
    # the repositories the cache creates get the pulls from the creation template
    template = one(plan, TEMPLATE).inputs
    assert template["prefix"] == "ghcr"
    assert template["appliedFors"] == ["PULL_THROUGH_CACHE"]
    pulls = json.loads(template["repositoryPolicy"])
    assert pulls["Statement"] == [
        {
            "Sid": "Pull",
            "Effect": "Allow",
            "Action": PULLS,
            "Principal": {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"},
        }
    ]
    with_resource = {
        **pulls,
        "Statement": [{**s, "Resource": f"{arn}/ghcr/*"} for s in pulls["Statement"]],
    }
    assert findings(with_resource) == []
    assert plan.outputs["pullThroughCacheGrants"] == {"shared/ghcr": [PROD_ACCOUNT]}


def test_a_cached_repository_listed_as_existing_keeps_a_repository_policy(project: Path) -> None:
    """A repository the cache already created, listed in _registries.yaml, gets its policy
    (a new consuming account reaches it; the template only applies at creation)."""
    ecr_fleet(project)
    set_registry(
        project,
        repositories=["api", "worker", "charts/flux-operator", "ghcr/fluxcd/source-controller"],
    )
    plan = plan_stack(project, "registries")
    names = {r.inputs["repository"] for r in of_type(plan, REPOSITORY_POLICY)}
    assert "ghcr/fluxcd/source-controller" in names
    assert "ghcr/fluxcd/kustomize-controller" not in names


def test_the_nodes_may_import_and_create_what_they_pull_through_the_cache(project: Path) -> None:
    ecr_fleet(project)
    plan = plan_stack(project, PROD)
    (policy,) = of_type(plan, "aws:iam/policy:Policy")
    document = json.loads(policy.inputs["policy"])
    arn = "arn:aws:ecr:eu-west-1:210987654321:repository"
    assert statement(document, "EcrPullThroughCache") == {
        "Sid": "EcrPullThroughCache",
        "Effect": "Allow",
        "Action": CACHE_ACTIONS,
        "Resource": [f"{arn}/ghcr/fluxcd/*", f"{arn}/ghcr/controlplaneio-fluxcd/flux-operator"],
    }
    assert set(statement(document, "EcrPull")["Resource"]) == {
        f"{arn}/api",
        f"{arn}/worker",
        f"{arn}/ghcr/fluxcd/*",
        f"{arn}/ghcr/controlplaneio-fluxcd/flux-operator",
    }
    assert findings(document) == []


def test_a_cache_in_the_clusters_own_account_needs_no_registry_policy(project: Path) -> None:
    ecr_fleet(project)
    set_registry(project, accountId=PROD_ACCOUNT, roleArn=f"arn:aws:iam::{PROD_ACCOUNT}:role/r")
    own = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    set_flux(project, json.loads(json.dumps(ECR_MIRRORS).replace(ECR_HOST, own)))
    assert load_fleet(project).all_problems == []
    registries = plan_stack(project, "registries")
    assert not of_type(registries, REGISTRY_POLICY) and not of_type(registries, TEMPLATE)
    (policy,) = of_type(plan_stack(project, PROD), "aws:iam/policy:Policy")
    assert "EcrPullThroughCache" in policy.inputs["policy"]  # the identity policy suffices


def test_the_example_fleet_writes_no_registry_policy_or_template(root: Path) -> None:
    plan = plan_stack(root, "registries")
    assert not of_type(plan, REGISTRY_POLICY) and not of_type(plan, TEMPLATE)
    assert "pullThroughCacheGrants" not in plan.outputs


@pytest.mark.parametrize(
    ("flux", "expected"),
    [
        (
            {"operatorChart": "oci://111111111111.dkr.ecr.eu-west-1.amazonaws.com/charts/op"},
            "spec.flux.operatorChart: an ECR registry of 111111111111/eu-west-1, expected the "
            "account and region of a registry of k8s-clusters/_registries.yaml (shared "
            "(210987654321/eu-west-1))",
        ),
        (
            {"operatorChart": f"oci://{ECR_HOST}/charts/flux-operator"},
            'spec.flux.operatorChart: expected a repository of registry "shared" (api, worker), '
            'got "charts/flux-operator"',
        ),
        (
            {"operatorImage": f"{ECR_HOST}/mirror/flux-operator"},
            'spec.flux.operatorImage: expected a repository of registry "shared" (api, worker), '
            'got "mirror/flux-operator"',
        ),
    ],
)
def test_an_ecr_chart_or_image_outside_the_registries_is_refused(
    project: Path, flux: dict[str, Any], expected: str
) -> None:
    set_flux(project, flux)
    assert [str(p) for p in load_fleet(project).all_problems] == [
        f"k8s-clusters/{PROD}.yaml: {expected}"
    ]


def test_a_name_under_a_cache_prefix_needs_no_listing(project: Path) -> None:
    set_registry(project, pullThroughCache=["ghcr"])
    set_flux(project, {"operatorImage": f"{ECR_HOST}/ghcr/controlplaneio-fluxcd/flux-operator"})
    assert load_fleet(project).all_problems == []


def test_a_bad_cache_prefix_is_one_line(project: Path) -> None:
    set_registry(project, pullThroughCache=["GHCR"])
    code, _, err = run_cli(project, "validate")
    assert code == 2
    lines = assert_problem_lines(err)
    assert lines[0] == (
        "k8s-clusters/_registries.yaml: registries[0].pullThroughCache[0]: expected a "
        'pull-through cache rule\'s repository prefix such as ghcr, got "GHCR"'
    )


# --- air-gapped: nothing outside the mirror -------------------------------------------------------

# Names that look like hosts but are never fetched: Kubernetes API groups and the domains of
# label and annotation keys.
NAMES = re.compile(
    r"^([a-z0-9-]+\.)*(fluxcd\.io|controlplane\.io|k8s\.io|kubernetes\.io|coreos\.com|pulumi\.com)$"
    r"|^eks\.amazonaws\.com$"  # the IRSA annotation key
)
# The fleet repository Flux syncs (and the deployer registers its keys on): Git, not a registry.
GIT = {"github.com", "api.github.com"}
# The cluster's own AWS endpoints (reached through VPC endpoints in an air-gapped VPC).
AWS_ENDPOINTS = re.compile(r"^([a-z0-9-]+\.)?(oidc\.)?eks\.eu-west-1\.amazonaws\.com$")
HOST_REFERENCE = re.compile(r"([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?::[0-9]+)?/")


@pytest.mark.parametrize(
    ("mirrors", "host"), [(PRIVATE_MIRRORS, HOST), (ECR_MIRRORS, ECR_HOST)], ids=["private", "ecr"]
)
def test_an_air_gapped_plan_references_nothing_outside_its_mirror(
    project: Path, mirrors: dict[str, Any], host: str
) -> None:
    if host == ECR_HOST:
        ecr_fleet(project, alerts=False)
    else:
        set_flux(project, mirrors, alerts=False)
    plan = plan_stack(project, PROD)
    found: dict[str, str] = {}
    for registration in plan.resources:
        for text in strings(registration.inputs):
            for match in HOST_REFERENCE.finditer(text):
                found.setdefault(match[1], f"{registration.name}: {text[:120]}")
    for text in strings(plan.outputs):
        for match in HOST_REFERENCE.finditer(text):
            found.setdefault(match[1], f"output: {text[:120]}")
    outside = {
        h: where
        for h, where in found.items()
        if h != host and h not in GIT and not NAMES.match(h) and not AWS_ENDPOINTS.match(h)
    }
    assert outside == {}
    assert host in found
    # what the cluster pulls, and the chart's defaults the plan would not show, are the mirror's
    release = one(plan, RELEASE).inputs
    assert release["chart"].startswith(f"oci://{host}/")
    assert release["values"]["image"]["repository"].startswith(f"{host}/")
    distribution = one(plan, INSTANCE).inputs["spec"]["distribution"]
    assert distribution["registry"].startswith(f"{host}/")
    assert distribution.get("artifact", f"oci://{host}/").startswith(f"oci://{host}/")
    assert validate(one(plan, INSTANCE).inputs) == []


def test_the_walk_finds_an_upstream_reference(project: Path) -> None:
    """The walk is not blind: the same cluster with its chart left on ghcr.io is caught."""
    mirrors = {k: v for k, v in PRIVATE_MIRRORS.items() if k != "operatorChart"}
    set_flux(project, mirrors, alerts=False)
    plan = plan_stack(project, PROD)
    hosts = {
        m[1] for r in plan.resources for t in strings(r.inputs) for m in HOST_REFERENCE.finditer(t)
    }
    assert "ghcr.io" in hosts


# --- the how-to --------------------------------------------------------------------------------

DOC = ROOT / "docs/how-to/private-registries.md"


def test_the_how_to_example_validates_and_does_what_its_table_says() -> None:
    section = DOC.read_text().split("## Private and air-gapped registries", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    flux = yamlio.load(blocks[0])["spec"]["flux"]
    cluster = bare(flux)
    distribution = flux_instance(flux_options(cluster))["spec"]["distribution"]
    assert distribution["registry"] == flux["registry"]["url"]
    assert distribution["variant"] == flux["registry"]["variant"]
    assert distribution["imagePullSecret"] == flux["registry"]["pullSecret"]
    assert distribution["artifactPullSecret"] == flux["registry"]["pullSecret"]
    values = operator_values(operator_options(cluster))
    assert values["image"]["repository"] == flux["operatorImage"]
    assert values["image"]["pullSecrets"] == [{"name": flux["registry"]["pullSecret"]}]
    (registry,) = yamlio.load(blocks[1])["registries"]
    assert Registry.model_validate(registry).pull_through_cache == ["ghcr"]


def test_the_registries_stack_is_affected_by_an_ecr_chart_or_operator_image(project: Path) -> None:
    """`fluxfleet affected` compares what the registries stack reads: the operator's ECR image
    and chart are part of it, like the controller images' mirror."""

    def view() -> Any:
        return registries_view(Snapshot(load_fleet(project), [PROD], True))

    ecr_fleet(project)
    before = view()
    assert before["clusters"][PROD]["operatorChart"] == ECR_MIRRORS["operatorChart"]
    assert before["registries"]["shared"]["pullThroughCache"] == ["ghcr"]
    set_flux(project, {"operatorImage": f"{ECR_HOST}/ghcr/other/flux-operator"})
    assert view() != before


def test_a_preview_ignores_the_chart_login_an_update_never_does() -> None:
    """A new ECR token each run would make every preview (the drift check) show the Release
    changed; an update must send the fresh one, never the expired token from the state."""
    assert chart_login_ignored(logs_in=True, dry_run=True) == ["repositoryOpts"]
    assert chart_login_ignored(logs_in=True, dry_run=False) is None
    assert chart_login_ignored(logs_in=False, dry_run=True) is None


def test_the_plan_of_an_update_ignores_nothing_of_the_release(project: Path) -> None:
    ecr_fleet(project)
    release = one(plan_stack(project, PROD), RELEASE)
    assert release.ignore_changes == []


def test_the_registry_policy_groups_accounts_and_grants_an_organization_under_its_id() -> None:
    arn = "arn:aws:ecr:eu-west-1:210987654321:repository"
    refs = {
        "111111111111": ["ghcr/fluxcd/*"],
        "222222222222": ["ghcr/fluxcd/*"],
        "333333333333": ["ghcr/team/api"],
    }
    accounts = Registry.model_validate(
        {"name": "shared", "accountId": "210987654321", "region": "eu-west-1"}
    )
    document = ecr.registry_policy(accounts, refs)
    assert [(s["Resource"], s["Principal"]["AWS"]) for s in document["Statement"]] == [
        (
            f"{arn}/ghcr/fluxcd/*",
            ["arn:aws:iam::222222222222:root", "arn:aws:iam::111111111111:root"],
        ),
        (f"{arn}/ghcr/team/api", "arn:aws:iam::333333333333:root"),
    ]
    organization = Registry.model_validate(
        {
            "name": "shared",
            "accountId": "210987654321",
            "region": "eu-west-1",
            "organizationId": "o-abc123def4",
            "grantTo": "organization",
        }
    )
    (statement_,) = ecr.registry_policy(organization, refs)["Statement"]
    assert statement_["Principal"] == "*"
    assert statement_["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}
    assert statement_["Resource"] == [f"{arn}/ghcr/team/api", f"{arn}/ghcr/fluxcd/*"]
    assert findings({"Version": "2012-10-17", "Statement": [statement_]}) == []


@pytest.mark.parametrize(
    ("secret", "apps", "taken"),
    [
        ("flux-system", [], "the fleet repository's"),
        (
            "my-apps-deploykey",
            [{"name": "my-apps", "repository": "my-apps", "path": "deploy"}],
            "spec.apps my-apps's",
        ),
    ],
)
def test_the_pull_secret_is_a_secret_of_its_own(
    secret: str, apps: list[dict[str, Any]], taken: str
) -> None:
    doc = copy.deepcopy(BARE)
    doc["spec"]["flux"] = {
        "registry": {"url": f"{HOST}/fluxcd", "credentialFrom": CREDENTIAL, "pullSecret": secret}
    }
    doc["spec"]["apps"] = apps
    cluster, problems = validate_cluster_doc(doc, "k8s-clusters/bare.yaml", "bare", {})
    assert cluster is None
    assert [str(p) for p in problems] == [
        f"k8s-clusters/bare.yaml: spec.flux.registry.pullSecret: "
        f'"{secret}" is {taken} Secret, expected another pullSecret'
    ]
