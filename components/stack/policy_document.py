"""Policy documents of the builders (builders/ecr.py), rendered by `aws.iam.get_policy_document`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from components.builders.iam import statement_args


def _statements(document: Mapping[str, Any]) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    out = []
    for args in statement_args(document):
        principals = [
            aws.iam.GetPolicyDocumentStatementPrincipalArgs(**p) for p in args.pop("principals", [])
        ]
        conditions = [
            aws.iam.GetPolicyDocumentStatementConditionArgs(**c) for c in args.pop("conditions", [])
        ]
        out.append(
            aws.iam.GetPolicyDocumentStatementArgs(
                **args, principals=principals or None, conditions=conditions or None
            )
        )
    return out


def policy_json(
    document: pulumi.Input[Mapping[str, Any]], opts: pulumi.InvokeOutputOptions
) -> pulumi.Output[str]:
    """The provider's `json` of `document` (a pure builder's dict, or an Output of one).

    The typed statement arguments matter: plain dicts would reach the provider with snake_case
    keys, which it drops.
    """
    doc = pulumi.Output.from_input(document)
    return aws.iam.get_policy_document_output(
        version=doc.apply(lambda d: d["Version"]),
        statements=doc.apply(_statements),
        opts=opts,
    ).json
