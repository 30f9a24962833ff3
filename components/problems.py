"""A problem with a file a person wrote: one line naming the file, the field path and what was
expected. Every check of the project reports these, and `fluxfleet` prints them, exit code 2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The most characters of anything a person wrote (a value, a key) a message repeats; longer ones
# are cut (`clip`). A whole message is cut at MESSAGE_LIMIT: a 10 MB value never reaches a log
# or a pull-request comment.
SHOWN_LIMIT = 200
MESSAGE_LIMIT = 1000
_LONG_WORD = re.compile(rf"\S{{{SHOWN_LIMIT + 1},}}")


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        message = _LONG_WORD.sub(lambda word: clip(word.group()), self.message)
        parts = (clip(self.file), clip(self.path), clip(message, MESSAGE_LIMIT))
        file, path, message = (one_line(part) for part in parts)
        return f"{file}: {path}: {message}" if path else f"{file}: {message}"


def one_line(text: str) -> str:
    """`text` with what could break or hide a line (newlines, carriage returns, U+2028, other
    control and invisible characters a person wrote into a key or a value) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def clip(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text`, or its first `limit` characters and how long it is: the one way a message cuts
    what a person wrote."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text):,} characters)"


# The most problems listed for one file: 100,000 unknown fields were 12 MB of output and 10 s.
MAX_PROBLEMS_PER_FILE = 50


def at_most(problems: list[Problem], file: str, total: int) -> list[Problem]:
    """The first MAX_PROBLEMS_PER_FILE of the `total` problems of `file`, and how many more."""
    if total <= MAX_PROBLEMS_PER_FILE:
        return problems
    more = f"{total - MAX_PROBLEMS_PER_FILE:,} more problems not shown"
    return [
        *problems[:MAX_PROBLEMS_PER_FILE],
        Problem(file, "", f"{more} (the first {MAX_PROBLEMS_PER_FILE} are)"),
    ]


class DefinitionError(Exception):
    """One or more problems with the definitions; str() is one line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def show(value: Any) -> str:
    """A short rendering of a value a person wrote, for 'got ...'."""
    if isinstance(value, str):
        text = json.dumps(value[:80], ensure_ascii=False)  # never all of a 10 MB value
        return text if len(text) <= 80 and len(value) <= 80 else text[:76] + '..."'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            text = getattr(value, "written", None) or str(value)  # 2.10 as written, not 2.1
        except ValueError:  # an integer beyond str()'s digit limit (hexadecimal in YAML)
            return "a number too large to show"
        return f"the number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
