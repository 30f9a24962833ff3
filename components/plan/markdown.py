"""The offline plan as a pull-request comment (and CI's job summary): grouped, bounded in size.

Secrets show as [secret], values known only after apply as [unknown] (render.masked, via
render.text, is the only way a value reaches it).
"""

from __future__ import annotations

import difflib
import html
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from components.plan.render import text
from components.plan.result import StackPlan
from components.problems import clip, one_line

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


def _not_planned_lines(not_planned: Mapping[str, list[str]]) -> list[str]:
    """One line per stack that could not be planned, with its first problem; at most
    MAX_NAMES of them (a fleet-wide mistake breaks thousands), then how many more."""
    lines = [
        f"{clip(one_line(stack))}: {problems[0] if problems else 'not a valid definition'}"
        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        for stack, problems in list(not_planned.items())[:MAX_NAMES]
    ]
    if len(not_planned) > MAX_NAMES:
        lines.append(f"and {len(not_planned) - MAX_NAMES} more (fluxfleet validate lists them)")
    return lines


def not_planned_text(not_planned: Mapping[str, list[str]]) -> str:
    """The head of the text plan: the stacks not planned, or nothing."""
    if not not_planned:
        return ""
    lines = _not_planned_lines(not_planned)
    return f"Not planned: {len(not_planned)} stack(s)\n" + "".join(f"  {x}\n" for x in lines) + "\n"


def markdown(
    plans: list[StackPlan],
    *,
    limit: int = MAX_MARKDOWN,
    not_planned: Mapping[str, list[str]] | None = None,
) -> str:
    """The offline plan as a pull-request comment, at most `limit` bytes whatever the fleet's
    size: the stacks that could not be planned first, then one overview row per group of stacks
    that create the same resources by type, a type table per group, then, while they fit, the
    first stack's text plan and how each other stack of its group differs from it. What does
    not fit is named or counted, with where it is."""
    total_count = sum(len(p.resources) + 1 for p in plans)
    grouped = groups(plans)
    head = ["## Offline plan", ""]
    if not_planned:
        head += [
            f"**Not planned: {len(not_planned)} stack(s)** with a broken definition or stack "
            "file (fix them; `fluxfleet validate` lists every problem):",
            "",
            _fenced("\n".join(_not_planned_lines(not_planned))),
            "",
        ]
    head += [
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
