"""A new AWS identity reaches the running controllers: EKS injects credentials (IRSA's webhook,
the Pod Identity agent) only when a pod starts, so adding spec.sops or ociSources, or switching
between IRSA and Pod Identity, must change the controller's pod template. The FluxInstance patches
each controller with a role with the annotation flux-fleet/aws-identity: "<mode> <role ARN>"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crdcheck import validate as crd_validate
from planutil import one
from test_aws_identity import INSTANCE, PROD, ROLE, pulling_from_ecr, with_sops
from test_flux_config import kustomized

from components.builders.flux import IDENTITY_ANNOTATION
from components.plan.runner import plan_stack

ACCOUNT = "123456789012"


def instance_spec(plan: Any) -> dict[str, Any]:
    instance = one(plan, INSTANCE)
    assert crd_validate({**instance.inputs, "apiVersion": "fluxcd.controlplane.io/v1"}) == []
    return dict(instance.inputs["spec"])


def annotations(plan: Any, folder: Path) -> dict[str, str | None]:
    """controller -> its pod template's identity annotation, once kustomize applied the
    FluxInstance's patches to Flux's Deployments as the operator does."""
    patches = instance_spec(plan).get("kustomize", {}).get("patches", [])
    folder.mkdir(exist_ok=True)
    deployments = kustomized(patches, folder)
    return {
        name: (d["spec"]["template"].get("metadata") or {})
        .get("annotations", {})
        .get(IDENTITY_ANNOTATION)
        for name, d in deployments.items()
    }


def role_name(plan: Any, resource: str) -> str:
    return str(one(plan, ROLE, resource).inputs["name"])


def test_without_an_aws_identity_no_pod_template_changes(root: Path, tmp_path: Path) -> None:
    assert set(annotations(plan_stack(root, PROD), tmp_path).values()) == {None}


def test_sops_rolls_kustomize_controller_and_a_mode_switch_rolls_it_again(
    project: Path, tmp_path: Path
) -> None:
    irsa = with_sops(project, "irsa")
    role = role_name(irsa, f"{PROD}-sops-kustomize-controller")
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    before = annotations(irsa, tmp_path / "irsa")
    assert before == {
        "source-controller": None,
        "kustomize-controller": f"irsa {arn}",
        "helm-controller": None,
        "notification-controller": None,
    }
    after = annotations(with_sops(project, "podIdentity"), tmp_path / "pod-identity")
    assert after == {**before, "kustomize-controller": f"podIdentity {arn}"}


def test_ecr_controllers_carry_their_roles(project: Path, tmp_path: Path) -> None:
    plan = pulling_from_ecr(project, "podIdentity")
    patches = instance_spec(plan)["kustomize"]["patches"]
    found = {}
    for patch in patches:
        body = json.loads(patch["patch"])
        if isinstance(body, dict) and body.get("kind") == "Deployment":
            found[patch["target"]["name"]] = body["spec"]["template"]["metadata"]["annotations"]
    assert found == {
        controller: {
            IDENTITY_ANNOTATION: "podIdentity arn:aws:iam::"
            f"{ACCOUNT}:role/{role_name(plan, f'{PROD}-ecr-{controller}')}"
        }
        for controller in ("image-reflector-controller", "source-controller")
    }
    assert (
        annotations(plan, tmp_path)["source-controller"]
        == found["source-controller"][IDENTITY_ANNOTATION]
    )
