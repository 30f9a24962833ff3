"""pydantic's validation errors, as one readable `Problem` line each: the field path in the
YAML's names, what was expected (from the field's pattern hint or description), what was got."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from components.definition.types import describe_pattern
from components.problems import MAX_PROBLEMS_PER_FILE, Problem, at_most, show


def _unwrap(annotation: Any) -> Any:
    """The model type behind Annotated / Optional / list annotations (or the annotation)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (loc given in YAML aliases)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
        if part not in by_alias:
            return None
        current = _unwrap(by_alias[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _description(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    holder = _model_at(model, tuple(p for p in loc[:-1]))
    if holder is None or isinstance(loc[-1], int):
        return None
    for name, info in holder.model_fields.items():
        if (info.alias or name) == loc[-1]:
            return info.description
    return None


def _message(model: type[BaseModel], err: Any) -> str:
    kind, loc, ctx, value = err["type"], err["loc"], err.get("ctx") or {}, err.get("input")
    got = show(value)
    if kind == "missing":
        desc = _description(model, loc)
        return "required field is missing" + (f", expected {desc}" if desc else "")
    if kind == "extra_forbidden":
        allowed = _field_names(_model_at(model, loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f", did you mean {close[0]}?" if close else ""
        return f"unknown field{hint} (expected one of {', '.join(allowed)})"
    if kind == "string_pattern_mismatch":
        text = f"expected {describe_pattern(ctx.get('pattern', ''), model)}, got {got}"
        return text
    if kind in ("string_type", "str_type"):
        desc = _description(model, loc) or "a string"
        quote = (
            " (quote it)" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        )
        return f"expected a string ({desc}), got {got}{quote}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        several = " or " in expected or ", " in expected
        return f"expected {'one of ' if several else ''}{expected}, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return f"expected an integer {sign} {limit}, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("list_type",):
        return f"expected a list, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        fields = _field_names(_model_at(model, loc))
        inner = f" ({', '.join(fields)})" if fields else ""
        return f"expected a mapping{inner}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} entries, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']}, got {got}"


def problems_from(exc: ValidationError, model: type[BaseModel], display: str) -> list[Problem]:
    out = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS_PER_FILE]:  # the messages of the rest are never made
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"])
        out.append(Problem(display, path.replace(".[", "["), _message(model, err)))
    return at_most(out, display, len(errors))
