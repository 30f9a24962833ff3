"""Git access to GitHub: over SSH with a deploy key (its algorithm and title, GitHub's host keys
pinned), or over HTTPS with the fleet's GitHub App (its credentials from stack config); the
repository URL and the Secret source-controller pulls with, for either. Pure, no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from components.definition.cluster import Cluster
from components.names import DATA_DIR, FLUX_SECRET_NAME, PROJECT, definition_file
from components.problems import Problem

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


def https_url(owner: str, repository: str) -> str:
    return f"https://{GITHUB_HOST}/{owner}/{repository}.git"


@dataclass(frozen=True)
class GitAccessOptions:
    """How a cluster's Flux reaches its Git repositories (spec.git.auth), filled from the
    definition by builders/options.py: the URL scheme and the Secret follow from it."""

    github_app: bool  # HTTPS with the fleet's GitHub App; else SSH with one deploy key each

    @property
    def fleet_secret(self) -> str:
        """The Secret the fleet repository is pulled with."""
        return GITHUB_APP_SECRET_NAME if self.github_app else FLUX_SECRET_NAME

    @property
    def provider(self) -> str | None:
        """A GitRepository's spec.provider (None: none, the Secret's SSH key)."""
        return GIT_PROVIDER if self.github_app else None


def repository_url(access: GitAccessOptions, owner: str, repository: str) -> str:
    """The URL Flux pulls a repository from: SSH, or HTTPS with the GitHub App."""
    if access.github_app:
        return https_url(owner, repository)
    return ssh_url(owner, repository)


# --- the fleet's GitHub App (spec.git.auth: githubApp) -------------------------------------------

# Stack config keys (flux-fleet:<key>, secrets) -> the Secret keys source-controller reads
GITHUB_APP_KEYS = {
    "githubAppId": "githubAppID",
    "githubAppInstallationId": "githubAppInstallationID",
    "githubAppPrivateKey": "githubAppPrivateKey",
}
# The fleet repository's Secret with the App: another name than the deploy key's flux-system, so
# switching between the two creates the new Secret before the FluxInstance moves to it.
GITHUB_APP_SECRET_NAME = "flux-system-github-app"
GIT_PROVIDER = "github"  # a GitRepository's (and the sync's) spec.provider with the App


def github_app_from_definition(cluster: Cluster) -> dict[str, Any]:
    """What spec.git.githubApp gives, by stack config key: the IDs, and where the key is."""
    app = cluster.spec.git.github_app
    if app is None:
        return {}
    given = {
        "githubAppId": app.app_id,
        "githubAppInstallationId": app.installation_id,
        "githubAppPrivateKey": app.private_key_from,
    }
    return {key: value for key, value in given.items() if value is not None}


def github_app_problem(cluster: Cluster, present: set[str]) -> Problem | None:
    """What is missing from the stack config (and spec.git.githubApp) for the cluster's GitHub
    App (None: nothing)."""
    if not cluster.spec.git.uses_github_app:
        return None
    defined = github_app_from_definition(cluster)
    missing = [key for key in GITHUB_APP_KEYS if key not in present and key not in defined]
    if not missing:
        return None
    commands = "; ".join(
        f"pulumi config set --secret {key} {'< app.pem' if key.endswith('Key') else '<value>'}"
        f" -s {cluster.name}"
        for key in missing
    )
    message = (
        f"githubApp but no {', '.join(missing)} in stack config; run: {commands} "
        "(or set spec.git.githubApp: appId, installationId, privateKeyFrom)"
    )
    return Problem(definition_file(cluster.name), "spec.git.auth", message)


def github_app_secret_string_data(values: dict[str, str]) -> dict[str, str]:
    """The App's credentials (stack config key -> value) as the Secret keys Flux reads."""
    return {GITHUB_APP_KEYS[key]: value for key, value in sorted(values.items())}


def deploy_key_title(cluster: str, purpose: str, rotation: int, read_only: bool = True) -> str:
    """The deploy key's title on GitHub; a read-write key says so (it is another key pair)."""
    access = "" if read_only else ", read-write"
    return f"{PROJECT} {cluster} {purpose} (rotation {rotation}{access})"


def git_secret_string_data(identity: str, identity_pub: str) -> dict[str, str]:
    """The keys source-controller reads from a Git SSH Secret, and nothing else."""
    return {"identity": identity, "identity.pub": identity_pub, "known_hosts": github_known_hosts()}
