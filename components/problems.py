"""A problem with a file a person wrote: one line naming the file, the field path and what was
expected. Every check of the project reports these, and `fluxfleet` prints them, exit code 2."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        file, path, message = (one_line(part) for part in (self.file, self.path, self.message))
        return f"{file}: {path}: {message}" if path else f"{file}: {message}"


def one_line(text: str) -> str:
    """`text` with what could break or hide a line (newlines, carriage returns, U+2028, other
    control and invisible characters a person wrote into a key or a value) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class DefinitionError(Exception):
    """One or more problems with the definitions; str() is one line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def show(value: Any) -> str:
    """A short rendering of a value a person wrote, for 'got ...'."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:76] + '..."'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            text = str(value)
        except ValueError:  # an integer beyond str()'s digit limit (hexadecimal in YAML)
            return "a number too large to show"
        return f"the number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
