"""SOPS decryption with AWS KMS: what kustomize-controller may do with the keys, the patch that
makes the cluster's sync Kustomization decrypt, and the key policy statement the owner of a key
in another account adds. Pure, no Pulumi."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.iam import POLICY_VERSION, provider_set
from components.definition.sops import key_account
from components.names import SYNC_SOURCE_NAME

KUSTOMIZE_CONTROLLER = "kustomize-controller"
DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
DECRYPTION = {
    "provider": "sops"
}  # the Kustomization's spec.decryption (an AWS identity, no Secret)


@dataclass(frozen=True)
class SopsOptions:
    """spec.sops, and the role kustomize-controller decrypts with (builders/options.py)."""

    cluster: str  # its name: the Sid of its key policy statements
    account_id: str
    partition: str
    kms_key_arns: Sequence[str]
    role_arn: str  # kustomize-controller's role


def decrypt_permissions(options: SopsOptions) -> dict[str, Any]:
    """kustomize-controller's inline policy: exactly decrypt and describe, on exactly the keys."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "SopsDecrypt",
                "Effect": "Allow",
                "Action": provider_set(DECRYPT_ACTIONS),
                "Resource": provider_set(options.kms_key_arns),
            }
        ],
    }


def sync_decryption_patch() -> dict[str, Any]:
    """The FluxInstance patch that makes its sync Kustomization (flux-system) decrypt."""
    operations = [{"op": "add", "path": "/spec/decryption", "value": DECRYPTION}]
    return {
        "patch": json.dumps(operations),
        "target": {"kind": "Kustomization", "name": SYNC_SOURCE_NAME},
    }


def key_policy_sid(name: str) -> str:
    """The Sid of the cluster's statement in a key policy: one per cluster, so clusters sharing a
    key add one statement each (KMS refuses a duplicate Sid). Alphanumeric, like every Sid here:
    FluxSops + the name in CamelCase, and a hash of it when a '-' not followed by a letter makes
    CamelCase ambiguous (a-1 and a1 would both be A1)."""
    sid = "FluxSops" + "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    if re.search(r"-(?![a-z])", name):
        sid += hashlib.sha256(name.encode()).hexdigest()[:8]
    return sid


def foreign_key_policy_statements(options: SopsOptions | None) -> dict[str, dict[str, Any]]:
    """Key ARN -> the statement its owner adds to the key policy, for each key in another
    account than the cluster's (a key policy must allow a principal of another account; in a key
    policy, Resource "*" is the key itself).

    The principal is the cluster account's root with a condition on the role's ARN
    (aws:PrincipalArn), never the role itself: KMS refuses a policy naming a principal that does
    not exist yet (the key's owner can add it before the cluster stack made the role), and IAM
    stores a role principal as the role's unique ID, so a role deleted and re-created would
    silently stop matching. The condition compares ARNs, which a re-created role keeps. The
    account's identity policy (decrypt_permissions) still has to allow the role: a root
    principal delegates to the account, it grants no one by itself."""
    if options is None:
        return {}
    return {
        arn: {
            "Sid": key_policy_sid(options.cluster),
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{options.partition}:iam::{options.account_id}:root"},
            "Action": list(DECRYPT_ACTIONS),
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": options.role_arn}},
        }
        for arn in options.kms_key_arns
        if key_account(arn) != options.account_id
    }
