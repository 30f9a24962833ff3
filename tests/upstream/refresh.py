"""Refresh the upstream data vendored for the tests (needs access to GitHub).

    python tests/upstream/refresh.py crds fluxcd/source-controller v1.9.4
        the CRDs of one repository listed in SOURCES, from that tag
    python tests/upstream/refresh.py flux v2.9.4
        every Flux controller's CRDs at the tags that Flux release ships (fluxcd/flux2 manifests)
    python tests/upstream/refresh.py fingerprints
        GitHub's SSH host key fingerprints, from api.github.com/meta
    python tests/upstream/refresh.py pins
        action-pins.txt: the commit each `uses: owner/repo@SHA # vX.Y.Z` tag of .github/ points at
        (`git ls-remote`); tests/test_workflows.py checks every pin against it

Each CRD file is downloaded from raw.githubusercontent.com at the tag; SOURCES records the tag, the
commit it points at (`git ls-remote`), the path and the file's sha256. Run the tests afterwards:
a new CRD version can make an object the project emits invalid, which is the point.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "SOURCES"
FINGERPRINTS = HERE / "github_ssh_key_fingerprints.json"
META_URL = "https://api.github.com/meta"
DOCS_URL = (
    "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/"
    "githubs-ssh-key-fingerprints"
)
FLUX_REPOSITORY = "fluxcd/flux2"
ACTION_PINS = HERE / "action-pins.txt"
GITHUB_DIR = HERE.parent.parent / ".github"
PINS_HEADER = (
    "# The commit each action tag that .github/ pins points at (peeled): <action> <tag> <commit>.\n"
    "# Verified against the action's own repository (`git rev-parse TAG^{commit}`, or\n"
    "# `git ls-remote`); refresh with tests/upstream/refresh.py pins. See SOURCES.\n"
)
USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<sha>\S+)"
    r"(?:\s+#\s*(?P<tag>\S+))?\s*$"
)


@dataclass(frozen=True)
class Entry:
    """One line of SOURCES: a vendored file and where it comes from."""

    file: str
    repository: str
    tag: str
    commit: str
    path: str
    sha256: str

    def line(self) -> str:
        return " ".join((self.file, self.repository, self.tag, self.commit, self.path, self.sha256))


def parse_sources(text: str) -> tuple[list[str], list[Entry]]:
    """(comment lines, entries) of a SOURCES file."""
    comments, entries = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            comments.append(line)
            continue
        fields = line.split()
        if len(fields) != 6:
            raise ValueError(f"SOURCES line {number}: expected 6 fields, got {len(fields)}")
        entries.append(Entry(*fields))
    return comments, entries


def format_sources(comments: list[str], entries: list[Entry]) -> str:
    rows = [e.line().split() for e in sorted(entries, key=lambda e: e.file)]
    widths = [max(len(row[i]) for row in rows) for i in range(6)] if rows else []
    body = [
        "  ".join(f.ljust(w) for f, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join([*comments, *body]) + "\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def controller_tag(kustomization: str, repository: str) -> str | None:
    """The tag of `repository` a fluxcd/flux2 manifests/bases kustomization.yaml downloads."""
    name = re.escape(repository.split("/")[-1])
    found = re.search(
        rf"github\.com/fluxcd/{name}/releases/download/(v[0-9][^/\s]*)/", kustomization
    )
    return found.group(1) if found else None


def fingerprints_document(meta: dict[str, object]) -> str:
    """The vendored fingerprints file, from the JSON of api.github.com/meta."""
    fingerprints = meta.get("ssh_key_fingerprints")
    if not isinstance(fingerprints, dict) or not all(
        isinstance(k, str) and k.startswith("SHA256_") for k in fingerprints
    ):
        raise ValueError("api.github.com/meta: no ssh_key_fingerprints of SHA256_* keys")
    document = {
        "source": f"{META_URL} (ssh_key_fingerprints), as published at {DOCS_URL}",
        "ssh_key_fingerprints": dict(sorted(fingerprints.items())),
    }
    return json.dumps(document, indent=2) + "\n"


@dataclass(frozen=True)
class Pin:
    """One `uses: owner/repo@SHA # TAG` line of a workflow or action."""

    file: str
    action: str
    sha: str
    tag: str


def pins_in(paths: list[Path]) -> list[Pin]:
    """Every pinned `uses:` of `paths` (local actions, `$/...` or `./...`, are not pins)."""
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            match = USES.match(line)
            if match:
                found.append(Pin(path.name, match["action"], match["sha"], match["tag"] or ""))
    return found


def github_files() -> list[Path]:
    return sorted([*GITHUB_DIR.glob("workflows/*.yml"), *GITHUB_DIR.glob("actions/*/action.yml")])


def parse_pins(text: str) -> dict[tuple[str, str], str]:
    """action-pins.txt: {(action, tag): commit}."""
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(f"{ACTION_PINS.name} line {number}: expected 3 fields")
        table[(fields[0], fields[1])] = fields[2]
    return table


def format_pins(table: dict[tuple[str, str], str]) -> str:
    rows = [(a, t, c) for (a, t), c in sorted(table.items())]
    widths = [max(len(r[i]) for r in rows) for i in range(2)] if rows else [0, 0]
    body = [f"{a.ljust(widths[0])}  {t.ljust(widths[1])}  {c}" for a, t, c in rows]
    return PINS_HEADER + "".join(line + "\n" for line in body)


def pin_problems(pins: list[Pin], table: dict[tuple[str, str], str]) -> list[str]:
    """One line per pin whose commit is not the verified commit of the tag in its comment."""
    problems = []
    for pin in pins:
        verified = table.get((pin.action, pin.tag))
        where = f"{pin.file}: {pin.action}@{pin.sha} # {pin.tag or '(no tag)'}"
        if verified is None:
            problems.append(f"{where}: {pin.tag or 'no tag'} is not in {ACTION_PINS.name}")
        elif verified != pin.sha:
            problems.append(f"{where}: the tag {pin.tag} is commit {verified}")
    return problems


# --- network ------------------------------------------------------------------------------------


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def raw(repository: str, tag: str, path: str) -> bytes:
    return download(f"https://raw.githubusercontent.com/{repository}/{tag}/{path}")


def tag_commit(repository: str, tag: str) -> str:
    """The commit `tag` points at (peeled, for annotated tags)."""
    out = subprocess.run(
        ["git", "ls-remote", f"https://github.com/{repository}", f"refs/tags/{tag}*"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    refs = dict(reversed(line.split("\t")) for line in out.splitlines() if "\t" in line)
    commit = refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}")
    if not commit:
        raise SystemExit(f"{repository}: no tag {tag}")
    return commit


def refresh_repository(entries: list[Entry], repository: str, tag: str) -> list[Entry]:
    mine = [e for e in entries if e.repository == repository]
    if not mine:
        raise SystemExit(f"{repository}: not in {SOURCES.name}")
    commit = tag_commit(repository, tag)
    out = [e for e in entries if e.repository != repository]
    for entry in mine:
        data = raw(repository, tag, entry.path)
        (HERE / entry.file).write_bytes(data)
        out.append(replace(entry, tag=tag, commit=commit, sha256=sha256(data)))
        print(f"{entry.file}: {repository} {tag} ({commit[:12]})")
    return out


def refresh_flux(entries: list[Entry], flux_tag: str) -> list[Entry]:
    for repository in sorted({e.repository for e in entries if e.repository.startswith("fluxcd/")}):
        name = repository.split("/")[-1]
        path = f"manifests/bases/{name}/kustomization.yaml"
        tag = controller_tag(raw(FLUX_REPOSITORY, flux_tag, path).decode(), repository)
        if tag is None:
            raise SystemExit(f"{FLUX_REPOSITORY} {flux_tag}: {path} names no {name} release")
        entries = refresh_repository(entries, repository, tag)
    return entries


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="what", required=True)
    crds = sub.add_parser("crds", help="the CRDs of one repository, from TAG")
    crds.add_argument("repository", help="owner/name, as in SOURCES")
    crds.add_argument("tag")
    flux = sub.add_parser("flux", help="every fluxcd/* repository, at what Flux release TAG ships")
    flux.add_argument("tag", help="a fluxcd/flux2 tag, such as v2.9.4")
    sub.add_parser("fingerprints", help="GitHub's SSH key fingerprints")
    sub.add_parser("pins", help="the commit of every action tag that .github/ pins")
    args = top.parse_args(argv)
    if args.what == "pins":
        table = {(p.action, p.tag): tag_commit(p.action, p.tag) for p in pins_in(github_files())}
        ACTION_PINS.write_text(format_pins(table))
        print("\n".join(pin_problems(pins_in(github_files()), table)) or "every pin is its tag")
        return 0
    if args.what == "fingerprints":
        FINGERPRINTS.write_text(fingerprints_document(json.loads(download(META_URL))))
        print(FINGERPRINTS.name)
        return 0
    comments, entries = parse_sources(SOURCES.read_text())
    if args.what == "crds":
        entries = refresh_repository(entries, args.repository, args.tag)
    else:
        entries = refresh_flux(entries, args.tag)
    SOURCES.write_text(format_sources(comments, entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
