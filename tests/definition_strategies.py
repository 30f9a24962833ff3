"""Cluster definitions for property tests: generated from the model's JSON Schema, with the
rules the schema cannot express (across fields, or in validators) as overrides."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, get_args

from hypothesis import strategies as st
from schema_strategies import Strategy, from_schema, mutated

from components.definition import alerts as alerts_model
from components.definition import cluster as cluster_model
from components.definition import ecr as ecr_model
from components.definition import flux as flux_model
from components.definition import git_ref as git_ref_model
from components.definition import sources as sources_model
from components.definition import types as types_model
from components.definition.alert_types import PROVIDER_TYPES

ROOT = Path(__file__).resolve().parents[1]
# The fleet repository and the registry of the example _defaults.yaml and _registries.yaml.
FLEET_OWNER, FLEET_REPOSITORY = "acme", "gitops"
REGISTRY, REGISTRY_REPOSITORIES = "shared", ("api", "worker")


def _passes(validator: Any) -> Any:
    def check(value: Any) -> bool:
        try:
            validator(value)
        except ValueError:
            return False
        return True

    return check


def _regex(pattern: str) -> Strategy:
    return st.from_regex(pattern, fullmatch=True)


def _unique_lists(values: Strategy, max_size: int = 3) -> Strategy:
    return st.lists(values, unique=True, max_size=max_size)


@cache
def model_schema() -> dict[str, Any]:
    """The JSON Schema of the Cluster kind as validated (required fields, no partial spec)."""
    return cluster_model.Cluster.model_json_schema(ref_template="#/$defs/{model}")


@cache
def editor_schema() -> dict[str, Any]:
    """k8s-clusters/cluster.schema.json, what editors check a definition file against."""
    return json.loads((ROOT / "k8s-clusters" / "cluster.schema.json").read_text())


def _providers() -> list[dict[str, Any]]:
    """A working spec.alerts.providers entry of each type of the table."""
    out = []
    for name, kind in PROVIDER_TYPES.items():
        entry: dict[str, Any] = {"name": f"p-{name}", "type": name}
        if kind.channel == "required":
            entry["channel"] = "-100200300" if name == "telegram" else "C0123ABCD"
        if kind.address_given == "required":
            entry["address"] = "https://events.example.com/flux"  # no "hook": the scan's
        if kind.secret_key is not None:
            entry["credentialFrom"] = {"ssmParameter": f"/flux-fleet/{name}"}
        out.append(entry)
    return out


def _event_source(schema: dict[str, Any]) -> Strategy:
    def labels_need_wildcard(source: dict[str, Any]) -> dict[str, Any]:
        return {**source, "name": "*"} if source.get("matchLabels") else source

    return from_schema(schema["$defs"]["EventSource"], schema, nulls=False).map(
        labels_need_wildcard
    )


def _branches() -> Strategy:
    return _regex(types_model.GIT_BRANCH).filter(_passes(types_model._git_ref))


def _git_refs() -> Strategy:
    """spec.git.ref, spec.apps[].ref: one kind, a value its validator accepts (a few ranges:
    the grammar has its own tests)."""
    return st.one_of(
        _branches().map(lambda value: {"branch": value}),
        _regex(git_ref_model.GIT_TAG)
        .filter(_passes(git_ref_model._tag_name))
        .map(lambda value: {"tag": value}),
        st.sampled_from([">=1.0.0", "~1.4", "1.x || ^3", "1.2 - 1.4.5"]).map(
            lambda value: {"semver": value}
        ),
        _regex(git_ref_model.COMMIT).map(lambda value: {"commit": value}),
    )


# A host key in the right form (github.com's, as a stand-in for an Enterprise Server's)
HOST_KEY = (ROOT / "components/data/github_known_hosts").read_text().split("\n")[0].split(" ", 1)[1]


def _git_hosts() -> Strategy:
    """spec.git.host: github.com, or a server with its keys (the model requires them)."""
    server = st.fixed_dictionaries(
        {"hostname": st.just("ghe.example.com"), "knownHosts": st.just([HOST_KEY])},
        optional={
            "apiUrl": st.just("https://ghe.example.com/api/v3/"),
            "caFrom": st.just({"ssmParameter": "/ghe/ca"}),
        },
    )
    return st.one_of(st.just({"hostname": "github.com"}), server)


def _relative_paths() -> Strategy:
    return _regex(types_model.REL_PATH).filter(_passes(types_model._relative_path))


def _apps(schema: dict[str, Any]) -> Strategy:
    overrides = {"branch": _branches(), "ref": _git_refs(), "path": _relative_paths()}
    app = from_schema(schema["$defs"]["AppRepository"], schema, overrides, nulls=False).filter(
        lambda a: (
            not (
                a.get("owner", FLEET_OWNER).casefold() == FLEET_OWNER
                and a["repository"].casefold() == FLEET_REPOSITORY
            )
        )
    )
    return st.lists(
        app,
        max_size=2,
        unique_by=(
            lambda a: a["name"],
            lambda a: a.get("secretName") or f"{a['name']}-deploykey",
        ),
    )


def _label_maps() -> Strategy:
    keys = st.from_regex(types_model.LABEL_KEY, fullmatch=True).filter(
        _passes(types_model._label_key)
    )
    values = st.from_regex(types_model.LABEL_VALUE, fullmatch=True).filter(lambda v: len(v) <= 63)
    return st.dictionaries(keys, values, min_size=1, max_size=2)


# Patches valid on any cluster (they target controllers every definition runs).
VALID_PATCHES = [
    {
        "target": {"kind": "Deployment", "name": "kustomize-controller"},
        "patch": "- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
        "  value: --concurrent=20\n",
    },
    {
        "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: source-controller\n"
        "spec:\n  replicas: 1\n",
    },
    {
        "target": {"kind": "ServiceAccount", "name": "(source|kustomize)-controller"},
        "patch": "- op: remove\n  path: /metadata/labels\n",
    },
]


def valid_clusters() -> Strategy:
    """Definitions the model accepts (given the example _defaults.yaml and _registries.yaml)."""
    schema = model_schema()
    overrides: dict[str, Strategy] = {
        "metadata.name": st.from_regex(types_model.DNS_LABEL, fullmatch=True).filter(
            lambda n: n not in cluster_model.RESERVED_NAMES
        ),
        "spec.git.owner": st.just(FLEET_OWNER),
        "spec.git.repository": st.just(FLEET_REPOSITORY),
        "spec.git.branch": _branches(),
        "spec.git.ref": _git_refs(),
        "spec.git.host": _git_hosts(),
        "spec.git.path": _relative_paths(),
        "spec.flux.components": _unique_lists(st.sampled_from(flux_model.CORE_COMPONENTS)).map(
            lambda extra: (
                [*flux_model.REQUIRED_COMPONENTS]
                + [c for c in extra if c not in flux_model.REQUIRED_COMPONENTS]
            )
        ),
        "spec.flux.componentsExtra": _unique_lists(
            st.sampled_from(get_args(types_model.ExtraComponent))
        ),
        "spec.flux.tolerationKeys": _unique_lists(_regex(types_model.TOLERATION_KEY)),
        "spec.ecr.pull": st.lists(
            st.fixed_dictionaries(
                {
                    "registry": st.just(REGISTRY),
                    "repositories": st.lists(
                        st.sampled_from(REGISTRY_REPOSITORIES), min_size=1, unique=True
                    ),
                }
            ),
            max_size=1,
        ),
        "spec.ecr.nodeRoleNames": _unique_lists(_regex(ecr_model.IAM_ROLE_NAME)),
        # git (its fields only), or an artifact in a repository the example registry lists
        "spec.sync": st.one_of(
            st.fixed_dictionaries({}, optional={"kind": st.just("git"), "interval": st.just("5m")}),
            st.fixed_dictionaries(
                {
                    "kind": st.just("oci"),
                    "registry": st.just(REGISTRY),
                    "repository": st.sampled_from(REGISTRY_REPOSITORIES),
                },
                optional={
                    "tag": _regex(sources_model.OCI_TAG),
                    "verify": st.booleans(),
                    "interval": st.just("2m"),
                },
            ),
        ),
        # each namespace once, and not flux-system (which every alert covers)
        "spec.alerts.namespaces": _unique_lists(
            _regex(types_model.DNS_LABEL).filter(lambda ns: ns != "flux-system")
        ),
        # the pattern, and no control or invisible character (which the pattern lets through)
        "spec.alerts.slack.channel": _regex(alerts_model.SLACK_CHANNEL).filter(
            _passes(alerts_model._printable_channel)
        ),
        "spec.alerts.slack.exclusionList": _unique_lists(
            st.sampled_from(["^info", "timeout", "(?i)retry", "a.*b", "[0-9]+"])
        ),
        "spec.alerts.slack.eventSources[]": _event_source(schema),
        "spec.alerts.routes": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["deploys", "infra", "team-a"]), "channel": st.just("#x")},
                optional={"severity": st.sampled_from(["error", "info"])},
            ),
            max_size=2,
            unique_by=lambda route: route["name"],
        ),
        # one valid entry per type (credentials from AWS: the plan has no alert-<name> config)
        "spec.alerts.providers": st.lists(
            st.sampled_from(_providers()), max_size=2, unique_by=lambda p: p["name"]
        ),
        "spec.monitoring.dashboardLabel": _label_maps(),
        "spec.apps": _apps(schema),
        "spec.flux.patches": st.lists(st.sampled_from(VALID_PATCHES), max_size=2),
        "spec.sops.kmsKeyArns": st.lists(
            st.sampled_from(
                [
                    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    "arn:aws:kms:us-east-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef",
                ]
            ),
            min_size=1,
            max_size=2,
            unique=True,
        ),
        "spec.flux.commonMetadata.labels": _label_maps(),
        "spec.flux.commonMetadata.annotations": _label_maps(),
        # within each field's bounds (the validators' rule, not the schema's)
        "spec.flux.readyTimeout": st.sampled_from(["1m", "10m", "1h30m", "2h"]),
        "spec.flux.reconcileEvery": st.sampled_from(["1m", "90s", "1h", "24h"]),
        "spec.flux.reconcileTimeout": st.sampled_from(["30s", "5m", "1h"]),
        # names that are no fact's; plain values (a value that looks like a secret is refused)
        "spec.flux.runtimeInfo": st.dictionaries(
            _regex(flux_model.SUBSTITUTION_VARIABLE).filter(
                lambda k: k not in flux_model.RUNTIME_FACTS and not flux_model.ROLE_FACT.match(k)
            ),
            st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=30),
            max_size=4,
        ),
    }

    def coherent(doc: dict[str, Any]) -> dict[str, Any]:
        spec = doc["spec"]
        for git in (spec["git"], *spec.get("apps", [])):  # one ref: branch or ref (a model rule)
            if "ref" in git:
                git.pop("branch", None)
        # The installation by ID or by owner, not both (a model rule), and the workspace's stack
        # config gives the ID (tests/test_git_host.py covers the owner)
        spec["git"].get("githubApp", {}).pop("installationOwner", None)
        # keyless cosign trusts github.com's Actions only: no verify on an Enterprise Server (a
        # model rule, tests/test_oci_sync.py)
        if spec["git"].get("host", {}).get("hostname", "github.com") != "github.com":
            spec.get("sync", {}).pop("verify", None)
        slack = spec.get("alerts", {}).get("slack", {})
        if slack.get("enabled") and "channel" not in slack:
            slack["channel"] = "#flux-alerts"
        flux = spec.get("flux", {})
        if flux_model.NOTIFICATION_CONTROLLER not in flux.get(
            "components", [flux_model.NOTIFICATION_CONTROLLER]
        ):  # no alerts without notification-controller's CRDs (the defaults set a channel)
            spec.setdefault("alerts", {}).pop("routes", None)
            spec["alerts"].pop("providers", None)
            slack = spec["alerts"].setdefault("slack", {})
            slack["enabled"] = False
        if spec.get("alerts", {}).get("providers"):  # the routes stay Slack's, as generated
            for route in spec["alerts"].get("routes", []):
                route["provider"] = "slack"
        if "image-automation-controller" not in flux.get("componentsExtra", []):
            for app in spec.get("apps", []):  # a read-write key only for its pushes
                app.pop("imageAutomation", None)
            if flux.get("deployKey", {}).get("readWrite"):
                flux["deployKey"].pop("readWrite")
        if "tenantDefaultServiceAccount" in flux:
            flux["multitenant"] = True
        if flux.get("multitenant"):  # its notification-controller refuses other namespaces
            spec.get("alerts", {}).pop("namespaces", None)
            rules = [slack, *spec.get("alerts", {}).get("routes", [])]
            for source in (s for rule in rules for s in rule.get("eventSources", [])):
                source.pop("namespace", None)
        if flux.get("adopt"):  # a takeover keeps the bootstrap's deploy key
            spec["git"].pop("auth", None)
        if flux.get("adopt") and "path" not in spec["git"]:
            spec["git"]["path"] = "clusters/adopted"
        sync = spec.get("sync", {})
        if sync.get("kind") == "oci" and (
            flux.get("adopt") or spec["aws"]["region"].startswith(("cn-", "us-gov-"))
        ):  # a takeover starts from Git; the example registry is in partition aws
            spec.pop("sync")
        elif sync.get("kind") == "oci" and not spec["git"].get("path", "flux/").startswith("flux/"):
            spec["git"]["path"] = f"flux/{spec['git']['path']}"  # in the artifact
        aws = spec["aws"]
        if aws.get("fluxOnFargate"):  # no EKS Pod Identity on Fargate (a model rule)
            aws["workloadIdentity"] = "irsa"
        if "roleArn" in aws:  # a role of the cluster's own account
            parts = aws["roleArn"].split(":")
            aws["roleArn"] = ":".join([*parts[:4], aws["accountId"], *parts[5:]])
        if spec["aws"]["region"].startswith(("cn-", "us-gov-")):
            spec.get("ecr", {}).pop("pull", None)  # the example registry is in partition aws
            spec.pop("sops", None)  # and so are the example keys
        for source in slack.get("eventSources", []):
            if source.get("matchLabels") == {}:
                del source["matchLabels"]
        registry = flux.get("registry")
        if registry is not None:  # the mirror's rules (definition/flux.py, FluxRegistry)
            if "credentialFrom" not in registry or types_model.ecr_location(registry["url"]):
                for key in ("credentialFrom", "pullSecret"):
                    registry.pop(key, None)
            if registry["url"].rstrip("/") in flux_model.KNOWN_REGISTRY_VARIANTS:
                registry.pop("variant", None)
            if "artifact" in registry:  # on the registry's host (never ECR)
                path = registry["artifact"].removeprefix("oci://").split("/", 1)[1]
                registry["artifact"] = f"oci://{registry['url'].split('/', 1)[0]}/{path}"
                if types_model.ecr_location(registry["artifact"]):
                    del registry["artifact"]
        # A credential in AWS: exactly one of an SSM parameter and a secret (a model rule).
        for source in (
            slack.get("credentialFrom"),
            spec["git"].get("githubApp", {}).get("privateKeyFrom"),
            (registry or {}).get("credentialFrom"),
        ):
            if source is not None and "ssmParameter" in source:
                source.pop("secretsManager", None)
            elif source is not None and "secretsManager" not in source:
                source["ssmParameter"] = "/flux-fleet/credential"
        return doc

    return from_schema(schema, schema, overrides, nulls=False).map(coherent)


def schema_documents() -> Strategy:
    """Anything the editor schema allows in a Cluster file: nulls, partial specs, every field
    optional (a file may leave them to _defaults.yaml)."""
    schema = editor_schema()
    return from_schema(schema["$defs"]["Cluster"], schema)


def bad_documents() -> Strategy:
    """Valid and schema-shaped definitions, mutated."""
    return mutated(valid_clusters() | schema_documents())
