"""Small typed helpers around pulumi.Output."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pulumi

T = TypeVar("T")


def secret(value: pulumi.Output[T]) -> pulumi.Output[T]:
    """`value` marked secret (pulumi's own stub confuses type checkers with nested Inputs)."""
    return cast("pulumi.Output[T]", pulumi.Output.secret(cast(Any, value)))
