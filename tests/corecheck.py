"""Kubernetes' own rules for the core objects a plan creates (Namespace, Secret, ConfigMap), the
ones the API server enforces without a CRD: names, label keys and values, annotation keys and
total size, data keys, and a ConfigMap or Secret under 1 MiB."""

from __future__ import annotations

import json
import re
from typing import Any

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
MAX_OBJECT_DATA = 1024 * 1024  # a ConfigMap's or Secret's data: 1 MiB
MAX_ANNOTATIONS = 256 * 1024  # all annotations of an object together
CORE_KINDS = ("Namespace", "Secret", "ConfigMap")


def _qualified(key: str) -> bool:
    """A label or annotation key: [prefix/]name (prefix a DNS subdomain <= 253, name <= 63)."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and bool(QUALIFIED_NAME.fullmatch(name))


def core_problems(obj: dict[str, Any]) -> list[str]:
    """What the API server would refuse in `obj` (inputs as the plan records them)."""
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    out: list[str] = []
    if kind == "Namespace":
        if len(name) > 63 or not DNS_LABEL.fullmatch(name):
            out.append(f"{kind} {name!r}: the name must be a DNS label")
    elif len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        out.append(f"{kind} {name!r}: the name must be a DNS subdomain")
    for key, value in (metadata.get("labels") or {}).items():
        if not _qualified(key):
            out.append(f"{kind} {name}: label key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            out.append(f"{kind} {name}: label value {value!r} of {key}")
    annotations = metadata.get("annotations") or {}
    out += [f"{kind} {name}: annotation key {k!r}" for k in annotations if not _qualified(k)]
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > MAX_ANNOTATIONS:
        out.append(f"{kind} {name}: annotations over 256 KiB")
    if kind in ("Secret", "ConfigMap"):
        # a Secret's stringData is a secret in the plan: its keys and size are not known here
        data: dict[str, Any] = {}
        for field in ("data", "stringData"):
            if isinstance(obj.get(field), dict):
                data.update(obj[field])
        out += [f"{kind} {name}: data key {k!r}" for k in data if not DATA_KEY.fullmatch(k)]
        size = sum(
            len(k) + len(v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()
        )
        if size > MAX_OBJECT_DATA:
            out.append(f"{kind} {name}: {size} bytes of data, over 1 MiB")
    return out
