"""What a real `pulumi up` would do going from one plan to the next: a model of the engine's and
the providers' decisions, each rule with the source it follows (read in the providers' code):

- A URN only in the new plan is created; one only in the old plan is deleted, after everything
  else (the engine deletes removed resources last).
- A URN in both is replaced when its provider is replaced, when its `replacementTrigger` changed
  from one value to another (pulumi `pkg/resource/deploy/step_generator.go`,
  `shouldTriggerReplace`: no old value is no replacement), or when an input its provider marks
  as forcing a new resource changed; otherwise updated when its inputs changed:
  * the Kubernetes provider: only a changed `clusterIdentifier` (pulumi-kubernetes
    `provider/pkg/provider/provider.go`, `DiffConfig`); other providers: never (the
    terraform bridge's `DiffConfig`, `pkg/tfbridge/provider.go`: only fields marked
    `ForcesProviderReplace`, none in pulumi-github);
  * a Kubernetes object: its name or namespace; a Secret also its `type`, `data`, `stringData`
    unless its provider has `enableSecretMutable` (`provider/pkg/provider/diff.go`,
    `forceNewProperties`). A replaced object that keeps its name and namespace is replaced
    delete-first (`provider.go`, `Diff`: `deleteBeforeReplace`);
  * `github.RepositoryDeployKey`: every input, delete-first (pulumi-github
    `provider/resources.go`: `DeleteBeforeReplace: true`); `tls.PrivateKey`: every input;
  * the EKS access entry, its policy association and a Pod Identity association: the inputs
    terraform-provider-aws marks `ForceNew` (`FORCE_NEW` below);
  * `deleteBeforeReplace` set by the program makes any replacement delete-first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from test_day2 import plain

from components.plan.result import Registration, StackPlan, provider_urn

K8S_PROVIDER = "pulumi:providers:kubernetes"
SECRET = "kubernetes:core/v1:Secret"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
KEY_PAIR = "tls:index/privateKey:PrivateKey"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

# terraform-provider-aws internal/service/eks: the arguments marked ForceNew.
FORCE_NEW = {
    ACCESS_ENTRY: {"clusterName", "principalArn", "type"},
    ACCESS_POLICY: {"clusterName", "principalArn", "policyArn"},
    POD_IDENTITY: {"clusterName", "namespace", "serviceAccount"},
}


@dataclass(frozen=True)
class Step:
    op: str  # create, update, replace, delete
    urn: str
    delete_first: bool = False  # a replace that deletes the old object before creating the new


def _changed(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def _forced(reg: Registration, old: dict[str, Any], new: dict[str, Any], mutable: bool) -> bool:
    changed = _changed(old, new)
    if reg.type == K8S_PROVIDER:
        return "clusterIdentifier" in changed
    if reg.type.startswith("pulumi:providers:"):
        return False
    if reg.type.startswith("kubernetes:"):
        old_meta, new_meta = old.get("metadata", {}), new.get("metadata", {})
        if any(old_meta.get(k) != new_meta.get(k) for k in ("name", "namespace")):
            return True
        return reg.type == SECRET and not mutable and bool(changed & {"type", "data", "stringData"})
    if reg.type in (DEPLOY_KEY, KEY_PAIR):
        return bool(changed)
    return bool(changed & FORCE_NEW.get(reg.type, set()))


def _delete_first(reg: Registration, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if reg.delete_before_replace or reg.type == DEPLOY_KEY:
        return True
    if reg.type.startswith("kubernetes:"):
        old_meta, new_meta = old.get("metadata", {}), new.get("metadata", {})
        return all(old_meta.get(k) == new_meta.get(k) for k in ("name", "namespace"))
    return False


def transition(before: StackPlan, after: StackPlan) -> dict[str, Step]:
    """The step of every resource going from `before` to `after`, by URN (`same` when nothing
    changes)."""
    old = {r.urn: r for r in before.resources}
    steps: dict[str, Step] = {}
    replaced: set[str] = set()
    for reg in after.resources:  # registration order: a provider before what it serves
        if reg.urn not in old:
            steps[reg.urn] = Step("create", reg.urn)
            continue
        was = old[reg.urn]
        old_in, new_in = plain(was.inputs), plain(reg.inputs)
        provider = provider_urn(reg.provider)
        mutable = False
        if provider:
            served_by = next(r for r in after.resources if r.urn == provider)
            mutable = json.loads(served_by.inputs.get("enableSecretMutable", "false")) is True
        trigger_old, trigger_new = was.replacement_trigger, reg.replacement_trigger
        if (
            provider in replaced
            or (trigger_old is not None and trigger_new is not None and trigger_old != trigger_new)
            or _forced(reg, old_in, new_in, mutable)
        ):
            replaced.add(reg.urn)
            steps[reg.urn] = Step("replace", reg.urn, _delete_first(reg, old_in, new_in))
        elif _changed(old_in, new_in):
            steps[reg.urn] = Step("update", reg.urn)
        else:
            steps[reg.urn] = Step("same", reg.urn)
    new_urns = {r.urn for r in after.resources}
    for urn in old:
        if urn not in new_urns:
            steps[urn] = Step("delete", urn)
    return steps


def by_op(steps: dict[str, Step], op: str) -> set[str]:
    return {urn for urn, step in steps.items() if step.op == op}
