"""The stack settings files, stacks/Pulumi.<stack>.yaml: read, checked, turned into config.

One reader for `fluxfleet validate` and for the offline plan. Values are never shown in a
message (a token may be there by mistake); key names are. Nothing here imports Pulumi.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.definition.credentials import (
    ALERT_KEY_PREFIX,
    SECRET_CONFIG_KEYS,
    is_secret_config_key,
)
from components.loading.files import folder_problem, read_yaml
from components.names import (
    CLUSTERS_DIR,
    CONFIG_NAMESPACE,
    REGISTRIES_FILE,
    REGISTRIES_STACK,
    STACKS_DIR,
    definition_file,
    stack_file,
)
from components.problems import Problem, at_most, show

# The attributes of a stack settings file (Pulumi docs, "Stack settings file reference").
SETTINGS = ("config", "encryptedkey", "encryptionsalt", "environment", "secretsprovider")
SECURE_PLACEHOLDER = "[secret placeholder]"  # what the offline plan gets for an encrypted value


@dataclass
class StackConfig:
    """What the program sees of a stack's config: full key -> value (encrypted values become a
    placeholder, kept secret), and warnings that do not stop anything."""

    values: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _expected_keys(display: str, path: str, key: str, allowed: tuple[str, ...]) -> Problem:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f", did you mean {close[0]}?" if close else ""
    return Problem(display, path, f"unknown key{hint} (expected one of {', '.join(allowed)})")


def _config_entry(
    display: str, stack: str, key: Any, value: Any, out: StackConfig
) -> list[Problem]:
    if not isinstance(key, str) or not key:
        return [Problem(display, "config", f"expected config keys as strings, got {show(key)}")]
    namespace, _, name = key.rpartition(":")
    namespace = namespace or CONFIG_NAMESPACE
    full = f"{namespace}:{name}"
    where = f"config.{key}"
    if namespace == CONFIG_NAMESPACE and not is_secret_config_key(name):
        expected = (*SECRET_CONFIG_KEYS, f"{ALERT_KEY_PREFIX}<provider>")
        return [_expected_keys(display, where, name, expected)]
    secure = isinstance(value, Mapping) and set(value) == {"secure"}
    if secure:
        if not isinstance(value["secure"], str) or not value["secure"]:
            return [Problem(display, f"{where}.secure", "expected the encrypted value (a string)")]
        out.values[full] = SECURE_PLACEHOLDER
        out.secret_keys.append(full)
        return []
    if namespace == CONFIG_NAMESPACE:  # every key of ours is a secret
        if not isinstance(value, str):
            return [
                Problem(
                    display,
                    where,
                    f"expected an encrypted value (secure: ...), got {_kind(value)}; run: "
                    f"pulumi config set --secret {name} -s {stack}",
                )
            ]
        out.warnings.append(
            Problem(
                display,
                where,
                "warning: a secret in plain text (the value is not shown); encrypt it: "
                f"pulumi config set --secret {name} -s {stack} (it asks for the value)",
            )
        )
        out.values[full] = value
        out.secret_keys.append(full)  # the program treats it as the secret it is
        return []
    out.values[full] = value if isinstance(value, str) else json.dumps(value)
    return []


def _kind(value: Any) -> str:
    """What a value is, without showing it."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return (
        "a number" if isinstance(value, int | float) and not isinstance(value, bool) else "a value"
    )


def read_stack_file(project_dir: Path, stack: str) -> tuple[StackConfig | None, list[Problem]]:
    """The config of stacks/Pulumi.<stack>.yaml, or the problems with it. (None, []) when the
    file does not exist: whether that matters is for the caller to say."""
    display = stack_file(stack)
    path = project_dir / display
    if not os.path.lexists(path):
        return None, []
    # `config:` with every key commented out is no config, as Pulumi reads it
    doc, problems = read_yaml(
        path, display, project_dir, allow_empty=True, may_be_null=frozenset({"config"})
    )
    if problems:
        return None, problems
    out = StackConfig()
    if doc is None:  # an empty file: no settings
        return out, []
    if not isinstance(doc, Mapping):
        message = f"expected a mapping ({', '.join(SETTINGS)}), got {_kind(doc)}"
        return None, [Problem(display, "", message)]
    problems = [
        _expected_keys(display, str(key), str(key), SETTINGS) for key in doc if key not in SETTINGS
    ]
    config = doc.get("config")
    config = {} if config is None else config
    if not isinstance(config, Mapping):
        problems.append(
            Problem(display, "config", f"expected a mapping of config keys, got {_kind(config)}")
        )
        config = {}
    for key, value in config.items():
        problems += _config_entry(display, stack, key, value, out)
    return (None, at_most(problems, display, len(problems))) if problems else (out, [])


def require_stack_file(project_dir: Path, stack: str) -> tuple[StackConfig | None, list[Problem]]:
    """Like read_stack_file, but a missing file is a problem: `pulumi up -s <stack>` needs it
    (its secrets provider and encrypted values), and `fluxfleet new-cluster` writes it."""
    config, problems = read_stack_file(project_dir, stack)
    if config is None and not problems:
        problems = [
            Problem(
                stack_file(stack),
                "",
                f"missing: expected the settings of stack {stack} (`pulumi stack init {stack}` "
                "from the project, then `pulumi config set --secret ...`; "
                "`fluxfleet new-cluster` writes one)",
            )
        ]
    return config, problems


def orphan_stack_files(
    project_dir: Path, stacks: set[str], strays: Sequence[str] = ()
) -> list[Problem]:
    """stacks/Pulumi.<x>.yaml files of no stack: `stacks` are the defined clusters (valid or
    not), and `registries` when k8s-clusters/_registries.yaml exists. `strays` are the files of
    k8s-clusters/ read as nothing: one named like the stack is what the definition likely is."""
    folder = project_dir / STACKS_DIR
    if not folder.is_dir():
        return []
    outside = folder_problem(folder, STACKS_DIR, project_dir)
    if outside is not None:
        return [outside]
    known = set(stacks)
    if os.path.lexists(project_dir / CLUSTERS_DIR / REGISTRIES_FILE):
        known.add(REGISTRIES_STACK)
    out = []
    for path in sorted(p for p in folder.glob("Pulumi.*") if p.suffix in (".yaml", ".yml")):
        stack = path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        if stack not in known:
            definition = (
                f"{CLUSTERS_DIR}/{REGISTRIES_FILE}"
                if stack == REGISTRIES_STACK
                else definition_file(stack)
            )
            unread = [s for s in strays if s.rpartition("/")[2].startswith(f"{stack}.")]
            hint = (
                f"; {unread[0]} exists but is not read (definitions end in .yaml or .yml)"
                if unread
                else "; if the stack is gone, delete this file"
            )
            out.append(
                Problem(
                    path.relative_to(project_dir).as_posix(),
                    "",
                    f"no definition for stack {stack} (expected {definition}){hint}",
                )
            )
    return out
