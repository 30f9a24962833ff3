"""Git access to GitHub: over SSH with a deploy key (its algorithm and title, GitHub's host keys
pinned), or over HTTPS with the fleet's GitHub App (its credentials from stack config); the
repository URL and the Secret source-controller pulls with, for either. Pure, no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from components.definition.credentials import GITHUB_APP_KEYS
from components.definition.git_host import GITHUB_HOST
from components.names import DATA_DIR, FLUX_SECRET_NAME, PROJECT

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


def ssh_url(owner: str, repository: str, host: str = GITHUB_HOST) -> str:
    return f"ssh://git@{host}/{owner}/{repository}.git"


def https_url(owner: str, repository: str, host: str = GITHUB_HOST) -> str:
    return f"https://{host}/{owner}/{repository}.git"


@dataclass(frozen=True)
class GitAccessOptions:
    """How a cluster's Flux reaches its Git repositories (spec.git.auth), filled from the
    definition by builders/options.py: the URL scheme and the Secret follow from it."""

    github_app: bool  # HTTPS with the fleet's GitHub App; else SSH with one deploy key each
    host: str = GITHUB_HOST  # or a GitHub Enterprise Server's (spec.git.host)
    # A GitHub Enterprise Server's SSH host keys (<type> <base64>, validated); none on
    # github.com, whose keys are pinned as package data
    host_keys: tuple[str, ...] = ()
    api_url: str | None = (
        None  # its REST API (provider baseUrl, githubAppBaseURL); github.com: None
    )
    # spec.git.githubApp.installationOwner: the App's installation named by its owner, not its ID
    installation_owner: str | None = None

    @property
    def known_hosts(self) -> str:
        """The known_hosts of the Secrets: github.com's pinned keys, or the host's own."""
        if not self.host_keys:
            return github_known_hosts()
        return "".join(f"{self.host} {key}\n" for key in self.host_keys)

    @property
    def fleet_secret(self) -> str:
        """The Secret the fleet repository is pulled with."""
        return GITHUB_APP_SECRET_NAME if self.github_app else FLUX_SECRET_NAME

    @property
    def provider(self) -> str | None:
        """A GitRepository's spec.provider (None: none, the Secret's SSH key)."""
        return GIT_PROVIDER if self.github_app else None


def repository_url(access: GitAccessOptions, owner: str, repository: str) -> str:
    """The URL Flux pulls a repository from, on its Git host: SSH, or HTTPS with the GitHub App."""
    if access.github_app:
        return https_url(owner, repository, access.host)
    return ssh_url(owner, repository, access.host)


# --- the fleet's GitHub App (spec.git.auth: githubApp) -------------------------------------------

# Secret keys that only the definition gives (fluxcd/pkg runtime/secrets/secrets.go): the
# installation by its owner instead of its ID, a GitHub Enterprise Server's API, its CA
INSTALLATION_OWNER_KEY = "githubAppInstallationOwner"
BASE_URL_KEY = "githubAppBaseURL"
CA_KEY = "ca.crt"
# The fleet repository's Secret with the App: another name than the deploy key's flux-system, so
# switching between the two creates the new Secret before the FluxInstance moves to it.
GITHUB_APP_SECRET_NAME = "flux-system-github-app"
GIT_PROVIDER = "github"  # a GitRepository's (and the sync's) spec.provider with the App


def github_app_plain_data(access: GitAccessOptions) -> dict[str, str]:
    """The App Secret's keys the definition gives as they are (not credentials): the
    installation's owner, and a GitHub Enterprise Server's API URL."""
    out = {}
    if access.installation_owner is not None:
        out[INSTALLATION_OWNER_KEY] = access.installation_owner
    if access.api_url is not None:
        out[BASE_URL_KEY] = access.api_url
    return out


def github_app_secret_string_data(
    values: dict[str, str], plain: dict[str, str] | None = None
) -> dict[str, str]:
    """The App's credentials (stack config key -> value) as the Secret keys Flux reads, with
    `plain` (Secret key -> value: github_app_plain_data, the CA certificate)."""
    out = {GITHUB_APP_KEYS[key]: value for key, value in values.items()}
    return dict(sorted({**out, **(plain or {})}.items()))


def deploy_key_title(cluster: str, purpose: str, rotation: int, read_only: bool = True) -> str:
    """The deploy key's title on GitHub; a read-write key says so (it is another key pair)."""
    access = "" if read_only else ", read-write"
    return f"{PROJECT} {cluster} {purpose} (rotation {rotation}{access})"


def git_secret_string_data(identity: str, identity_pub: str, hosts: str) -> dict[str, str]:
    """The keys source-controller reads from a Git SSH Secret, and nothing else; `hosts`: the
    known_hosts (GitAccessOptions.known_hosts)."""
    return {"identity": identity, "identity.pub": identity_pub, "known_hosts": hosts}
