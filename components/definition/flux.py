"""spec.flux: which Flux, how it is installed and tuned (the FluxInstance the operator reconciles).

Every field beyond version, components, size, network policy and tolerations maps to one field of
the Flux Operator's FluxInstance (v1, operator 0.58): `patches` to spec.kustomize.patches,
`multitenant`/`tenantDefaultServiceAccount`/`clusterDomain` to spec.cluster, `registry` to
spec.distribution (and the pull Secret made from its credentialFrom), `storage` to spec.storage,
`commonMetadata` to spec.commonMetadata; `operatorImage` and `operatorChart` are the operator's
Helm release's. Left out, each keeps what the operator does by default (and today's plans
unchanged).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, Field, ValidationError, model_validator

from components import yamlio
from components.definition.secrets import SecretSource
from components.definition.types import (
    ChartVersion,
    CoreComponent,
    Duration,
    ExtraComponent,
    FluxVersion,
    KeyAlgorithm,
    Label,
    LabelKey,
    LabelValue,
    Model,
    Subdomain,
    TolerationKey,
    bounded_duration,
    ecr_location,
    field_error,
    go_fullmatch,
    go_regex,
    pattern,
    unique,
)
from components.names import SYNC_SOURCE_NAME

# Pinned by the project: Flux 2.9 and the Flux Operator release that embeds it (docs/reference/
# definition.md; the CRDs the tests check against are listed in tests/upstream/SOURCES).
DEFAULT_FLUX_VERSION = "2.9.x"
DEFAULT_OPERATOR_VERSION = "0.58.1"
CORE_COMPONENTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
REQUIRED_COMPONENTS = ("source-controller", "kustomize-controller")
NOTIFICATION_CONTROLLER = "notification-controller"  # Alerts and Providers need its CRDs
# What the operator installs (Flux's install manifests, and the sync objects it generates, which
# its patches reach too): the kinds a patch can target.
SYNC_KINDS = ("GitRepository", "OCIRepository", "Kustomization")  # all named flux-system
INSTALLED_KINDS = (
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "Service",
    "ServiceAccount",
    *SYNC_KINDS,
)
# Kinds of which each controller has one, named after it: a target name must match a controller.
PER_CONTROLLER_KINDS = frozenset({"Deployment", "ServiceAccount"})
JSON6902_OPS = ("add", "remove", "replace", "move", "copy", "test")
TOLERATIONS_PATH = "/spec/template/spec/tolerations"  # what tolerationKeys writes
IMAGE_REGISTRY = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
OCI_CHART = r"^oci://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$"
OCI_ARTIFACT = OCI_CHART.removesuffix("$") + r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"

ImageRegistry = Annotated[
    str,
    pattern(
        IMAGE_REGISTRY,
        "an image registry and path, without scheme or tag, such as "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ghcr/fluxcd",
    ),
    Field(max_length=255),
]
OciChart = Annotated[
    str,
    pattern(
        OCI_CHART, "an OCI chart reference such as oci://registry.example.com/charts/flux-operator"
    ),
    Field(max_length=255),
]
OciArtifact = Annotated[
    str,
    pattern(
        OCI_ARTIFACT,
        "an OCI artifact reference such as "
        "oci://registry.example.com/controlplaneio-fluxcd/flux-operator-manifests",
    ),
    Field(max_length=255),
]
ImageRepository = Annotated[
    str,
    pattern(
        IMAGE_REGISTRY,
        "an image repository without scheme or tag, such as "
        "registry.example.com/controlplaneio-fluxcd/flux-operator",
    ),
    Field(max_length=255),
]
# The distribution variants the operator knows (the FluxInstance CRD's enum of
# spec.distribution.variant), and the registries it maps to a variant itself (flux-operator
# 0.58, internal/builder/images.go, ExtractComponentImagesWithDigest). Any other registry, a
# mirror, needs the variant written out, or the operator fails with "unsupported registry".
FLUX_VARIANTS = (
    "upstream-alpine",
    "enterprise-alpine",
    "enterprise-distroless",
    "enterprise-distroless-fips",
)
KNOWN_REGISTRY_VARIANTS = {
    "fluxcd": "upstream-alpine",
    "ghcr.io/fluxcd": "upstream-alpine",
    "ghcr.io/controlplaneio-fluxcd/alpine": "enterprise-alpine",
    "ghcr.io/controlplaneio-fluxcd/distroless": "enterprise-distroless",
    "709825985650.dkr.ecr.us-east-1.amazonaws.com/controlplane/fluxcd": "enterprise-distroless",
    "ghcr.io/controlplaneio-fluxcd/distroless-fips": "enterprise-distroless-fips",
}
MIRROR_VARIANT = "upstream-alpine"  # what a mirror of ghcr.io/fluxcd, the default, holds
DEFAULT_PULL_SECRET = "flux-registry"
Quantity = Annotated[str, pattern(QUANTITY, "a Kubernetes quantity such as 10Gi")]
# A variable name kustomize-controller substitutes (fluxcd/pkg kustomize/kustomize_varsub.go,
# varsubRegex "^[_[:alpha:]][_[:alpha:][:digit:]]*$"; one invalid key fails the whole postBuild).
SUBSTITUTION_VARIABLE = r"^[_A-Za-z][_A-Za-z0-9]{0,252}$"
SubstitutionVariable = Annotated[
    str,
    pattern(
        SUBSTITUTION_VARIABLE,
        "a Flux substitution variable name: letters, digits and '_', not starting with a digit, "
        "such as team_name",
    ),
]
# What a runtime-info value must not look like: the ConfigMap is readable by whoever reads
# flux-system, and Pulumi shows its data in plans. A secret goes through a Secret instead.
_BASE64_40 = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
SECRET_LOOKING = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*(PRIVATE KEY|CERTIFICATE)"), "a PEM block"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key ID"),
    (re.compile(r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_"), "a GitHub token"),
    (re.compile(r"\bxox[abposr]-"), "a Slack token"),
    (re.compile(r"hooks\.slack\.com/services/"), "a Slack webhook URL"),
    (re.compile(r"://[^/@\s]+@"), "a URL with credentials"),
)
# The facts the stack writes (builders/runtime_info.py), plus flux_<controller>_role_arn: a
# runtimeInfo entry cannot override one.
RUNTIME_FACTS = (
    "cluster_name",
    "cluster_environment",
    "aws_account_id",
    "aws_region",
    "aws_partition",
    "eks_cluster_name",
    "eks_oidc_issuer",
    "ecr_registries",
)
ROLE_FACT = re.compile(r"^flux_[a-z_]+_role_arn$")


def role_fact(controller: str) -> str:
    """The runtime-info key of a controller's role ARN (flux_source_controller_role_arn)."""
    return f"flux_{controller.replace('-', '_')}_role_arn"


def _aws_secret_key(value: str) -> bool:
    """40 base64 characters mixing cases and digits (an AWS secret access key's shape; a Git
    commit SHA, lowercase hex, is not one)."""
    return any(
        re.search(r"[A-Z]", m) and re.search(r"[a-z]", m) and re.search(r"[0-9]", m)
        for m in _BASE64_40.findall(value)
    )


def _not_secret(value: str) -> str:
    if any(c in value for c in "\n\r\t\0"):
        raise ValueError("expected one line of text, without control characters")
    found = next((what for regex, what in SECRET_LOOKING if regex.search(value)), None)
    if found is None and _aws_secret_key(value):
        found = "an AWS secret access key (40 base64 characters)"
    if found is not None:
        raise ValueError(
            f"looks like {found}: runtimeInfo is a plain ConfigMap, expected a non-secret "
            "value (a secret belongs in a Secret the Kustomization substitutes from)"
        )
    return value


RuntimeInfoValue = Annotated[str, Field(max_length=4096), AfterValidator(_not_secret)]
# Durations of the FluxInstance: the `pulumi up` wait, and the operator's annotations
ReadyTimeout = Annotated[Duration, bounded_duration("1m", "2h")]
ReconcileEvery = Annotated[Duration, bounded_duration("1m", "24h")]
ReconcileTimeout = Annotated[Duration, bounded_duration("30s", "1h")]


def _has_required(components: list[str]) -> list[str]:
    missing = [c for c in REQUIRED_COMPONENTS if c not in components]
    if missing:
        raise ValueError(
            f"expected to include {' and '.join(REQUIRED_COMPONENTS)}, missing {', '.join(missing)}"
        )
    return components


class PatchTarget(Model):
    """Which objects of the installation a patch applies to (kustomize's selector)."""

    group: str | None = None
    version: str | None = None
    kind: Literal[INSTALLED_KINDS] | None = Field(  # type: ignore[valid-type]
        None, description="a kind the operator installs"
    )
    name: Annotated[str, AfterValidator(go_regex)] | None = Field(
        None,
        description="a regular expression the whole name matches, such as "
        "(kustomize|helm)-controller",
    )
    namespace: Label | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


def _patch(text: str) -> str:
    """A strategic-merge patch (a mapping naming its object) or a JSON6902 list of operations."""
    try:
        doc = yamlio.load(text)
    except (yamlio.YAMLError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"expected a YAML patch, got invalid YAML ({first})") from None
    if isinstance(doc, list):
        for i, op in enumerate(doc):
            if not (isinstance(op, dict) and op.get("op") in JSON6902_OPS):
                raise ValueError(
                    f"operation {i}: expected op: one of {', '.join(JSON6902_OPS)} (JSON6902)"
                )
            if not (isinstance(op.get("path"), str) and op["path"].startswith("/")):
                raise ValueError(f"operation {i}: expected a path such as /spec/replicas")
            if op["op"] in ("add", "replace", "test") and "value" not in op:
                raise ValueError(f"operation {i}: expected a value for op {op['op']}")
        if not doc:
            raise ValueError("expected at least one JSON6902 operation")
        return text
    if isinstance(doc, dict):
        if not isinstance(doc.get("kind"), str) or not isinstance(
            (doc.get("metadata") or {}).get("name"), str
        ):
            raise ValueError(
                "expected a strategic-merge patch naming its object (apiVersion, kind, "
                "metadata.name)"
            )
        return text
    raise ValueError(
        "expected a strategic-merge patch (a mapping with kind and metadata.name) or a "
        "JSON6902 list of operations (op, path)"
    )


class FluxPatch(Model):
    """One kustomize patch on what the operator installs (FluxInstance spec.kustomize.patches)."""

    target: PatchTarget | None = Field(
        None, description="which objects; required for a JSON6902 patch"
    )
    patch: Annotated[str, AfterValidator(_patch)] = Field(
        min_length=1, max_length=65_536, description="YAML: a strategic-merge patch or JSON6902"
    )

    @property
    def is_json6902(self) -> bool:
        return isinstance(yamlio.load(self.patch), list)

    @property
    def replaces_tolerations(self) -> bool:
        """Whether it sets a controller Deployment's whole tolerations list (what
        tolerationKeys sets): a JSON6902 operation on that path, or a strategic-merge patch
        with tolerations (a list without a merge key: replaced whole). Appending
        (`/spec/template/spec/tolerations/-`) keeps the others."""
        if self.target is not None and self.target.kind not in (None, "Deployment"):
            return False
        doc = yamlio.load(self.patch)
        if isinstance(doc, list):
            return any(
                op.get("path") == TOLERATIONS_PATH or op.get("from") == TOLERATIONS_PATH
                for op in doc
            )
        pod: Any = doc
        for key in ("spec", "template", "spec"):  # any level may be a person's non-mapping
            pod = pod.get(key) if isinstance(pod, dict) else None
        return doc.get("kind") == "Deployment" and isinstance(pod, dict) and "tolerations" in pod

    @model_validator(mode="after")
    def _json6902_has_a_target(self) -> FluxPatch:
        if self.is_json6902 and (self.target is None or self.target.kind is None):
            error = field_error(
                ("target",), None, "required for a JSON6902 patch: expected a target with a kind"
            )
            raise ValidationError.from_exception_data("FluxPatch", [error])  # type: ignore[list-item]
        return self


class RegistryCredentialFrom(SecretSource):
    """A registry's credentials: the username, and where in AWS its password or token is (read
    at apply time, like the Slack and GitHub App credentials)."""

    username: Annotated[
        str,
        pattern(
            r"^[!-9;-~]+$",
            "a registry username: printable ASCII, without ':' or spaces",
            max_length=255,
        ),
    ] = Field(description="the registry username, such as flux (not a secret)")


def registry_host(reference: str) -> str:
    """The host (and port) of an image, chart or artifact reference."""
    return reference.removeprefix("oci://").split("/", 1)[0]


class FluxRegistry(Model):
    """Where the Flux controller images come from (FluxInstance spec.distribution), and, for a
    registry that needs credentials other than ECR's, where they are kept in AWS."""

    url: ImageRegistry = Field(description="where the controller images are pulled from")
    variant: Literal[FLUX_VARIANTS] | None = Field(  # type: ignore[valid-type]
        None,
        description="the distribution the registry holds; default upstream-alpine for a mirror "
        "(the operator names the variant of ghcr.io/fluxcd and ControlPlane's registries itself)",
    )
    credential_from: RegistryCredentialFrom | None = Field(
        None,
        description="the registry's username, and its password or token in AWS: flux-fleet "
        "creates the kubernetes.io/dockerconfigjson Secret pullSecret from them (not for ECR: "
        "the nodes' role pulls)",
    )
    pull_secret: Subdomain | None = Field(
        None,
        description=f"the name of the Secret made from credentialFrom (default "
        f"{DEFAULT_PULL_SECRET}); only with credentialFrom",
    )
    artifact: OciArtifact | None = Field(
        None,
        description="distribution.artifact: the operator's manifests artifact on the same "
        "registry host, polled for the newest patch releases; left out, the operator uses the "
        "manifests in its image (nothing is downloaded: the air-gapped setting)",
    )

    @property
    def is_ecr(self) -> bool:
        return ecr_location(self.url) is not None

    @property
    def host(self) -> str:
        return registry_host(self.url)

    @property
    def secret_name(self) -> str | None:
        """The pull Secret flux-fleet creates (None: no credential, no Secret)."""
        if self.credential_from is None:
            return None
        return self.pull_secret or DEFAULT_PULL_SECRET

    @property
    def distribution_variant(self) -> str | None:
        """The variant written into the FluxInstance: the definition's, else upstream-alpine
        for a registry the operator does not know (a mirror), else none (it knows it)."""
        if self.variant is not None:
            return self.variant
        return None if self.url.rstrip("/") in KNOWN_REGISTRY_VARIANTS else MIRROR_VARIANT

    @model_validator(mode="after")
    def _credentials_where_needed(self) -> FluxRegistry:
        errors = []
        if self.pull_secret is not None and self.credential_from is None:
            errors.append(
                field_error(
                    ("pullSecret",),
                    self.pull_secret,
                    "a pull Secret needs a source: expected credentialFrom (the username, and "
                    "ssmParameter or secretsManager for the password or token)",
                )
            )
        if self.is_ecr and self.credential_from is not None:
            errors.append(
                field_error(
                    ("credentialFrom",),
                    None,
                    "an ECR registry needs no pull Secret (the nodes' role pulls, with "
                    "spec.ecr.nodeRoleNames; a Secret's ECR token would expire in 12 hours): "
                    "expected no credentialFrom",
                )
            )
        known = KNOWN_REGISTRY_VARIANTS.get(self.url.rstrip("/"))
        if known is not None and self.variant not in (None, known):
            errors.append(
                field_error(
                    ("variant",),
                    self.variant,
                    f"{self.url} holds {known}, expected variant {known} or none",
                )
            )
        if self.artifact is not None and ecr_location(self.artifact) is not None:
            errors.append(
                field_error(
                    ("artifact",),
                    self.artifact,
                    "the operator pulls the artifact only with a static pull Secret, and an ECR "
                    "token expires in 12 hours: expected no artifact (the operator then uses "
                    "the manifests in its image) or one on a registry that is not ECR",
                )
            )
        elif self.artifact is not None and registry_host(self.artifact) != self.host:
            errors.append(
                field_error(
                    ("artifact",),
                    self.artifact,
                    f"expected an artifact on the registry's host {self.host} (pulled with its "
                    f"pull Secret), got host {registry_host(self.artifact)}",
                )
            )
        if errors:
            raise ValidationError.from_exception_data("FluxRegistry", errors)  # type: ignore[arg-type]
        return self


class FluxStorage(Model):
    """A persistent volume for source-controller's artifacts (FluxInstance spec.storage)."""

    class_name: Subdomain = Field(alias="class", description="the StorageClass, such as gp3")
    size: Quantity = Field(description="such as 10Gi")


class CommonMetadata(Model):
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)
    annotations: dict[LabelKey, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=50
    )


class DeployKeySpec(Model):
    algorithm: KeyAlgorithm = "ECDSA-P384"
    rotation: int = Field(1, ge=1, le=10_000, description="bump to rotate the key pair")
    read_write: bool | None = Field(
        None,
        description="the fleet repository's key read-write (for image-automation-controller's "
        "pushes there); default: true when image-automation-controller runs and no "
        "spec.apps entry takes its pushes (imageAutomation), else false",
    )


class FluxSpec(Model):
    version: FluxVersion = DEFAULT_FLUX_VERSION
    operator_version: ChartVersion = DEFAULT_OPERATOR_VERSION
    components: Annotated[
        list[CoreComponent], AfterValidator(unique), AfterValidator(_has_required)
    ] = Field(
        default_factory=lambda: cast("list[CoreComponent]", list(CORE_COMPONENTS)),
        min_length=1,
    )
    components_extra: Annotated[list[ExtraComponent], AfterValidator(unique)] = Field(
        default_factory=list
    )
    size: Literal["small", "medium", "large"] = "medium"
    network_policy: bool = True
    toleration_keys: Annotated[list[TolerationKey], AfterValidator(unique)] = Field(
        default_factory=list, max_length=20
    )
    deploy_key: DeployKeySpec = Field(default_factory=DeployKeySpec)
    patches: list[FluxPatch] = Field(
        default_factory=list,
        max_length=50,
        description="kustomize patches on the installation; _defaults.yaml's come first, then "
        "the cluster's",
    )
    multitenant: bool = Field(
        False, description="lock Flux down for multi-tenancy (cluster.multitenant)"
    )
    tenant_default_service_account: Label | None = Field(
        None,
        description='with multitenant: the tenants\' default ServiceAccount (default "default")',
    )
    cluster_domain: Subdomain | None = Field(
        None, description="the cluster's DNS domain (default cluster.local)"
    )
    registry: FluxRegistry | None = Field(
        None, description="a mirror of the controller images (default ghcr.io/fluxcd)"
    )
    operator_chart: OciChart | None = Field(
        None,
        description="a mirror of the flux-operator chart (air-gapped clusters); on ECR, pulled "
        "with an ECR token the stack gets at `pulumi up`",
    )
    operator_image: ImageRepository | None = Field(
        None,
        description="a mirror of the flux-operator image, the chart's image.repository "
        "(default ghcr.io/controlplaneio-fluxcd/flux-operator)",
    )
    storage: FluxStorage | None = None
    common_metadata: CommonMetadata | None = Field(
        None, description="labels and annotations on every object Flux's installation creates"
    )
    runtime_info: dict[SubstitutionVariable, RuntimeInfoValue] | None = Field(
        None,
        max_length=100,
        description="hand the cluster's facts to Flux: the ConfigMap flux-runtime-info in "
        "flux-system (cluster_name, aws_region, ...) plus these entries, substituted "
        "(postBuild.substituteFrom) in what the cluster's folder applies; {} for the facts "
        "alone; left out: no ConfigMap, no substitution",
    )
    ready_timeout: ReadyTimeout | None = Field(
        None, description="how long `pulumi up` waits for the FluxInstance to be Ready (10m)"
    )
    reconcile_every: ReconcileEvery | None = Field(
        None,
        description="how often the operator reconciles the FluxInstance "
        "(fluxcd.controlplane.io/reconcileEvery; operator default 1h)",
    )
    reconcile_timeout: ReconcileTimeout | None = Field(
        None,
        description="the operator's timeout for one reconciliation of the FluxInstance "
        "(fluxcd.controlplane.io/reconcileTimeout; operator default 5m)",
    )
    adopt: bool = Field(
        False,
        description="take over a cluster bootstrapped by flux bootstrap or the Terraform "
        "provider: the flux-system namespace and Secret are adopted, not recreated "
        "(needs spec.git.path: the path the bootstrap syncs)",
    )

    @model_validator(mode="after")
    def _targets_match_controllers(self) -> FluxSpec:
        errors = []
        if self.tenant_default_service_account is not None and not self.multitenant:
            errors.append(
                field_error(
                    ("tenantDefaultServiceAccount",),
                    self.tenant_default_service_account,
                    "only with multitenant: true, expected multitenant: true or no "
                    "tenantDefaultServiceAccount",
                )
            )
        for i, patch in enumerate(self.patches):
            if self.toleration_keys and patch.replaces_tolerations:
                errors.append(
                    field_error(
                        ("patches", i, "patch"),
                        None,
                        f"sets {TOLERATIONS_PATH}, which would replace the tolerations of "
                        "spec.flux.tolerationKeys; expected one of them: add the taint keys to "
                        f"tolerationKeys, or append with op add and path {TOLERATIONS_PATH}/-",
                    )
                )
            target = patch.target
            if target is None or target.name is None:
                continue
            names = (
                self.all_components
                if target.kind in PER_CONTROLLER_KINDS
                else [SYNC_SOURCE_NAME]
                if target.kind in SYNC_KINDS
                else None
            )
            if names is not None and not any(go_fullmatch(target.name, n) for n in names):
                errors.append(
                    field_error(
                        ("patches", i, "target", "name"),
                        target.name,
                        f'"{target.name}" matches no {target.kind} the operator installs here, '
                        f"expected one of {', '.join(names)}",
                    )
                )
        for key in self.runtime_info or {}:
            if key in RUNTIME_FACTS or ROLE_FACT.match(key):
                errors.append(
                    field_error(
                        ("runtimeInfo", key),
                        key,
                        f'"{key}" is one of the facts the stack writes, expected another name '
                        f"(the facts: {', '.join(RUNTIME_FACTS)}, flux_<controller>_role_arn)",
                    )
                )
        if errors:
            raise ValidationError.from_exception_data("FluxSpec", errors)  # type: ignore[arg-type]
        return self

    @property
    def all_components(self) -> list[str]:
        return [*self.components, *self.components_extra]

    @property
    def pushes_to_git(self) -> bool:
        """image-automation-controller commits image updates: only then is the key read-write."""
        return "image-automation-controller" in self.components_extra
