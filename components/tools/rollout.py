"""The plan of a rollout: `fluxfleet rollout [--base REF]`, and what the Deploy workflow runs.

The stacks a change touches (tools/affected.py), in the order Deploy runs them: `registries`
first (it writes the ECR grants every cluster pulls with), then the clusters wave by wave, at
most `rollout.maxParallel` at once; wave N+1 starts only when every stack of wave N succeeded.
A wave of more than 256 stacks runs in parts (a GitHub Actions matrix holds 256 jobs): the wave's
job is a matrix of its parts, each a call of a reusable workflow whose matrix is the part's
stacks; `maxParallel` is shared between the two levels (parts at once times stacks at once).
A cluster whose definition is invalid has no wave of its own: it goes last (its deploy fails, and
nothing after it is held back by it). Deleted definitions are listed apart: nothing destroys a
stack automatically. No Pulumi here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.definition.rollout import Rollout, environments, parts, wave_problem
from components.names import REGISTRIES_STACK
from components.problems import one_line
from components.tools.snapshots import AffectedError, AffectedStack


@dataclass(frozen=True)
class Wave:
    """One Deploy job: a wave, or a part of a wave of more than 256 stacks."""

    number: int
    stacks: tuple[AffectedStack, ...]
    part: int = 1
    parts: int = 1

    @property
    def label(self) -> str:
        return f"wave {self.number}" + (
            f" (part {self.part}/{self.parts})" if self.parts > 1 else ""
        )


@dataclass(frozen=True)
class RolloutPlan:
    registries: AffectedStack | None
    waves: tuple[Wave, ...]
    removed: tuple[AffectedStack, ...]
    max_parallel: int

    @property
    def stack_count(self) -> int:
        return len([self.registries] if self.registries else []) + sum(
            len(w.stacks) for w in self.waves
        )

    def document(self) -> dict[str, Any]:
        """The plan as JSON for the Deploy workflow: each part of a wave a GitHub Actions
        matrix; `slots`, one per wave, the matrix of its parts and how many run at once."""
        return {
            "maxParallel": self.max_parallel,
            "registries": self.registries.matrix_entry() if self.registries else None,
            "waves": [
                {"wave": w.number, "part": w.part, "include": [s.matrix_entry() for s in w.stacks]}
                for w in self.waves
            ],
            "slots": [self._slot(number) for number in dict.fromkeys(w.number for w in self.waves)],
            "removed": [s.stack for s in self.removed],
        }

    def _slot(self, number: int) -> dict[str, Any]:
        """One wave job of Deploy: a matrix of the wave's parts (each a call of the reusable
        workflow deploy-part.yml), with maxParallel shared between parts and stacks."""
        count = next(w.parts for w in self.waves if w.number == number)
        include = [{"wave": number, "part": k, "parts": count} for k in range(1, count + 1)]
        parts_at_once, stacks_at_once = parallelism(count, self.max_parallel)
        return {
            "wave": number,
            "parts": {"include": include},
            "partsAtOnce": parts_at_once,
            "stacksAtOnce": stacks_at_once,
        }

    def text(self) -> str:
        if self.stack_count == 0 and not self.removed:
            return "No stack to deploy.\n"
        waves = len({w.number for w in self.waves})
        lines = [
            f"Rollout of {self.stack_count} stack(s) in {waves} wave(s), at most "
            f"{self.max_parallel} at once; each wave starts when the one before succeeded."
        ]
        if self.registries is not None:
            lines.append(f"first  registries: {'; '.join(self.registries.reasons)}")
        for w in self.waves:
            lines.append(f"{w.label}:")
            for s in w.stacks:
                gate = "reviewed" if s.github_environment != "fleet" else "no review"
                lines.append(f"  {s.stack} ({gate}): {'; '.join(s.reasons)}")
        for s in self.removed:
            lines.append(f"removed {s.stack}: definition deleted, destroy it by hand")
        return "".join(f"{one_line(line)}\n" for line in lines)  # a file name is no line break


def rollout_plan(stacks: Sequence[AffectedStack], rollout: Rollout) -> RolloutPlan:
    """Group `stacks` (registries first, then by name: tools/affected.py) into waves."""
    registries = next((s for s in stacks if s.stack == REGISTRIES_STACK and not s.removed), None)
    removed = tuple(s for s in stacks if s.removed)
    clusters = [s for s in stacks if s.stack != REGISTRIES_STACK and not s.removed]
    known = [s.wave for s in clusters if s.wave is not None]
    last = max([*known, *(e.wave for e in environments(rollout).values())])
    by_wave: dict[int, list[AffectedStack]] = {}
    for s in clusters:
        by_wave.setdefault(s.wave if s.wave is not None else last, []).append(s)
    problem = wave_problem(w for w, stacks in by_wave.items() for _ in stacks)
    if problem is not None:
        raise AffectedError([f"the stacks to deploy: {problem}"])
    waves = tuple(
        Wave(n, part, i + 1, len(parts))
        for n in sorted(by_wave)
        for parts in [_parts(by_wave[n])]
        for i, part in enumerate(parts)
    )
    return RolloutPlan(registries, waves, removed, rollout.max_parallel)


def parallelism(parts: int, max_parallel: int) -> tuple[int, int]:
    """(parts at once, stacks at once in each): at most `max_parallel` stacks deploy at once in
    all, as many parts as that allows run side by side (the slowest stack of a part holds back
    only its own part's next stacks)."""
    parts_at_once = max(1, min(parts, max_parallel))
    return parts_at_once, max(1, max_parallel // parts_at_once)


def _parts(stacks: Sequence[AffectedStack]) -> list[tuple[AffectedStack, ...]]:
    """A wave cut into even parts of at most 256 stacks (one matrix each), in order."""
    count = parts(len(stacks))
    size = -(-len(stacks) // count)
    return [tuple(stacks[i : i + size]) for i in range(0, len(stacks), size)]
