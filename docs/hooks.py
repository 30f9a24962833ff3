"""MkDocs hook (mkdocs.yml `hooks:`): the build checks what `python -m components.tools.docs
--check` checks, so `mkdocs build --strict` fails on a stale generated reference page or a README
link that does not resolve, each named on one line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from components.tools.docs import problems

log = logging.getLogger("mkdocs.hooks.flux_fleet")


def on_pre_build(config: Any) -> None:
    root = Path(config["config_file_path"]).resolve().parent
    for problem in problems(root):
        log.warning(str(problem))
