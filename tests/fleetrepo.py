"""A git repository holding a small fleet of known shape, for the `fluxfleet affected` tests and
the CI workflow tests (tests/test_affected.py, tests/test_workflows.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.loading.fleet import load_fleet
from components.tools.affected import affected, matrix

DEFAULTS = """\
apiVersion: flux-fleet/v1
kind: ClusterDefaults
spec:
  git:
    owner: acme
    repository: gitops
    interval: 1m
  flux:
    size: medium
    tolerationKeys: [CriticalAddonsOnly]
"""

REGISTRIES = """\
apiVersion: flux-fleet/v1
kind: Registries
registries:
  - name: shared
    accountId: "210987654321"
    region: eu-west-1
    repositories: [api, worker]
"""


def cluster(name: str, environment: str, account: str, extra: str = "") -> str:
    return f"""\
# yaml-language-server: $schema=./cluster.schema.json
apiVersion: flux-fleet/v1
kind: Cluster
metadata:
  name: {name}
  environment: {environment}
spec:
  aws:
    accountId: "{account}"
    region: eu-west-1
{extra}"""


# alpha: production, pulls api; beta: staging, its own flux settings, no ECR; gamma: pulls two.
FLEET = {
    "k8s-clusters/_defaults.yaml": DEFAULTS,
    "k8s-clusters/_registries.yaml": REGISTRIES,
    "k8s-clusters/alpha.yaml": cluster(
        "alpha",
        "production",
        "111111111111",
        "  ecr:\n    pull:\n      - registry: shared\n        repositories: [api]\n",
    ),
    "k8s-clusters/beta.yaml": cluster(
        "beta", "staging", "222222222222", "  flux:\n    size: small\n    tolerationKeys: []\n"
    ),
    "k8s-clusters/gamma.yaml": cluster(
        "gamma",
        "staging",
        "333333333333",
        "  ecr:\n    pull:\n      - registry: shared\n        repositories: [api, worker]\n",
    ),
    "stacks/Pulumi.alpha.yaml": "config: {}\n",
    "stacks/Pulumi.beta.yaml": "config: {}\n",
    "stacks/Pulumi.gamma.yaml": "config: {}\n",
    "stacks/Pulumi.registries.yaml": "config: {}\n",
    "Pulumi.yaml": "name: flux-fleet\nruntime: python\nstackConfigDir: stacks\n",
    "__main__.py": "print('the program')\n",
    "pyproject.toml": "[project]\nname = 'flux-fleet'\n",
    "requirements.lock": "pulumi==3.0.0\n",
    "components/__init__.py": "",
    "components/cluster.py": "# the cluster component\n",
    "flux/clusters/alpha/kustomization.yaml": "resources: []\n",
    "flux/apps/production/kustomization.yaml": "resources: []\n",
    "README.md": "# fleet\n",
}
EVERY_STACK = ["registries", "alpha", "beta", "gamma"]
ENVIRONMENTS = {"alpha": "production", "beta": "staging", "gamma": "staging"}


# The built-in rollout (definition/rollout.py): staging in wave 1 through the GitHub environment
# "fleet", production in wave 2 through "production" (reviewers).
BUILTIN_ROLLOUT = {"staging": (1, "fleet"), "production": (2, "production")}


def entry(stack: str, *, removed: bool = False, **facts: object) -> dict[str, object]:
    """The matrix entry of a stack of FLEET: a cluster carries its environment and, unless
    removed, the GitHub owner and repositories of its deploy keys, its wave and its GitHub
    environment (the built-in rollout)."""
    if stack == "registries":
        out: dict[str, object] = {"stack": stack}
    else:
        environment = str(facts.get("environment", ENVIRONMENTS.get(stack, "")))
        out = {"stack": stack, "environment": environment}
        if not removed:  # an environment not listed: reviewed, in the last wave
            wave, github_environment = BUILTIN_ROLLOUT.get(environment, (2, "production"))
            out |= {
                "githubOwner": "acme",
                "githubRepositories": "gitops",
                "wave": wave,
                "githubEnvironment": github_environment,
            }
    out |= facts
    if removed:
        out["removed"] = True
    return out


class Repo:
    """A git repository with the fleet in `project` (the repository root or a subfolder)."""

    def __init__(self, root: Path, project: Path) -> None:
        self.root, self.project = root, project
        self.base = ""

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def edit(self, path: str, old: str, new: str) -> None:
        text = (self.project / path).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        self.write(path, text.replace(old, new, 1))

    def remove(self, path: str) -> None:
        self.git("rm", "-q", "-r", str((self.project / path).relative_to(self.root)))

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def stacks(self, base: str | None = None, head: str = "HEAD") -> list[dict[str, object]]:
        return matrix(affected(self.project, base or self.base, head))["include"]

    def names(self, base: str | None = None, head: str = "HEAD") -> list[str]:
        return [str(entry["stack"]) for entry in self.stacks(base, head)]


def make_repo(root: Path, subfolder: str = "") -> Repo:
    root.mkdir(parents=True)
    project = root / subfolder if subfolder else root
    repo = Repo(root, project)
    repo.git("init", "-q", "-b", "main")
    for path, text in FLEET.items():
        repo.write(path, text)
    fleet = load_fleet(project)
    assert not fleet.all_problems, fleet.all_problems  # the rules below assume a valid fleet
    assert sorted(fleet.clusters) == ["alpha", "beta", "gamma"]
    repo.base = repo.commit("the fleet")
    return repo


def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits without the machine's git configuration (no signing, a fixed identity)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Fleet Tester")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "tester@example.com")
