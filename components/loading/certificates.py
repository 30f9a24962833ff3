"""A CA certificate kept as a file of the repository (spec.git.host.caFrom.file): read and checked
when the definitions are, so that `fluxfleet validate` reports a missing or broken file, not the
GitHub App's first HTTPS call on the cluster."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from components.definition.cluster import Cluster
from components.loading.files import read_text
from components.problems import Problem

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")
CA_FILE_FIELD = "spec.git.host.caFrom.file"


def pem_certificates_problem(text: str) -> str | None:
    """Why `text` is not one or more PEM certificates (base64 of a DER SEQUENCE), or None."""
    blocks = _PEM.findall(text)
    if not blocks:
        return "expected a PEM certificate (-----BEGIN CERTIFICATE-----), found none"
    for i, block in enumerate(blocks, 1):
        try:
            der = base64.b64decode("".join(block.split()), validate=True)
        except binascii.Error:
            return f"certificate {i} is not valid base64"
        if not der.startswith(b"\x30"):
            return f"certificate {i} is not DER (an ASN.1 SEQUENCE)"
    return None


def ca_file_problems(cluster: Cluster, display: str, project_dir: Path) -> list[Problem]:
    """The cluster's CA certificate file, when it names one: readable, inside the project, PEM."""
    host = cluster.spec.git.enterprise_host
    if host is None or host.ca_from is None or host.ca_from.file is None:
        return []
    rel = host.ca_from.file
    text, problems = read_text(project_dir / rel, rel, project_dir)
    if problems:
        return [Problem(display, CA_FILE_FIELD, f"{rel}: {p.message}") for p in problems]
    assert text is not None
    problem = pem_certificates_problem(text)
    return [Problem(display, CA_FILE_FIELD, f"{rel}: {problem}")] if problem else []
