"""Bad input never gets through, proven with generated definitions.

Definitions are generated from the JSON Schema (the model's, and the editor schema of
k8s-clusters/cluster.schema.json), then mutated: keys removed, unknown keys, wrong types,
out-of-range and huge values, odd unicode, junk of any shape, raw bytes. Whatever comes in,
`validate` and `plan` either accept it or answer in the clean form (exit 2, one
`<file>: <path>: <message>` line per problem, no traceback); every valid definition plans, and
every Flux object it plans validates against the CRDs.
"""

from __future__ import annotations

from typing import Any

import pulumi
from corecheck import core_problems
from crdcheck import is_flux_kind, validate
from definition_strategies import bad_documents, schema_documents, valid_clusters
from fleetworkspace import assert_problem_lines, dump_yaml, planned, run_cli, workspace, write
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from secretscan import scan

from components.loading.fleet import load_fleet
from components.plan import render
from components.plan.runner import plan_stack

FAST = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
# Planning takes ~0.2 s: fewer examples, and no shrinking (it would replan for minutes); a
# failure shows the generated definition as drawn.
SLOW = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def validate_cleanly(content: Any) -> list[str]:
    """Write `content` as the only definition, validate it in-process and through the CLI;
    returns the problem lines (none when valid)."""
    stem = write(content)
    fleet = load_fleet(workspace())
    expected = [str(p) for p in fleet.all_problems]
    code, out, err = run_cli("validate", "-v")
    if expected:
        assert (code, out) == (2, ""), err
        assert assert_problem_lines(err) == expected
    else:
        assert (code, err) == (0, ""), err
        assert f"  {stem}" in out.splitlines() and stem in fleet.clusters
    return expected


def _example(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flux-fleet/v1",
        "kind": "Cluster",
        "metadata": {"name": "odd", "environment": "test"},
        "spec": {"aws": {"accountId": "123456789012", "region": "eu-west-1"}, **spec},
    }


@FAST
@given(doc=bad_documents() | schema_documents())
# Values and keys that used to break a problem over several lines (raw in the message or path).
@example(doc=_example(aws={"accountId": "123456789012", "region": "eu-west-1\nus-east-1"}))
@example(doc=_example(**{"regi\u2028on": 1, "x\ry": 2}))
@example(doc=_example(alerts={"slack": {"exclusionList": ["(\n", "\x1b[31m("]}}))
def test_validate_answers_any_definition_in_the_clean_form(doc: Any) -> None:
    validate_cleanly(doc)


@FAST
@given(
    raw=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.lists(
        st.sampled_from(
            [
                b"apiVersion: flux-fleet/v1\n",
                b"kind: Cluster\n",
                b"metadata: {name: x, environment: e}\n",
                b"spec:\n",
                b"  aws: {accountId: '123456789012', region: eu-west-1}\n",
                b"\t",
                b"---\n",
                b"&a [*a]\n",
                b"key: [unclosed\n",
                b"? complex\n",
                b"\xef\xbb\xbf",
                b"\xff\xfe",
                b"!!python/object:os.system ls\n",
                b"spec: {spec: {spec: }}\n",
                b"x: 0x" + b"f" * 4000 + b"\n",
                b"x: " + b"9" * 5000 + b"\n",
                b"x: " + b"[" * 200 + b"]" * 200 + b"\n",
            ]
        ),
        max_size=8,
    ).map(b"".join)
)
@example(raw=b"")
@example(raw=b"\x00")
@example(raw=b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n")  # used to overflow the stack
@example(raw=b"x: " + b"9" * 6000 + b"\n")  # more digits than int() reads
# A hexadecimal integer reads fine but has too many digits to show (used to crash).
@example(
    raw=dump_yaml(_example()).encode()
    + b"  flux: {deployKey: {rotation: 0x"
    + b"f" * 5000
    + b"}}\n"
)
@example(raw=b"apiVersion: flux-fleet/v1\nkind: Cluster\nkind: Cluster\n")
def test_validate_answers_any_bytes_in_the_clean_form(raw: bytes) -> None:
    problems = validate_cleanly(raw)
    assert problems, "arbitrary bytes are never a complete definition"


def assert_plans(plan: Any) -> None:
    text = render.text(plan)
    assert text.startswith(f"Stack {plan.stack}:")
    assert render.preview_json(plan)["steps"]
    flux_objects = [r.inputs for r in plan.resources if is_flux_kind(r.inputs)]
    assert len(flux_objects) >= 1  # the FluxInstance, at least
    for obj in flux_objects:
        assert validate(obj) == [], obj
    for reg in plan.resources:
        if reg.type.startswith("kubernetes:core/v1:"):
            assert core_problems(reg.inputs) == [], reg.inputs
    assert scan(plan) == {}


@SLOW
@given(doc=valid_clusters())
def test_every_valid_definition_plans(doc: dict[str, Any]) -> None:
    assert validate_cleanly(doc) == []
    assert_plans(planned(doc))


@SLOW
@given(doc=bad_documents())
def test_plan_answers_any_definition_in_the_clean_form(doc: Any) -> None:
    stem = write(doc)
    fleet = load_fleet(workspace())
    expected = [str(p) for p in fleet.all_problems]
    code, out, err = run_cli("plan", stem)
    if expected:
        assert (code, out) == (2, ""), err
        assert assert_problem_lines(err) == expected
        try:  # `pulumi up` runs the same program: it stops with the same lines
            plan_stack(workspace(), stem)
        except pulumi.RunError as exc:
            assert assert_problem_lines(f"{exc}\n") == expected
        else:
            raise AssertionError("an invalid definition planned")
    else:
        assert (code, err) == (0, ""), err
        assert out.startswith(f"Stack {stem}:")
        assert_plans(plan_stack(workspace(), stem))
