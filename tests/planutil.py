"""Lookups over a StackPlan's recorded registrations, shared by the plan tests."""

from __future__ import annotations

from components.plan import Registration, StackPlan


def of_type(plan: StackPlan, type_: str) -> list[Registration]:
    return [r for r in plan.resources if r.type == type_]


def one(plan: StackPlan, type_: str, name: str | None = None) -> Registration:
    """The single registration of `type_` (named `name` when given); fails on 0 or several."""
    found = [r for r in of_type(plan, type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]
