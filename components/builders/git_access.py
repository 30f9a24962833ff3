"""Git access to GitHub: over SSH with a deploy key (its algorithm and title, GitHub's host keys
pinned), or over HTTPS with the fleet's GitHub App (its credentials from stack config); the
repository URL and the Secret source-controller pulls with, for either. Pure, no Pulumi."""

from __future__ import annotations

from functools import cache
from typing import Any

from components.definition.cluster import Cluster
from components.definition.git_host import GITHUB_HOST
from components.names import DATA_DIR, PROJECT, definition_file
from components.problems import Problem

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


def known_hosts(cluster: Cluster) -> str:
    """The known_hosts of the cluster's Git host: github.com's pinned keys, or the GitHub
    Enterprise Server's from the definition (validated SSH public keys), one line each."""
    host = cluster.spec.git.enterprise_host
    if host is None:
        return github_known_hosts()
    return "".join(f"{host.hostname} {key}\n" for key in host.known_hosts or [])


def github_api_url(cluster: Cluster) -> str | None:
    """The GitHub Enterprise Server's REST API (the GitHub provider's baseUrl, the App's
    githubAppBaseURL); None on github.com, where both keep their default."""
    host = cluster.spec.git.enterprise_host
    return host.api if host is not None else None


def ssh_url(owner: str, repository: str, host: str = GITHUB_HOST) -> str:
    return f"ssh://git@{host}/{owner}/{repository}.git"


def https_url(owner: str, repository: str, host: str = GITHUB_HOST) -> str:
    return f"https://{host}/{owner}/{repository}.git"


def repository_url(cluster: Cluster, owner: str, repository: str) -> str:
    """The URL Flux pulls a repository of `cluster` from, on its Git host: SSH, or HTTPS with
    the GitHub App."""
    host = cluster.spec.git.hostname
    if cluster.spec.git.uses_github_app:
        return https_url(owner, repository, host)
    return ssh_url(owner, repository, host)


# --- the fleet's GitHub App (spec.git.auth: githubApp) -------------------------------------------

# Stack config keys (flux-fleet:<key>, secrets) -> the Secret keys source-controller reads
GITHUB_APP_KEYS = {
    "githubAppId": "githubAppID",
    "githubAppInstallationId": "githubAppInstallationID",
    "githubAppPrivateKey": "githubAppPrivateKey",
}
# Secret keys that only the definition gives (fluxcd/pkg runtime/secrets/secrets.go): the
# installation by its owner instead of its ID, a GitHub Enterprise Server's API, its CA
INSTALLATION_OWNER_KEY = "githubAppInstallationOwner"
BASE_URL_KEY = "githubAppBaseURL"
CA_KEY = "ca.crt"
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


def github_app_plain_data(cluster: Cluster) -> dict[str, str]:
    """The App Secret's keys the definition gives as they are (not credentials): the
    installation's owner, and a GitHub Enterprise Server's API URL."""
    app, api = cluster.spec.git.github_app, github_api_url(cluster)
    out = {}
    if app is not None and app.installation_owner is not None:
        out[INSTALLATION_OWNER_KEY] = app.installation_owner
    if api is not None:
        out[BASE_URL_KEY] = api
    return out


def github_app_problem(cluster: Cluster, present: set[str]) -> Problem | None:
    """What is missing from the stack config (and spec.git.githubApp) for the cluster's GitHub
    App (None: nothing)."""
    if not cluster.spec.git.uses_github_app:
        return None
    defined = github_app_from_definition(cluster)
    by_owner = INSTALLATION_OWNER_KEY in github_app_plain_data(cluster)
    if by_owner and "githubAppInstallationId" in present:
        message = (
            "githubApp with spec.git.githubApp.installationOwner while stack config has "
            "githubAppInstallationId: expected one of them (Flux refuses a Secret with both); "
            f"run: pulumi config rm githubAppInstallationId -s {cluster.name}"
        )
        return Problem(definition_file(cluster.name), "spec.git.auth", message)
    needed = [k for k in GITHUB_APP_KEYS if not (by_owner and k == "githubAppInstallationId")]
    missing = [key for key in needed if key not in present and key not in defined]
    if not missing:
        return None
    commands = "; ".join(
        f"pulumi config set --secret {key} {'< app.pem' if key.endswith('Key') else '<value>'}"
        f" -s {cluster.name}"
        for key in missing
    )
    message = (
        f"githubApp but no {', '.join(missing)} in stack config; run: {commands} "
        "(or set spec.git.githubApp: appId, installationId or installationOwner, privateKeyFrom)"
    )
    return Problem(definition_file(cluster.name), "spec.git.auth", message)


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
    known_hosts (known_hosts(cluster))."""
    return {"identity": identity, "identity.pub": identity_pub, "known_hosts": hosts}
