"""Render a StackPlan: a readable tree, a `pulumi preview --json`-shaped document, markdown.

Secrets show as [secret], values known only after apply as [unknown]. Nothing here prints a
secret's value: `masked` is the only way a value reaches the output.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from typing import Any

from .plan import PROJECT, Registration, Secret, StackPlan, Unknown, is_unknown_text

MAX_TEXT = 100


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


def stack_urn(stack: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack}"


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


# --- text -------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        text = value.replace("\n", "\\n")
        return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
    return json.dumps(value)


def _lines(value: Any, indent: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{indent}{key}:")
                out.extend(_lines(item, indent + "  "))
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
            walk(reg.urn, depth + 1)

    walk(root, 1)
    lines += ["", "Outputs:"]
    lines.extend(_lines(masked(plan.outputs), "    "))
    return "\n".join(lines) + "\n"


# --- markdown (the pull-request comment) -------------------------------------------------------

# GitHub refuses a comment over 65,536 characters; keep room for what CI appends.
MAX_MARKDOWN = 60_000


def _cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _fenced(body: str, info: str = "text") -> str:
    """`body` in a code fence longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    return f"{fence}{info}\n{body.rstrip(chr(10))}\n{fence}"


def type_counts(plan: StackPlan) -> dict[str, int]:
    """Resource type → how many the stack would create (the stack itself included), by type."""
    counts: dict[str, int] = defaultdict(int)
    counts["pulumi:pulumi:Stack"] = 1
    for reg in plan.resources:
        counts[reg.type] += 1
    return dict(sorted(counts.items()))


def _summary(plan: StackPlan) -> list[str]:
    rows = [f"| `{_cell(kind)}` | {count} |" for kind, count in type_counts(plan).items()]
    return ["| Resource type | To create |", "| --- | ---: |", *rows]


def _details(plan: StackPlan) -> str:
    return "\n".join(
        [
            "<details><summary>Resources and inputs of "
            f"<code>{html.escape(plan.stack)}</code></summary>",
            "",
            _fenced(text(plan)),
            "",
            "</details>",
        ]
    )


def _table(plan: StackPlan) -> str:
    return "\n".join(
        [
            f"### `{_cell(plan.stack)}`: {len(plan.resources) + 1} resources to create",
            "",
            *_summary(plan),
        ]
    )


def markdown(plans: list[StackPlan], *, limit: int = MAX_MARKDOWN) -> str:
    """The offline plan as a pull-request comment: per stack a summary table (resource type →
    count to create) and the text plan in a collapsible block. Secrets and unknowns are masked
    as in `text`. Details that would push the comment past `limit` characters are left out,
    with the command that shows them."""
    total = sum(len(p.resources) + 1 for p in plans)
    head = [
        "## Offline plan",
        "",
        f"{len(plans)} stack(s), {total} resources: what `pulumi up` would create on an empty "
        "stack, from `fluxfleet plan` under Pulumi's mock runtime (no cloud access). The "
        "preview jobs show the diff against the live state. Secrets show as `[secret]`, values "
        "known only after apply as `[unknown]`.",
    ]
    if plans:
        head += ["", "| Stack | Resources to create |", "| --- | ---: |"]
        head += [f"| `{_cell(p.stack)}` | {len(p.resources) + 1} |" for p in plans]
    sections = [_table(plan) for plan in plans]
    size = sum(len(part) + 2 for part in ["\n".join(head), *sections])
    left_out: list[str] = []
    for i, plan in enumerate(plans):
        block = _details(plan)
        if size + len(block) + 2 > limit:
            left_out.append(plan.stack)
            continue
        sections[i] += "\n\n" + block
        size += len(block) + 2
    if left_out:
        sections.append(
            f"Details of {len(left_out)} stack(s) left out to keep this comment under GitHub's "
            f"size limit: `fluxfleet plan {' '.join(left_out)}` shows them."
        )
    return "\n\n".join(["\n".join(head), *sections]) + "\n"
