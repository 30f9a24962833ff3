"""Equivalence classes of stacks for the pull request preview: stacks whose offline plans are the
same once each cluster's identity is set aside.

A change every cluster reads (`_defaults.yaml`, a shared registry) touches thousands of stacks,
but most of them would change in the same way: they differ only in who they are (the cluster's
name, AWS account, region and EKS cluster name, and what derives from them: ARNs, URNs, the Git
path, role and node names). The Preview workflow runs the real `pulumi preview` for one stack of
each class (tools/previews.py) and covers the others with the class's offline plan.

The identity is set aside by writing each of its values, where it stands as a whole word, as a
placeholder (`<name>`, `<account>`, `<region>`, `<eks-cluster>`) in the plan's JSON document
(render.preview_json: every input, option and output, secrets masked). What is not written with
an identity value, such as a digest of a document holding the cluster's name, still tells two
stacks apart: a class may be smaller than it could be, never larger. No Pulumi here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from components.definition.cluster import Cluster
from components.plan.render import dumps, preview_json
from components.plan.result import StackPlan


@dataclass(frozen=True)
class Identity:
    """What makes a stack this cluster rather than another: (placeholder, value) pairs."""

    values: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, stack: str, cluster: Cluster | None) -> Identity:
        """A cluster stack's name, account, region and EKS cluster name; another stack (the
        registries) has only its name: it is a class of its own."""
        values = [("<stack>", stack)]
        if cluster is not None:
            aws = cluster.spec.aws
            values += [
                ("<eks-cluster>", cluster.eks_cluster_name),
                ("<name>", cluster.name),
                ("<account>", aws.account_id),
                ("<region>", aws.region),
            ]
        return cls(tuple(values))

    def pattern(self) -> re.Pattern[str]:
        """The values as whole words (not inside a longer name), the longest first: an EKS
        cluster named after the cluster is one placeholder, not a name and a suffix. The region
        only where it is this cluster's: not in another account's ARN (region:account) nor in an
        ECR registry's address (a registry's region is no part of the cluster's identity)."""
        values = {placeholder: value for placeholder, value in self.values}
        region, account = values.get("<region>"), values.get("<account>")
        alternatives = []
        for word in sorted({v for v in values.values() if v}, key=len, reverse=True):
            if word == region and account:
                foreign = rf"(?!:(?!{re.escape(account)})\d{{12}})"
                alternatives.append(rf"(?<!dkr\.ecr\.){re.escape(word)}{foreign}")
            else:
                alternatives.append(re.escape(word))
        return re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(alternatives)})(?![A-Za-z0-9])")

    def set_aside(self, text: str) -> str:
        placeholder: dict[str, str] = {}
        for name, value in self.values:
            placeholder.setdefault(value, name)
        return self.pattern().sub(lambda match: placeholder[match.group(0)], text)


def identity_free(plan: StackPlan, identity: Identity) -> str:
    """The plan's JSON document with the identity set aside."""
    return identity.set_aside(dumps(preview_json(plan)))


def class_key(plan: StackPlan, identity: Identity) -> str:
    """A short digest of the identity-free plan: equal keys, one class. A stack of another kind
    than a cluster keeps its own name in its key (its identity is the only one of its kind)."""
    kind = "cluster" if len(identity.values) > 1 else plan.stack
    text = identity_free(plan, identity)
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def group(keys: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """(stack, key) pairs as key -> its stacks, classes and stacks in order of appearance."""
    classes: dict[str, list[str]] = {}
    for stack, key in keys:
        classes.setdefault(key, []).append(stack)
    return classes
