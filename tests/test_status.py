"""`fluxfleet status` (issue 25) against a local HTTPS server (tests/kubeserver.py) with its own
CA, standing in for EKS, STS and each cluster's API server: the client path is the real one
(botocore's DescribeCluster, AssumeRole and presigned token, urllib3's TLS and GETs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from crdcheck import validate
from kubeserver import (
    OBJECTS,
    REVISION,
    World,
    client_environment,
    make_tls,
    objects,
    serve,
    token_problem,
)

from components.tools import status
from components.tools.cli import main
from components.tools.cluster_reader import Aws, eks_token, read_cluster

PRODUCTION = ("production-cluster-name", "production-eks", "123456789012")
STAGING = ("staging-cluster-name", "staging-eks", "234567890123")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def world(tls: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The server, both example clusters healthy; the AWS variables point botocore at it."""
    w = World({PRODUCTION[1]: (PRODUCTION[2], "healthy"), STAGING[1]: (STAGING[2], "healthy")})
    server = serve(w, tls)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in client_environment(server.server_address[1], tls).items():
        monkeypatch.setenv(key, value)
    yield w
    server.shutdown()
    server.server_close()


def run(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["status", "--project", str(project), *args])
    out, err = capsys.readouterr()
    return code, out, err


def status_json(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(project, capsys, "--format", "json", "--timeout", "2", *args)
    assert code == 0, err
    return json.loads(out)


def test_the_recorded_objects_are_valid_for_the_vendored_crds() -> None:
    report, kustomizations, helm_releases = objects("degraded", "x")
    assert validate(report) == []
    for item in [*kustomizations["items"], *helm_releases["items"]]:
        assert validate(item) == [], item["metadata"]


def test_a_healthy_fleet(project: Path, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    doc = status_json(project, capsys)
    assert doc["total"] == 2 and doc["healthy"] == 2
    row = {c["cluster"]: c for c in doc["clusters"]}["production-cluster-name"]
    assert row["flux"] == {"running": "v2.9.4", "declared": "2.9.x"}
    assert row["components"] == {"ready": 4, "total": 4}
    assert row["sync"]["ready"] is True
    assert row["sync"]["revision"] == f"refs/heads/main@sha1:{REVISION}"
    assert row["failing"] == {"count": 0, "names": []}
    # the connection the stack uses: production's roleArn assumed, session name flux-fleet
    assert world.roles == [("arn:aws:iam::123456789012:role/fleet-deployer", "flux-fleet")]
    assert world.tokens == 6  # three GETs per cluster, each with a valid token
    assert sorted(set(world.requests)) == [
        "/clusters/production-eks",
        "/clusters/staging-eks",
        *(
            f"/k8s/{eks}{path}"
            for eks in ("production-eks", "staging-eks")
            for path in (
                "/apis/fluxcd.controlplane.io/v1/namespaces/flux-system/fluxreports/flux",
                "/apis/helm.toolkit.fluxcd.io/v2/helmreleases",
                "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
            )
        ),
    ]


REASONS = {
    "degraded": [
        "components not ready: helm-controller",
        "2 failing: Kustomization/flux-system/apps, HelmRelease/payments/podinfo",
    ],
    "old-version": ["runs Flux v2.8.3, declared 2.9.x"],
    "no-report": ["no FluxReport flux-system/flux (is flux-operator installed?)"],
    "forbidden": [
        "403 forbidden: the role may not read "
        "/apis/fluxcd.controlplane.io/v1/namespaces/flux-system/fluxreports/flux"
    ],
    "timeout": ["timed out after 1s"],
    "refused": ["unreachable: connection refused"],
    "malformed": [
        "malformed answer: /apis/fluxcd.controlplane.io/v1/namespaces/flux-system/fluxreports/flux:"
        " not JSON"
    ],
}


@pytest.mark.parametrize("scenario", sorted(REASONS))
def test_an_unhealthy_cluster_is_a_row_with_the_reason(
    scenario: str, project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.clusters[PRODUCTION[1]] = (PRODUCTION[2], scenario)
    code, out, err = run(project, capsys, "--format", "json", "--timeout", "1")
    assert code == 0, err
    rows = {c["cluster"]: c for c in json.loads(out)["clusters"]}
    assert rows["production-cluster-name"]["reasons"] == REASONS[scenario]
    assert rows["production-cluster-name"]["healthy"] is False
    assert rows["staging-cluster-name"]["healthy"] is True  # one cluster's trouble is its own
    assert "Traceback" not in err


def test_the_table_and_the_markdown(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.clusters[PRODUCTION[1]] = (PRODUCTION[2], "degraded")
    code, out, _ = run(project, capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [*status.HEADERS, "status"]
    assert lines[1].startswith("production-cluster-name  2     v2.9.4  2.9.x     3/4")
    assert "components not ready: helm-controller; 2 failing:" in lines[1]
    assert lines[2].split()[:8] == [
        "staging-cluster-name", "1", "v2.9.4", "2.9.x", "4/4", "ready", REVISION[:12], "0",
    ]  # fmt: skip
    assert lines[-1] == "2 cluster(s): 1 healthy, 1 not"
    code, out, _ = run(project, capsys, "--format", "markdown")
    assert out.startswith("## Fleet status: 2 cluster(s): 1 healthy, 1 not\n")
    assert out.splitlines()[4].startswith("| production-cluster-name | 2 | v2.9.4 |")  # first


def test_selection_by_name_environment_and_wave(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    def names(*args: str) -> list[str]:
        return [c["cluster"] for c in status_json(project, capsys, *args)["clusters"]]

    assert names("staging-cluster-name") == ["staging-cluster-name"]
    assert names("k8s-clusters/production-cluster-name.yaml") == ["production-cluster-name"]
    assert names("--environment", "production") == ["production-cluster-name"]
    assert names("--wave", "1") == ["staging-cluster-name"]
    code, _, err = run(project, capsys, "staging-cluster")
    assert code == 2 and "did you mean staging-cluster-name?" in err
    code, _, err = run(project, capsys, "--wave", "7")
    assert (code, err) == (2, "no cluster matches the stacks, --environment and --wave given\n")


def test_wait_passes_when_the_deployed_commit_is_applied(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(project, capsys, "--wait", "--revision", REVISION[:12], "--timeout", "2")
    assert (code, err) == (0, "")


def test_wait_fails_naming_each_unhealthy_cluster_and_why(
    project: Path, world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world.clusters[STAGING[1]] = (STAGING[2], "stale")
    save = tmp_path / "health"
    code, _, err = run(
        project, capsys, "--wait", "--wait-timeout", "1ms", "--revision", REVISION,
        "--timeout", "2", "--save", str(save),
    )  # fmt: skip
    assert code == 1
    assert err == (
        "staging-cluster-name: not healthy: sync at 0123456789ab, not yet 4f3c2b1a0e9d\n"
    )
    saved = json.loads((save / "status.json").read_text())
    assert [c["healthy"] for c in saved["clusters"]] == [True, False]
    assert "| staging-cluster-name |" in (save / "summary.md").read_text()


def test_bad_arguments_are_one_line_each(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, capsys, "--revision", "main")[2] == (
        '--revision: expected a commit sha (7 to 40 hex digits), got "main"\n'
    )
    assert run(project, capsys, "--wait", "--wait-timeout", "10 minutes")[2] == (
        '--wait-timeout: expected a Go duration such as 10m, got "10 minutes"\n'
    )
    assert run(project, capsys, "registries")[:1] == (2,)


def test_an_invalid_definition_is_named_and_the_others_are_read(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "k8s-clusters" / "staging-cluster-name.yaml"
    path.write_text(path.read_text().replace('accountId: "234567890123"', "accountId: 42"))
    code, out, err = run(project, capsys, "--format", "json")
    assert code == 2
    assert [c["cluster"] for c in json.loads(out)["clusters"]] == ["production-cluster-name"]
    assert "k8s-clusters/staging-cluster-name.yaml: spec.aws.accountId:" in err


def test_an_account_other_than_the_definitions_is_refused(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.clusters[STAGING[1]] = ("999999999999", "healthy")
    doc = status_json(project, capsys, "staging-cluster-name")
    assert doc["clusters"][0]["reasons"] == [
        "EKS cluster staging-eks is in account 999999999999, the definition says 234567890123"
    ]
    assert not any(r.startswith("/k8s/") for r in world.requests)  # never sent a token


def test_an_unknown_eks_cluster(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    del world.clusters[STAGING[1]]
    doc = status_json(project, capsys, "staging-cluster-name")
    assert doc["clusters"][0]["reasons"] == ["AWS DescribeCluster: ResourceNotFoundException"]


def test_no_secret_is_printed(
    project: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.clusters[PRODUCTION[1]] = (PRODUCTION[2], "forbidden")
    outputs = []
    for fmt in ("table", "markdown", "json"):
        outputs += run(project, capsys, "--format", fmt)[1:]
    text = "".join(outputs)
    for secret in ("k8s-aws-v1.", "status-test-secret", "assumed-secret", "assumed-session-token",
                   "X-Amz-Signature", "AKIASTATUSTESTKEY000", "ASIASTATUSTEST"):  # fmt: skip
        assert secret not in text


def test_the_token_is_what_aws_eks_get_token_makes(world: World) -> None:
    aws = Aws(timeout=2)
    token = eks_token(aws.client("sts", "eu-west-1", None), "production-eks")
    assert token_problem(f"Bearer {token}") is None
    assert token_problem(f"Bearer {token}==") == "padded base64"
    assert token_problem("Bearer k8s-aws-v1.aHR0cHM6Ly9leGFtcGxlLmNvbS8") == (
        "not a GetCallerIdentity URL"
    )


def test_a_token_the_cluster_refuses(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("components.tools.cluster_reader.eks_token", lambda *_: "k8s-aws-v1.x")
    t = status.Target("c", "production", 2, "123456789012", "eu-west-1", None, "production-eks",
                      "2.9.x")  # fmt: skip
    row = read_cluster(t, Aws(timeout=2), timeout=2)
    assert row.reasons == ("401 unauthorized: the cluster refused the token",)


# --- the pure half ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "running", "allowed"),
    [
        ("2.9.x", "v2.9.4", True),
        ("2.9.x", "v2.10.0", False),
        ("2.9.4", "v2.9.4", True),
        ("2.9.4", "v2.9.5", False),
        ("2.x", "v2.12.1", True),
        ("2.x", "v3.0.0", False),
        ("~2.9", "v2.9.7", True),
        ("~2.9.2", "v2.9.1", False),
        ("^2.9", "v2.11.0", True),
        ("^2.9", "v2.8.9", False),
        (">=2.9.1", "v2.9.1", True),
        (">=2.9.1", "v2.9.0", False),
        ("2.9.x", "not-a-version", False),
    ],
)
def test_version_allows(declared: str, running: str, allowed: bool) -> None:
    assert status.version_allows(declared, running) is allowed


def test_suspended_objects_are_not_failing() -> None:
    _, kustomizations, _ = objects("degraded", "x")
    assert status.failing_reconcilers("Kustomization", kustomizations["items"]) == [
        "Kustomization/flux-system/apps"
    ]
    kustomizations["items"][1]["spec"]["suspend"] = True
    assert status.failing_reconcilers("Kustomization", kustomizations["items"]) == []


def test_a_report_of_the_wrong_shape_is_malformed() -> None:
    t = status.Target("c", "e", 1, "1" * 12, "eu-west-1", None, "c", "2.9.x")
    report = yaml.safe_load((OBJECTS / "fluxreport.yaml").read_text())
    report["spec"]["components"] = {"not": "a list"}
    with pytest.raises(status.Malformed, match=r"FluxReport.spec.components: expected a list"):
        status.summarise(t, status.Observed(report))


def test_waiting_reads_again_only_the_clusters_not_healthy_yet() -> None:
    targets = [status.Target(n, "e", 1, "1" * 12, "r", None, n, "2.9.x") for n in ("a", "b")]
    reads: list[str] = []
    now = [0.0]

    def read(t: status.Target) -> status.Row:
        reads.append(t.name)
        healthy = t.name == "a" or reads.count("b") >= 3
        return status.Row(t.name, "e", 1, "2.9.x", reasons=() if healthy else ("not yet",))

    def sleep(seconds: float) -> None:
        now[0] += seconds

    rows = status.Waiting(targets, read, 60, interval=10, clock=lambda: now[0], sleep=sleep).run()
    assert [r.healthy for r in rows] == [True, True]
    assert reads == ["a", "b", "b", "b"] and now[0] == 20
    reads.clear()
    rows = status.Waiting(targets[1:], lambda t: status.Row(t.name, "e", 1, "x", reasons=("no",)),
                          25, interval=10, clock=lambda: now[0], sleep=sleep).run()  # fmt: skip
    assert rows[0].reasons == ("no",) and now[0] == 45  # gave up at the deadline
