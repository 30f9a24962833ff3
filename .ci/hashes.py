"""Add pip-compile style hashes to a lock of `name==version` lines, in place: every file the
package index publishes for that version (every platform's wheel and the sdist), so that
`pip install --require-hashes -r <lock>` works on any machine and refuses any other file.
Used by .ci/lock; asks the index (PIP_INDEX_URL, default PyPI) for the locked packages only."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from pathlib import Path

INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _file_version(filename: str, name: str) -> str | None:
    """The version in a wheel's or an sdist's file name of package `name`."""
    stem = re.sub(r"\.(whl|tar\.gz|zip|tar\.bz2)$", "", filename)
    if filename.endswith(".whl"):
        parts = stem.split("-")
        return parts[1] if len(parts) >= 5 and _norm(parts[0]) == name else None
    base, _, version = stem.rpartition("-")
    return version if _norm(base) == name else None


def hashes(name: str, version: str) -> list[str]:
    request = urllib.request.Request(
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    found = sorted(
        {
            f["hashes"]["sha256"]
            for f in files
            if "sha256" in f.get("hashes", {}) and _file_version(f["filename"], name) == version
        }
    )
    if not found:
        sys.exit(f"{INDEX}: no file with a sha256 for {name}=={version}")
    return found


def main(lock: Path) -> None:
    out = []
    for line in lock.read_text().splitlines():
        if not line or line.startswith("#"):
            out.append(line)
            continue
        package, _, version = line.partition("==")
        digests = hashes(_norm(package), version)
        out.append(" \\\n".join([line, *(f"    --hash=sha256:{d}" for d in digests)]))
    lock.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        main(Path(name))
