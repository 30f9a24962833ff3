"""Render a StackPlan: a readable tree, a `pulumi preview --json`-shaped document, markdown.

Secrets show as [secret], values known only after apply as [unknown]. Nothing here prints a
secret's value: `masked` is the only way a value reaches the output.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import html
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from . import safe_yaml
from .ecr import NOTHING_TO_GRANT
from .plan import PROJECT, Registration, Secret, StackPlan, Unknown, is_unknown_text


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
EMPTY_COMPONENTS = {"flux-fleet:index:EcrAccess": NOTHING_TO_GRANT}


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
        same = safe_yaml.load(f"k: {text}\nl: [{text}]\n") == {"k": text, "l": [text]}
    except (safe_yaml.YAMLError, ValueError, RecursionError):
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
    count = sum(len(p.resources) + 1 for p in plans)
    return f"Total: {len(plans)} stacks, {count} resources to create\n"


def texts(plans: list[StackPlan]) -> str:
    """The text plans of `plans`, with the total when there are several."""
    body = "\n".join(text(p) for p in plans)
    return body + ("\n" + total(plans) if len(plans) > 1 else "")


# --- markdown (the pull-request comment) -------------------------------------------------------

# GitHub refuses a comment over 65,536 characters; keep room for what CI appends.
MAX_MARKDOWN = 60_000
# A job summary (GITHUB_STEP_SUMMARY) holds 1 MiB per step: the whole plan of most fleets.
MAX_SUMMARY = 1_000_000
MAX_NAMES = 10  # stack names in a row, before "and N more"
MAX_ROWS = 100  # groups in the overview table


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


def _details(summary: str, body: str, info: str = "text") -> str:
    return "\n".join(
        ["<details><summary>" + summary + "</summary>", "", _fenced(body, info), "", "</details>"]
    )


def _code(stack: str) -> str:
    return f"<code>{html.escape(stack)}</code>"


def _names(stacks: list[str], most: int = MAX_NAMES) -> str:
    shown = ", ".join(f"`{_cell(s)}`" for s in stacks[:most])
    return shown + (f" and {len(stacks) - most} more" if len(stacks) > most else "")


@dataclass
class Group:
    """Stacks that would create the same resources by type: the first is shown in full, the
    others as their differences from it (each stack's name written as <stack>)."""

    counts: dict[str, int]
    plans: list[StackPlan]

    @property
    def first(self) -> StackPlan:
        return self.plans[0]

    def heading(self) -> str:
        size = len(self.first.resources) + 1
        if len(self.plans) == 1:
            return f"### `{_cell(self.first.stack)}`: {size} resources to create"
        return (
            f"### `{_cell(self.first.stack)}` and {len(self.plans) - 1} more stack(s) like it: "
            f"{size} resources to create each"
        )

    def row(self) -> str:
        size = len(self.first.resources) + 1
        if len(self.plans) == 1:
            return f"| `{_cell(self.first.stack)}` | {size} |"
        names = _names([p.stack for p in self.plans])
        return f"| {names} ({len(self.plans)} stacks) | {size} each |"


def groups(plans: list[StackPlan]) -> list[Group]:
    """`plans` grouped by what they create (resource type -> count), in order of appearance."""
    out: dict[tuple[tuple[str, int], ...], Group] = {}
    for plan in plans:
        counts = type_counts(plan)
        out.setdefault(tuple(counts.items()), Group(counts, [])).plans.append(plan)
    return list(out.values())


def _normalised(plan: StackPlan) -> list[str]:
    """The text plan with the stack's name, where it stands as a name (flux/clusters/NAME,
    NAME-ecr), written <stack>."""
    name = re.compile(rf"(?<![A-Za-z0-9]){re.escape(plan.stack)}(?![A-Za-z0-9])")
    return name.sub("<stack>", text(plan)).splitlines()


def difference(first: StackPlan, other: StackPlan) -> str:
    """How `other`'s text plan differs from `first`'s, names aside ("" when only names do)."""
    lines = difflib.unified_diff(
        _normalised(first), _normalised(other), first.stack, other.stack, n=0, lineterm=""
    )
    return "\n".join(lines)


def _size(text: str) -> int:
    return len(text.encode())  # bytes: never under the characters GitHub counts


def markdown(plans: list[StackPlan], *, limit: int = MAX_MARKDOWN) -> str:
    """The offline plan as a pull-request comment, at most `limit` bytes whatever the fleet's
    size: one overview row per group of stacks that create the same resources by type, a type
    table per group, then, while they fit, the first stack's text plan and how each other stack
    of its group differs from it. What does not fit is named or counted, with where it is."""
    total_count = sum(len(p.resources) + 1 for p in plans)
    grouped = groups(plans)
    head = [
        "## Offline plan",
        "",
        f"{len(plans)} stack(s), {total_count} resources: what `pulumi up` would create on an "
        "empty stack, from `fluxfleet plan` under Pulumi's mock runtime (no cloud access). The "
        "preview jobs show the diff against the live state. Secrets show as `[secret]`, values "
        "known only after apply as `[unknown]`.",
    ]
    if len(grouped) < len(plans):
        head += [
            "",
            "Stacks that create the same resources (by type and count) share a row: the first "
            "is shown in full, the others as how they differ from it (names written `<stack>`).",
        ]
    if plans:
        head += ["", "| Stack | Resources to create |", "| --- | ---: |"]
        head += [g.row() for g in grouped[:MAX_ROWS]]
        if len(grouped) > MAX_ROWS:
            rest = grouped[MAX_ROWS:]
            head.append(
                f"| {len(rest)} more group(s), {sum(len(g.plans) for g in rest)} stack(s) | |"
            )
    parts = ["\n".join(head)]
    used = _size(parts[0])
    reserve = 600  # the closing note
    shown: set[str] = set()

    def fits(part: str) -> bool:
        """Whether `part` fits (it is then counted as used)."""
        nonlocal used
        if used + _size(part) + 2 + reserve > limit:
            return False
        used += _size(part) + 2
        return True

    def add(index: int, part: str) -> bool:
        if fits(part):
            sections[index] += "\n\n" + part
            return True
        return False

    sections: list[str] = []
    for group in grouped:
        table = "\n".join([group.heading(), "", *_summary(group.first)])
        if not fits(table):
            break
        sections.append(table)
    # What fits, most telling first: each group's first stack, the stacks that plan exactly
    # like it, then how each other stack differs.
    listed = list(enumerate(grouped[: len(sections)]))
    for index, group in listed:
        first = group.first
        if add(index, _details(f"Resources and inputs of {_code(first.stack)}", text(first))):
            shown.add(first.stack)
    differences: dict[int, list[tuple[StackPlan, str]]] = {}
    for index, group in listed:
        if group.first.stack not in shown:
            continue
        changes = [(other, difference(group.first, other)) for other in group.plans[1:]]
        same = [other.stack for other, change in changes if not change]
        like = _cell(group.first.stack)
        note = f"Apart from their names, {_names(same)} plan exactly like `{like}`."
        if same and add(index, note):
            shown.update(same)
        differences[index] = [(other, change) for other, change in changes if change]
    for index, changed in differences.items():
        for other, change in changed:
            if add(index, _details(f"How {_code(other.stack)} differs", change, "diff")):
                shown.add(other.stack)
    parts += sections
    left_out = [p.stack for p in plans if p.stack not in shown]
    if left_out:
        where = (
            f"`fluxfleet plan {' '.join(left_out)}` shows them"
            if len(left_out) <= MAX_NAMES
            else "the full plan is in this run's job summary and its `offline-plan` artifact "
            "(`fluxfleet plan` shows it)"
        )
        parts.append(
            f"Details of {len(left_out)} stack(s) left out to keep this comment under GitHub's "
            f"size limit: {where}."
        )
    return "\n\n".join(parts) + "\n"
