"""Render a StackPlan: a readable tree, a `pulumi preview --json`-shaped document (markdown.py:
the pull-request comment).

Secrets show as [secret], values known only after apply as [unknown]. Nothing here prints a
secret's value: `masked` is the only way a value reaches the output.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components import yamlio
from components.builders.ecr import NOTHING_TO_GRANT
from components.names import PROJECT, component_type, stack_urn
from components.plan.result import Registration, Secret, StackPlan, Unknown, is_unknown_text


def masked(value: Any) -> Any:
    """`value` with secrets replaced by "[secret]" and unknowns by "[unknown]"."""
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, Unknown) or is_unknown_text(value):
        return "[unknown]"
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _parent(reg: Registration, stack: str) -> str:
    return reg.parent or stack_urn(stack)


def preview_json(plan: StackPlan) -> dict[str, Any]:
    """One document in the shape of `pulumi preview --json`."""
    root = stack_urn(plan.stack)
    steps: list[dict[str, Any]] = [
        {
            "op": "create",
            "urn": root,
            "provider": "",
            "newState": {
                "urn": root,
                "type": "pulumi:pulumi:Stack",
                "custom": False,
                "parent": "",
                "inputs": {},
                "outputs": masked(plan.outputs),
                "dependencies": [],
                "protect": False,
                "retainOnDelete": False,
                "deletedWith": "",
                "provider": "",
            },
        }
    ]
    for reg in plan.resources:
        steps.append(
            {
                "op": "create",
                "urn": reg.urn,
                "provider": reg.provider,
                "newState": {
                    "urn": reg.urn,
                    "type": reg.type,
                    "custom": reg.custom,
                    "parent": _parent(reg, plan.stack),
                    "inputs": masked(reg.inputs),
                    "dependencies": reg.dependencies,
                    "protect": reg.protect,
                    "retainOnDelete": reg.retain_on_delete,
                    "deletedWith": reg.deleted_with,
                    "provider": reg.provider,
                },
            }
        )
    return {"steps": steps, "changeSummary": {"create": len(steps)}}


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dumps_streamed(
    write: Callable[[str], Any], fields: Mapping[str, Any], last: str, items: Iterable[Any]
) -> None:
    """Write what dumps({**fields, last: list(items)}) is, byte for byte, one item at a time:
    10,000 stacks' plans are never held at once. `last` sorts after every key of `fields`."""
    assert all(key < last for key in fields), "the streamed list comes last in sort order"

    def nested(value: Any, depth: int) -> str:
        return dumps(value).rstrip("\n").replace("\n", "\n" + "  " * depth)

    write("{\n")
    for key in sorted(fields):
        write(f"  {json.dumps(key)}: {nested(fields[key], 1)},\n")
    count = 0
    for item in items:
        write(f"  {json.dumps(last)}: [\n" if count == 0 else ",\n")
        write("    " + nested(item, 2))
        count += 1
    write(f"  {json.dumps(last)}: []\n" if count == 0 else "\n  ]\n")
    write("}\n")


# --- text -------------------------------------------------------------------------------------

MAX_TEXT = 100  # a longer single-line string shows its start, its size and a hash
# A JSON document up to this size is shown in full, pretty-printed: every IAM and ECR policy
# fits (an ECR repository policy is at most 10,240 characters, an IAM one 6,144). Larger ones
# (the Grafana dashboards) show their size and a hash: a change to them still shows.
MAX_DOCUMENT = 10_240
# Plain YAML scalars that read back as the same string; anything else is quoted.
_PLAIN = re.compile(r"[A-Za-z][\w./@+=-]*(?::+[\w./@+=-]+)*")
_YAML_WORDS = frozenset(
    w
    for word in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
    for w in (word, word.capitalize(), word.upper())
)
_MARKERS = frozenset({"[secret]", "[unknown]"})  # what `masked` puts in place of a value
# Components that can be empty, and why they are (their modules say when).
EMPTY_COMPONENTS = {component_type("EcrAccess"): NOTHING_TO_GRANT}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _sized(text: str) -> str:
    return f"{len(text):,} characters, sha256 {_digest(text)}"


@functools.lru_cache(maxsize=65_536)
def _quoted(text: str) -> str:
    """`text` as a YAML scalar that reads back as the same string: plain when it can be
    (arn:aws:iam::123456789012:role/x, eu-west-1), quoted otherwise ("#flux-alerts", "*",
    "1", "123456789012", "true", " x")."""
    if (_PLAIN.fullmatch(text) and text not in _YAML_WORDS) or text in _MARKERS:
        return text
    try:  # read back as a mapping value and as a flow-list item (the inline lists)
        same = yamlio.load(f"k: {text}\nl: [{text}]\n") == {"k": text, "l": [text]}
    except (yamlio.YAMLError, ValueError, RecursionError):
        same = False
    return text if same and "#" not in text else json.dumps(text, ensure_ascii=False)


def _json_document(text: str) -> Any:
    """The JSON object or array `text` holds, or None."""
    if not text.startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _string(text: str, indent: str) -> list[str]:
    """A string value after `key:`: [first line suffix, *lines below]."""
    document = _json_document(text)
    if document is not None:
        if len(text) > MAX_DOCUMENT:
            return [f"<JSON, {_sized(text)}>"]
        pretty = json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False)
        return ["|-", *(indent + "  " + line for line in pretty.splitlines())]
    if "\n" in text.rstrip("\n"):
        if len(text) > MAX_DOCUMENT:
            return [f"<text, {_sized(text)}>"]
        chomp = "" if text.endswith("\n") else "-"
        return [f"|{chomp}", *(indent + "  " + line for line in text.rstrip("\n").split("\n"))]
    return [_one_line(text) if len(text) > MAX_TEXT else _quoted(text)]


def _scalar(value: Any) -> str:
    """A value on one line (list items, scalars)."""
    if not isinstance(value, str):
        return json.dumps(value)
    if len(value) > MAX_TEXT or "\n" in value:
        return _one_line(value)
    return _quoted(value)


def _one_line(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return json.dumps(text, ensure_ascii=False)
    return f'{json.dumps(text[: MAX_TEXT - 30], ensure_ascii=False)[:-1]}…" ({_sized(text)})'


def _lines(value: Any, indent: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{indent}{key}:")
                out.extend(_lines(item, indent + "  "))
            elif isinstance(item, str):
                first, *rest = _string(item, indent)
                out.append(f"{indent}{key}: {first}")
                out.extend(rest)
            else:
                out.append(f"{indent}{key}: {_scalar(item) if item != {} else '{}'}")
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            out.append(f"{indent}[{', '.join(_scalar(v) for v in value)}]")
        else:
            for item in value:
                sub = _lines(item, indent + "  ")
                out.append(f"{indent}- {sub[0].lstrip()}" if sub else f"{indent}-")
                out.extend(sub[1:])
    else:
        out.append(f"{indent}{_scalar(value)}")
    return out


def text(plan: StackPlan) -> str:
    """A readable tree of what the stack would create, with its key inputs."""
    children: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.resources:
        children[_parent(reg, plan.stack)].append(reg)
    root = stack_urn(plan.stack)
    lines = [f"Stack {plan.stack}: {len(plan.resources) + 1} resources to create", ""]
    lines.append(f"+ pulumi:pulumi:Stack {PROJECT}-{plan.stack}")

    def walk(urn: str, depth: int) -> None:
        for reg in children.get(urn, []):
            pad = "    " * depth
            lines.append(f"{pad}+ {reg.type} {reg.name}")
            options = [
                flag
                for flag, on in (
                    ("retainOnDelete", reg.retain_on_delete),
                    ("protect", reg.protect),
                    ("deleteBeforeReplace", reg.delete_before_replace),
                    ("replacementTrigger", reg.replacement_trigger is not None),
                )
                if on
            ]
            if options:
                lines.append(f"{pad}    (options: {', '.join(options)})")
            if reg.custom:
                shown = {
                    k: v for k, v in masked(reg.inputs).items() if k not in ("apiVersion", "kind")
                }
                lines.extend(_lines(shown, pad + "      "))
            elif not children.get(reg.urn):
                why = EMPTY_COMPONENTS.get(reg.type)
                lines.append(f"{pad}    (no resources{': ' + why if why else ''})")
            walk(reg.urn, depth + 1)

    walk(root, 1)
    lines += ["", "Outputs:"]
    lines.extend(_lines(masked(plan.outputs), "    "))
    return "\n".join(lines) + "\n"


def total(plans: list[StackPlan]) -> str:
    """The fleet-wide total line of several plans."""
    return total_line(len(plans), sum(len(p.resources) + 1 for p in plans))


def total_line(stacks: int, resources: int) -> str:
    return f"Total: {stacks} stacks, {resources} resources to create\n"


def write_texts(write: Callable[[str], Any], plans: Iterable[StackPlan]) -> None:
    """Write what texts() is, one plan at a time (never all held)."""
    stacks = resources = 0
    for plan in plans:
        write(("\n" if stacks else "") + text(plan))
        stacks += 1
        resources += len(plan.resources) + 1
    if stacks > 1:
        write("\n" + total_line(stacks, resources))


def texts(plans: list[StackPlan]) -> str:
    """The text plans of `plans`, with the total when there are several."""
    body = "\n".join(text(p) for p in plans)
    return body + ("\n" + total(plans) if len(plans) > 1 else "")
