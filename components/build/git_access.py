"""Git over SSH to GitHub: the deploy key's algorithm and title, the repository URL, and the
Secret source-controller pulls with (GitHub's host keys pinned). Pure, no Pulumi."""

from __future__ import annotations

from functools import cache
from typing import Any

from components.names import DATA_DIR, PROJECT

GITHUB_HOST = "github.com"

# tls.PrivateKey arguments per deployKey.algorithm. ECDSA must name its curve: the provider's
# default P224 has no OpenSSH public key form.
KEY_ALGORITHMS: dict[str, dict[str, Any]] = {
    "ED25519": {"algorithm": "ED25519"},
    "ECDSA-P256": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
    "ECDSA-P384": {"algorithm": "ECDSA", "ecdsa_curve": "P384"},
    "RSA-4096": {"algorithm": "RSA", "rsa_bits": 4096},
}


@cache
def github_known_hosts() -> str:
    """GitHub's published host keys, pinned as data (no key scan at apply time)."""
    return (DATA_DIR / "github_known_hosts").read_text()


def ssh_url(owner: str, repository: str) -> str:
    return f"ssh://git@{GITHUB_HOST}/{owner}/{repository}.git"


def deploy_key_title(cluster: str, purpose: str, rotation: int) -> str:
    return f"{PROJECT} {cluster} {purpose} (rotation {rotation})"


def git_secret_string_data(identity: str, identity_pub: str) -> dict[str, str]:
    """The keys source-controller reads from a Git SSH Secret, and nothing else."""
    return {"identity": identity, "identity.pub": identity_pub, "known_hosts": github_known_hosts()}
