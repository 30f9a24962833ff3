"""The AWS provider of one account and region (cluster stacks and the registries stack)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.names import PROJECT


def account_provider(
    name: str, *, account_id: str, region: str, role_arn: str | None, parent: pulumi.Resource
) -> aws.Provider:
    """Refuses any account but `account_id`; assumes `role_arn` when set."""
    return aws.Provider(
        name,
        region=region,
        allowed_account_ids=[account_id],
        assume_roles=(
            [aws.ProviderAssumeRoleArgs(role_arn=role_arn, session_name=PROJECT)]
            if role_arn
            else None
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
