"""A secret scan over everything a plan shows: the text and JSON renderings, the markdown comment
, and the stack outputs that are not secrets."""

from __future__ import annotations

import json
import re
from typing import Any

from components.plan import markdown, render
from components.plan.result import Secret, StackPlan

# What must never be printed: private keys (the mocks answer PEM/OpenSSH-looking keys), Slack
# tokens (xoxb-, xoxp-, ..., and the refresh tokens xoxe.xoxp-/xoxe-), and webhook URLs
# (Slack's or any other https://...hook...).
MARKERS = {
    "private key": re.compile(r"PRIVATE KEY"),
    # Not a bare "xox": a generated environment name such as "xox20" is no token.
    "Slack token": re.compile(r"xox[a-z]-|xoxe[.-]"),
    "webhook URL": re.compile(r"https?://[^\s\"'`]*hook", re.IGNORECASE),
}


def leaks(text: str) -> list[str]:
    return [name for name, pattern in MARKERS.items() if pattern.search(text)]


def plain_outputs(plan: StackPlan) -> str:
    """The stack outputs a person sees with `pulumi stack output` (secrets stay hidden there)."""
    shown = {k: v for k, v in plan.outputs.items() if not isinstance(v, Secret)}
    return json.dumps(shown, default=repr)


def renderings(plan: StackPlan) -> dict[str, str]:
    out = {
        "text": render.text(plan),
        "json": render.dumps(render.preview_json(plan)),
        "outputs": plain_outputs(plan),
    }
    out["markdown"] = markdown.markdown([plan])
    return out


def scan(plan: StackPlan) -> dict[str, list[str]]:
    """{rendering: leaks} for every rendering of `plan` that shows something it must not."""
    found = {name: leaks(text) for name, text in renderings(plan).items()}
    return {name: markers for name, markers in found.items() if markers}


def unwrapped(value: Any) -> str:
    """Everything the program sent, secrets included: where the scan must find the markers, to
    show it would catch a leak."""

    def plain(v: Any) -> Any:
        if isinstance(v, Secret):
            return plain(v.value)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(value), default=repr)
