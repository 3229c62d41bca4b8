"""Baseline schedules behind the same interface, so runs can compare them with `adaptive`.

- `fixed_steps` (h1's schedule): one step up the axes every `steps_per_level` training steps,
  whatever the rewards; replay and probe shares apply as for `adaptive`.
- `fixed_level`: every prompt at the task's start level; no replay, no probes.
- `uniform`: every prompt at a level drawn uniformly from all levels between floor and
  ceiling; its reported frontier is the ceiling, the hardest level it trains on.

All three still record rewards, so their metrics show per-level success like `adaptive`.
"""

from __future__ import annotations

from curricula.base import Curriculum
from curricula.config import FixedStepsSchedule
from curricula.levels import Index


class FixedStepsCurriculum(Curriculum):
    """A fixed step budget per level."""

    kind = "fixed_steps"

    def _decide(self, task: str) -> None:
        schedule: FixedStepsSchedule = self.config.schedule
        state = self.states[task]
        if self.step - state.last_change >= schedule.steps_per_level:
            moved = self._move(task, "promote", f"fixed budget of {schedule.steps_per_level} steps")
            if not moved:
                # At the ceiling: restart the clock so the check stays cheap and silent.
                state.last_change = self.step


class FixedLevelCurriculum(Curriculum):
    """A single level for the whole run."""

    kind = "fixed_level"
    mixes = False


class UniformCurriculum(Curriculum):
    """A uniform mixture of every level in the task's bounds."""

    kind = "uniform"
    mixes = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lattices = {task: space.lattice() for task, space in self.spaces.items()}
        for task, space in self.spaces.items():
            self.states[task].frontier = space.ceiling

    def _levels_for(self, task: str, count: int) -> list[Index]:
        lattice = self._lattices[task]
        return [self.rng.choice(lattice) for _ in range(count)]
