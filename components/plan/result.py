"""What a plan is: the resources a stack would register (with their options) and its outputs.
Secrets and values known only after apply are kept as markers, never as text. No Pulumi here:
rendering a plan imports this, not the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Secret:
    """A value the program marked secret; rendered as [secret], never printed."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[secret]"


class Unknown:
    """A value known only after apply."""

    def __repr__(self) -> str:
        return "[unknown]"


UNKNOWN = Unknown()


def provider_urn(ref: str) -> str:
    """The URN of a provider reference `<urn>::<id>` (URNs themselves contain '::')."""
    return ref.rsplit("::", 1)[0] if ref else ""


def unknown(resource: str, prop: str) -> str:
    """What the mocks answer for an output the real provider computes at apply time."""
    return f"[unknown {resource}.{prop}]"


def is_unknown_text(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[unknown ") and value.endswith("]")


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    deleted_with: str
    delete_before_replace: bool
    aliases: list[str]
    ignore_changes: list[str]
    additional_secret_outputs: list[str]
    # the engine replaces the resource when this changes from one value to another
    replacement_trigger: Any = None


@dataclass
class StackPlan:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    invokes: list[str] = field(default_factory=list)
