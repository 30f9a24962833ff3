"""The fleet's rollout settings (`rollout:` in k8s-clusters/_defaults.yaml) and the two facts CI
takes from them for each cluster: its wave, and whether its deploy waits for reviewers.

- `metadata.wave` orders the deploys: wave N+1 starts when every stack of wave N succeeded.
  Left out, a cluster takes its environment's wave.
- `rollout.environments` lists each environment with its wave and whether a deploy there needs
  review. Left out, the built-in list applies: staging in wave 1 without review, production in
  wave 2 with review; wave 0 is free for canaries (`metadata.wave: 0`).
- Fail closed: an environment that is not listed needs review and deploys in the last listed
  wave, and a listed environment needs review unless it says `review: false`.
- `rollout.healthTimeout`: how long Deploy waits, after a wave's `pulumi up`, for each cluster's
  Flux to be healthy and to have applied the deployed commit (`fluxfleet status --wait`).

No I/O, no Pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import Field

from components.definition.types import Duration, Label, Model, bounded_duration

# Waves the Deploy workflow can run in one rollout: it has one job per wave slot.
MAX_WAVES = 8
MAX_WAVE = 99
# A GitHub Actions matrix holds 256 jobs. A wave job's matrix is the wave's parts, each part a
# call of the reusable workflow deploy-part.yml whose matrix is the part's stacks: a wave holds
# at most 256 parts of at most 256 stacks.
MAX_WAVE_SIZE = 256  # stacks in one part
MAX_PARTS = 256  # parts in one wave
DEFAULT_MAX_PARALLEL = 4
DEFAULT_HEALTH_TIMEOUT = "10m"

# Within a deploy job's 45 minutes, with `pulumi up` (the FluxInstance waits up to readyTimeout).
HealthTimeout = Annotated[Duration, bounded_duration("10s", "30m")]

Wave = Annotated[int, Field(ge=0, le=MAX_WAVE)]


class EnvironmentRollout(Model):
    """How the clusters of one environment roll out."""

    wave: Wave = Field(description="the wave its clusters deploy in (metadata.wave overrides)")
    review: bool = Field(
        True,
        description="deploys wait for the reviewers of the GitHub environment 'production'; "
        "false: they go through 'fleet' without review",
    )


class Rollout(Model):
    """The order and pace of `Deploy`: waves, reviews, stacks at once."""

    max_parallel: Annotated[int, Field(ge=1, le=256)] = Field(
        DEFAULT_MAX_PARALLEL, description="stacks deployed at once within a wave"
    )
    environments: dict[Label, EnvironmentRollout] | None = Field(
        None,
        description="each environment's wave and review; default: staging (wave 1, no review) "
        "and production (wave 2, review). An environment not listed needs review and deploys "
        "in the last wave",
        min_length=1,
    )
    health_timeout: HealthTimeout = Field(
        DEFAULT_HEALTH_TIMEOUT,
        description="after a wave's pulumi up, how long Deploy waits for each cluster's Flux to be "
        "healthy and to have applied the deployed commit (fluxfleet status --wait), 10s to 30m; "
        "then the wave fails and no later wave starts",
    )


BUILTIN_ENVIRONMENTS: Mapping[str, EnvironmentRollout] = {
    "staging": EnvironmentRollout(wave=1, review=False),
    "production": EnvironmentRollout(wave=2, review=True),
}


def environments(rollout: Rollout) -> Mapping[str, EnvironmentRollout]:
    return rollout.environments if rollout.environments is not None else BUILTIN_ENVIRONMENTS


def environment_rollout(rollout: Rollout, environment: str) -> EnvironmentRollout:
    """The settings of `environment`; for one that is not listed: review, in the last wave."""
    listed = environments(rollout)
    if environment in listed:
        return listed[environment]
    return EnvironmentRollout(wave=max(e.wave for e in listed.values()), review=True)


def wave_of(rollout: Rollout, environment: str, wave: int | None) -> int:
    """A cluster's wave: its own metadata.wave, else its environment's."""
    return wave if wave is not None else environment_rollout(rollout, environment).wave


def github_environment(rollout: Rollout, environment: str) -> str:
    """The GitHub environment a cluster deploys through: 'production' (reviewers) or 'fleet'."""
    return "production" if environment_rollout(rollout, environment).review else "fleet"


def parts(size: int) -> int:
    """The parts a wave of `size` clusters runs in: one per 256 (a matrix holds 256 jobs)."""
    return -(-size // MAX_WAVE_SIZE)


def wave_problem(waves: Iterable[int]) -> str | None:
    """What stops these clusters' waves (one per cluster) from running in one Deploy: more
    distinct waves than it has wave jobs, or a wave of more parts than a matrix holds."""
    sizes: dict[int, int] = {}
    for wave in waves:
        sizes[wave] = sizes.get(wave, 0) + 1
    shown = ", ".join(f"{wave}: {size}" for wave, size in sorted(sizes.items()))
    if len(sizes) > MAX_WAVES:
        return (
            f"{len(sizes)} distinct waves ({shown} clusters), expected at most {MAX_WAVES}: the "
            "Deploy workflow runs one job per wave; give more clusters the same wave"
        )
    too_big = [wave for wave, size in sorted(sizes.items()) if parts(size) > MAX_PARTS]
    if too_big:
        return (
            f"wave {too_big[0]} has {sizes[too_big[0]]} clusters, expected at most "
            f"{MAX_PARTS * MAX_WAVE_SIZE} ({MAX_PARTS} parts of {MAX_WAVE_SIZE}, each a GitHub "
            "Actions matrix): give some of its clusters another wave"
        )
    return None
