"""Waiting, at apply time, for a new EKS access entry to let the deployer in.

The Kubernetes provider probes the cluster once, when it is configured; an access entry takes a
while to propagate, and a 401 then marks the cluster unreachable for the whole run (pulumi-
kubernetes `provider/pkg/provider/provider.go`, `Configure`: `clusterUnreachable`). So when the
deployer's access policy was associated moments ago, the program asks the cluster itself, with the
kubeconfig's own credential (`aws eks get-token`), until it answers, before it hands the provider
its kubeconfig. Bounded; nothing is asked during a preview, the offline plan or a later run."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi

WAIT_SECONDS = 300
INTERVAL_SECONDS = 5
# An association made this long ago or less is new: it may not have propagated yet.
FRESH = timedelta(minutes=15)
DENIED = (401, 403)


def fresh(associated_at: Any, now: datetime) -> bool:
    """Whether `associated_at` (RFC 3339, the association's output) is recent; unknown or
    missing values (preview, the offline plan) are not."""
    if not isinstance(associated_at, str):
        return False
    try:
        when = datetime.fromisoformat(associated_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    return now - when < FRESH


def _token(kubeconfig: dict[str, Any]) -> str:
    """The kubeconfig user's token: its exec command (`aws eks get-token ...`) run once."""
    command = kubeconfig["users"][0]["user"]["exec"]
    done = subprocess.run(
        [command["command"], *command["args"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return str(json.loads(done.stdout)["status"]["token"])


def api_status(kubeconfig: dict[str, Any]) -> int | None:
    """The HTTP status of `GET /api` with the kubeconfig's credential; None when the cluster
    cannot be asked at all (no token, no connection): the provider then says why."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    try:
        token = _token(kubeconfig)
        context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        request = urllib.request.Request(
            cluster["server"] + "/api", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return None


def wait_for_access(
    kubeconfig: dict[str, Any],
    eks_cluster_name: str,
    *,
    status: Callable[[dict[str, Any]], int | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    limit: float = WAIT_SECONDS,
) -> None:
    """Return once the cluster lets the kubeconfig's credential in (or cannot be asked); after
    `limit` seconds of 401/403, stop the run with one line saying what to do."""
    ask = status or api_status
    deadline = clock() + limit
    while True:
        code = ask(kubeconfig)
        if code not in DENIED:
            return
        if clock() >= deadline:
            raise pulumi.RunError(
                f"EKS cluster {eks_cluster_name}: the deployer's access entry was just created, "
                f"but the cluster still answers {code} after {int(limit)} seconds (access "
                "entries take a while to propagate): run `pulumi up` again"
            )
        sleep(INTERVAL_SECONDS)


def after_access(
    kubeconfig_json: str,
    associated_at: Any,
    eks_cluster_name: str,
    now: datetime | None = None,
    dry_run: bool | None = None,
) -> str | Awaitable[str]:
    """`kubeconfig_json`, once a new access policy association lets it in (waited for in a
    thread: the program's other registrations go on meanwhile). Never during a preview: an
    unchanged association's associatedAt is known from the state there, and a preview within
    15 minutes of an `up` must not call the cluster (nor wait for it)."""
    if pulumi.runtime.is_dry_run() if dry_run is None else dry_run:
        return kubeconfig_json
    if not fresh(associated_at, now or datetime.now(UTC)):
        return kubeconfig_json

    def wait() -> str:
        wait_for_access(json.loads(kubeconfig_json), eks_cluster_name)
        return kubeconfig_json

    return asyncio.to_thread(wait)
