"""Which OCI tags a change moves, wave by wave: `fluxfleet rollout --artifacts`, what the
producer workflow (.github/workflows/flux-artifact.yml) runs.

A cluster that syncs the OCI artifact of the fleet repository's flux/ tree (spec.sync kind oci)
is not changed by its stack when that tree changes: the workflow pushes the tree as a new
artifact, tagged with the commit, and moving the tag the cluster follows (default: its
environment) is its deploy. So a change to the tree touches such a cluster *through the
artifact*: every path under flux/ but the other clusters' folders (flux/clusters/<other>). The
tags move in the clusters' rollout waves, a reviewed environment's wave after its review; the
clusters that follow one tag must share a wave (moving it moves them all). No Pulumi here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.builders.options import sync_options
from components.definition.cluster import Cluster
from components.definition.rollout import github_environment
from components.definition.sources import ARTIFACT_ROOT
from components.loading.fleet import Fleet
from components.names import FLUX_CLUSTERS_DIR
from components.problems import Problem, one_line
from components.tools.snapshots import AffectedError


@dataclass(frozen=True)
class ArtifactTag:
    """One tag of one artifact repository, and the clusters that follow it."""

    repository: str  # oci://<registry host>/<repository>
    tag: str
    clusters: tuple[str, ...]
    wave: int
    review: bool  # a cluster of a reviewed environment follows it
    sign: bool  # a cluster that follows it verifies the signature (spec.sync.verify)
    reasons: tuple[str, ...] = ()

    def entry(self) -> dict[str, Any]:
        return {"repository": self.repository, "tag": self.tag, "clusters": list(self.clusters)}


def in_artifact_tree(cluster: Cluster, path: str) -> bool:
    """Whether a change to `path` (relative to the repository) changes what `cluster` syncs from
    the artifact: anything under flux/ but another cluster's folder."""
    if not path.startswith(ARTIFACT_ROOT):
        return False
    if not path.startswith(f"{FLUX_CLUSTERS_DIR}/"):
        return True
    return path.startswith(cluster.git_path.rstrip("/") + "/")


def artifact_tags(
    fleet: Fleet, paths: Sequence[str] | None, *, strict: bool = True
) -> list[ArtifactTag]:
    """The tags a change of `paths` moves (None: every tag of the fleet), ordered by wave, then
    repository and tag. One tag followed by clusters of several waves is an AffectedError when
    `strict` (what the producer workflow runs), else moved in the first of them (what
    `affected` reports; `fluxfleet validate` refuses such a fleet)."""
    followers: dict[tuple[str, str], list[Cluster]] = defaultdict(list)
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name in sorted(fleet.clusters):
        cluster = fleet.clusters[name]
        oci = cluster.oci_source
        if oci is None or oci.registry is None or oci.repository is None:
            continue
        changed = (
            ["every tag"] if paths is None else [p for p in paths if in_artifact_tree(cluster, p)]
        )
        if not changed:
            continue
        sync = sync_options(cluster, fleet.registries)  # what its FluxInstance syncs
        key = (sync.url, sync.ref)
        followers[key].append(cluster)
        reasons[key] += changed
    tags = [_tag(fleet, key, clusters, reasons[key], strict) for key, clusters in followers.items()]
    return sorted(tags, key=lambda t: (t.wave, t.repository, t.tag))


def _waves_message(fleet: Fleet, key: tuple[str, str], clusters: Sequence[Cluster]) -> str:
    waves = sorted({fleet.wave(c) for c in clusters})
    names = ", ".join(f"{c.name} (wave {fleet.wave(c)})" for c in clusters)
    return (
        f"{key[0]}:{key[1]}: followed by clusters of waves {', '.join(map(str, waves))} "
        f"({names}); moving a tag moves every cluster that follows it, expected one wave per "
        "tag (give the others a spec.sync.tag of their own)"
    )


def tag_wave_problems(fleet: Fleet) -> list[Problem]:
    """For `fluxfleet validate`: each tag followed by clusters of several waves, on the
    definition of each of them (which one should move is the team's choice)."""
    problems = []
    for tag in artifact_tags(fleet, None, strict=False):
        clusters = [fleet.clusters[name] for name in tag.clusters]
        if len({fleet.wave(c) for c in clusters}) > 1:
            message = _waves_message(fleet, (tag.repository, tag.tag), clusters)
            problems += [Problem(fleet.files[c.name], "spec.sync.tag", message) for c in clusters]
    return problems


def _tag(
    fleet: Fleet,
    key: tuple[str, str],
    clusters: Sequence[Cluster],
    reasons: Iterable[str],
    strict: bool,
) -> ArtifactTag:
    waves = sorted({fleet.wave(c) for c in clusters})
    if len(waves) > 1 and strict:
        raise AffectedError([_waves_message(fleet, key, clusters)])
    rollout = fleet.rollout
    return ArtifactTag(
        repository=key[0],
        tag=key[1],
        clusters=tuple(c.name for c in clusters),
        wave=waves[0],
        review=any(
            github_environment(rollout, c.metadata.environment) != "fleet" for c in clusters
        ),
        sign=any(c.oci_source is not None and c.oci_source.verify for c in clusters),
        reasons=tuple(dict.fromkeys(reasons)),
    )


@dataclass(frozen=True)
class ArtifactPlan:
    tags: tuple[ArtifactTag, ...]

    def document(self) -> dict[str, Any]:
        """JSON for the producer workflow: the repositories to push to (and whether to sign
        there), and the waves of tags to move, each with its review."""
        signing: dict[str, bool] = defaultdict(bool)
        for tag in self.tags:
            signing[tag.repository] |= tag.sign
        waves: dict[int, list[ArtifactTag]] = defaultdict(list)
        for tag in self.tags:
            waves[tag.wave].append(tag)
        return {
            "repositories": [{"url": url, "sign": sign} for url, sign in sorted(signing.items())],
            "waves": [
                {
                    "wave": wave,
                    "review": any(t.review for t in waves[wave]),
                    "tags": [t.entry() for t in waves[wave]],
                }
                for wave in sorted(waves)
            ],
        }

    def text(self) -> str:
        if not self.tags:
            return "No artifact tag to move.\n"
        lines = [
            f"{len(self.tags)} artifact tag(s) to move, wave by wave (the clusters that follow "
            "them deploy through the artifact, not their stacks):"
        ]
        for tag in self.tags:
            gate = "reviewed" if tag.review else "no review"
            signed = ", signed" if tag.sign else ""
            lines.append(
                f"wave {tag.wave}: {tag.repository}:{tag.tag} ({gate}{signed}) -> "
                f"{', '.join(tag.clusters)}: {'; '.join(tag.reasons)}"
            )
        return "".join(f"{one_line(line)}\n" for line in lines)
