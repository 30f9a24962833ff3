"""spec.git.host: the GitHub the fleet and application repositories are on — github.com, or a
GitHub Enterprise Server with its SSH host keys, API URL and CA certificate.

github.com's host keys are pinned in package data and tested against GitHub's published
fingerprints; another host's keys are written in the definition (or _defaults.yaml) and parsed
here: nothing is scanned at apply time, so a first connection cannot be intercepted (no TOFU).
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components.definition.secrets import SecretSource
from components.definition.types import Model, RelPath, field_error, pattern
from components.problems import show

GITHUB_HOST = "github.com"
HOSTNAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$"

# --- SSH public keys (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4) ---------------------------------

# key type -> the fields after the type in its blob: "string" or "mpint" (both length-prefixed)
ECDSA_CURVES = {"ecdsa-sha2-nistp256": "nistp256", "ecdsa-sha2-nistp384": "nistp384",
                "ecdsa-sha2-nistp521": "nistp521"}  # fmt: skip
KEY_FIELDS = {
    "ssh-ed25519": 1,  # the 32-byte key
    "ssh-rsa": 2,  # e, n
    **dict.fromkeys(ECDSA_CURVES, 2),  # the curve's name, the point
}


def _strings(blob: bytes) -> list[bytes]:
    """The length-prefixed fields of an SSH key blob; ValueError when it does not split into
    them exactly."""
    out, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("a truncated field")
        (length,) = struct.unpack(">I", blob[at : at + 4])
        at += 4
        if at + length > len(blob):
            raise ValueError("a truncated field")
        out.append(blob[at : at + length])
        at += length
    return out


def ssh_key_problem(text: str) -> str | None:
    """Why `text` is not an OpenSSH public key line `<type> <base64> [comment]` whose blob
    decodes to a key of that same type, or None."""
    parts = text.split()
    if len(parts) < 2:
        return "expected <key type> <base64 key> (such as a line of ssh-keyscan without the host)"
    kind, encoded = parts[0], parts[1]
    if kind not in KEY_FIELDS:
        return f"key type {show(kind)}, expected one of {', '.join(sorted(KEY_FIELDS))}"
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return "the key is not valid base64"
    try:
        fields = _strings(blob)
    except ValueError as exc:
        return f"the key is not an SSH key blob ({exc})"
    if not fields or fields[0] != kind.encode():
        inner = fields[0].decode(errors="replace") if fields else "nothing"
        return f"the key decodes to a {show(inner)} key, expected {kind}"
    if len(fields) - 1 != KEY_FIELDS[kind]:
        return (
            f"the key's blob has {len(fields) - 1} fields, expected {KEY_FIELDS[kind]} for {kind}"
        )
    if kind == "ssh-ed25519" and len(fields[1]) != 32:
        return f"the ed25519 key is {len(fields[1])} bytes, expected 32"
    if kind in ECDSA_CURVES and fields[1] != ECDSA_CURVES[kind].encode():
        curve = show(fields[1].decode(errors="replace"))
        return f"the key's curve is {curve}, expected {ECDSA_CURVES[kind]}"
    return None


def _ssh_key(value: str) -> str:
    problem = ssh_key_problem(value)
    if problem is not None:
        raise ValueError(f"not an SSH public key: {problem}")
    return " ".join(value.split()[:2])  # type and key; a comment is not part of known_hosts


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            "expected an https:// URL such as https://github.example.com/api/v3/, "
            f"got {show(value)}"
        )
    return value


SshPublicKey = Annotated[
    str, Field(description="<key type> <base64 key>"), AfterValidator(_ssh_key)
]
HttpsUrl = Annotated[str, Field(description="an https:// URL"), AfterValidator(_https_url)]
Hostname = Annotated[
    str, pattern(HOSTNAME, "a DNS host name such as github.example.com"), Field(max_length=253)
]


class CertificateSource(SecretSource):
    """Where a PEM CA certificate is: a file of this repository, or an SSM parameter or Secrets
    Manager secret read at apply time."""

    file: RelPath | None = Field(None, description="a PEM file, relative to the project folder")

    @model_validator(mode="after")
    def _exactly_one(self) -> CertificateSource:
        given = [self.file, self.ssm_parameter, self.secrets_manager]
        if sum(value is not None for value in given) != 1:
            raise ValueError("expected exactly one of file, ssmParameter and secretsManager")
        return self

    @property
    def where(self) -> str:
        return f"file {self.file}" if self.file is not None else super().where


class GitHost(Model):
    """The GitHub the repositories are on: github.com (the default), or a GitHub Enterprise
    Server (its host keys required)."""

    hostname: Hostname = Field(description="github.com, or the GitHub Enterprise Server's host")
    api_url: HttpsUrl | None = Field(
        None,
        description="its REST API, for deploy keys and the GitHub App; default "
        "https://<hostname>/api/v3/",
    )
    known_hosts: Annotated[list[SshPublicKey], Field(min_length=1, max_length=20)] | None = Field(
        None,
        description="its SSH host keys (<type> <base64>), required for a host other than "
        "github.com, whose keys are pinned",
    )
    ca_from: CertificateSource | None = Field(
        None,
        description="the CA certificate (PEM) of its HTTPS certificate when that is private; "
        "the GitHub App's Secret gets it as ca.crt",
    )

    @property
    def is_github_com(self) -> bool:
        return self.hostname == GITHUB_HOST

    @property
    def api(self) -> str:
        """The REST API's base URL (GitHub Enterprise Server's: /api/v3/)."""
        return self.api_url or f"https://{self.hostname}/api/v3/"

    @model_validator(mode="after")
    def _keys_for_another_host(self) -> GitHost:
        errors = []
        if self.is_github_com:
            for key, value in (
                ("knownHosts", self.known_hosts),
                ("apiUrl", self.api_url),
                ("caFrom", self.ca_from),
            ):
                if value is not None:
                    message = (
                        f"set for {GITHUB_HOST}, whose host keys are pinned by flux-fleet and "
                        "whose API and certificate are public: expected none"
                    )
                    errors.append(field_error((key,), value, message))
        elif self.known_hosts is None:
            message = (
                f"required for {self.hostname}: expected its SSH host keys, each <type> <base64> "
                "(from its administrator, or ssh-keyscan checked against the fingerprints they "
                "publish); flux-fleet never scans keys at apply time"
            )
            errors.append(field_error(("knownHosts",), None, message))
        if errors:
            raise ValidationError.from_exception_data("GitHost", errors)  # type: ignore[arg-type]
        return self
