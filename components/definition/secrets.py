"""A credential kept in AWS instead of stack config (`credentialFrom`, `privateKeyFrom`): an SSM
parameter or a Secrets Manager secret, read at apply time by the stack (stack/aws_secret.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.definition.types import Model, pattern

SSM_PARAMETER = (
    r"^(/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*"
    r"|arn:aws(-cn|-us-gov)?:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_./-]+)$"
)
SECRET_ARN = (
    r"^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
SsmParameter = Annotated[
    str,
    pattern(
        SSM_PARAMETER,
        "an SSM parameter name such as /flux-fleet/slack-bot-token, or its ARN",
        max_length=2048,
    ),
]
SecretArn = Annotated[
    str, pattern(SECRET_ARN, "a Secrets Manager secret ARN (arn:aws:secretsmanager:...)")
]


class SecretSource(Model):
    """Where in AWS a credential is read at apply time (with the cluster's AWS provider), instead
    of stack config: one SSM parameter or one Secrets Manager secret."""

    ssm_parameter: SsmParameter | None = Field(
        None,
        description="a SecureString parameter; a name is read in the cluster's account and "
        "region, an ARN anywhere the deployer may read",
    )
    secrets_manager: SecretArn | None = Field(
        None, description="a secret whose value (SecretString) is the credential"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.ssm_parameter is None) == (self.secrets_manager is None):
            raise ValueError("expected exactly one of ssmParameter and secretsManager")
        return self

    @property
    def where(self) -> str:
        """Where the value comes from, for the plan (never the value)."""
        if self.ssm_parameter is not None:
            return f"SSM parameter {self.ssm_parameter}"
        return f"Secrets Manager secret {self.secrets_manager}"
