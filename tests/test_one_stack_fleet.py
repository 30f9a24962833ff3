"""One stack's fleet (load_fleet's `only`): a cluster stack reads its own definition and, of the
others, only those that could define the same EKS cluster (issue 21, item 14). Whatever the
files, `cluster()` of the stack answers exactly as the whole fleet's does: the same valid
definition, or the same problems (the duplicate EKS cluster naming the same files, the same ECR
pull problems), with the same registries. Proven on tricky YAML (anchors, merge keys, flow
style, quoted, unquoted, tagged and escaped account ids, values given by _defaults.yaml), on
generated fleets, and in the plan and the program, which read the definitions once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from planutil import run_cli

from components.definition.cluster import Cluster
from components.loading import fleet as fleet_module
from components.loading.fleet import Fleet, could_define, load_fleet
from components.names import REGISTRIES_STACK
from components.problems import DefinitionError

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")
STEMS = ("c-a", "c-b", "c-c", "c-d", "c-e")
EKS_NAMES = ("c-a", "c-b", "shared-eks")

REGISTRIES = """apiVersion: flux-fleet/v1
kind: Registries
registries:
  - name: shared
    accountId: "333333333333"
    region: eu-west-1
    repositories: [api, worker]
"""


def outcome(fleet: Fleet, stack: str) -> Cluster | list[str]:
    """What the program gets for `stack`: its definition, or the problems that stop it."""
    try:
        return fleet.cluster(stack)
    except DefinitionError as exc:
        return [str(p) for p in exc.problems]


def assert_each_stack_as_in_the_whole_fleet(project: Path) -> Fleet:
    """For every definition file's stack: the fleet loaded for it answers like the whole one."""
    whole = load_fleet(project)
    for stack in whole.files:
        alone = load_fleet(project, only=[stack])
        assert alone.only == {stack}
        assert outcome(alone, stack) == outcome(whole, stack), stack
        assert (stack in alone.clusters) == (stack in whole.clusters)
        assert alone.registries == whole.registries
        assert set(alone.files) == set(whole.files)  # every name known (the plan looks them up)
    return whole


def make_project(
    root: Path, files: dict[str, str], defaults_aws: str = "", registries: str | None = REGISTRIES
) -> Path:
    folder = root / "k8s-clusters"
    folder.mkdir(parents=True)
    (folder / "_defaults.yaml").write_text(
        "apiVersion: flux-fleet/v1\nkind: ClusterDefaults\n"
        f"spec:\n  git: {{owner: acme, repository: gitops}}\n{defaults_aws}"
    )
    if registries is not None:
        (folder / "_registries.yaml").write_text(registries)
    for name, text in files.items():
        (folder / name).write_text(text)
    return root


def block(name: str, aws: str, extra: str = "", environment: str = "dev") -> str:
    return (
        "apiVersion: flux-fleet/v1\nkind: Cluster\n"
        f"metadata:\n  name: {name}\n  environment: {environment}\n"
        f"spec:\n  aws:\n{aws}{extra}"
    )


# --- table: each way of writing the same EKS cluster ----------------------------------------------

PROD = '    accountId: "111111111111"\n    region: eu-west-1\n    eksClusterName: prod-eks\n'
REST = "    region: eu-west-1\n    eksClusterName: prod-eks\n"
# The same EKS cluster as PROD, written in every way YAML allows (each a valid definition).
SAME_AS_PROD = {
    "single quotes": block(
        "other",
        "    accountId: '111111111111'\n    region: eu-west-1\n    eksClusterName: prod-eks\n",
    ),
    "flow style": (
        "{apiVersion: flux-fleet/v1, kind: Cluster, metadata: {name: other, environment: dev},"
        ' spec: {aws: {accountId: "111111111111", region: eu-west-1, eksClusterName: prod-eks}}}'
    ),
    "tagged plain": block(
        "other",
        "    accountId: !!str 111111111111\n    region: eu-west-1\n    eksClusterName: prod-eks\n",
    ),
    "literal block": block(
        "other",
        "    accountId: |-\n      111111111111\n" + REST,
    ),
    "anchor and alias": block(
        "other",
        '    accountId: "111111111111"\n    region: *r\n    eksClusterName: prod-eks\n',
        environment="&r eu-west-1",
    ),
    "merge key": block(
        "other",
        '    <<: {accountId: "111111111111", region: eu-west-1}\n    eksClusterName: prod-eks\n',
    ),
    "hex escapes": block(
        "other",
        '    accountId: "' + "".join(f"\\x{ord(c):02x}" for c in "111111111111") + '"\n'
        "    region: eu-west-1\n    eksClusterName: prod-eks\n",
    ),
    "unicode escapes": block(
        "other",
        '    accountId: "111111111111"\n'
        '    region: "' + "".join(f"\\u{ord(c):04x}" for c in "eu-west-1") + '"\n'
        "    eksClusterName: prod-eks\n",
    ),
    "escaped line break": block(
        "other",
        '    accountId: "111111\\\n      111111"\n' + REST,
    ),
    "eks name from metadata.name": block(
        "prod-eks", '    accountId: "111111111111"\n    region: eu-west-1\n'
    ),
}


@pytest.mark.parametrize("how", SAME_AS_PROD)
def test_a_duplicate_written_any_way_is_found_as_by_the_whole_fleet(
    tmp_path: Path, how: str
) -> None:
    stem = "prod-eks" if how == "eks name from metadata.name" else "other"
    files = {
        "prod.yaml": block("prod", PROD),
        f"{stem}.yaml": SAME_AS_PROD[how],
        "unrelated.yaml": block(
            "unrelated", '    accountId: "999999999999"\n    region: us-east-1\n'
        ),
    }
    whole = assert_each_stack_as_in_the_whole_fleet(make_project(tmp_path, files))
    assert outcome(whole, "prod") == [
        f"k8s-clusters/prod.yaml: spec.aws: the EKS cluster prod-eks in 111111111111/eu-west-1 "
        f"is also defined in k8s-clusters/{stem}.yaml"
    ]
    alone = load_fleet(tmp_path, only=["prod"])
    assert set(alone.clusters) | set(alone.duplicates) == {"prod", stem}  # unrelated.yaml unread


# Files that look like a duplicate of PROD but are not valid: not a duplicate, for either.
NOT_VALID = {
    "unquoted account id (an integer)": block(
        "other",
        "    accountId: 111111111111\n    region: eu-west-1\n    eksClusterName: prod-eks\n",
    ),
    "name other than the file's": block("someone-else", PROD),
    "unknown field": block("other", PROD, "  bogus: 1\n"),
    "invalid YAML": block("other", PROD, "  git: {owner: [\n"),
}


@pytest.mark.parametrize("how", NOT_VALID)
def test_an_invalid_lookalike_blocks_neither_fleet(tmp_path: Path, how: str) -> None:
    files = {"prod.yaml": block("prod", PROD), "other.yaml": NOT_VALID[how]}
    whole = assert_each_stack_as_in_the_whole_fleet(make_project(tmp_path, files))
    assert isinstance(outcome(whole, "prod"), Cluster)
    assert isinstance(outcome(whole, "other"), list)


DEFAULTS_CASES = {
    # _defaults.yaml gives the region: a file that leaves it out has it too
    "region": ("  aws: {region: eu-west-1}\n", '    accountId: "111111111111"\n'),
    "account id": ("  aws: {accountId: '111111111111'}\n", "    region: eu-west-1\n"),
    "both": ("  aws: {accountId: '111111111111', region: eu-west-1}\n", ""),
}


@pytest.mark.parametrize("given_by_defaults", DEFAULTS_CASES)
def test_a_duplicate_through_the_defaults_is_found(tmp_path: Path, given_by_defaults: str) -> None:
    defaults, own = DEFAULTS_CASES[given_by_defaults]
    files = {
        "prod.yaml": block("prod", own + "    eksClusterName: shared\n"),
        "other.yaml": block("other", own + "    eksClusterName: shared\n"),
        "third.yaml": block("third", own + "    eksClusterName: third\n"),
    }
    whole = assert_each_stack_as_in_the_whole_fleet(make_project(tmp_path, files, defaults))
    assert "is also defined in k8s-clusters/other.yaml" in outcome(whole, "prod")[0]
    assert isinstance(outcome(whole, "third"), Cluster)


def test_three_definitions_of_one_cluster_name_both_others(tmp_path: Path) -> None:
    files = {f"{s}.yaml": block(s, PROD) for s in ("a", "b", "c")}
    whole = assert_each_stack_as_in_the_whole_fleet(make_project(tmp_path, files))
    assert outcome(whole, "b")[0].endswith(
        "also defined in k8s-clusters/a.yaml, k8s-clusters/c.yaml"
    )


def test_pull_problems_are_the_same_and_a_bad_pull_still_duplicates(tmp_path: Path) -> None:
    bad_pull = "  ecr: {pull: [{registry: nope, repositories: [api]}]}\n"
    good_pull = "  ecr: {pull: [{registry: shared, repositories: [api]}]}\n"
    aws = '    accountId: "111111111111"\n    region: eu-west-1\n'
    files = {
        "a.yaml": block("a", aws + "    eksClusterName: x\n", bad_pull),
        "b.yaml": block("b", aws + "    eksClusterName: x\n", good_pull),
        "c.yaml": block("c", aws, bad_pull),
        "d.yaml": block("d", aws, good_pull),
    }
    whole = assert_each_stack_as_in_the_whole_fleet(make_project(tmp_path, files))
    assert "is also defined in k8s-clusters/a.yaml" in outcome(whole, "b")[0]
    assert "spec.ecr.pull" in outcome(whole, "c")[0]
    assert isinstance(outcome(whole, "d"), Cluster)
    for registries in ("apiVersion: flux-fleet/v1\nkind: Registries\nregistries: 3\n", None):
        other = tmp_path / ("broken" if registries else "none")
        assert_each_stack_as_in_the_whole_fleet(make_project(other, files, registries=registries))


def test_the_registries_stack_and_other_stacks_need_their_fleet(tmp_path: Path) -> None:
    files = {"a.yaml": block("a", PROD), "b.yaml": block("b", PROD.replace("prod", "b"))}
    project = make_project(tmp_path, files)
    assert load_fleet(project, only=["a", REGISTRIES_STACK]).only is None  # the whole fleet
    alone = load_fleet(project, only=["a"])
    with pytest.raises(ValueError, match="needs the whole fleet"):
        alone.registries_stack()
    with pytest.raises(ValueError, match="loaded for a"):
        alone.cluster("b")
    assert alone.serves(["a"]) and not alone.serves(["b"]) and not alone.serves(None)


def test_could_define_says_yes_whenever_a_value_may_be_spelled_otherwise() -> None:
    identity = ("111111111111", "eu-west-1", "prod-eks")
    text = 'spec: {aws: {accountId: "111111111111", region: eu-west-1, eksClusterName: prod-eks}}'
    assert could_define(text, "x", identity, ())
    assert not could_define(text.replace("prod-eks", "test-eks"), "x", identity, ())
    assert could_define(text.replace("prod-eks", "test-eks"), "prod-eks", identity, ())  # its name
    assert not could_define(text.replace("eu-west-1", "us-east-1"), "x", identity, ())
    assert could_define(text.replace("eu-west-1", "us-east-1"), "x", identity, {"eu-west-1"})
    assert could_define(text.replace("111111111111", "\\x31" * 12), "x", identity, ())


# --- generated fleets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    stem: str
    name_matches: bool
    account: str | None  # None: left out
    region: str | None
    eks: str | None
    spelling: str
    style: str
    pull: str | None
    unknown_field: bool


SPELLINGS: dict[str, Callable[[str], str]] = {
    "double": lambda v: f'"{v}"',
    "single": lambda v: f"'{v}'",
    "plain": lambda v: v,  # an account id: an integer, invalid
    "tagged": lambda v: f"!!str {v}",
    "escaped": lambda v: '"' + "".join(f"\\x{ord(c):02x}" for c in v) + '"',
}


def render(d: Definition) -> str:
    spell = SPELLINGS[d.spelling]
    values = (("accountId", d.account), ("region", d.region), ("eksClusterName", d.eks))
    fields = [(key, spell(value)) for key, value in values if value is not None]
    name = d.stem if d.name_matches else "somebody-else"
    environment = "dev"
    if d.style == "anchor" and d.region is not None:
        environment = f"&r {d.region}"
        fields = [(k, "*r" if k == "region" else v) for k, v in fields]
    extra = ["bogus: 1"] if d.unknown_field else []
    if d.pull is not None:
        extra.append(f"ecr: {{pull: [{{registry: {d.pull}, repositories: [api]}}]}}")
    flow = "{" + ", ".join(f"{k}: {v}" for k, v in fields) + "}"
    if d.style == "flow":
        spec = ", ".join([f"aws: {flow}", *extra])
        return (
            f"{{apiVersion: flux-fleet/v1, kind: Cluster, metadata: {{name: {name}, "
            f"environment: {environment}}}, spec: {{{spec}}}}}\n"
        )
    aws = (
        f"    <<: {flow}\n" if d.style == "merge" else "".join(f"    {k}: {v}\n" for k, v in fields)
    )
    return block(name, aws, "".join(f"  {line}\n" for line in extra), environment)


definitions = st.builds(
    Definition,
    stem=st.just(""),
    name_matches=st.sampled_from((True, True, True, False)),
    account=st.sampled_from((*ACCOUNTS, None)),
    region=st.sampled_from((*REGIONS, None)),
    eks=st.sampled_from((*EKS_NAMES, None)),
    spelling=st.sampled_from(tuple(SPELLINGS)),
    style=st.sampled_from(("block", "flow", "merge", "anchor")),
    pull=st.sampled_from((None, None, "shared", "nope")),
    unknown_field=st.sampled_from((False, False, False, True)),
)
defaults_aws = st.fixed_dictionaries(
    {},
    optional={
        "accountId": st.sampled_from(ACCOUNTS),
        "region": st.sampled_from(REGIONS),
        "eksClusterName": st.sampled_from(EKS_NAMES),
    },
)


def fleets() -> st.SearchStrategy[tuple[list[Definition], dict[str, str]]]:
    def named(defs: list[Definition]) -> list[Definition]:
        return [Definition(**{**d.__dict__, "stem": s}) for d, s in zip(defs, STEMS, strict=False)]

    return st.tuples(st.lists(definitions, min_size=2, max_size=5).map(named), defaults_aws)


def aws_defaults_yaml(values: dict[str, str]) -> str:
    if not values:
        return ""
    return "  aws: {" + ", ".join(f'{k}: "{v}"' for k, v in values.items()) + "}\n"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(fleet=fleets(), registries=st.sampled_from((REGISTRIES, None, "registries: {}\n")))
def test_every_generated_fleet_answers_each_stack_as_the_whole_fleet(
    fleet: tuple[list[Definition], dict[str, str]], registries: str | None
) -> None:
    defs, defaults = fleet
    with tempfile.TemporaryDirectory() as tmp:
        files = {f"{d.stem}.yaml": render(d) for d in defs}
        project = make_project(Path(tmp), files, aws_defaults_yaml(defaults), registries)
        assert_each_stack_as_in_the_whole_fleet(project)


def _whole(fleet: tuple[list[Definition], dict[str, str]]) -> Fleet:
    defs, defaults = fleet
    with tempfile.TemporaryDirectory() as tmp:
        files = {f"{d.stem}.yaml": render(d) for d in defs}
        return load_fleet(make_project(Path(tmp), files, aws_defaults_yaml(defaults)))


@pytest.mark.parametrize(
    "what",
    [
        lambda defs, whole: bool(whole.duplicates),
        lambda defs, whole: any(
            d.spelling == "escaped" for d in defs if d.stem in whole.duplicates
        ),
        lambda defs, whole: any(d.account is None for d in defs if d.stem in whole.duplicates),
        lambda defs, whole: any(d.style == "anchor" for d in defs if d.stem in whole.duplicates),
        lambda defs, whole: sum(1 for d in defs if d.pull == "nope" and d.stem in whole.duplicates),
    ],
    ids=["a duplicate", "escaped", "account id by the defaults", "anchor", "bad pull"],
)
def test_the_generator_makes_the_tricky_duplicates(what: Callable[..., bool]) -> None:
    """The property above is not vacuous: the generator does make these duplicates."""
    found = find(
        fleets(),
        lambda fleet: bool(what(fleet[0], _whole(fleet))),
        settings=settings(max_examples=2000, database=None),
    )
    assert found


# --- the plan and the program read one stack's fleet, once ---------------------------------------


def _counting_validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = fleet_module.validate_cluster_doc

    def counted(doc: Any, display: str, stem: str, defaults: Any) -> Any:
        calls.append(stem)
        return real(doc, display, stem, defaults)

    monkeypatch.setattr(fleet_module, "validate_cluster_doc", counted)
    return calls


def _fleet_of(project: Path, count: int) -> list[str]:
    """`project` (a copy of the example) with `count` more clusters, copies of staging's."""
    staging = (project / "k8s-clusters" / "staging-cluster-name.yaml").read_text()
    stack = (project / "stacks" / "Pulumi.staging-cluster-name.yaml").read_text()
    names = [f"extra-{i:02d}" for i in range(count)]
    for name in names:
        text = staging.replace("staging-cluster-name", name).replace("staging-eks", f"{name}-eks")
        (project / "k8s-clusters" / f"{name}.yaml").write_text(text)
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(stack)
    return names


def test_the_plan_of_one_stack_validates_its_definition_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet_of(project, 20)
    expected = run_cli(project, "plan", "--json", "staging-cluster-name")
    calls = _counting_validations(monkeypatch)
    assert run_cli(project, "plan", "--json", "staging-cluster-name") == expected
    assert expected[0] == 0
    # its own (and once more to learn its identity); not the 21 others, not a second time
    assert calls == ["staging-cluster-name", "staging-cluster-name"]


def test_the_program_alone_reads_one_stacks_fleet(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi up -s NAME` runs the program with nothing handed over: it reads what its stack
    needs; the registries stack still reads every definition."""
    from components.plan.runner import plan_stack

    names = _fleet_of(project, 5)
    calls = _counting_validations(monkeypatch)
    plan_stack(project, names[0])
    assert calls == [names[0], names[0]]
    calls.clear()
    plan_stack(project, REGISTRIES_STACK)
    assert sorted(set(calls)) == sorted([*names, "production-cluster-name", "staging-cluster-name"])
