"""A credential read from AWS at apply time: an SSM parameter or a Secrets Manager secret
(`credentialFrom`), kept a Pulumi secret from the read on."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.definition.alerts import CredentialFrom


def aws_secret(
    source: CredentialFrom, provider: pulumi.ProviderResource, parent: pulumi.Resource
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
