"""Reading a file a person wrote, the one way every command does: refused unless it is a regular
file inside the project (never opened then) of at most MAX_FILE_BYTES, then YAML 1.2 with
duplicate keys and nulls refused; one `Problem` per thing that stops it, in one style
("line 3, column 5: invalid YAML: ...")."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components import yamlio
from components.problems import Problem, clip, show

# The largest file read (a definition, a stack file, a manifest of flux/): a definition is a few
# KB; a bigger file is a mistake, and reading it whole would cost memory and time.
MAX_FILE_BYTES = 1024 * 1024

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


OUTSIDE = "resolves outside the project (not read)"


# folder -> its real path, while a command reads a fleet (see folder_cache); None: not cached.
_REAL_FOLDERS: dict[str, str] | None = None


@contextmanager
def folder_cache() -> Iterator[None]:
    """Within it, the real path of each folder is found once: a fleet of 10,000 clusters has
    60,000 files in a few thousand folders, and os.path.realpath checks every folder above a file
    for a symlink (an lstat each) on every call. A folder swapped for a symlink while a command
    reads is not seen; outside the block nothing is cached, so the next command sees it."""
    global _REAL_FOLDERS
    if _REAL_FOLDERS is not None:  # nested: the outer block owns the cache
        yield
        return
    _REAL_FOLDERS = {}
    try:
        yield
    finally:
        _REAL_FOLDERS = None


def _realpath(path: str) -> str:
    """os.path.realpath(path), the real path of its folder from the cache when there is one."""
    cache = _REAL_FOLDERS
    parent, name = os.path.split(path)
    if cache is None or not parent or name in ("", ".", ".."):
        return os.path.realpath(path)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return os.path.realpath(path)
    except OSError:
        pass  # a missing last part: realpath keeps its name as it is, after the real folder
    real = cache.get(parent)
    if real is None:
        real = cache[parent] = _realpath(parent)
    return os.path.join(real, name)


def is_inside(path: Path, project_dir: Path) -> bool:
    """Whether `path`, every symlink on the way followed (its own and its folders'), is in
    `project_dir`."""
    real, root = _realpath(os.fspath(path)), _realpath(os.fspath(project_dir))
    return real == root or real.startswith(root if root.endswith(os.sep) else root + os.sep)


def folder_problem(folder: Path, display: str, project_dir: Path) -> Problem | None:
    """Why the folder `folder` must not be walked: it (or a folder above it, such as
    k8s-clusters/ being a symlink) resolves outside `project_dir`. Nothing in it is listed."""
    if is_inside(folder, project_dir):
        return None
    return Problem(display, "", f"a folder that {OUTSIDE}, expected a folder of the project")


def file_problem(path: Path, display: str, project_dir: Path | None) -> Problem | None:
    """Why `path` must not be read: it is not a regular file, or it resolves outside
    `project_dir` (a symlink itself, or in a folder that is one). Never opens it: a FIFO would
    block, a device never ends."""
    expected = "expected a regular file"
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                return Problem(display, "", f"a dangling symlink, {expected}")
            if project_dir is not None and not is_inside(target, project_dir):
                return Problem(
                    display, "", f"a symlink to outside the project (not read), {expected}"
                )
            mode = target.stat().st_mode
        elif project_dir is not None and not is_inside(path, project_dir):
            return Problem(display, "", f"in a folder that {OUTSIDE}, {expected}")
    except OSError as exc:
        return Problem(display, "", f"cannot be read: {exc.strerror or exc}")
    for is_kind, kind in _FILE_KINDS:
        if is_kind(mode):
            return Problem(display, "", f"{kind}, {expected}")
    return None if stat.S_ISREG(mode) else Problem(display, "", f"not a file, {expected}")


def read_text(
    path: Path, display: str, project_dir: Path | None
) -> tuple[str | None, list[Problem]]:
    """The text of `path`, or why it is not read (see file_problem) or cannot be. Opened
    without blocking and checked again once open (a FIFO swapped in is not waited on), and read
    only up to MAX_FILE_BYTES."""
    refused = file_problem(path, display, project_dir)
    if refused is not None:
        return None, [refused]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as file:
            opened = os.fstat(file.fileno())
            if not stat.S_ISREG(opened.st_mode):
                return None, [Problem(display, "", "not a regular file (not read)")]
            # Not read(MAX_FILE_BYTES + 1) at once: a 1 MiB buffer for each of 60,000 files of a
            # few KB costs more than reading them. A file growing meanwhile is read to its end.
            size = min(opened.st_size, MAX_FILE_BYTES) + 1
            data = file.read(size)
            if len(data) == size:
                data += file.read(MAX_FILE_BYTES + 1 - size)
    except OSError as exc:
        return None, [Problem(display, "", f"cannot be read: {exc.strerror or exc}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [
            Problem(display, "", f"larger than {MAX_FILE_BYTES:,} bytes (1 MiB), not read")
        ]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [Problem(display, "", f"cannot be read: not UTF-8 text ({exc.reason})")]


def parse_yaml(
    text: str, display: str, nulls: dict[tuple[int, Any], int] | None = None
) -> tuple[list[Any], list[Problem]]:
    """The documents of `text` (empty ones left out), or the problem that stops it being read.
    With `nulls`, also where each null value is (yamlio.load_all)."""
    try:
        docs = yamlio.load_all(text, nulls)  # YAML 1.2, duplicate keys refused
    except yamlio.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        what = " ".join(clip(str(x)) for x in (exc.context, exc.problem) if x)
        if mark is not None and _is_tab(text, mark.line, mark.column):
            what += " (a tab: YAML indentation is spaces only)"
        return [], [Problem(display, where, f"invalid YAML: {what}")]
    except yamlio.YAMLError as exc:
        return [], [Problem(display, "", f"invalid YAML: {clip(str(exc))}")]
    except RecursionError:
        return [], [Problem(display, "", "invalid YAML: nested too deeply")]
    except ValueError as exc:  # such as an integer of more than 4300 digits
        return [], [Problem(display, "", f"invalid YAML: {clip(str(exc))}")]
    return [d for d in docs if d is not None], []


def _is_tab(text: str, line: int, column: int) -> bool:
    lines = text.splitlines()
    return line < len(lines) and column < len(lines[line]) and lines[line][column] == "\t"


def yaml_document(
    text: str,
    display: str,
    *,
    allow_empty: bool = False,
    may_be_null: frozenset[str] = frozenset(),
) -> tuple[Any, list[Problem]]:
    """The one document of `text`, or the problems that stop it: invalid YAML, not one document,
    or a null value (except at the paths `may_be_null`). An empty text is a problem unless
    `allow_empty` (then the document is None)."""
    nulls: dict[tuple[int, Any], int] = {}
    docs, problems = parse_yaml(text, display, nulls)
    if problems:
        return None, problems
    if not docs and allow_empty:
        return None, []
    if not docs:
        return None, [
            Problem(display, "", "empty file, expected a definition (apiVersion, kind, ...)")
        ]
    if len(docs) > 1:
        return None, [Problem(display, "", f"expected one YAML document, got {len(docs)}")]
    found = [
        p
        for p in null_problems(docs[0], display, nulls, text.splitlines())
        if p.path not in may_be_null
    ]
    return (None, found) if found else (docs[0], [])


def read_yaml(
    path: Path,
    display: str,
    project_dir: Path | None = None,
    *,
    allow_empty: bool = False,
    may_be_null: frozenset[str] = frozenset(),
) -> tuple[Any, list[Problem]]:
    """The one document of the file `path` (a definition, a stack file), or the problems that
    stop it from being read: see twin_problem, read_text and yaml_document."""
    twin = twin_problem(path, display)
    if twin is not None:
        return None, [twin]
    text, problems = read_text(path, display, project_dir)
    if text is None:
        return None, problems
    return yaml_document(text, display, allow_empty=allow_empty, may_be_null=may_be_null)


def twin_problem(path: Path, display: str) -> Problem | None:
    """`x.yaml` and `x.yml` side by side: which one counts is not for a reader to guess."""
    suffixes = {".yaml": ".yml", ".yml": ".yaml"}
    if path.suffix not in suffixes:
        return None
    other = path.with_suffix(suffixes[path.suffix])
    if not os.path.lexists(other):
        return None
    folder = display.rpartition("/")[0]
    both = sorted(f"{folder}/{p.name}" if folder else p.name for p in (path, other))
    return Problem(
        display, "", f"both {both[0]} and {both[1]} exist, expected one (delete or merge one)"
    )


def read_yaml_documents(
    path: Path, display: str, project_dir: Path | None = None
) -> tuple[list[Any], list[Problem]]:
    """Every document of a Kubernetes manifest file (nulls are fine there), or the problem."""
    text, problems = read_text(path, display, project_dir)
    return parse_yaml(text, display) if text is not None else ([], problems)


def null_problems(
    doc: Any, display: str, lines_of_nulls: Mapping[tuple[int, Any], int], lines: list[str]
) -> list[Problem]:
    """A problem for each null value in `doc`: an empty value, `~`, `null`, or (the usual
    mistake) a value starting with an unquoted #, which YAML reads as a comment."""
    out: list[Problem] = []
    seen: set[int] = set()  # aliases may share a mapping or list

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping | list) and id(value) not in seen:
            seen.add(id(value))
            pairs = value.items() if isinstance(value, Mapping) else enumerate(value)
            for key, item in pairs:
                where = f"{path}[{key}]" if isinstance(value, list) else f"{path}.{key}"
                if item is None:
                    line = lines_of_nulls.get((id(value), key))
                    out.append(Problem(display, where.lstrip("."), _null_message(line, lines)))
                else:
                    walk(item, where)

    walk(doc, "")
    return out


def _null_message(line: int | None, lines: list[str]) -> str:
    text = lines[line] if line is not None and line < len(lines) else ""
    comment = text.partition("#")[2].strip() if "#" in text else ""
    if comment:
        shown = show("#" + comment)
        return (
            f"expected a value, got null: on line {line + 1 if line is not None else '?'} an "
            f"unquoted # starts a YAML comment; quote the value, such as {shown}"
        )
    return "expected a value, got null (leave the key out to use the default)"
