"""The definition model and its validation: defaults merging, bad input, the JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.definition.cluster import Cluster
from components.definition.schema import json_schema
from components.loading.fleet import deep_merge, load_fleet

VALID = textwrap.dedent(
    """\
    # yaml-language-server: $schema=./cluster.schema.json
    apiVersion: flux-fleet/v1
    kind: Cluster
    metadata:
      name: {name}
      environment: staging
    spec:
      aws:
        accountId: "{account}"
        region: eu-west-1
      git:
        owner: acme
        repository: gitops
    """
)


def write(project: Path, name: str, text: str) -> Path:
    path = project / "k8s-clusters" / name
    path.write_text(text)
    return path


def problems(project: Path) -> list[str]:
    return [str(p) for p in load_fleet(project).all_problems]


# --- defaults -------------------------------------------------------------------------------


def test_deep_merge_mappings_merge_scalars_and_lists_of_the_cluster_win() -> None:
    defaults = {"git": {"owner": "acme", "branch": "main"}, "flux": {"tolerationKeys": ["a", "b"]}}
    cluster = {"git": {"branch": "release"}, "flux": {"tolerationKeys": ["c"]}}
    assert deep_merge(defaults, cluster) == {
        "git": {"owner": "acme", "branch": "release"},
        "flux": {"tolerationKeys": ["c"]},
    }


def test_example_fleet_is_valid_and_defaults_apply(root: Path) -> None:
    fleet = load_fleet(root)
    assert fleet.all_problems == []
    assert set(fleet.clusters) == {"production-cluster-name", "staging-cluster-name"}
    staging = fleet.clusters["staging-cluster-name"]
    # from _defaults.yaml
    assert staging.spec.git.owner == "acme"
    assert staging.spec.git.repository == "gitops"
    # the cluster's own value wins over the default (ECDSA-P384 in _defaults.yaml)
    assert staging.spec.flux.deploy_key.algorithm == "ED25519"
    assert staging.git_path == "flux/clusters/staging-cluster-name"
    assert staging.eks_cluster_name == "staging-eks"


def test_defaults_when_fields_are_omitted(project: Path) -> None:
    (project / "k8s-clusters" / "_defaults.yaml").unlink()
    write(project, "lean.yaml", VALID.format(name="lean", account="111111111111"))
    cluster = load_fleet(project).clusters["lean"]
    assert cluster.eks_cluster_name == "lean"
    assert cluster.spec.git.branch == "main"
    assert cluster.spec.git.interval == "1m"
    assert cluster.spec.flux.version == "2.9.x"
    assert cluster.spec.flux.operator_version == "0.58.1"
    assert cluster.spec.flux.components == [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
    ]
    assert cluster.spec.flux.deploy_key.algorithm == "ECDSA-P384"
    assert cluster.spec.flux.deploy_key.rotation == 1


# --- bad input: one clear line per problem ----------------------------------------------------

BASE = VALID.format(name="bad", account="111111111111")

BAD_DEFINITIONS = [
    # (description, transform of the valid text, expected line)
    (
        "short account id",
        lambda t: t.replace('"111111111111"', '"12345"'),
        'k8s-clusters/bad.yaml: spec.aws.accountId: expected 12 digits, got "12345"',
    ),
    (
        "account id as a number",
        lambda t: t.replace('"111111111111"', "111111111111"),
        "k8s-clusters/bad.yaml: spec.aws.accountId: expected a string (12 digits), "
        "got the number 111111111111 (quote it)",
    ),
    (
        "unknown region",
        lambda t: t.replace("eu-west-1", "eu-west-9"),
        "k8s-clusters/bad.yaml: spec.aws.region: expected an AWS region code such as eu-west-1, "
        'got "eu-west-9"',
    ),
    (
        "typo in a field name",
        lambda t: t.replace("  region:", "  regoin:"),
        "k8s-clusters/bad.yaml: spec.aws.regoin: unknown field, did you mean region?",
    ),
    (
        "wrong kind",
        lambda t: t.replace("kind: Cluster", "kind: Clutser"),
        'k8s-clusters/bad.yaml: kind: expected Cluster, got "Clutser"',
    ),
    (
        "wrong apiVersion",
        lambda t: t.replace("flux-fleet/v1", "flux-fleet/v2"),
        'k8s-clusters/bad.yaml: apiVersion: expected flux-fleet/v1, got "flux-fleet/v2"',
    ),
    (
        "name differs from the file stem",
        lambda t: t.replace("name: bad", "name: other"),
        'k8s-clusters/bad.yaml: metadata.name: expected "bad" (the file name and stack name), '
        'got "other"',
    ),
    (
        "name not an RFC 1123 label",
        lambda t: t.replace("name: bad", "name: Bad_Name"),
        "k8s-clusters/bad.yaml: metadata.name: expected an RFC 1123 label",
    ),
    (
        "missing environment",
        lambda t: t.replace("  environment: staging\n", ""),
        "k8s-clusters/bad.yaml: metadata.environment: required field is missing",
    ),
    (
        "absolute sync path",
        lambda t: t + "    path: /flux/clusters/bad\n",
        "k8s-clusters/bad.yaml: spec.git.path: expected a relative path without '..' "
        "or a leading '/', got \"/flux/clusters/bad\"",
    ),
    (
        "path escaping with ..",
        lambda t: t + "    path: flux/../../etc\n",
        "k8s-clusters/bad.yaml: spec.git.path: expected a relative path without '..'",
    ),
    (
        "interval not a Go duration",
        lambda t: t + "    interval: 1 minute\n",
        "k8s-clusters/bad.yaml: spec.git.interval: expected a Go duration such as 30s, 1m or 1h30m",
    ),
    (
        "size not in the enum",
        lambda t: t + "  flux:\n    size: huge\n",
        'k8s-clusters/bad.yaml: spec.flux.size: expected one of small, medium or large, got "huge"',
    ),
    (
        "rotation zero",
        lambda t: t + "  flux:\n    deployKey:\n      rotation: 0\n",
        "k8s-clusters/bad.yaml: spec.flux.deployKey.rotation: expected an integer >= 1, got the "
        "number 0",
    ),
    (
        "rotation as a string",
        lambda t: t + '  flux:\n    deployKey:\n      rotation: "2"\n',
        'k8s-clusters/bad.yaml: spec.flux.deployKey.rotation: expected an integer, got "2"',
    ),
    (
        "unknown key algorithm",
        lambda t: t + "  flux:\n    deployKey:\n      algorithm: DSA\n",
        "k8s-clusters/bad.yaml: spec.flux.deployKey.algorithm: expected one of ED25519, "
        "ECDSA-P256, ECDSA-P384 or RSA-4096",
    ),
    (
        "components without source-controller",
        lambda t: t + "  flux:\n    components: [kustomize-controller]\n",
        "k8s-clusters/bad.yaml: spec.flux.components: expected to include source-controller and "
        "kustomize-controller, missing source-controller",
    ),
    (
        "an extra controller in components",
        lambda t: (
            t + "  flux:\n    components: [source-controller, kustomize-controller, "
            "image-reflector-controller]\n"
        ),
        "k8s-clusters/bad.yaml: spec.flux.components[2]: expected one of source-controller",
    ),
    (
        "an unknown extra component",
        lambda t: t + "  flux:\n    componentsExtra: [helm-controller]\n",
        "k8s-clusters/bad.yaml: spec.flux.componentsExtra[0]: expected one of "
        "image-reflector-controller",
    ),
    (
        "a Flux version Flux 2.9 APIs do not match",
        lambda t: t + '  flux:\n    version: "2.3.x"\n',
        "k8s-clusters/bad.yaml: spec.flux.version: expected a Flux 2.9+ version",
    ),
    (
        "networkPolicy as yes",
        lambda t: t + "  flux:\n    networkPolicy: yes\n",
        'k8s-clusters/bad.yaml: spec.flux.networkPolicy: expected true or false, got "yes"',
    ),
    (
        "role ARN malformed",
        lambda t: t.replace("region: eu-west-1", "region: eu-west-1\n    roleArn: fleet-deployer"),
        "k8s-clusters/bad.yaml: spec.aws.roleArn: expected an IAM role ARN",
    ),
    (
        "branch with ..",
        lambda t: t + "    branch: release..1\n",
        'k8s-clusters/bad.yaml: spec.git.branch: expected a Git branch name, got "release..1"',
    ),
    (
        "spec is a string",
        lambda t: t.split("spec:")[0] + "spec: nothing\n",
        "k8s-clusters/bad.yaml: spec: expected a mapping (",
    ),
    (
        "a list instead of a mapping",
        lambda t: "- apiVersion: flux-fleet/v1\n- kind: Cluster\n",
        "k8s-clusters/bad.yaml: expected a mapping (apiVersion, kind, metadata, spec), got a list",
    ),
    (
        "empty file",
        lambda t: "# nothing here\n",
        "k8s-clusters/bad.yaml: empty file, expected a definition",
    ),
    (
        "YAML syntax error",
        lambda t: t.replace("  region: eu-west-1", "  region: [eu-west-1"),
        "k8s-clusters/bad.yaml: line ",
    ),
    (
        "duplicate key",
        lambda t: t.replace("  region: eu-west-1", "  region: eu-west-1\n    region: eu-west-2"),
        "k8s-clusters/bad.yaml: line 11, column 5: invalid YAML: "
        "while constructing a mapping found duplicate key",
    ),
    (
        "reserved stack name",
        lambda t: t.replace("name: bad", "name: registries"),
        'metadata.name: "registries" is reserved',
    ),
]


@pytest.mark.parametrize(
    ("transform", "expected"),
    [pytest.param(t, e, id=d) for d, t, e in BAD_DEFINITIONS],
)
def test_bad_definition_gives_its_message(project: Path, transform, expected: str) -> None:
    write(project, "bad.yaml", transform(BASE))
    lines = problems(project)
    assert any(line.startswith(expected) or expected in line for line in lines), lines
    assert all("\n" not in line and "Traceback" not in line for line in lines)


def test_every_problem_is_reported_not_only_the_first(project: Path) -> None:
    text = BASE.replace('"111111111111"', '"1"').replace("eu-west-1", "mars-1")
    write(project, "bad.yaml", text + "  flux:\n    size: huge\n")
    lines = [line for line in problems(project) if line.startswith("k8s-clusters/bad.yaml")]
    assert [line.split(": ")[1] for line in lines] == [
        "spec.aws.accountId",
        "spec.aws.region",
        "spec.flux.size",
    ]


def test_two_definitions_of_the_same_eks_cluster(project: Path) -> None:
    write(project, "one.yaml", VALID.format(name="one", account="111111111111"))
    two = VALID.format(name="two", account="111111111111").replace(
        "region: eu-west-1", "region: eu-west-1\n    eksClusterName: one"
    )
    write(project, "two.yaml", two)
    assert problems(project) == [  # both blocked: which one is right is for a person to say
        "k8s-clusters/one.yaml: spec.aws: the EKS cluster one in 111111111111/eu-west-1 is "
        "also defined in k8s-clusters/two.yaml",
        "k8s-clusters/two.yaml: spec.aws: the EKS cluster one in 111111111111/eu-west-1 is "
        "also defined in k8s-clusters/one.yaml",
    ]


def test_two_files_with_the_same_name(project: Path) -> None:
    """x.yaml and x.yml: neither is read, each names the other (which one counts is not for
    flux-fleet to guess)."""
    write(project, "dup.yaml", VALID.format(name="dup", account="111111111111"))
    write(project, "dup.yml", VALID.format(name="dup", account="222222222222"))
    both = "both k8s-clusters/dup.yaml and k8s-clusters/dup.yml exist, expected one"
    assert problems(project) == [
        f"k8s-clusters/dup.yaml: {both} (delete or merge one)",
        f"k8s-clusters/dup.yml: {both} (delete or merge one)",
    ]


def test_bad_defaults_file_is_reported_against_itself(project: Path) -> None:
    path = project / "k8s-clusters" / "_defaults.yaml"
    path.write_text(path.read_text().replace("size: medium", "size: medum"))
    assert problems(project) == [
        "k8s-clusters/_defaults.yaml: spec.flux.size: expected one of small, medium or large, "
        'got "medum"'
    ]


def test_files_starting_with_underscore_are_not_clusters(project: Path) -> None:
    write(project, "_notes.yaml", "anything: goes\n")
    fleet = load_fleet(project)
    assert "_notes" not in fleet.files
    assert problems(project) == [  # but named: a file read as nothing is a surprise (#21)
        "k8s-clusters/_notes.yaml: not read: the fleet files are _defaults.yaml or "
        "_registries.yaml; did you mean _registries.yaml?"
    ]


# --- the CLI: exit code 2, one line each, no traceback ----------------------------------------


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", "--project", str(project), *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )


def test_cli_validate_ok(root: Path) -> None:
    result = run_cli(root, "validate", "-v")
    assert result.returncode == 0, result.stderr
    assert "  production-cluster-name" in result.stdout.splitlines()


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["plan", "bad"]])
def test_cli_bad_input_exit_2_without_traceback(project: Path, command: list[str]) -> None:
    write(project, "bad.yaml", BASE.replace('"111111111111"', '"12345"'))
    result = run_cli(project, *command)
    assert result.returncode == 2
    # a bare plan plans the valid stacks, and says which it did not (the registries stack needs
    # every definition valid)
    registries = (
        "k8s-clusters/_registries.yaml: not planned while any definition is invalid: it grants "
        "what every cluster pulls"
    )
    assert result.stderr.strip().splitlines() == [
        *([registries] if command == ["plan"] else []),
        'k8s-clusters/bad.yaml: spec.aws.accountId: expected 12 digits, got "12345"',
        *(["2 stack(s) not planned (listed first above)"] if command == ["plan"] else []),
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_plan_of_a_stack_without_definition(project: Path) -> None:
    result = run_cli(project, "plan", "nowhere")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'k8s-clusters/nowhere.yaml: no definition for stack "nowhere" (expected this file)'
    )


def test_cli_plan_one_stack_is_not_blocked_by_another_broken_definition(project: Path) -> None:
    write(project, "bad.yaml", BASE.replace('"111111111111"', '"12345"'))
    result = run_cli(project, "plan", "staging-cluster-name")
    assert result.returncode == 0, result.stderr


# --- the JSON Schema --------------------------------------------------------------------------


def test_committed_schema_is_current(root: Path) -> None:
    committed = json.loads((root / "k8s-clusters" / "cluster.schema.json").read_text())
    assert committed == json_schema(), (
        "k8s-clusters/cluster.schema.json is stale: regenerate it with `fluxfleet schema`"
    )


def test_schema_accepts_the_examples_and_rejects_a_typo(root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    schema = json.loads((root / "k8s-clusters" / "cluster.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((root / "k8s-clusters").glob("*.yaml")):
        doc = YAML(typ="safe").load(path.read_text())
        if doc.get("kind") in ("Cluster", "ClusterDefaults"):
            assert not list(validator.iter_errors(doc)), path
    doc = YAML(typ="safe").load((root / "k8s-clusters" / "staging-cluster-name.yaml").read_text())
    doc["spec"]["aws"]["regoin"] = "x"
    assert list(validator.iter_errors(doc))


def test_every_definition_starts_with_the_schema_line(root: Path) -> None:
    for path in sorted((root / "k8s-clusters").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=./cluster.schema.json", path


def test_model_is_strict_about_types() -> None:
    base = {
        "apiVersion": "flux-fleet/v1",
        "kind": "Cluster",
        "metadata": {"name": "x", "environment": "y"},
        "spec": {
            "aws": {"accountId": "111111111111", "region": "eu-west-1"},
            "git": {"owner": "acme", "repository": "gitops"},
            "flux": {"networkPolicy": "true"},
        },
    }
    with pytest.raises(Exception, match="networkPolicy"):
        Cluster.model_validate(base)


def test_fluxfleet_schema_writes_the_committed_schema(project: Path, root: Path) -> None:
    from planutil import run_cli

    (project / "k8s-clusters" / "cluster.schema.json").write_text("{}\n")
    assert run_cli(project, "schema") == (0, "k8s-clusters/cluster.schema.json\n", "")
    written = (project / "k8s-clusters" / "cluster.schema.json").read_text()
    assert written == (root / "k8s-clusters" / "cluster.schema.json").read_text()
