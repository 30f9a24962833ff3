"""`fluxfleet inventory`: one row per definition file, every format, invalid ones kept with their
first problem. The example fleet's table and JSON are snapshots (tests/snapshots/inventory.*;
to update: fluxfleet inventory > tests/snapshots/inventory.txt, and --format json)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from definition_strategies import bad_documents, valid_clusters
from fleetworkspace import workspace, write
from hypothesis import HealthCheck, given, settings
from planutil import run_cli

from components.loading.fleet import load_fleet
from components.tools.inventory import FORMATS, HEADERS, inventory

SNAPSHOTS = ROOT / "tests" / "snapshots"
STAGING = "k8s-clusters/staging-cluster-name.yaml"


@pytest.mark.parametrize(
    ("fmt", "snapshot"), [("table", "inventory.txt"), ("json", "inventory.json")]
)
def test_the_example_fleet_matches_its_snapshot(project: Path, fmt: str, snapshot: str) -> None:
    code, out, err = run_cli(project, "inventory", "--format", fmt)
    assert (code, err) == (0, "")
    assert out == (SNAPSHOTS / snapshot).read_text()


def test_every_column_of_the_example(project: Path) -> None:
    code, out, _ = run_cli(project, "inventory", "--format", "json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["clusters"]}
    assert list(rows) == ["production-cluster-name", "staging-cluster-name"]  # sorted
    production = rows["production-cluster-name"]
    assert production == {
        "name": "production-cluster-name",
        "environment": "production",
        "wave": 2,
        "account": "123456789012",
        "region": "eu-west-1",
        "eksCluster": "production-eks",
        "repository": "acme/gitops",
        "branch": "main",
        "path": "flux/clusters/production-cluster-name",
        "fluxVersion": "2.9.x",
        "operatorChart": "0.58.1",
        "components": [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
        ],
        "size": "large",
        "gitAuth": "deployKey",
        "keyAlgorithm": "ECDSA-P384",
        "keyRotation": 1,
        "apps": ["acme/my-apps"],
        "ecrRegistries": ["shared"],
        "slackChannel": "#flux-alerts",
        "valid": True,
        "problem": "",
    }
    assert rows["staging-cluster-name"]["keyAlgorithm"] == "ED25519"


def test_an_invalid_definition_is_listed_with_its_first_problem(project: Path) -> None:
    path = project / STAGING
    path.write_text(path.read_text().replace("environment: staging", "environment: Staging"))
    (project / "k8s-clusters" / "broken.yaml").write_text("kind: [\n")
    code, out, _ = run_cli(project, "inventory", "--format", "csv")
    assert code == 0  # an inventory, not a check: validate fails, this lists
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == [
        "broken",
        "production-cluster-name",
        "staging-cluster-name",
    ]
    assert [r["valid"] for r in rows] == ["no", "yes", "no"]
    assert rows[0]["problem"].startswith("k8s-clusters/broken.yaml: line 2, column 1: invalid YAML")
    assert rows[2]["problem"] == (
        f"{STAGING}: metadata.environment: expected an RFC 1123 label (lowercase letters, "
        "digits and '-', at most 63), got \"Staging\""
    )
    assert rows[2]["wave"] == rows[2]["account"] == ""


def test_a_broken_defaults_file_marks_every_row(project: Path) -> None:
    (project / "k8s-clusters" / "_defaults.yaml").write_text("kind: ClusterDefaults\n")
    rows = inventory(load_fleet(project))
    assert [r.valid for r in rows] == [False, False]
    assert all(r.problem.startswith("k8s-clusters/_defaults.yaml: ") for r in rows)


def test_markdown_and_table_keep_one_line_per_cluster(project: Path) -> None:
    _, table, _ = run_cli(project, "inventory", "--wide")
    lines = table.splitlines()
    assert len(lines) == 3 and lines[0].startswith("name ")
    assert "source kustomize helm notification" in lines[1]
    _, markdown, _ = run_cli(project, "inventory", "--format", "markdown", "--wide")
    assert markdown.startswith("## Fleet inventory: 2 cluster(s), 2 valid\n")
    assert markdown.count("\n| ") == 4  # header, rule, two rows


def _columns_agree(rows: Any) -> None:
    """Every format holds the same rows: csv and json read back, one line each in the others."""
    csv_rows = list(csv.DictReader(io.StringIO(FORMATS["csv"](rows))))
    json_rows = json.loads(FORMATS["json"](rows))["clusters"]
    assert len(csv_rows) == len(json_rows) == len(rows)
    assert list(csv_rows[0]) == list(HEADERS.values()) if rows else True
    assert len(FORMATS["table"](rows).splitlines()) == len(rows) + 1
    assert len(FORMATS["markdown"](rows).splitlines()) == len(rows) + 4
    for row, c, j in zip(rows, csv_rows, json_rows, strict=True):
        assert c["name"] == j["name"] == row.name
        assert (c["valid"] == "yes") == j["valid"] == row.valid


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@PROPS
@given(doc=valid_clusters())
def test_a_generated_valid_definition_is_one_valid_row_of_its_own_values(
    doc: dict[str, Any],
) -> None:
    stem = write(doc)
    fleet = load_fleet(workspace())
    rows = inventory(fleet)
    _columns_agree(rows)
    (row,) = rows
    if stem not in fleet.clusters:  # valid on its own, refused with the fleet's registries
        assert not row.valid and row.problem
        return
    cluster = fleet.clusters[stem]
    assert row.valid and row.problem == ""
    assert (row.name, row.account, row.region) == (
        stem,
        cluster.spec.aws.account_id,
        cluster.spec.aws.region,
    )
    assert row.apps == tuple(
        f"{a.owner or cluster.spec.git.owner}/{a.repository}" for a in cluster.spec.apps
    )
    assert row.wave == fleet.wave(cluster)


@PROPS
@given(doc=bad_documents())
def test_a_generated_bad_definition_is_listed_not_dropped(doc: Any) -> None:
    stem = write(doc)
    fleet = load_fleet(workspace())
    rows = inventory(fleet)
    _columns_agree(rows)
    (row,) = rows
    assert row.name == stem
    expected = sorted(fleet.problems.get(fleet.files[stem], []))
    assert row.valid == (not expected)
    if expected:
        assert row.problem == str(expected[0])


def test_the_documented_example_is_the_real_output(project: Path) -> None:
    readme = (ROOT / "docs" / "how-to" / "inventory.md").read_text()
    code, out, _ = run_cli(project, "inventory", "--format", "csv")
    assert code == 0
    assert f"$ fluxfleet inventory --format csv\n{out}```" in readme
