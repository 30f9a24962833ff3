"""Validate Flux / operator objects against the real CRDs vendored in tests/upstream/crds.

The API server prunes unknown fields silently, so a typo in an object would pass a plain
JSON-Schema check. Like kubeconform's strict mode, every object schema that lists
`properties` (and does not preserve unknown fields) is closed here: unknown keys fail.
Only versions the CRD marks `served: true` are accepted.

The CRDs' CEL rules (`x-kubernetes-validations`) are evaluated too, with cel-python, where the API
server would: at each node of the object that has rules, `self` bound to that node. Transition
rules (`oldSelf`) apply only to updates; every object here is a create, so they are listed
(`TRANSITION_RULES`) and not evaluated.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import celpy
import jsonschema
from ruamel.yaml import YAML

CRD_DIR = Path(__file__).resolve().parent / "upstream" / "crds"  # provenance: upstream/SOURCES


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


# The Flux Operator installs the Alert CRD with these kinds added to eventSources[].kind (a
# kustomize patch of its own), so the API server of a cluster it runs accepts them.
OPERATOR_EVENT_SOURCE_KINDS = ("FluxInstance",)


def _as_patched_by_operator(alert_schema: dict[str, Any]) -> None:
    spec = alert_schema["properties"]["spec"]["properties"]
    kind = spec["eventSources"]["items"]["properties"]["kind"]
    kind["enum"] = [*kind["enum"], *OPERATOR_EVENT_SOURCE_KINDS]


@functools.cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict openAPIV3Schema, for every served version."""
    yaml = YAML(typ="safe")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server itself, not by the CRD schema.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                if (group, kind) == ("notification.toolkit.fluxcd.io", "Alert"):
                    _as_patched_by_operator(schema)
                out[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return out


def served(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _schemas()


def validate(obj: dict[str, Any]) -> list[str]:
    """Every problem with `obj` against its CRD (schema, then CEL rules), as readable lines; []
    when valid."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schema = _schemas().get(key)
    if schema is None:
        return [f"{key[0]} {key[1]}: no served CRD version in {CRD_DIR}"]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{key[1]} {'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ] + cel_problems(obj)


# --- CEL rules ---------------------------------------------------------------------------------


@functools.cache
def compiled(rule: str) -> Any:
    """The CEL program of `rule` (cel-python); raises if it does not compile."""
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def rules(schema: Any) -> list[tuple[str, dict[str, Any]]]:
    """(where, rule) for every CEL rule in `schema`."""
    out: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, at: str) -> None:
        if not isinstance(node, dict):
            return
        out.extend((at, rule) for rule in node.get("x-kubernetes-validations") or [])
        for name, child in (node.get("properties") or {}).items():
            walk(child, f"{at}.{name}")
        walk(node.get("items"), f"{at}[]")
        walk(node.get("additionalProperties"), f"{at}{{}}")

    walk(schema, "")
    return out


def is_transition_rule(rule: dict[str, Any]) -> bool:
    return "oldSelf" in rule["rule"]


def evaluate(rule: str, value: Any) -> bool:
    """Whether `value` (as `self`) satisfies the CEL `rule`; raises when it cannot be evaluated."""
    result = compiled(rule).evaluate({"self": celpy.json_to_cel(value)})
    if isinstance(result, celpy.CELEvalError):
        raise result
    return bool(result)


def cel_problems(obj: dict[str, Any]) -> list[str]:
    """The CEL rules of its CRD that `obj` breaks, each as the rule's message."""
    kind = obj.get("kind", "")
    schema = _schemas().get((obj.get("apiVersion", ""), kind))
    out: list[str] = []

    def walk(node: Any, value: Any, at: str) -> None:
        if not isinstance(node, dict):
            return
        for rule in node.get("x-kubernetes-validations") or []:
            if not is_transition_rule(rule) and not evaluate(rule["rule"], value):
                out.append(f"{kind} {at or '<root>'}: {rule.get('message') or rule['rule']}")
        if isinstance(value, dict):
            for name, child in (node.get("properties") or {}).items():
                if name in value:
                    walk(child, value[name], f"{at}.{name}".lstrip("."))
            extra = node.get("additionalProperties")
            for name, item in value.items():
                if isinstance(extra, dict) and name not in (node.get("properties") or {}):
                    walk(extra, item, f"{at}.{name}".lstrip("."))
        if isinstance(value, list):
            for i, item in enumerate(value):
                walk(node.get("items"), item, f"{at}[{i}]")

    if schema is not None:
        walk(schema, obj, "")
    return out


def all_rules() -> list[tuple[str, str, dict[str, Any]]]:
    """(apiVersion, kind, where, rule) for every served version's CEL rules (kind is
    'apiVersion kind')."""
    return [
        (f"{api_version} {kind}", where, rule)
        for (api_version, kind), schema in sorted(_schemas().items())
        for where, rule in rules(schema)
    ]


def is_flux_kind(obj: dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).split("/")[0]
    return "fluxcd" in group or group == "monitoring.coreos.com"
