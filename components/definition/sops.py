"""spec.sops: secrets in the GitOps repository encrypted with SOPS and AWS KMS keys, which
kustomize-controller decrypts with an AWS role of its own."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from components.definition.types import Model, pattern, unique

KMS_KEY_ARN = (
    r"^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:key/"
    r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
KmsKeyArn = Annotated[
    str,
    pattern(
        KMS_KEY_ARN,
        "a KMS key ARN (arn:aws:kms:<region>:<12 digits>:key/<key id>; not an alias: IAM "
        "grants on keys, not aliases)",
    ),
]


def key_account(arn: str) -> str:
    return arn.split(":")[4]


def key_partition(arn: str) -> str:
    return arn.split(":")[1]


class SopsSpec(Model):
    kms_key_arns: Annotated[list[KmsKeyArn], AfterValidator(unique)] = Field(
        min_length=1,
        max_length=20,
        description="the KMS keys the repository's secrets are encrypted with (any account)",
    )
