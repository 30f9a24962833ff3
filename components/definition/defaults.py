"""kind ClusterDefaults: k8s-clusters/_defaults.yaml, the same spec shape, every field optional."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from components.definition.cluster import ClusterSpec
from components.definition.git_ref import OneRef
from components.definition.rollout import Rollout
from components.definition.types import Model


def _partial(model: type[BaseModel], seen: dict[type, type]) -> type[BaseModel]:
    """A copy of `model` whose fields are all optional (nested models made partial too)."""
    if model in seen:
        return seen[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation, seen)
        optional: Any = annotation | None  # type: ignore[operator]
        if info.metadata:
            optional = Annotated[optional, *info.metadata]
        fields[name] = (optional, Field(None, description=info.description))
    # A model whose rule spans fields it declares keeps it in the defaults (a branch and a ref
    # both in _defaults.yaml are refused there, not in every cluster that inherits them).
    base = OneRef if issubclass(model, OneRef) else Model
    partial = create_model(f"{model.__name__}Defaults", __base__=base, **fields)
    seen[model] = partial
    return partial


ClusterSpecDefaults = _partial(ClusterSpec, {})


class ClusterDefaults(Model):
    """kind: ClusterDefaults — k8s-clusters/_defaults.yaml, deep-merged under every cluster."""

    api_version: Literal["flux-fleet/v1"]
    kind: Literal["ClusterDefaults"]
    rollout: Rollout = Field(
        default_factory=Rollout, description="the fleet's rollout: waves, reviews, pace"
    )
    spec: ClusterSpecDefaults = Field(default_factory=ClusterSpecDefaults)  # type: ignore[valid-type]
