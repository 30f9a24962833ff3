"""The offline plan's answer to `aws:iam/getPolicyDocument`: the provider's rendering, emulated.

`aws.iam.get_policy_document` is computed by the AWS provider (Terraform's
`aws_iam_policy_document`), which the mock runtime does not run. This module renders the same
`json` / `minifiedJson` from the invoke's arguments, following the provider's rules, so a plan
shows the policy text AWS would receive:
- keys in the order Version, Id, Statement; Sid, Effect, Action, NotAction, Resource,
  NotResource, Principal, NotPrincipal, Condition; empty elements left out;
- actions, resources and principal identifiers are sets: one value renders as a string, several
  as a list sorted in reverse; condition values keep their order, one value renders as a string;
- `{"*": ["*"]}` principals render as "*"; principal types and condition keys sorted (Go maps);
- Sids alphanumeric and unique, Effect Allow (default) or Deny, `&{` → `${`;
- `json` indented by two spaces, Go's HTML-safe escaping of <, > and &.
Arguments it does not model (source/override documents, unknown keys) raise: the plan never
shows a policy the provider would not produce.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from components.builders.iam import compact_text, policy_text, provider_set

TOKEN = "aws:iam/getPolicyDocument:getPolicyDocument"
VERSIONS = ("2008-10-17", "2012-10-17")
STATEMENT_KEYS = frozenset(
    {
        "sid",
        "effect",
        "actions",
        "notActions",
        "resources",
        "notResources",
        "principals",
        "notPrincipals",
        "conditions",
    }
)
UNMODELLED = ("sourcePolicyDocuments", "overridePolicyDocuments", "sourceJson", "overrideJson")
_SID = re.compile(r"[a-zA-Z0-9]*")


def _vars(value: str) -> str:
    return value.replace("&{", "${")


def _principals(blocks: Sequence[Mapping[str, Any]]) -> str | dict[str, Any]:
    unique: list[tuple[str, tuple[str, ...]]] = []
    for block in blocks:
        key = (block["type"], tuple(sorted(set(_vars(i) for i in block["identifiers"]))))
        if key not in unique:
            unique.append(key)
    if len(unique) == 1 and unique[0] == ("*", ("*",)):
        return "*"
    raw: dict[str, Any] = {}
    for kind, identifiers in unique:
        rendered = provider_set(identifiers)
        current = raw.get(kind)
        if isinstance(rendered, list):
            raw[kind] = ([current] if isinstance(current, str) else current or []) + rendered
        elif current is None:
            raw[kind] = rendered
        else:
            raw[kind] = ([current] if isinstance(current, str) else current) + [rendered]
    return dict(sorted(raw.items()))


def _conditions(blocks: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, list[str]]] = {}
    seen: list[tuple[str, str, tuple[str, ...]]] = []
    for block in blocks:
        values = tuple(_vars(v) for v in block["values"])
        key = (block["test"], block["variable"], values)
        if key in seen:
            continue
        seen.append(key)
        raw.setdefault(block["test"], {}).setdefault(block["variable"], []).extend(values)
    return {
        test: {var: vals[0] if len(vals) == 1 else vals for var, vals in sorted(variables.items())}
        for test, variables in sorted(raw.items())
    }


def _statement(index: int, args: Mapping[str, Any], sids: set[str]) -> dict[str, Any]:
    unknown = sorted(set(args) - STATEMENT_KEYS)
    if unknown:
        raise ValueError(
            f"getPolicyDocument statement {index}: unknown argument(s) {', '.join(unknown)} "
            "(the provider drops them; pass aws.iam.GetPolicyDocumentStatementArgs)"
        )
    out: dict[str, Any] = {}
    sid = args.get("sid") or ""
    if not _SID.fullmatch(sid):
        raise ValueError(f'getPolicyDocument statement {index}: Sid "{sid}" must be alphanumeric')
    if sid:
        if sid in sids:
            raise ValueError(f"getPolicyDocument: duplicate Sid ({sid})")
        sids.add(sid)
        out["Sid"] = sid
    effect = args.get("effect") or "Allow"
    if effect not in ("Allow", "Deny"):
        raise ValueError(f'getPolicyDocument statement {index}: Effect "{effect}"')
    out["Effect"] = effect
    for key, element in (
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ):
        if args.get(key):
            out[element] = provider_set([_vars(v) for v in args[key]])
    for key, element in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
        if args.get(key):
            out[element] = _principals(args[key])
    if args.get("conditions"):
        out["Condition"] = _conditions(args["conditions"])
    return out


def get_policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """The invoke's result (camelCase, as on the wire) for its arguments."""
    unmodelled = [key for key in UNMODELLED if args.get(key)]
    if unmodelled:
        raise NotImplementedError(
            f"the offline plan does not render getPolicyDocument with {', '.join(unmodelled)}"
        )
    version = args.get("version") or "2012-10-17"
    if version not in VERSIONS:
        raise ValueError(f'getPolicyDocument: version "{version}", expected one of {VERSIONS}')
    document: dict[str, Any] = {"Version": version}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    sids: set[str] = set()
    statements = [_statement(i, s, sids) for i, s in enumerate(args.get("statements") or [])]
    if statements:
        document["Statement"] = statements
    text = policy_text(document)
    return {
        "id": str(zlib.crc32(text.encode())),
        "json": text,
        "minifiedJson": compact_text(document),
        "version": version,
        "policyId": args.get("policyId"),
        "statements": list(args.get("statements") or []),
    }
