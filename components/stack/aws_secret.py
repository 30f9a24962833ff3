"""A credential read from AWS at apply time: an SSM parameter or a Secrets Manager secret
(`credentialFrom`, `privateKeyFrom`), kept a Pulumi secret from the read on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.builders.git_access import CA_KEY, github_app_secret_string_data
from components.definition.secrets import SecretSource


@dataclass(frozen=True)
class GithubAppArgs:
    """spec.git.auth githubApp: the App's credentials, by stack config key. Stack config values
    (Pulumi secrets) win; else spec.git.githubApp's: the IDs, and where in AWS the private key
    is (read by the component with the cluster's AWS provider)."""

    config: Mapping[str, pulumi.Output[str]]
    defined: Mapping[str, Any]
    # Secret key -> value, as they are: the installation's owner, a GitHub Enterprise Server's
    # API URL and CA certificate from a file
    plain: Mapping[str, str] = field(default_factory=dict)
    ca_from: SecretSource | None = None  # the CA certificate, read from AWS at apply time


def aws_secret(
    source: SecretSource, provider: pulumi.ProviderResource, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """The value of `source`, read with `provider` (the cluster's account and region: a name is
    looked up there; an ARN names its own), as a Pulumi secret."""
    opts = pulumi.InvokeOutputOptions(provider=provider, parent=parent)
    if source.ssm_parameter is not None:
        value = aws.ssm.get_parameter_output(
            name=source.ssm_parameter, with_decryption=True, opts=opts
        ).value
    else:
        value = aws.secretsmanager.get_secret_version_output(
            secret_id=source.secrets_manager, opts=opts
        ).secret_string
    return pulumi.Output.secret(value)


def github_app_secret_data(
    app: GithubAppArgs, provider: pulumi.ProviderResource, parent: pulumi.Resource
) -> pulumi.Output[dict[str, str]]:
    """The data of a Secret holding the GitHub App's credentials (a Pulumi secret): stack config
    values, else the definition's IDs and the private key read from AWS."""
    values: dict[str, pulumi.Input[str]] = dict(app.config)
    for key, given in app.defined.items():
        values[key] = (
            aws_secret(given, provider, parent) if isinstance(given, SecretSource) else str(given)
        )
    data = pulumi.Output.all(**values)
    if app.ca_from is None:
        return pulumi.Output.secret(
            data.apply(lambda v: github_app_secret_string_data(v, dict(app.plain)))
        )
    ca = aws_secret(app.ca_from, provider, parent)
    both = pulumi.Output.all(data, ca)
    return pulumi.Output.secret(
        both.apply(lambda v: github_app_secret_string_data(v[0], {**app.plain, CA_KEY: v[1]}))
    )
