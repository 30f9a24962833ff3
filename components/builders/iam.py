"""IAM policy documents as `aws.iam.get_policy_document` renders them: the set rendering, the text
AWS receives and its size, and the invoke's arguments back from a document. Pure, no Pulumi.

The offline plan's emulation of the invoke (plan/iam.py) renders with the same `provider_set`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"
# AWS limits, in characters: a repository policy; a managed policy (without whitespace); the
# inline policies of one role together (without whitespace).
REPOSITORY_POLICY_LIMIT = 10_240
MANAGED_POLICY_LIMIT = 6_144
INLINE_POLICY_LIMIT = 10_240


def provider_set(values: Iterable[str]) -> str | list[str]:
    """A set of strings as the provider renders it: one → the string, more → reverse-sorted."""
    unique = sorted(set(values), reverse=True)
    return unique[0] if len(unique) == 1 else unique


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# Go's encoding/json escapes these in strings (HTML-safe), as the provider's JSON does.
GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(text: str) -> str:
    """JSON text as Go's json.Marshal writes it: the HTML-safe escapes."""
    for char, escaped in GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def policy_text(document: Mapping[str, Any]) -> str:
    """The provider's `json` rendering of `aws.iam.get_policy_document` (indented by two
    spaces): what the stacks pass as a resource's policy, and what the plan shows."""
    return go_json(json.dumps(document, indent=2, ensure_ascii=False))


def compact_text(document: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    """`document` as Go's json.Marshal writes it compact: keys in order (the provider's
    `minifiedJson`), or sorted (what a Go map gives)."""
    return go_json(
        json.dumps(document, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False)
    )


def sent_text(document: Mapping[str, Any]) -> str:
    """The text AWS receives: the provider normalizes a policy before the API call
    (terraform-provider-aws, internal/service/ecr/repository_policy.go: `PolicyText:
    structure.NormalizeJsonString(policy)`, which is Go's json.Unmarshal then json.Marshal):
    compact, keys sorted, Go's escapes."""
    return compact_text(document, sort_keys=True)


def policy_size(document: Mapping[str, Any]) -> int:
    """Characters as AWS counts them against its limits: of the compact text it receives."""
    return len(sent_text(document))


def statement_args(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `statements` of `aws.iam.get_policy_document` that render `document` (snake_case keys
    of `GetPolicyDocumentStatementArgs`)."""
    out: list[dict[str, Any]] = []
    for statement in document["Statement"]:
        args: dict[str, Any] = {"effect": statement["Effect"]}
        if "Sid" in statement:
            args["sid"] = statement["Sid"]
        args["actions"] = as_list(statement["Action"])
        if "Resource" in statement:
            args["resources"] = as_list(statement["Resource"])
        if statement.get("Principal") == "*":  # everyone (under a condition)
            args["principals"] = [{"type": "*", "identifiers": ["*"]}]
        elif "Principal" in statement:
            args["principals"] = [
                {"type": kind, "identifiers": as_list(ids)}
                for kind, ids in statement["Principal"].items()
            ]
        if "Condition" in statement:
            args["conditions"] = [
                {"test": test, "variable": variable, "values": as_list(values)}
                for test, variables in statement["Condition"].items()
                for variable, values in variables.items()
            ]
        out.append(args)
    return out
