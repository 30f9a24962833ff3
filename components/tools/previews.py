"""Which stacks a pull request previews for real, and the one comment that reports the previews.

A change every cluster reads touches thousands of stacks; GitHub runs at most 256 jobs of a
matrix, and a real `pulumi preview` per stack would take hours and post as many comments. So the
affected stacks are grouped into classes (plan/classes.py: the same offline plan once each
cluster's identity is set aside), and the real previews are, in this order, up to a bound
(`--max-previews`, DEFAULT_MAX_PREVIEWS):

1. one stack of each class, the largest classes first (a stack whose own definition or stack
   file changed stands for its class when there is one);
2. each other stack whose own definition or stack file changed (its own change, previewed for
   real even when its class is).

Every other affected stack is covered by the offline plan of its class (the `Offline plan`
comment and the pull request's `offline-plan` artifact have each stack's), and the comment says
so, stack by stack up to a bound, then by count. The comment is bounded at any fleet size
(MAX_COMMENT, under GitHub's 65,536 characters). No Pulumi here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.names import CLUSTERS_DIR, REGISTRIES_FILE, REGISTRIES_STACK
from components.plan.markdown import MAX_MARKDOWN, _cell, _details, _names
from components.problems import one_line
from components.tools.affected import definition_name, stack_file_name
from components.tools.snapshots import AffectedStack

DEFAULT_MAX_PREVIEWS = 24  # real previews of one pull request: a few dozen jobs at most
MAX_PREVIEWS = 256  # the preview job is a matrix: it holds 256
MARKER = "<!-- fluxfleet-preview -->"  # the comment updated in place
MAX_COMMENT = MAX_MARKDOWN
MAX_CLASS_ROWS = 50  # classes listed in the comment's table, the largest first
MAX_LISTED = 20  # stacks named per reason they were not previewed for real


@dataclass(frozen=True)
class PreviewClass:
    number: int  # 1 for the largest class
    key: str
    stacks: tuple[str, ...]
    representative: str


@dataclass(frozen=True)
class Selection:
    classes: tuple[PreviewClass, ...]
    previewed: tuple[tuple[AffectedStack, str], ...]  # with why
    not_previewed: tuple[tuple[str, str], ...]  # (stack, why: starting with one of KINDS)
    max_previews: int

    def document(self) -> dict[str, Any]:
        """What the Preview workflow reads: `include`, the matrix of the real previews; the
        rest for the comment (an artifact: at 10,000 stacks it is larger than a job output)."""
        previewed = {s.stack for s, _ in self.previewed}
        return {
            "include": [s.matrix_entry() for s, _ in self.previewed],
            "maxPreviews": self.max_previews,
            "previewed": [{"stack": s.stack, "why": why} for s, why in self.previewed],
            "classes": [
                {
                    "class": c.number,
                    "count": len(c.stacks),
                    "representative": c.representative,
                    "previewed": c.representative in previewed,
                    "stacks": list(c.stacks[:MAX_LISTED]),
                }
                for c in self.classes
            ],
            "notPreviewed": [
                {"stack": s, "kind": _kind(why), "why": why} for s, why in self.not_previewed
            ],
        }


# Why a stack is not previewed for real, by how its reason starts (the comment groups by them).
KINDS = {
    "class ": "covered by the real preview of its class",
    "over the bound": "over the bound of real previews: covered by the offline plan only",
    "not planned": "not planned offline (an invalid definition or stack file)",
}


def _kind(why: str) -> str:
    return next(kind for start, kind in KINDS.items() if why.startswith(start))


def own_file_changed(stack: AffectedStack) -> bool:
    """The stack's own definition (or _registries.yaml, the registries stack's) or its stack
    file changed: not only what it reads from files it shares with others."""
    own = f"{CLUSTERS_DIR}/{REGISTRIES_FILE}" if stack.stack == REGISTRIES_STACK else None
    for reason in stack.reasons:
        path = reason.removesuffix(" changed")
        if path == reason:
            continue
        if path == own or stack.stack in (definition_name(path), stack_file_name(path)):
            return True
    return False


def select(
    stacks: Sequence[AffectedStack],
    keys: Mapping[str, str],
    max_previews: int = DEFAULT_MAX_PREVIEWS,
    not_planned: Mapping[str, str] | None = None,
) -> Selection:
    """The real previews among `stacks` (each with its class key in `keys`), and why each other
    stack is not previewed for real. `not_planned`: stacks without an offline plan, and why."""
    by_key: dict[str, list[AffectedStack]] = {}
    for stack in stacks:
        if stack.stack in keys:
            by_key.setdefault(keys[stack.stack], []).append(stack)
    ordered = sorted(by_key.items(), key=lambda item: -len(item[1]))  # stable: first seen first
    classes: list[PreviewClass] = []
    wanted: list[tuple[AffectedStack, str]] = []
    for number, (key, members) in enumerate(ordered, start=1):
        first = next((s for s in members if own_file_changed(s)), members[0])
        names = tuple(s.stack for s in members)
        classes.append(PreviewClass(number, key, names, first.stack))
        wanted.append((first, f"class {number} ({len(members)} stack(s))"))
    chosen = {s.stack for s, _ in wanted}
    wanted += [
        (s, "its own file changed")
        for s in stacks
        if s.stack in keys and s.stack not in chosen and own_file_changed(s)
    ]
    previewed = tuple(wanted[:max_previews])
    done = {s.stack for s, _ in previewed}
    class_of = {name: c for c in classes for name in c.stacks}
    not_previewed: list[tuple[str, str]] = []
    for stack in stacks:
        if stack.stack in done:
            continue
        if stack.stack not in keys:
            why = (not_planned or {}).get(stack.stack, "no offline plan")
            not_previewed.append((stack.stack, f"not planned: {one_line(why)}"))
            continue
        c = class_of[stack.stack]
        if c.representative in done:
            why = f"class {c.number}: covered by the preview of {c.representative}"
        else:
            why = f"over the bound of {max_previews} real previews (class {c.number})"
        if own_file_changed(stack):
            why += "; its own file changed"
        not_previewed.append((stack.stack, why))
    return Selection(tuple(classes), previewed, tuple(not_previewed), max_previews)


# --- the comment --------------------------------------------------------------------------------


def _size(text: str) -> int:
    return len(text.encode())  # bytes: never fewer than the characters GitHub counts


def _class_table(document: Mapping[str, Any], results: Mapping[str, str]) -> list[str]:
    classes = document["classes"]
    lines = ["| Class | Stacks | Previewed with | Result |", "| ---: | ---: | --- | --- |"]
    for c in classes[:MAX_CLASS_ROWS]:
        shown = _names(c["stacks"], 5)
        result = results.get(c["representative"], "not run") if c["previewed"] else "not previewed"
        lines.append(
            f"| {c['class']} | {c['count']}: {shown} | `{_cell(c['representative'])}` "
            f"| {_cell(result)} |"
        )
    if len(classes) > MAX_CLASS_ROWS:
        rest = classes[MAX_CLASS_ROWS:]
        lines.append(
            f"| ... | {sum(c['count'] for c in rest)} | {len(rest)} more classes, not listed | |"
        )
    return lines


def _not_previewed(document: Mapping[str, Any]) -> list[str]:
    """Why the other stacks were not previewed for real: by kind, each with its first names."""
    groups: dict[str, list[str]] = {}
    for item in document["notPreviewed"]:
        groups.setdefault(item["kind"], []).append(item["stack"])
    return [
        f"- {_cell(kind)}: {len(names)}: {_names(names, MAX_LISTED)}"
        for kind, names in groups.items()
    ]


def comment(
    document: Mapping[str, Any],
    previews: Mapping[str, tuple[str, str]],
    limit: int = MAX_COMMENT,
) -> str:
    """The pull request's one preview comment (MARKER first, to find it again): the classes
    with their counts, each real preview's output ((result, text) by stack, cut to share what
    `limit` leaves), and what was not previewed for real and why. At most `limit` bytes."""
    results = {stack: result for stack, (result, _) in previews.items()}
    affected = sum(c["count"] for c in document["classes"]) + sum(
        1 for item in document["notPreviewed"] if item["why"].startswith("not planned")
    )
    own = [i["stack"] for i in document["notPreviewed"] if i["why"].endswith("own file changed")]
    head = [
        MARKER,
        "## Preview",
        "",
        f"{affected} stack(s) affected, in {len(document['classes'])} class(es) of the same "
        "offline plan once each cluster's name, account, region and EKS cluster are set aside; "
        f"{len(document['previewed'])} previewed for real (at most {document['maxPreviews']}): "
        "one stack per class, and each stack whose own file changed. The offline plan of every "
        "stack is in the `Offline plan` comment and the `offline-plan` artifact.",
        "",
        *_class_table(document, results),
        "",
    ]
    tail = ["", "### Not previewed for real", "", *(_not_previewed(document) or ["None."])]
    if own:
        tail.append(f"- of which their own file changed: {len(own)}: {_names(own, MAX_LISTED)}")
    fixed = "\n".join([*head, "### Previews", "", *tail])
    shown = [item["stack"] for item in document["previewed"]]
    why = {item["stack"]: item["why"] for item in document["previewed"]}
    budget = max(0, limit - _size(fixed) - 200)
    each = budget // max(1, len(shown))
    blocks = []
    for stack in shown:
        result, text = previews.get(stack, ("not run", ""))
        summary = f"<code>{_cell(stack)}</code> ({_cell(why[stack])}): {_cell(result)}"
        blocks.append(_preview_block(summary, text, each))
    body = "\n".join([*head, "### Previews", "", *blocks, *tail]) + "\n"
    while _size(body) > limit and blocks:  # the fence and summaries did not fit: fewer blocks
        blocks.pop()
        cut = f"_{len(shown) - len(blocks)} more preview(s): in the jobs' logs._"
        body = "\n".join([*head, "### Previews", "", *blocks, cut, *tail]) + "\n"
    return body


def _preview_block(summary: str, text: str, budget: int) -> str:
    """One real preview's output in a collapsed block, within about `budget` bytes."""
    room = max(0, budget - _size(summary) - 60)
    if _size(text) > room:
        cut = text.encode()[: max(0, room - 80)].decode(errors="ignore")
        text = f"{cut}\n... ({_size(text):,} bytes in all: the job's log has the rest)"
    return _details(summary, text)
