"""Hypothesis strategies from a JSON Schema: the subset pydantic emits for the definition model
(k8s-clusters/cluster.schema.json), plus the mutations that turn a definition into bad input."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

Strategy = st.SearchStrategy[Any]

# Overrides by dotted path (list items as "[]"): where the schema cannot say what the model
# checks across fields (required components, one entry per registry, unique names, ...).
Overrides = Mapping[str, Strategy]


def _not(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return lambda value: value not in schema["enum"]
    if "const" in schema:
        return lambda value: value != schema["const"]
    raise NotImplementedError(f"not: {schema}")


def _string(schema: Mapping[str, Any]) -> Strategy:
    pattern = schema.get("pattern")
    if pattern:
        strategy = st.from_regex(pattern, fullmatch=True)
    else:
        strategy = st.text(st.characters(codec="utf-8"), max_size=12)
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if low or high is not None:
        strategy = strategy.filter(lambda s: low <= len(s) <= (high if high is not None else 1e9))
    return strategy


def from_schema(
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    overrides: Overrides | None = None,
    path: str = "",
    nulls: bool = True,
) -> Strategy:
    """Values valid against `schema` (refs resolved in `root["$defs"]`); lists are short. With
    `nulls=False`, an optional value is left out rather than written as null."""
    overrides = overrides or {}
    if path in overrides:
        return overrides[path]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(root["$defs"][name], root, overrides, path, nulls)
    strategy: Strategy
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema["oneOf"]
        if not nulls:
            options = [o for o in options if o.get("type") != "null"] or options
        strategy = st.one_of(*(from_schema(o, root, overrides, path, nulls) for o in options))
    elif "const" in schema:
        strategy = st.just(schema["const"])
    elif "enum" in schema:
        strategy = st.sampled_from(schema["enum"])
    else:
        kind = schema.get("type")
        if kind == "string":
            strategy = _string(schema)
        elif kind == "integer":
            strategy = st.integers(schema.get("minimum"), schema.get("maximum"))
        elif kind == "number":
            strategy = st.floats(allow_nan=False, allow_infinity=False)
        elif kind == "boolean":
            strategy = st.booleans()
        elif kind == "null":
            strategy = st.none()
        elif kind == "array":
            items = from_schema(schema.get("items", {}), root, overrides, f"{path}[]", nulls)
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", low + 3), low + 3)
            strategy = st.lists(items, min_size=low, max_size=high)
        elif kind == "object":
            strategy = _object(schema, root, overrides, path, nulls)
        else:
            strategy = st.none()
    if "not" in schema:
        strategy = strategy.filter(_not(schema["not"]))
    return strategy


def _object(
    schema: Mapping[str, Any], root: Mapping[str, Any], overrides: Overrides, path: str, nulls: bool
) -> Strategy:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))

    def child(name: str) -> Strategy:
        return from_schema(properties[name], root, overrides, f"{path}.{name}".lstrip("."), nulls)

    if properties:
        # Each optional property is present in about half the examples.
        return st.fixed_dictionaries(
            {name: child(name) for name in properties if name in required},
            optional={name: child(name) for name in properties if name not in required},
        )
    patterns = schema.get("patternProperties") or {}
    if patterns:
        key_pattern, value_schema = next(iter(patterns.items()))
        keys = st.from_regex(key_pattern, fullmatch=True)
        values = from_schema(value_schema, root, overrides, f"{path}.*", nulls)
        low = schema.get("minProperties", 0)
        return st.dictionaries(keys, values, min_size=low, max_size=low + 2)
    return st.fixed_dictionaries({})


# --- bad input --------------------------------------------------------------------------------

ODD_TEXT = st.lists(
    st.characters(codec="utf-8")
    | st.sampled_from(
        [
            "\n",
            "\r",
            "\t",
            "\x00",
            "\x1b[31m",
            "\u2028",
            "\u0085",
            "\u200b",
            "\u202e",
            "\ufeff",
            "é",
            "ß",
            "İ",
            "🚀",
            "👩‍👩‍👧",
            "\uff46\uff55\uff4c\uff4c",  # fullwidth "full"
            "Ω",
            '"',
            "'",
            ":",
            "#",
            "{",
            "[",
            "&",
            "*",
            "!",
            "%",
            "@",
            "`",
        ]
    ),
    max_size=20,
).map("".join)
HUGE_INT = st.integers(min_value=-(10**40), max_value=10**40) | st.sampled_from(
    [10**4 + 1, 2**31, 2**63, -1, 0, 10**300]
)
FLOATS = st.floats() | st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0, 1.5])
SCALARS = st.one_of(st.none(), st.booleans(), HUGE_INT, FLOATS, ODD_TEXT)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=8,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `doc`, the root (empty path) included."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, (*prefix, i))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _wrong_type(value: Any) -> Strategy:
    """The same value as another type: what a YAML author writes when quoting goes wrong."""
    if isinstance(value, bool):
        return st.sampled_from([str(value).lower(), int(value), [value]])
    if isinstance(value, int):
        return st.sampled_from([str(value), float(value), value > 0, [value]])
    if isinstance(value, str):
        options: list[Any] = [[value], {"value": value}, len(value)]
        if value.isdigit():
            options.append(int(value))
        return st.sampled_from(options)
    if isinstance(value, list):
        return st.sampled_from([value[0] if value else "", {"0": value}])
    if isinstance(value, dict):
        return st.sampled_from([list(value.items())[:1], str(value)[:40], True])
    return JUNK


def _out_of_range(value: Any) -> Strategy:
    if isinstance(value, bool):
        return st.just(value)
    if isinstance(value, int):
        return st.sampled_from([0, -1, 10**4 + 1, 2**63, -(10**30)])
    if isinstance(value, str):
        return st.sampled_from(["", value * 50, "a" * 5000, value.upper() or "X", f" {value} "])
    if isinstance(value, list):
        return st.just(value * 40 if value else [None] * 200)
    return st.just(value)


@st.composite
def mutated(draw: st.DrawFn, docs: Strategy, max_mutations: int = 3) -> Any:
    """A document from `docs` with 1..`max_mutations` mutations: a key removed, an unknown key
    added, a value of the wrong type, out of range, odd unicode or junk of any shape."""
    import copy

    doc = copy.deepcopy(draw(docs))
    for _ in range(draw(st.integers(1, max_mutations))):
        where = draw(st.sampled_from(paths(doc)))
        value = _get(doc, where)
        kind = draw(
            st.sampled_from(["remove", "unknown", "wrong_type", "range", "odd", "junk", "null"])
        )
        if kind == "remove" and where and isinstance(_get(doc, where[:-1]), dict):
            del _get(doc, where[:-1])[where[-1]]
        elif kind == "unknown" and isinstance(value, dict):
            value[draw(ODD_TEXT | st.sampled_from(["regoin", "spec", "Name", "adopt"]))] = draw(
                JUNK
            )
        elif kind == "wrong_type":
            doc = _replace(doc, where, draw(_wrong_type(value)))
        elif kind == "range":
            doc = _replace(doc, where, draw(_out_of_range(value)))
        elif kind == "odd":
            doc = _replace(doc, where, draw(ODD_TEXT))
        elif kind == "null":
            doc = _replace(doc, where, None)
        else:
            doc = _replace(doc, where, draw(JUNK))
    return doc
