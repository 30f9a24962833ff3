"""Mistakes that used to pass silently or end in a traceback: nulls (an unquoted #), the same EKS
cluster defined twice, a role in another account, files that are not regular files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from planutil import run_cli

from components import yamlio
from components.loading.fleet import load_fleet

STAGING = "k8s-clusters/staging-cluster-name.yaml"
PRODUCTION = "k8s-clusters/production-cluster-name.yaml"
DEFAULTS = "k8s-clusters/_defaults.yaml"


def edit(project: Path, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def validate(project: Path) -> tuple[int, list[str]]:
    code, _, err = run_cli(project, "validate")
    assert "Traceback" not in err
    return code, err.splitlines()


# --- nulls ----------------------------------------------------------------------------------------


def test_an_unquoted_hash_is_a_null_channel_and_an_error_with_a_hint(project: Path) -> None:
    edit(project, STAGING, "    slack:\n", "    slack:\n      channel: #team-alerts\n")
    line = (
        f"{STAGING}: spec.alerts.slack.channel: expected a value, got null: on line 18 an "
        'unquoted # starts a YAML comment; quote the value, such as "#team-alerts"'
    )
    assert validate(project) == (2, [line])
    code, out, err = run_cli(project, "plan", "staging-cluster-name")
    assert (code, out, err.splitlines()) == (2, "", [line])


@pytest.mark.parametrize("value", ["", " ~", " null"])
def test_a_null_without_a_comment_says_to_leave_the_key_out(project: Path, value: str) -> None:
    edit(project, STAGING, "    size: small\n", f"    size:{value}\n")
    assert validate(project) == (
        2,
        [
            f"{STAGING}: spec.flux.size: expected a value, got null "
            "(leave the key out to use the default)"
        ],
    )


def test_a_null_list_item_names_its_index(project: Path) -> None:
    edit(project, STAGING, "    size: small\n", "    size: small\n    tolerationKeys: [a, ~]\n")
    code, lines = validate(project)
    assert code == 2
    assert lines == [
        f"{STAGING}: spec.flux.tolerationKeys[1]: expected a value, got null "
        "(leave the key out to use the default)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (
            "    size: medium\n",
            "    size: medium\n    tolerationKeys:\n",
            "spec.flux.tolerationKeys",
        ),
        ("    size: medium\n", "    size: medium\n    components:\n", "spec.flux.components"),
        ("    branch: main\n", "    branch:\n", "spec.git.branch"),
        ("spec:\n", "spec:\n  ecr:\n    pull:\n", "spec.ecr.pull"),
    ],
)
def test_a_null_in_the_defaults_is_one_line_not_a_traceback(
    project: Path, old: str, new: str, path: str
) -> None:
    """These used to raise TypeError/AttributeError in the partial defaults model."""
    edit(project, DEFAULTS, old, new)
    assert validate(project) == (
        2,
        [f"{DEFAULTS}: {path}: expected a value, got null (leave the key out to use the default)"],
    )
    code, _, err = run_cli(project, "plan", "production-cluster-name")
    assert code == 2 and "Traceback" not in err and path in err


# --- the same EKS cluster twice ----------------------------------------------------------------


def _copy_staging(project: Path, name: str) -> str:
    text = (project / STAGING).read_text().replace("staging-cluster-name", name)
    (project / f"k8s-clusters/{name}.yaml").write_text(text)
    return f"k8s-clusters/{name}.yaml"


def test_the_same_eks_cluster_twice_blocks_both_and_each_names_the_other(project: Path) -> None:
    newcomer = _copy_staging(project, "aaa-newcomer")  # sorts first: blamed last before
    prefix = "spec.aws: the EKS cluster staging-eks in 234567890123/eu-west-1 is also defined in"
    assert validate(project) == (
        2,
        [f"{newcomer}: {prefix} {STAGING}", f"{STAGING}: {prefix} {newcomer}"],
    )
    for stack in ("aaa-newcomer", "staging-cluster-name"):
        code, out, err = run_cli(project, "plan", stack)
        assert (code, out) == (2, ""), stack
        assert "is also defined in" in err
    code, out, _ = run_cli(project, "plan", "production-cluster-name")  # not involved
    assert code == 0 and "Stack production-cluster-name" in out


def test_three_definitions_of_one_eks_cluster_each_name_the_two_others(project: Path) -> None:
    a, b = _copy_staging(project, "a"), _copy_staging(project, "b")
    code, lines = validate(project)
    assert code == 2
    assert [line.split(" is also defined in ")[1] for line in lines] == [
        f"{b}, {STAGING}",
        f"{a}, {STAGING}",
        f"{a}, {b}",
    ]


# --- roleArn ------------------------------------------------------------------------------------


def test_a_role_in_another_account_is_refused(project: Path) -> None:
    edit(
        project,
        STAGING,
        '    accountId: "234567890123"\n',
        '    accountId: "234567890123"\n    roleArn: arn:aws:iam::999999999999:role/deployer\n',
    )
    assert validate(project) == (
        2,
        [
            f"{STAGING}: spec.aws.roleArn: expected a role in account 234567890123 "
            "(accountId), got one in account 999999999999"
        ],
    )


def test_a_role_from_the_defaults_is_checked_against_each_cluster(project: Path) -> None:
    edit(
        project,
        DEFAULTS,
        "spec:\n",
        "spec:\n  aws:\n    roleArn: arn:aws:iam::123456789012:role/d\n",
    )
    code, lines = validate(project)
    assert code == 2
    assert lines == [
        f"{STAGING}: spec.aws.roleArn: expected a role in account 234567890123 "
        "(accountId), got one in account 123456789012"
    ]  # production sets a role of its own, in its account


# --- files that are not regular files ------------------------------------------------------------


def test_a_directory_and_a_dangling_symlink_are_named_not_skipped(project: Path) -> None:
    (project / "k8s-clusters/folder.yaml").mkdir()
    (project / "k8s-clusters/gone.yaml").symlink_to(project / "nowhere.yaml")
    code, lines = validate(project)
    assert (code, lines) == (
        2,
        [
            "k8s-clusters/folder.yaml: a directory, expected a regular file",
            "k8s-clusters/gone.yaml: a dangling symlink, expected a regular file",
        ],
    )
    code, out, _ = run_cli(project, "plan", "staging-cluster-name")  # blocks only itself
    assert code == 0 and "Stack staging-cluster-name" in out


def test_a_symlink_outside_the_project_is_refused_unread(project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (project / "k8s-clusters/passwd.yaml").symlink_to(secret)
    (project / "k8s-clusters/null.yaml").symlink_to("/dev/null")
    code, lines = validate(project)
    assert lines == [
        "k8s-clusters/null.yaml: a symlink to outside the project (not read), "
        "expected a regular file",
        "k8s-clusters/passwd.yaml: a symlink to outside the project (not read), "
        "expected a regular file",
    ]
    assert code == 2


def test_a_device_inside_the_project_is_named(project: Path) -> None:
    os.symlink("/dev/null", project / "dev-null")
    (project / "k8s-clusters/device.yaml").symlink_to(project / "dev-null")
    # /dev/null resolves outside the project: refused as such, never opened
    code, lines = validate(project)
    assert code == 2 and lines[0].startswith("k8s-clusters/device.yaml: a symlink to outside")


def test_a_symlink_to_a_definition_inside_the_project_is_read(project: Path) -> None:
    (project / "shared-definitions").mkdir()
    target = project / "shared-definitions/linked.yaml"
    target.write_text((project / STAGING).read_text().replace("staging-cluster-name", "linked"))
    (project / "k8s-clusters/linked.yaml").symlink_to(target)
    edit(project, "shared-definitions/linked.yaml", "staging-eks", "linked-eks")
    fleet = load_fleet(project)
    assert fleet.all_problems == []
    assert fleet.clusters["linked"].eks_cluster_name == "linked-eks"


def test_a_fifo_is_refused_without_blocking(project: Path) -> None:
    os.mkfifo(project / "k8s-clusters/pipe.yaml")
    os.mkfifo(project / "k8s-clusters/_defaults.yaml.fifo")  # not a name the project reads
    done = subprocess.run(
        [sys.executable, "-m", "components", "--project", str(project), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "k8s-clusters/_defaults.yaml.fifo: not read: the fleet files are _defaults.yaml or "
        "_registries.yaml; did you mean _defaults.yaml?\n"
        "k8s-clusters/pipe.yaml: a FIFO, expected a regular file\n",
    )


def test_a_dangling_defaults_symlink_blocks_the_fleet(project: Path) -> None:
    (project / DEFAULTS).unlink()
    (project / DEFAULTS).symlink_to(project / "missing.yaml")
    code, lines = validate(project)
    assert (code, lines) == (2, [f"{DEFAULTS}: a dangling symlink, expected a regular file"])


def test_the_editor_schema_flags_a_null_too(root: Path) -> None:
    """Editors read k8s-clusters/cluster.schema.json: a `# comment` where a value was meant is
    flagged as the author types, not only by validate."""
    import json

    import jsonschema

    schema = json.loads((root / "k8s-clusters/cluster.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    doc = yamlio.load((root / STAGING).read_text())
    assert not list(validator.iter_errors(doc))
    doc["spec"]["alerts"]["slack"]["channel"] = None  # channel: #team-alerts
    assert list(validator.iter_errors(doc))
    doc["spec"]["alerts"]["slack"]["channel"] = "#team-alerts"
    assert not list(validator.iter_errors(doc))


def test_a_registry_role_in_another_account_is_refused(project: Path) -> None:
    edit(
        project,
        "k8s-clusters/_registries.yaml",
        "roleArn: arn:aws:iam::210987654321:role/fleet-deployer",
        "roleArn: arn:aws:iam::999999999999:role/fleet-deployer",
    )
    code, lines = validate(project)
    assert code == 2
    assert (
        "k8s-clusters/_registries.yaml: registries[0].roleArn: expected a role in account "
        "210987654321 (accountId), got one in account 999999999999"
    ) in lines


# --- bounded: file size, echoed values, list lengths ---------------------------------------------


def test_a_file_over_1_mib_is_refused_unread(project: Path) -> None:
    """Read whole, a 10 MB definition cost memory and time; a definition is a few KB."""
    edit(project, STAGING, "kind: Cluster\n", "kind: Cluster\n" + "# padding\n" * 110_000)
    assert validate(project) == (
        2,
        [f"{STAGING}: larger than 1,048,576 bytes (1 MiB), not read"],
    )


def test_a_file_of_exactly_1_mib_is_read(project: Path) -> None:
    text = (project / STAGING).read_text()
    (project / STAGING).write_text(text + "#" * (1024 * 1024 - len(text.encode()) - 1) + "\n")
    assert validate(project)[0] == 0


@pytest.mark.parametrize(
    "extra",
    [
        "? " + "k" * 500_000 + "\n: 1\n",  # an unknown field: its name is the path
        "x:\n  ? " + "d" * 500_000 + "\n  : 1\n  ? " + "d" * 500_000 + "\n  : 2\n",  # duplicate
        'metadata2: "' + "v " * 250_000 + '"\n',
    ],
)
def test_no_message_repeats_more_than_200_characters_of_a_value(project: Path, extra: str) -> None:
    (project / STAGING).write_text((project / STAGING).read_text() + extra)
    code, lines = validate(project)
    assert code == 2 and lines
    for line in lines:
        assert len(line) < 1200, len(line)
        assert all(len(word) < 260 for word in line.split()), line[:300]
        assert "characters)" in line or len(line) < 300


def test_an_alias_bomb_under_a_duplicate_key_is_not_expanded(project: Path) -> None:
    bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    edit(project, DEFAULTS, "spec:\n", "x-bomb:\n  " + "\n  ".join(bomb) + "\n  a9: *a9\nspec:\n")
    code, lines = validate(project)
    assert code == 2
    assert lines == [
        f"{DEFAULTS}: line 17, column 3: invalid YAML: while constructing a mapping found "
        'duplicate key "a9"'
    ]


def test_more_than_100_application_repositories_is_refused(project: Path) -> None:
    """50,000 entries took the plan past 120 s; 100 plan in about 6 s."""
    apps = "".join(f"    - name: app{i}\n      repository: app{i}\n" for i in range(101))
    (project / STAGING).write_text((project / STAGING).read_text() + "  apps:\n" + apps)
    assert validate(project) == (
        2,
        [f"{STAGING}: spec.apps: expected at most 100 entries, got 101"],
    )


def test_a_defaults_yaml_and_yml_are_refused_naming_both(project: Path) -> None:
    """_defaults.yml beside _defaults.yaml was silently left out (the clusters' twins:
    test_definitions.py)."""
    defaults_twin = DEFAULTS.removesuffix(".yaml") + ".yml"
    (project / defaults_twin).write_text("")
    code, lines = validate(project)
    assert (code, lines[0]) == (
        2,
        f"{DEFAULTS}: both {DEFAULTS} and {defaults_twin} exist, expected one "
        "(delete or merge one)",
    )


def test_at_most_50_problems_of_one_file_are_listed(project: Path) -> None:
    """100,000 unknown fields were 100,000 lines (12 MB, 10 s)."""
    extra = "".join(f"u{i}: 1\n" for i in range(5_000))
    (project / STAGING).write_text((project / STAGING).read_text() + extra)
    code, lines = validate(project)
    assert code == 2 and len(lines) == 51
    assert lines[0] == f"{STAGING}: 4,950 more problems not shown (the first 50 are)"
