"""The JSON Schema of the three kinds, committed as k8s-clusters/cluster.schema.json
(`fluxfleet schema` writes it)."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import create_model
from pydantic.json_schema import models_json_schema

from components.definition.cluster import Cluster, ClusterMetadata
from components.definition.defaults import ClusterDefaults, ClusterSpecDefaults
from components.definition.registries import Registries
from components.definition.types import Model


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both kinds, committed as k8s-clusters/cluster.schema.json."""
    # A file's spec may leave any field to _defaults.yaml, so the editor schema of the Cluster
    # kind checks names, types and values but not required-ness (validate does, after merging).
    cluster_file = create_model(
        "Cluster",
        __base__=Model,
        __doc__=Cluster.__doc__,
        api_version=(cast(Any, Literal["flux-fleet/v1"]), ...),
        kind=(cast(Any, Literal["Cluster"]), ...),
        metadata=(ClusterMetadata, ...),
        spec=(ClusterSpecDefaults, ...),
    )
    _, defs = models_json_schema(
        [(cluster_file, "validation"), (ClusterDefaults, "validation"), (Registries, "validation")],
        ref_template="#/$defs/{model}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flux-fleet.invalid/cluster.schema.json",
        "title": "flux-fleet cluster definition",
        "oneOf": [
            {"$ref": "#/$defs/Cluster"},
            {"$ref": "#/$defs/ClusterDefaults"},
            {"$ref": "#/$defs/Registries"},
        ],
        "$defs": _without_null(defs["$defs"]),
    }


def _without_null(schema: Any) -> Any:
    """`schema` with null taken out of every `anyOf`: an explicit null is an error (validate says
    so; a `# comment` where a value was meant is the usual cause), so editors flag it too."""
    if isinstance(schema, list):
        return [_without_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_null(v) for k, v in schema.items()}
    if "anyOf" in out:
        kept = [s for s in out["anyOf"] if s != {"type": "null"}]
        if len(kept) == 1:
            del out["anyOf"]
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
        if out.get("default", 0) is None:
            del out["default"]
    return out
