"""Curricula: which task and level each prompt of the next batch is drawn at.

`build_curriculum(config, axes_by_task, seed)` is the one entry point; `CURRICULA` maps each
schedule kind to its class. The driver passes each generator's `axes()`; nothing here imports
a generator. See docs/curricula.md.
"""

from __future__ import annotations

from curricula.adaptive import AdaptiveCurriculum, reasoning_gym_config, reasoning_gym_schedule
from curricula.base import Curriculum
from curricula.config import CurriculumConfig, TaskCurriculum
from curricula.hard_subset import HardSubset
from curricula.levels import Axis
from curricula.schedules import FixedLevelCurriculum, FixedStepsCurriculum, UniformCurriculum

CURRICULA: dict[str, type[Curriculum]] = {
    "adaptive": AdaptiveCurriculum,
    "fixed_steps": FixedStepsCurriculum,
    "fixed_level": FixedLevelCurriculum,
    "uniform": UniformCurriculum,
}


def build_curriculum(
    config: CurriculumConfig, axes_by_task: dict[str, list[Axis]], seed: int
) -> Curriculum:
    """The curriculum `config.schedule.kind` names, over the tasks' declared axes."""
    return CURRICULA[config.schedule.kind](config, axes_by_task, seed)


__all__ = [
    "CURRICULA",
    "Axis",
    "Curriculum",
    "CurriculumConfig",
    "HardSubset",
    "TaskCurriculum",
    "build_curriculum",
    "reasoning_gym_config",
    "reasoning_gym_schedule",
]
