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


def policy_text(document: Mapping[str, Any]) -> str:
    """The text AWS receives: the provider's `json` rendering (indented by two spaces)."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def policy_size(document: Mapping[str, Any], *, whitespace: bool = True) -> int:
    """Characters as AWS counts them: repository policies with whitespace, IAM policies without."""
    if whitespace:
        return len(policy_text(document))
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


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
        if "Principal" in statement:
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
