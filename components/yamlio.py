"""YAML, the project's one module for it: a fast reader, the writer, the comment-keeping editor.

Reading: libyaml (PyYAML's C parser) with the YAML 1.2 core schema.

`fluxfleet validate` reads every definition and every file of every cluster folder, and the plan
reads every stack's config. ruamel.yaml's safe loader resolves and constructs in Python and costs
about 1 ms a file even with its C parser (4 ms without); here libyaml parses and composes, and one
small function turns the nodes into plain values: about 0.15 ms a file.

The values are the ones ruamel.yaml's safe loader gives (YAML 1.2, as before): `yes`, `on` and
`no` are strings, `014` is 14, `0o14` is 12, `1_000` is 1000; a duplicate key is refused
(naming the key, never its values); merge keys (`<<`), anchors and aliases work. Errors are PyYAML's
`MarkedYAMLError` (line and column in `problem_mark`) or `YAMLError`.

Writing: ruamel.yaml, keys in the order given, strings YAML 1.1 would misread quoted (`dump_yaml`,
the generated Flux files); and its round-trip mode, which keeps comments and order (`round_trip`,
what scaffolding edits a person's file with).
"""

from __future__ import annotations

import io
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

YAMLError = yaml.YAMLError
MarkedYAMLError = yaml.MarkedYAMLError

STR = "tag:yaml.org,2002:str"
SEQ = "tag:yaml.org,2002:seq"
MAP = "tag:yaml.org,2002:map"
MERGE = "tag:yaml.org,2002:merge"
FLOAT = "tag:yaml.org,2002:float"

# The YAML 1.2 implicit resolvers of ruamel.yaml (ruamel/yaml/resolver.py): tag, pattern, the
# characters a matching plain scalar starts with.
RESOLVERS_1_2: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:float",
        r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        "-+0123456789.",
    ),
    (
        "tag:yaml.org,2002:int",
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""",
        "-+0123456789",
    ),
    (MERGE, r"^(?:<<)$", "<"),
    ("tag:yaml.org,2002:null", r"^(?: ~ |null|Null|NULL | )$", "~nN"),
    (
        "tag:yaml.org,2002:timestamp",
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        "0123456789",
    ),
    ("tag:yaml.org,2002:value", r"^(?:=)$", "="),
]

_TAGS: dict[str, str] = {}  # plain scalar -> its resolved tag (a fleet repeats its values a lot)
_TAGS_LIMIT = 100_000


def _construct_int(loader: Any, node: ScalarNode) -> int:
    """YAML 1.2 integers: 0b, 0o and 0x prefixes; leading zeros are decimal; '_' ignored."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if text.startswith(prefix):
            return sign * int(text[2:], base)
    return sign * int(text)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (PyYAML's pure one when PyYAML was built without it), YAML 1.2 tags."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            tag = _TAGS.get(value)
            if tag is None:
                if len(_TAGS) > _TAGS_LIMIT:
                    _TAGS.clear()
                tag = _TAGS[value] = super().resolve(kind, value, (True, False))
            return tag
        return super().resolve(kind, value, implicit)


for _tag, _pattern, _first in RESOLVERS_1_2:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern, re.X), list(_first))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class WrittenFloat(float):
    """A float that keeps how it was written: `version: 2.10` is 2.1 to YAML, and a message
    showing "2.1" would hide the mistake (an unquoted version)."""

    written: str

    def __new__(cls, value: float, written: str) -> WrittenFloat:
        out = super().__new__(cls, value)
        out.written = written
        return out

    def __reduce__(self) -> tuple[Any, ...]:  # forked readers send their values back pickled
        return (WrittenFloat, (float(self), self.written))


class _Values:
    """Nodes → plain Python values (dict, list, str, int, float, bool, None, dates)."""

    def __init__(self, loader: Any, nulls: dict[tuple[int, Any], int] | None = None) -> None:
        self.loader = loader
        # (id of a mapping or list, its key or index) -> line (0-based) of each null value in it
        self.nulls = nulls
        # node id -> value, within one document (its nodes live until it is built): aliases
        # share their value, and recursive structures work
        self.done: dict[int, Any] = {}

    def value(self, node: Node) -> Any:
        if node.__class__ is ScalarNode:
            if node.tag == STR:
                return node.value
            try:
                value = self.loader.construct_object(node, deep=True)
                if node.tag == FLOAT and isinstance(value, float):
                    return WrittenFloat(value, node.value)
                return value
            except ValueError as exc:
                raise ConstructorError(
                    None, None, f"cannot read {node.value!r} as {node.tag}: {exc}", node.start_mark
                ) from None
        known = self.done.get(id(node))
        if known is not None:
            return known
        if isinstance(node, SequenceNode) and node.tag == SEQ:
            items: list[Any] = []
            self.done[id(node)] = items
            items.extend(self.value(item) for item in node.value)
            if self.nulls is not None:
                for index, item in enumerate(items):
                    if item is None:
                        self.nulls[(id(items), index)] = node.value[index].start_mark.line
            return items
        if isinstance(node, MappingNode) and node.tag == MAP:
            return self.mapping(node)
        return self.loader.construct_object(node, deep=True)  # explicit tags: !!set, !!binary...

    def mapping(self, node: MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        self.done[id(node)] = out
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merged = {**self._merge_sources(node, value_node), **merged}
                continue
            key = self.value(key_node)
            if isinstance(key, list):  # ruamel reads a sequence key as a tuple
                key = tuple(key)
            try:
                seen = key in out
            except TypeError:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                ) from None
            value = self.value(value_node)
            if seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    # never the values: a secret, or an alias bomb, may be one of them
                    f'found duplicate key "{key}"',
                    key_node.start_mark,
                )
            out[key] = value
            if value is None and self.nulls is not None:
                self.nulls[(id(out), key)] = value_node.start_mark.line
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge_sources(self, node: MappingNode, value_node: Node) -> dict[Any, Any]:
        """What `<<: *a` or `<<: [*a, *b]` brings in (earlier sources win)."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "expected a mapping or a list of mappings for merging",
                    source.start_mark,
                )
            for key, value in self.value(source).items():
                merged.setdefault(key, value)
        return merged


def load_all(text: str, nulls: dict[tuple[int, Any], int] | None = None) -> list[Any]:
    """Every document of `text`, as plain Python values. With `nulls`, also where each null value
    is: (id of the mapping or list that holds it, its key or index) -> its line, from 0."""
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            documents.append(_Values(loader, nulls).value(loader.get_node()))
        return documents
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """The single document of `text` (None when empty)."""
    documents = load_all(text)
    if len(documents) > 1:
        raise YAMLError(f"expected one YAML document, got {len(documents)}")
    return documents[0] if documents else None


# --- writing ------------------------------------------------------------------------------------

# Plain scalars a YAML 1.1 parser (sigs.k8s.io/yaml, used by kubectl) reads as bool or null.
_YAML11_NON_STRINGS = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF|~|null|Null|NULL)$"
)


class _KubeRepresenter(SafeRepresenter):
    """Safe representer that keeps key order and quotes strings YAML 1.1 would not keep."""

    def represent_str(self, data: str) -> Any:
        if _YAML11_NON_STRINGS.match(data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_KubeRepresenter.add_representer(str, _KubeRepresenter.represent_str)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _KubeRepresenter
    # Set before `yaml.representer` is first touched: the representer copies it on creation.
    yaml.default_flow_style = False
    yaml.representer.sort_base_mapping_type_on_output = False
    yaml.explicit_start = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def dump_yaml(docs: list[dict[str, Any]], *, explicit_start: bool = True) -> str:
    """Multi-document YAML, each document introduced by `---`, keys in the order given."""
    if not docs:
        return ""
    out = io.StringIO()
    yaml = _yaml()
    yaml.explicit_start = explicit_start or len(docs) > 1
    yaml.dump_all(docs, out)
    return out.getvalue()


def round_trip() -> YAML:
    """Comment- and order-keeping YAML, indented like the rest of the repository."""
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def round_trip_dump(doc: Any) -> str:
    out = io.StringIO()
    round_trip().dump(doc, out)
    return out.getvalue()
