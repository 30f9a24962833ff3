"""What several builder modules share and none owns: kept here, below them, so that the feature
modules of builders/ stay independent of each other (pyproject.toml, contract
"builders-independent"). Pure, no Pulumi."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.names import MANAGED_BY


def metadata(name: str, namespace: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An object's metadata, labelled as managed by flux-fleet."""
    return {"name": name, "namespace": namespace, "labels": {**(labels or {}), **MANAGED_BY}}
